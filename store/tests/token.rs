#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

//! API tokens against a real SQLite file: found by hash while live, used
//! times kept, gone once revoked.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use store::{Store, TokenScope};

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

on_both!(a_token_is_found_by_its_hash_until_it_is_revoked);
async fn a_token_is_found_by_its_hash_until_it_is_revoked(store: Store) {
    let now = t("2026-12-01T10:00:00Z");
    let id = store
        .create_api_token("newsroom", TokenScope::Write, "hash-a", "ada", now)
        .await
        .unwrap();
    store
        .create_api_token("dashboard", TokenScope::Read, "hash-b", "ada", now)
        .await
        .unwrap();

    let found = store.api_token_by_hash("hash-a").await.unwrap().unwrap();
    assert_eq!(found.id, id);
    assert_eq!(found.scope, TokenScope::Write);
    assert_eq!(found.last_used_at, None);
    assert!(store.api_token_by_hash("hash-c").await.unwrap().is_none());

    // Used: kept once a minute at most.
    store.touch_api_token(id, now).await.unwrap();
    store
        .touch_api_token(id, now + TimeDelta::seconds(10))
        .await
        .unwrap();
    let used = store.api_token_by_hash("hash-a").await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(now));
    store
        .touch_api_token(id, now + TimeDelta::minutes(2))
        .await
        .unwrap();
    let used = store.api_token_by_hash("hash-a").await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(now + TimeDelta::minutes(2)));

    assert!(store.revoke_api_token(id, now).await.unwrap());
    assert!(!store.revoke_api_token(id, now).await.unwrap());
    assert!(store.api_token_by_hash("hash-a").await.unwrap().is_none());
    let listed = store.api_tokens().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].revoked_at, Some(now));
    assert_eq!(listed[0].name, "dashboard");
}
