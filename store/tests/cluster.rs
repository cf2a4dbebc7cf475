#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

//! Several centrals on one database: one lease at a time, the leader's
//! shared snapshot, and agents' results queued for its correlator.

mod common;

use chrono::{DateTime, Utc};
use store::Store;

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

on_both!(the_shared_snapshot_is_replaced_by_each_newer_one);
async fn the_shared_snapshot_is_replaced_by_each_newer_one(store: Store) {
    assert_eq!(store.shared_snapshot().await.unwrap(), None);
    assert_eq!(store.shared_snapshot_version().await.unwrap(), None);
    let first = t("2026-12-02T10:00:00Z");
    store.share_snapshot(7, first, b"seven").await.unwrap();
    store
        .share_snapshot(8, first + chrono::TimeDelta::seconds(10), &[0, 159, 255])
        .await
        .unwrap();
    assert_eq!(store.shared_snapshot_version().await.unwrap(), Some(8));
    let shared = store.shared_snapshot().await.unwrap().unwrap();
    assert_eq!(shared.version, 8);
    assert_eq!(shared.published_at, first + chrono::TimeDelta::seconds(10));
    assert_eq!(shared.body, [0, 159, 255], "bytes kept as they were");
}

on_both!(new_probes_are_queued_with_them_taken_once_oldest_first_and_expire);
async fn new_probes_are_queued_with_them_taken_once_oldest_first_and_expire(store: Store) {
    let now = t("2026-12-02T10:00:00Z");
    store
        .add_sites(
            &[store::NewSite {
                url: "https://a.test/".to_owned(),
                host: "a.test".to_owned(),
                name: "a.test".to_owned(),
                tags: vec![],
                interval_s: 60,
            }],
            now,
        )
        .await
        .unwrap();
    let site_id = store.list_sites().await.unwrap()[0].id;
    let probe = |minute: i64| {
        let at = now + chrono::TimeDelta::minutes(minute);
        store::ProbeRecord {
            site_id,
            started_at: at,
            ok: true,
            status: Some(200),
            slot: Some(at),
            ..store::ProbeRecord::default()
        }
    };
    // What a queued body says is the caller's; this one names the minute,
    // and one of them in words a query must not mangle.
    let encode = |record: &store::ProbeRecord| {
        let minute = (record.started_at - now).num_minutes();
        Some(if minute == 5 {
            "last, with \"quotes\" and ünïcode".to_owned()
        } else {
            format!("{{\"n\":{minute}}}")
        })
    };
    let first: Vec<store::ProbeRecord> = (0..5).map(probe).collect();
    let new = store
        .insert_and_queue_probes(&first, &encode, now)
        .await
        .unwrap();
    assert_eq!(new, [true; 5]);
    // A retried batch with one new probe queues only that one.
    let mut retried = first.clone();
    retried.push(probe(5));
    let new = store
        .insert_and_queue_probes(&retried, &encode, now)
        .await
        .unwrap();
    assert_eq!(new, [false, false, false, false, false, true]);
    store
        .insert_and_queue_probes(&[], &encode, now)
        .await
        .unwrap();

    let expected: Vec<String> = (0..5).map(|n| format!("{{\"n\":{n}}}")).collect();
    let taken = store.take_observations(3).await.unwrap();
    assert_eq!(taken, expected[..3]);
    let rest = store.take_observations(100).await.unwrap();
    assert_eq!(rest[..2], expected[3..]);
    assert_eq!(rest[2], "last, with \"quotes\" and ünïcode");
    assert!(store.take_observations(100).await.unwrap().is_empty());

    // Waiting past the bound for a leader, they are dropped by pruning.
    store
        .insert_and_queue_probes(&[probe(6)], &encode, now)
        .await
        .unwrap();
    store
        .insert_and_queue_probes(&[probe(7)], &encode, now + store::PENDING_KEPT)
        .await
        .unwrap();
    store
        .prune(
            now + store::PENDING_KEPT + chrono::TimeDelta::minutes(1),
            store::Retention::default(),
        )
        .await
        .unwrap();
    assert_eq!(store.take_observations(100).await.unwrap(), ["{\"n\":7}"]);
}

#[tokio::test]
async fn sqlite_always_leads() {
    let db = common::TestDb::sqlite().await;
    let mut lease = db.store.try_lead().await.unwrap().unwrap();
    assert!(lease.holds().await);
    assert!(!db.store.is_shared());
}

/// Two centrals on one PostgreSQL database: one leads, the other waits,
/// and takes over as soon as the first lets go or its connection dies.
#[tokio::test]
async fn one_central_leads_until_it_lets_go_or_dies() {
    let Some(url) = common::new_postgres_database().await else {
        return;
    };
    let first = Store::connect(&url, 4).await.unwrap();
    let second = Store::connect(&url, 4).await.unwrap();
    assert!(first.is_shared());

    let mut lease = first.try_lead().await.unwrap().expect("the first leads");
    assert!(lease.holds().await);
    assert!(
        second.try_lead().await.unwrap().is_none(),
        "one leader only"
    );
    assert!(
        first.try_lead().await.unwrap().is_none(),
        "not twice either"
    );

    lease.release().await;
    let taken = second
        .try_lead()
        .await
        .unwrap()
        .expect("the second takes over");
    assert!(first.try_lead().await.unwrap().is_none());

    // A leader that dies without a word: its connection is dropped.
    drop(taken);
    let mut again = None;
    for _ in 0..50 {
        again = first.try_lead().await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "the lock went with the dead connection");
}
