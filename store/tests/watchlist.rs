#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

//! The watchlist's version moves with every change and only then, so the
//! probe loop can skip re-reading a large unchanged watchlist.

mod common;

use chrono::Utc;
use store::{NewSite, SiteChanges, Store};

fn site(host: &str) -> NewSite {
    NewSite {
        url: format!("https://{host}/"),
        host: host.to_owned(),
        name: host.to_owned(),
        tags: vec![],
        interval_s: 60,
    }
}

on_both!(the_watchlist_version_moves_with_each_change_and_only_then);
async fn the_watchlist_version_moves_with_each_change_and_only_then(store: Store) {
    let start = store.watchlist_version().await.unwrap();

    store
        .add_sites(&[site("a.test"), site("b.test")], Utc::now())
        .await
        .unwrap();
    let added = store.watchlist_version().await.unwrap();
    assert!(added > start);

    // Adding a site already watched changes nothing, nor does reading.
    store
        .add_sites(&[site("a.test")], Utc::now())
        .await
        .unwrap();
    store.list_sites().await.unwrap();
    assert_eq!(store.watchlist_version().await.unwrap(), added);

    let id = store.list_sites().await.unwrap()[0].id;
    let changes = SiteChanges {
        interval_s: Some(30),
        ..SiteChanges::default()
    };
    assert!(store.update_site(id, &changes).await.unwrap());
    let updated = store.watchlist_version().await.unwrap();
    assert!(updated > added);

    assert!(store.set_site_enabled(id, false).await.unwrap());
    assert!(store.watchlist_version().await.unwrap() > updated);
}
