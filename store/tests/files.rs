//! The database holds what Faultline saw of every site: the files it
//! creates are for their owner only.

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_and_its_directory_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("data/nested/faultline.db");
    let store = store::Store::open(&path).await.expect("open");
    store
        .add_sites(
            &[store::NewSite {
                url: "https://example.test/".to_owned(),
                host: "example.test".to_owned(),
                name: "Example".to_owned(),
                tags: vec![],
                interval_s: 60,
            }],
            chrono::Utc::now(),
        )
        .await
        .expect("a write, so the WAL exists");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    for made in [dir.path().join("data"), dir.path().join("data/nested")] {
        assert_eq!(mode(&made), 0o700, "{}", made.display());
    }
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&path.with_extension("db-wal")), 0o600);
    store.close().await;

    // An existing database keeps working, whatever its mode.
    let store = store::Store::open(&path).await.expect("reopen");
    assert_eq!(store.list_sites().await.expect("sites").len(), 1);
    store.close().await;
}
