#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

//! Probe storage against a real SQLite file.

mod common;

use engine::{FailureClass, Role};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use store::{Dialect, NewSite, ProbeRecord, Resolution, Retention, RollupRow, Store};

fn site(host: &str) -> NewSite {
    NewSite {
        url: format!("https://{host}/"),
        host: host.to_owned(),
        name: host.to_owned(),
        tags: vec![],
        interval_s: 60,
    }
}

fn probe(site_id: i64, at: DateTime<Utc>, ok: bool, total_ms: i64) -> ProbeRecord {
    ProbeRecord {
        site_id,
        started_at: at,
        ok,
        status: Some(if ok { 200 } else { 500 }),
        failure: (!ok).then_some(FailureClass::HttpStatus),
        total_ms: Some(total_ms),
        slot: Some(at),
        ..ProbeRecord::default()
    }
}

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

on_both!(a_batch_updates_status_and_every_rollup);
async fn a_batch_updates_status_and_every_rollup(store: Store) {
    store
        .add_sites(&[site("a.test"), site("b.test")], Utc::now())
        .await
        .unwrap();
    let ids: Vec<i64> = store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let (a, b) = (ids[0], ids[1]);
    store
        .insert_probes(&[
            probe(a, t("2025-11-18T11:20:05Z"), true, 100),
            probe(a, t("2025-11-18T11:20:40Z"), false, 3000),
            probe(a, t("2025-11-18T11:21:05Z"), true, 300),
            probe(b, t("2025-11-18T11:20:10Z"), true, 50),
        ])
        .await
        .unwrap();

    let summary = store.site_summary().await.unwrap();
    assert_eq!(
        (summary.watched, summary.probed, summary.failing),
        (2, 2, 0)
    );

    let minutes = store
        .rollups(
            a,
            Resolution::Minute,
            t("2025-11-18T00:00:00Z"),
            t("2025-11-19T00:00:00Z"),
        )
        .await
        .unwrap();
    let shape: Vec<(String, i64, i64, i64, i64)> = minutes
        .iter()
        .map(|r| {
            (
                r.bucket.format("%H:%M").to_string(),
                r.probes,
                r.failures,
                r.total_ms_sum,
                r.total_ms_max,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("11:20".into(), 2, 1, 100, 100),
            ("11:21".into(), 1, 0, 300, 300)
        ]
    );
    let hours = store
        .rollups(
            a,
            Resolution::Hour,
            t("2025-11-18T00:00:00Z"),
            t("2025-11-19T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!((hours.len(), hours[0].probes, hours[0].failures), (1, 3, 1));

    // A late, older probe must not overwrite the latest status.
    store
        .insert_probes(&[probe(a, t("2025-11-18T11:00:00Z"), false, 1)])
        .await
        .unwrap();
    assert_eq!(store.site_summary().await.unwrap().failing, 0);
    store
        .insert_probes(&[probe(a, t("2025-11-18T11:22:00Z"), false, 1)])
        .await
        .unwrap();
    assert_eq!(store.site_summary().await.unwrap().failing, 1);
    assert_eq!(
        store.recent_probes(a, 2).await.unwrap()[0].started_at,
        t("2025-11-18T11:22:00Z")
    );
}

on_both!(pruning_keeps_rollups_longer_than_raw_probes);
async fn pruning_keeps_rollups_longer_than_raw_probes(store: Store) {
    store
        .add_sites(&[site("a.test")], Utc::now())
        .await
        .unwrap();
    let a = store.list_sites().await.unwrap()[0].id;
    let now = t("2025-12-01T00:00:00Z");
    let old = now - TimeDelta::hours(60);
    store
        .insert_probes(&[probe(a, old, true, 10), probe(a, now, true, 10)])
        .await
        .unwrap();

    let pruned = store.prune(now, Retention::default()).await.unwrap();
    // PostgreSQL drops the old probe's whole day instead of deleting it.
    match store.dialect() {
        Dialect::Sqlite => assert_eq!((pruned.probes, pruned.probe_days), (1, 0)),
        Dialect::Postgres => assert_eq!((pruned.probes, pruned.probe_days), (0, 1)),
    }
    assert_eq!(
        pruned.rollups, 0,
        "60-hour-old rollups are within every rollup retention"
    );
    assert_eq!(store.probe_count().await.unwrap(), 1);
    let days = store
        .rollups(
            a,
            Resolution::Day,
            now - TimeDelta::days(10),
            now + TimeDelta::days(1),
        )
        .await
        .unwrap();
    assert_eq!(days.iter().map(|d| d.probes).sum::<i64>(), 2);

    let later = now + TimeDelta::days(8);
    let pruned = store.prune(later, Retention::default()).await.unwrap();
    assert_eq!(
        pruned.rollups, 2,
        "both minute buckets are past their 3 days"
    );
}

on_both!(bulk_rollups_add_up_with_the_ones_probes_wrote);
async fn bulk_rollups_add_up_with_the_ones_probes_wrote(store: Store) {
    store
        .add_sites(&[site("a.test"), site("b.test")], Utc::now())
        .await
        .unwrap();
    let ids: Vec<i64> = store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let (a, b) = (ids[0], ids[1]);
    store
        .insert_probes(&[probe(a, t("2025-11-18T11:20:05Z"), true, 100)])
        .await
        .unwrap();
    let row = |bucket: &str, probes, failures, sum, max| RollupRow {
        bucket: t(bucket),
        probes,
        failures,
        suspect: 0,
        total_ms_sum: sum,
        total_ms_max: max,
    };
    store
        .add_rollups(
            Resolution::Hour,
            &[
                // Mid-hour: lands in the 11:00 bucket the probe wrote.
                (a, row("2025-11-18T11:30:00Z", 59, 2, 5700, 400)),
                (a, row("2025-11-18T10:00:00Z", 60, 0, 6000, 150)),
                (b, row("2025-11-18T10:00:00Z", 60, 60, 0, 0)),
            ],
        )
        .await
        .unwrap();
    let hours = |site| {
        let store = store.clone();
        async move {
            store
                .rollups(
                    site,
                    Resolution::Hour,
                    t("2025-11-18T00:00:00Z"),
                    t("2025-11-19T00:00:00Z"),
                )
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r.bucket.format("%H:%M").to_string(),
                        r.probes,
                        r.failures,
                        r.total_ms_sum,
                        r.total_ms_max,
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        hours(a).await,
        [
            ("10:00".to_owned(), 60, 0, 6000, 150),
            ("11:00".to_owned(), 60, 2, 5800, 400)
        ]
    );
    assert_eq!(hours(b).await, [("10:00".to_owned(), 60, 60, 0, 0)]);
}

on_both!(bulk_probes_are_stored_raw_without_status_or_rollups);
async fn bulk_probes_are_stored_raw_without_status_or_rollups(store: Store) {
    store
        .add_sites(&[site("a.test")], Utc::now())
        .await
        .unwrap();
    let a = store.list_sites().await.unwrap()[0].id;
    let start = t("2025-11-18T11:00:00Z");
    let probes: Vec<ProbeRecord> = (0..1200)
        .map(|m| probe(a, start + TimeDelta::minutes(m), m % 100 != 7, 120))
        .collect();
    store.add_probes(&probes).await.unwrap();

    assert_eq!(store.probe_count().await.unwrap(), 1200);
    let latest = store.recent_probes(a, 1).await.unwrap();
    assert_eq!(latest, [probes[1199].clone()]);
    let failure = store.latest_failure(a).await.unwrap().unwrap();
    assert_eq!(failure.started_at, start + TimeDelta::minutes(1107));
    assert_eq!(store.site_summary().await.unwrap().probed, 0);
    let hours = store
        .rollups(a, Resolution::Hour, start, start + TimeDelta::days(1))
        .await
        .unwrap();
    assert!(hours.is_empty(), "{hours:?}");
}

/// The child half of `a_killed_writer_loses_no_acknowledged_probe`: writes
/// batches forever and prints how many probes each commit acknowledged.
#[tokio::test]
async fn crash_child_writer() {
    let Ok(path) = std::env::var("FAULTLINE_CRASH_CHILD_DB") else {
        return; // only meaningful when started by the parent test
    };
    let store = Store::open(path.as_ref()).await.unwrap();
    let site_id = store.list_sites().await.unwrap()[0].id;
    let start = Utc::now();
    let mut acknowledged = 0i64;
    loop {
        let batch: Vec<ProbeRecord> = (0..50)
            .map(|i| {
                probe(
                    site_id,
                    start + TimeDelta::milliseconds(acknowledged + i),
                    i % 7 != 0,
                    10,
                )
            })
            .collect();
        store.insert_probes(&batch).await.unwrap();
        acknowledged += 50;
        println!("acked {acknowledged}");
    }
}

#[tokio::test]
async fn a_killed_writer_loses_no_acknowledged_probe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let store = Store::open(&path).await.unwrap();
    store
        .add_sites(&[site("a.test")], Utc::now())
        .await
        .unwrap();
    store.close().await;

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FAULTLINE_CRASH_CHILD_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(n) = line.unwrap().strip_prefix("acked ") {
            acknowledged = n.parse().unwrap();
            if acknowledged >= 2000 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no chance to finish the current batch
    child.wait().unwrap();

    let store = Store::open(&path).await.unwrap();
    let stored = store.probe_count().await.unwrap();
    assert!(
        stored >= acknowledged,
        "{stored} stored < {acknowledged} acknowledged"
    );
    assert_eq!(
        stored % 50,
        0,
        "a batch is stored whole or not at all: {stored}"
    );
    let sum: i64 = store
        .rollups(
            1,
            Resolution::Day,
            Utc::now() - TimeDelta::days(2),
            Utc::now() + TimeDelta::days(2),
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.probes)
        .sum();
    assert_eq!(sum, stored, "rollups agree with the raw rows");
}

on_both!(attribution_keeps_history_when_a_provider_changes);
async fn attribution_keeps_history_when_a_provider_changes(store: Store) {
    store
        .add_sites(&[site("a.test")], Utc::now())
        .await
        .unwrap();
    let a = store.list_sites().await.unwrap()[0].id;
    let cdn = |p: &str| (p.to_owned(), Role::Cdn, vec![format!("header from {p}")]);
    store
        .record_attribution(a, &[cdn("fastly")], t("2025-01-01T00:00:00Z"))
        .await
        .unwrap();
    store
        .record_attribution(a, &[cdn("fastly")], t("2025-01-02T00:00:00Z"))
        .await
        .unwrap();
    store
        .record_attribution(a, &[cdn("cloudflare")], t("2025-01-03T00:00:00Z"))
        .await
        .unwrap();
    let current = store.current_providers().await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].provider, "cloudflare");
    assert_eq!(current[0].first_seen, t("2025-01-03T00:00:00Z"));
}

on_both!(an_error_page_adds_providers_but_closes_none);
async fn an_error_page_adds_providers_but_closes_none(store: Store) {
    store
        .add_sites(&[site("a.example")], t("2025-01-01T00:00:00Z"))
        .await
        .unwrap();
    let a = store.list_sites().await.unwrap()[0].id;
    let seen = |p: &str, role: &str| (p.to_owned(), Role::from(role), vec![format!("from {p}")]);
    store
        .record_attribution(
            a,
            &[seen("cloudflare", "cdn"), seen("aws", "host")],
            t("2025-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    // A Cloudflare "origin unreachable" page shows Cloudflare only.
    store
        .add_attribution(a, &[seen("cloudflare", "cdn")], t("2025-01-01T00:01:00Z"))
        .await
        .unwrap();
    let current = store.current_providers().await.unwrap();
    assert_eq!(current.len(), 2, "{current:?}");
    // A healthy answer without the host header does close it.
    store
        .record_attribution(a, &[seen("cloudflare", "cdn")], t("2025-01-01T00:02:00Z"))
        .await
        .unwrap();
    assert_eq!(store.current_providers().await.unwrap().len(), 1);
}

on_both!(a_batch_stored_twice_counts_once);
async fn a_batch_stored_twice_counts_once(store: Store) {
    store
        .add_sites(&[site("a.test"), site("b.test")], Utc::now())
        .await
        .unwrap();
    let sites = store.list_sites().await.unwrap();
    let (a, b) = (sites[0].id, sites[1].id);
    let start = t("2025-11-18T11:20:00Z");
    let batch = [
        probe(a, start, true, 40),
        probe(b, start, false, 0),
        probe(a, start + TimeDelta::seconds(30), false, 0),
    ];
    assert_eq!(store.insert_probes(&batch).await.unwrap(), [true; 3]);
    // The writer retries after a commit it did not hear back from, and a
    // later batch repeats one probe among new ones.
    assert_eq!(store.insert_probes(&batch).await.unwrap(), [false; 3]);
    let again = probe(b, start + TimeDelta::seconds(30), false, 0);
    assert_eq!(
        store
            .insert_probes(&[batch[2].clone(), again.clone(), again])
            .await
            .unwrap(),
        [false, true, false],
        "a result twice in one batch is new once"
    );

    assert_eq!(store.probe_count().await.unwrap(), 4);
    let minute = store
        .rollups(a, Resolution::Minute, start, start + TimeDelta::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        (minute[0].probes, minute[0].failures, minute[0].total_ms_sum),
        (2, 1, 40)
    );
    let status = store.site_status(a).await.unwrap().unwrap();
    assert!(!status.ok);
    assert_eq!(status.since, start + TimeDelta::seconds(30));
    let status = store.site_status(b).await.unwrap().unwrap();
    assert_eq!(
        status.since, start,
        "b has been failing since its first probe"
    );
}

on_both!(each_vantage_keeps_its_own_status);
/// An agent's results are stored beside the central's own, counted in the
/// rollups, and never overwrite the central's latest status, which is what
/// the lists of failing sites read.
async fn each_vantage_keeps_its_own_status(store: Store) {
    store
        .add_sites(&[site("a.test")], Utc::now())
        .await
        .unwrap();
    let a = store.list_sites().await.unwrap()[0].id;
    let start = t("2025-11-18T11:20:00Z");
    let from = |vantage_id: i64, seconds: i64, ok: bool| ProbeRecord {
        vantage_id,
        ..probe(a, start + TimeDelta::seconds(seconds), ok, 50)
    };
    let batch = [
        from(0, 0, true),
        from(7, 5, false),
        from(0, 60, true),
        from(7, 65, false),
    ];
    assert_eq!(store.insert_probes(&batch).await.unwrap(), [true; 4]);

    let own = store.site_status(a).await.unwrap().unwrap();
    assert_eq!((own.ok, own.since), (true, start));
    let agent = store.site_status_from(a, 7).await.unwrap().unwrap();
    assert_eq!(
        (agent.ok, agent.since),
        (false, start + TimeDelta::seconds(5))
    );
    assert_eq!(store.site_status_from(a, 8).await.unwrap(), None);
    assert!(store.failing_sites(10).await.unwrap().is_empty());
    assert_eq!(store.site_summary().await.unwrap().failing, 0);
    assert_eq!(store.site_health().await.unwrap(), [(a, true)]);

    // The agent's site recovers; the central's status is untouched.
    store.insert_probes(&[from(7, 125, true)]).await.unwrap();
    let agent = store.site_status_from(a, 7).await.unwrap().unwrap();
    assert_eq!(
        (agent.ok, agent.since),
        (true, start + TimeDelta::seconds(125))
    );
    assert_eq!(store.site_status(a).await.unwrap().unwrap(), own);

    let minutes = store
        .rollups(a, Resolution::Minute, start, start + TimeDelta::minutes(3))
        .await
        .unwrap();
    let counted: Vec<(i64, i64)> = minutes.iter().map(|m| (m.probes, m.failures)).collect();
    assert_eq!(counted, [(2, 1), (2, 1), (1, 0)]);
}

on_both!(each_vantage_says_how_well_its_own_network_was);
/// A vantage whose latest results were mostly taken while its network
/// failed is offline; some: degraded; none: online.
async fn each_vantage_says_how_well_its_own_network_was(store: Store) {
    let hosts: Vec<NewSite> = (0..4).map(|n| site(&format!("v{n}.test"))).collect();
    store.add_sites(&hosts, Utc::now()).await.unwrap();
    let ids: Vec<i64> = store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let start = t("2025-11-18T11:20:00Z");
    let mut batch = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let at = start + TimeDelta::seconds(n as i64);
        batch.push(probe(*id, at, true, 30));
        // Agent 7 was cut off for three sites of four, agent 8 for one.
        batch.push(ProbeRecord {
            vantage_id: 7,
            suspect: n < 3,
            ..probe(*id, at, n >= 3, 30)
        });
        batch.push(ProbeRecord {
            vantage_id: 8,
            suspect: n == 0,
            ..probe(*id, at, n != 0, 30)
        });
    }
    store.insert_probes(&batch).await.unwrap();
    let health = store.vantage_health().await.unwrap();
    let states: Vec<(i64, i64, i64, engine::VantageState)> = health
        .iter()
        .map(|h| (h.vantage_id, h.sites, h.suspect, h.state()))
        .collect();
    use engine::VantageState::{Degraded, Offline, Online};
    assert_eq!(
        states,
        [(0, 4, 0, Online), (7, 4, 3, Offline), (8, 4, 1, Degraded)]
    );
    assert_eq!(health[1].latest, Some(start + TimeDelta::seconds(3)));
}

/// A small seeded generator, so a failing case can be replayed by its seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

on_both!(status_and_rollups_match_a_plain_replay_whatever_the_batches);
/// The set-based ingest of PostgreSQL and the row-by-row one of SQLite must
/// both end where a plain replay of every probe in time order ends: each
/// site's latest probe, since when its state has held, and every rollup.
async fn status_and_rollups_match_a_plain_replay_whatever_the_batches(store: Store) {
    let hosts: Vec<NewSite> = (0..6).map(|n| site(&format!("s{n}.test"))).collect();
    store.add_sites(&hosts, Utc::now()).await.unwrap();
    let ids: Vec<i64> = store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let start = t("2025-11-18T11:00:00Z");
    for seed in 1..=8_u64 {
        let mut random = Lcg(seed);
        let base = start + TimeDelta::hours(i64::try_from(seed).unwrap() * 3);
        // Sixty rounds of every site, each up or down; long runs and flapping
        // both occur because each site keeps its state with odds of its own.
        let mut state: Vec<bool> = ids.iter().map(|_| random.next(2) == 0).collect();
        let mut probes = Vec::new();
        for round in 0..60_i64 {
            for (n, &id) in ids.iter().enumerate() {
                if random.next(10) < u64::try_from(n).unwrap() + 1 {
                    state[n] = !state[n];
                }
                let at = base + TimeDelta::seconds(round * 30 + i64::try_from(n).unwrap());
                let ms = i64::try_from(random.next(900)).unwrap() + 1;
                probes.push(probe(id, at, state[n], ms));
            }
        }
        // Batches of random sizes, in time order, as the writer sends them.
        let mut rest = probes.as_slice();
        while !rest.is_empty() {
            let size = usize::try_from(random.next(90)).unwrap() + 1;
            let (batch, later) = rest.split_at(size.min(rest.len()));
            store.insert_probes(batch).await.unwrap();
            rest = later;
        }

        for &id in &ids {
            let mine: Vec<&ProbeRecord> = probes.iter().filter(|p| p.site_id == id).collect();
            let Some(latest) = mine.last() else {
                continue;
            };
            let run_start = mine
                .iter()
                .rev()
                .take_while(|p| p.ok == latest.ok)
                .last()
                .map_or(latest.started_at, |p| p.started_at);
            // A run may have begun in an earlier seed's probes.
            let status = store.site_status(id).await.unwrap().unwrap();
            assert_eq!(
                (status.started_at, status.ok),
                (latest.started_at, latest.ok),
                "seed {seed}, site {id}"
            );
            if run_start > mine[0].started_at {
                assert_eq!(status.since, run_start, "seed {seed}, site {id}");
            } else {
                assert!(status.since <= run_start, "seed {seed}, site {id}");
            }

            let rows = store
                .rollups(id, Resolution::Minute, base, base + TimeDelta::hours(1))
                .await
                .unwrap();
            let mut expected: Vec<RollupRow> = Vec::new();
            for p in &mine {
                let bucket = p.started_at.duration_trunc(TimeDelta::minutes(1)).unwrap();
                if expected.last().is_none_or(|row| row.bucket != bucket) {
                    expected.push(RollupRow {
                        bucket,
                        probes: 0,
                        failures: 0,
                        suspect: 0,
                        total_ms_sum: 0,
                        total_ms_max: 0,
                    });
                }
                let row = expected.last_mut().unwrap();
                row.probes += 1;
                if p.ok {
                    let ms = p.total_ms.unwrap();
                    row.total_ms_sum += ms;
                    row.total_ms_max = row.total_ms_max.max(ms);
                } else {
                    row.failures += 1;
                }
            }
            assert_eq!(rows, expected, "seed {seed}, site {id}");
        }
    }
}

// Migrations that rewrite stored probes, run on databases holding rows
// written under the schema before them.

/// The two probes stored before the vantage migration: a minute apart,
/// either side of midnight.
const FIRST: &str = "2025-11-18T23:59:30Z";
const SECOND: &str = "2025-11-19T00:00:30Z";

/// The migrations of `folder` before `version`.
async fn migrations_before(folder: &str, version: i64) -> sqlx::migrate::Migrator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(folder);
    let mut migrator = sqlx::migrate::Migrator::new(path).await.unwrap();
    let earlier: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|migration| migration.version < version)
        .cloned()
        .collect();
    migrator.migrations = earlier.into();
    migrator
}

/// What both databases must show once the vantage migration ran over two
/// probes stored before it: each kept, from the central's own vantage, its
/// slot the moment it started; and a result from another vantage at the
/// same moment stored beside them, while the same vantage's is stored once.
async fn probes_keep_their_moment_as_their_slot(store: &Store) {
    let (first, second) = (t(FIRST), t(SECOND));
    let kept = store.recent_probes(1, 10).await.unwrap();
    let seen: Vec<_> = kept
        .iter()
        .map(|p| (p.started_at, p.vantage_id, p.slot, p.ok))
        .collect();
    assert_eq!(
        seen,
        [
            (second, 0, Some(second), false),
            (first, 0, Some(first), true)
        ]
    );
    let from = |vantage_id: i64| ProbeRecord {
        site_id: 1,
        started_at: second,
        ok: true,
        vantage_id,
        slot: Some(second),
        ..ProbeRecord::default()
    };
    store.insert_probes(&[from(7), from(0)]).await.unwrap();
    assert_eq!(store.probe_count().await.unwrap(), 3);
}

#[tokio::test]
async fn the_vantage_migration_keeps_every_probe_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faultline.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    migrations_before("sqlite", 13)
        .await
        .run(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sites (url, host, name, created_at) VALUES ('https://a.test/', 'a.test', 'a', $1)")
        .bind(t("2025-11-18T10:00:00Z"))
        .execute(&pool)
        .await
        .unwrap();
    for (at, ok) in [(FIRST, true), (SECOND, false)] {
        sqlx::query("INSERT INTO probes (site_id, started_at, ok) VALUES (1, $1, $2)")
            .bind(t(at))
            .bind(ok)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let store = Store::open(&path).await.unwrap();
    probes_keep_their_moment_as_their_slot(&store).await;
    store.close().await;
}

#[tokio::test]
async fn the_vantage_migration_keeps_every_probe_postgres() {
    let Some(url) = common::new_postgres_database().await else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    migrations_before("postgres", 4)
        .await
        .run(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sites (url, host, name, created_at) VALUES ('https://a.test/', 'a.test', 'a', $1)")
        .bind(t("2025-11-18T10:00:00Z"))
        .execute(&pool)
        .await
        .unwrap();
    // The first day has its partition, the second falls in the default one.
    sqlx::query("SELECT faultline_probe_partition('2025-11-18')")
        .execute(&pool)
        .await
        .unwrap();
    for (at, ok) in [(FIRST, true), (SECOND, false)] {
        sqlx::query("INSERT INTO probes (site_id, started_at, ok) VALUES (1, $1, $2)")
            .bind(t(at))
            .bind(ok)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let store = Store::connect(&url, 2).await.unwrap();
    probes_keep_their_moment_as_their_slot(&store).await;
    store.close().await;
}
