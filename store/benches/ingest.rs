//! How many probe results a second each database stores, through the same
//! `Store::insert_probes` the probe writer calls, in the writer's batches.
//!
//! ```sh
//! scripts/with-postgres --durable cargo bench -p store --bench ingest -- --seconds 60
//! ```
//!
//! Runs SQLite (a file in a temporary directory) and then PostgreSQL (a new
//! database on the server `TEST_POSTGRES_URL` names) for `--seconds`
//! each, one after the other in one run, and prints one table row per
//! database: rows stored a second, batches a second, the slowest batch and
//! the bytes the database takes afterwards. `--sites` sites take turns, as
//! one region of a watchlist would: each site's probes are `--interval`
//! seconds apart on the results' clock. One result in twenty is a failure
//! with its classification and evidence, as during a calm day.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on unexpected errors"
)]

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use engine::{FailureClass, Fault, FaultSide};
use sqlx::Connection;
use store::{NewSite, ProbeRecord, Store};

/// The number after `name` on the command line, or `default`.
fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Measured {
    rows: u64,
    batches: u64,
    elapsed: Duration,
    slowest: Duration,
    bytes: i64,
}

fn result(site_id: i64, started_at: DateTime<Utc>, n: u64) -> ProbeRecord {
    let failed = n.is_multiple_of(20);
    ProbeRecord {
        site_id,
        started_at,
        ok: !failed,
        status: Some(if failed { 502 } else { 200 }),
        failure: failed.then_some(FailureClass::HttpStatus),
        detail: failed.then(|| "502 Bad Gateway".to_owned()),
        dns_ms: Some(3),
        connect_ms: Some(12),
        tls_ms: Some(25),
        ttfb_ms: Some(80),
        total_ms: Some(130),
        remote_ip: Some("203.0.113.7".to_owned()),
        provider: failed.then(|| "cloudflare".to_owned()),
        fault_side: failed.then_some(FaultSide::Edge),
        fault: failed.then_some(Fault::EdgeError),
        confidence: failed.then_some(0.9),
        evidence: failed.then(|| r#"["cf-ray header","Cloudflare 502 page"]"#.to_owned()),
        ..ProbeRecord::default()
    }
}

async fn fill_watchlist(store: &Store, sites: u64) -> Vec<i64> {
    let now = Utc::now();
    let all: Vec<NewSite> = (0..sites)
        .map(|i| NewSite {
            url: format!("https://site-{i}.test/"),
            host: format!("site-{i}.test"),
            name: format!("site {i}"),
            tags: vec![],
            interval_s: 60,
        })
        .collect();
    for chunk in all.chunks(10_000) {
        store.add_sites(chunk, now).await.unwrap();
    }
    store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect()
}

async fn measure(store: &Store, seconds: u64, sites: u64, batch: u64, interval: i64) -> Measured {
    let ids = fill_watchlist(store, sites).await;
    let start = "2026-11-30T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
    // Each site's slot within the interval, so results arrive spread out.
    let spacing = TimeDelta::milliseconds(interval * 1000) / i32::try_from(sites).unwrap();
    let mut n: u64 = 0;
    let mut batches = 0;
    let mut slowest = Duration::ZERO;
    let began = Instant::now();
    let until = began + Duration::from_secs(seconds);
    while Instant::now() < until {
        let results: Vec<ProbeRecord> = (n..n + batch)
            .map(|k| {
                let site = usize::try_from(k % sites).unwrap();
                let round = i32::try_from(k / sites).unwrap();
                let at = start
                    + TimeDelta::seconds(interval) * round
                    + spacing * i32::try_from(site).unwrap();
                result(ids[site], at, k)
            })
            .collect();
        let took = Instant::now();
        store.insert_probes(&results).await.unwrap();
        slowest = slowest.max(took.elapsed());
        n += batch;
        batches += 1;
    }
    let elapsed = began.elapsed();
    assert_eq!(
        u64::try_from(store.probe_count().await.unwrap()).unwrap(),
        n,
        "every result stored once"
    );
    Measured {
        rows: n,
        batches,
        elapsed,
        slowest,
        bytes: store.size_bytes().await.unwrap(),
    }
}

fn row(name: &str, m: &Measured) {
    let seconds = m.elapsed.as_secs_f64();
    println!(
        "| {name} | {:.0} | {:.1} | {} | {:.0} ms | {:.1} MiB |",
        m.rows as f64 / seconds,
        m.batches as f64 / seconds,
        m.rows,
        m.slowest.as_secs_f64() * 1000.0,
        m.bytes as f64 / 1024.0 / 1024.0,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = arg("--seconds", 60);
    let sites = arg("--sites", 100_000);
    let batch = arg("--batch", 500);
    let interval = i64::try_from(arg("--interval", 60)).unwrap();
    let Ok(server) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("ingest: TEST_POSTGRES_URL is not set; run it under scripts/with-postgres");
        std::process::exit(2);
    };
    println!(
        "{sites} sites, batches of {batch}, {seconds} s per database, results {interval} s apart per site"
    );
    println!("| database | rows/s | batches/s | rows | slowest batch | size after |");
    println!("|---|---|---|---|---|---|");

    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("ingest.db")).await.unwrap();
    let on_sqlite = measure(&sqlite, seconds, sites, batch, interval).await;
    sqlite.close().await;
    row("SQLite (WAL, synchronous=NORMAL)", &on_sqlite);

    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::query("CREATE DATABASE ingest_bench")
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let postgres = Store::connect(&format!("{base}/ingest_bench"), 4)
        .await
        .unwrap();
    let on_postgres = measure(&postgres, seconds, sites, batch, interval).await;
    postgres.close().await;
    row("PostgreSQL 15 (UNNEST batch)", &on_postgres);
    println!(
        "PostgreSQL / SQLite: {:.2}",
        (on_postgres.rows as f64 / on_postgres.elapsed.as_secs_f64())
            / (on_sqlite.rows as f64 / on_sqlite.elapsed.as_secs_f64())
    );
}
