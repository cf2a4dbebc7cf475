//! Server render time of the home page and of a site page, over a database
//! holding what 30 days of watching 1 000 sites leaves behind: raw probes
//! for the raw retention (48 h), minute rollups for 3 days, hour and day
//! rollups for 30 days, provider attribution, and incidents (one open).
//! Run with `cargo bench -p server --bench render` (add
//! `-- --sites 1000 --iterations 200 --warmup 20` to change the sizes).
//!
//! The real router answers on 127.0.0.1 without the monitor. Each timed
//! request is sequential over loopback and carries a `Cookie`, which the
//! page cache lets through, so every one renders; the same pages without
//! the cookie show what the cache serves. The store queries behind each
//! page are also timed on their own, one after the other.

mod common;
use common::arg;

use engine::{Cause, FailureClass, Fault, FaultSide, Pattern, Phase, Role};
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use server::config::Config;
use server::http::{self, AppState};
use store::{NewSite, ProbeRecord, ProviderIncidentRow, Resolution, Retention, RollupRow, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The site whose page is measured: watched the whole 30 days, in every
/// incident, with a change of CDN in its history.
const HEAVY: usize = 0;

fn host(i: usize) -> String {
    format!("site-{i:04}.example")
}

/// The CDN in front of site `i` (none for one in ten) and its DNS provider.
fn providers_of(i: usize) -> (Option<&'static str>, &'static str) {
    match i % 20 {
        0..=7 => (Some("cloudflare"), "cloudflare"),
        8..=11 => (Some("fastly"), "aws"),
        12..=14 => (Some("akamai"), "akamai"),
        15..=17 => (Some("cloudfront"), "aws"),
        _ => (None, "aws"),
    }
}

/// A provider-wide outage: when, whose sites, which of them fail.
struct Outage {
    provider: &'static str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    resolved: bool,
}

impl Outage {
    fn hits(&self, i: usize, at: DateTime<Utc>) -> bool {
        if at < self.from || at >= self.until {
            return false;
        }
        let behind = if i == HEAVY {
            // The heavy site moved from Fastly to Cloudflare 8 days ago.
            self.provider == "cloudflare" || self.provider == "fastly"
        } else {
            providers_of(i).0 == Some(self.provider)
        };
        behind && (i == HEAVY || (i / 20 + i) % 5 < 2)
    }
}

/// The synthetic history: which probes fail and how long the others take.
struct World {
    sites: usize,
    now: DateTime<Utc>,
    outages: Vec<Outage>,
}

impl World {
    fn new(sites: usize, now: DateTime<Utc>) -> Self {
        let outages = vec![
            // Resolved, old enough to be in hour and day rollups only.
            Outage {
                provider: "fastly",
                from: now - TimeDelta::days(10),
                until: now - TimeDelta::days(10) + TimeDelta::minutes(55),
                resolved: true,
            },
            // Resolved, within the raw retention.
            Outage {
                provider: "akamai",
                from: now - TimeDelta::hours(30),
                until: now - TimeDelta::hours(30) + TimeDelta::minutes(45),
                resolved: true,
            },
            // Open now: the home page's headline.
            Outage {
                provider: "cloudflare",
                from: now - TimeDelta::minutes(25),
                until: now + TimeDelta::minutes(1),
                resolved: false,
            },
        ];
        Self {
            sites,
            now,
            outages,
        }
    }

    fn outage(&self, i: usize, at: DateTime<Utc>) -> Option<&Outage> {
        self.outages.iter().find(|o| o.hits(i, at))
    }

    /// A deterministic 0..1000 per site and minute.
    fn noise(i: usize, at: DateTime<Utc>) -> u64 {
        let mut x = ((i as u64) << 32) ^ (at.timestamp() as u64 / 60);
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 29;
        x.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40
    }

    /// Whether the probe of site `i` at `at` fails, and its time when not.
    fn outcome(&self, i: usize, at: DateTime<Utc>) -> (bool, i64) {
        let noise = Self::noise(i, at) % 1000;
        let failed = self.outage(i, at).is_some() || noise < 3;
        (failed, 80 + (i as i64 % 7) * 30 + noise as i64 % 90)
    }

    fn probe(&self, i: usize, site_id: i64, at: DateTime<Utc>) -> ProbeRecord {
        let (failed, ms) = self.outcome(i, at);
        if !failed {
            return ProbeRecord {
                site_id,
                started_at: at,
                ok: true,
                status: Some(200),
                dns_ms: Some(12),
                connect_ms: Some(9),
                tls_ms: Some(21),
                ttfb_ms: Some(ms - 20),
                total_ms: Some(ms),
                remote_ip: Some(format!("104.16.{}.{}", i / 250, i % 250)),
                ..ProbeRecord::default()
            };
        }
        let (provider, fault_side, fault, status) = match self.outage(i, at) {
            Some(outage) => (outage.provider, FaultSide::Edge, Fault::EdgeError, 500),
            None => (
                providers_of(i).0.unwrap_or("nginx"),
                FaultSide::Origin,
                Fault::OriginTimeout,
                522,
            ),
        };
        ProbeRecord {
            site_id,
            started_at: at,
            ok: false,
            status: Some(status),
            failure: Some(FailureClass::HttpStatus),
            detail: Some(format!("HTTP {status}")),
            dns_ms: Some(12),
            connect_ms: Some(9),
            tls_ms: Some(21),
            ttfb_ms: Some(ms),
            total_ms: Some(ms + 5),
            remote_ip: Some(format!("104.16.{}.{}", i / 250, i % 250)),
            facts: Some(format!(
                "{{\"dns\":{{\"cname\":[\"{}.cdn.{provider}.net\"],\"addresses\":[\"104.16.1.1\"]}}}}",
                host(i)
            )),
            body_gz: Some(vec![7u8; 1536]),
            provider: Some(provider.to_owned()),
            fault_side: Some(fault_side),
            fault: Some(fault),
            confidence: Some(0.9),
            evidence: Some(format!(
                "[\"header server: {provider}\",\"body: error {status}\"]"
            )),
            suspect: false,
            vantage_id: 0,
            slot: Some(at),
            providers: Vec::new(),
        }
    }

    /// When site `i` is probed within the minute starting at `minute`.
    fn slot(i: usize, minute: DateTime<Utc>) -> DateTime<Utc> {
        minute + TimeDelta::seconds(i as i64 % 60)
    }
}

/// What the database holds once filled, for the report.
#[derive(Default)]
struct Filled {
    raw_probes: u64,
    minute_rows: u64,
    hour_rows: u64,
    day_rows: u64,
    seconds: f64,
}

async fn fill(store: &Store, world: &World, retention: Retention) -> Filled {
    let started = Instant::now();
    let now = world.now;
    let month_ago = now - TimeDelta::days(30);
    let sites: Vec<NewSite> = (0..world.sites)
        .map(|i| NewSite {
            url: format!("https://{}/", host(i)),
            host: host(i),
            name: if i % 3 == 0 {
                format!("Site {i}")
            } else {
                host(i)
            },
            tags: vec!["bench".to_owned()],
            interval_s: 60,
        })
        .collect();
    store.add_sites(&sites, month_ago).await.expect("add sites");
    let mut ids = vec![0; world.sites];
    for site in store.list_sites().await.expect("list sites") {
        if let Some(i) = site
            .host
            .strip_prefix("site-")
            .and_then(|rest| rest.strip_suffix(".example"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            ids[i] = site.id;
        }
    }

    // Attribution: first seen a month ago, last seen now. The heavy site
    // was behind Fastly until 8 days ago.
    let seen = |provider: &str, role: Role| {
        (
            provider.to_owned(),
            role,
            vec![format!("{role}: {provider} seen in the answer")],
        )
    };
    for (i, &id) in ids.iter().enumerate() {
        let (cdn, dns) = providers_of(i);
        let mut current = vec![seen(dns, Role::Dns)];
        current.extend(cdn.map(|cdn| seen(cdn, Role::Cdn)));
        if i == HEAVY {
            let before = vec![seen(dns, Role::Dns), seen("fastly", Role::Cdn)];
            store
                .record_attribution(id, &before, month_ago)
                .await
                .expect("attribution");
            store
                .record_attribution(id, &current, now - TimeDelta::days(8))
                .await
                .expect("attribution");
        } else {
            store
                .record_attribution(id, &current, month_ago)
                .await
                .expect("attribution");
        }
        store
            .record_attribution(id, &current, now)
            .await
            .expect("attribution");
    }

    // Everything but the last hour in bulk: raw probes for the raw
    // retention, minute rollups for theirs, hours and days for the month.
    // The last hour goes through the writer's own path, probe by probe,
    // which also leaves each site's latest status and when it changed.
    let raw_from = now - retention.raw;
    let minute_from = now - retention.minute;
    let tail_from = now - TimeDelta::hours(1);
    let mut filled = Filled::default();
    let mut minutes: Vec<(i64, RollupRow)> = Vec::new();
    let mut hours: Vec<(i64, RollupRow)> = Vec::new();
    let mut days: Vec<(i64, RollupRow)> = Vec::new();
    let add = |rows: &mut Vec<(i64, RollupRow)>, id: i64, bucket, failed: bool, ms: i64| {
        let ms = if failed { 0 } else { ms };
        match rows.last_mut() {
            Some((last, row)) if *last == id && row.bucket == bucket => {
                row.probes += 1;
                row.failures += i64::from(failed);
                row.total_ms_sum += ms;
                row.total_ms_max = row.total_ms_max.max(ms);
            }
            _ => rows.push((
                id,
                RollupRow {
                    bucket,
                    probes: 1,
                    failures: i64::from(failed),
                    suspect: 0,
                    total_ms_sum: ms,
                    total_ms_max: ms,
                },
            )),
        }
    };
    let trunc = |at: DateTime<Utc>, width| at.duration_trunc(width).unwrap_or(at);
    for (i, &id) in ids.iter().enumerate() {
        let mut minute = month_ago;
        while minute < tail_from {
            let at = World::slot(i, minute);
            let (failed, ms) = world.outcome(i, at);
            if minute >= minute_from {
                add(&mut minutes, id, minute, failed, ms);
            }
            add(&mut hours, id, trunc(at, TimeDelta::hours(1)), failed, ms);
            add(&mut days, id, trunc(at, TimeDelta::days(1)), failed, ms);
            minute += TimeDelta::minutes(1);
        }
        if minutes.len() > 200_000 {
            filled.minute_rows += minutes.len() as u64;
            store
                .add_rollups(Resolution::Minute, &minutes)
                .await
                .expect("minute rollups");
            minutes.clear();
        }
    }
    for (resolution, rows, count) in [
        (Resolution::Minute, &minutes, &mut filled.minute_rows),
        (Resolution::Hour, &hours, &mut filled.hour_rows),
        (Resolution::Day, &days, &mut filled.day_rows),
    ] {
        *count += rows.len() as u64;
        for chunk in rows.chunks(200_000) {
            store.add_rollups(resolution, chunk).await.expect("rollups");
        }
    }
    drop((minutes, hours, days));
    // Raw rows in the order the writer would have stored them.
    let mut minute = raw_from;
    let mut batch = Vec::new();
    while minute < tail_from {
        batch.extend(
            ids.iter()
                .enumerate()
                .map(|(i, &id)| world.probe(i, id, World::slot(i, minute))),
        );
        minute += TimeDelta::minutes(1);
        if batch.len() >= 50_000 || minute >= tail_from {
            filled.raw_probes += batch.len() as u64;
            store.add_probes(&batch).await.expect("raw probes");
            batch.clear();
        }
    }
    let mut minute = tail_from;
    while minute <= now {
        let batch: Vec<ProbeRecord> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| world.probe(i, id, World::slot(i, minute)))
            .filter(|p| p.started_at <= now)
            .collect();
        filled.raw_probes += batch.len() as u64;
        store.insert_probes(&batch).await.expect("probes");
        minute += TimeDelta::minutes(1);
    }

    // The incidents the correlator would have stored.
    let mut open_incident = None;
    for outage in &world.outages {
        let affected: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| outage.hits(*i, outage.from))
            .map(|(i, &id)| {
                let last = if outage.resolved {
                    World::slot(i, outage.until - TimeDelta::minutes(1))
                } else {
                    World::slot(i, now - TimeDelta::minutes(1))
                };
                (id, World::slot(i, outage.from), last)
            })
            .collect();
        let cohort = (0..world.sites)
            .filter(|&i| providers_of(i).0 == Some(outage.provider))
            .count()
            .max(1);
        let share = affected.len() as f64 / cohort as f64;
        let end = if outage.resolved { outage.until } else { now };
        let tally = engine::Tally::new(affected.len() as u32, cohort as u32);
        let timeline: Vec<engine::TimelinePoint> = (0..)
            .map(|m| outage.from + TimeDelta::minutes(m))
            .take_while(|at| *at <= end)
            .map(|at| engine::TimelinePoint { at, share, tally })
            .collect();
        let row = ProviderIncidentRow {
            mechanism: engine::Mechanism::Own,
            origins: 0,
            provider: outage.provider.to_owned(),
            role: Role::Cdn,
            phase: if outage.resolved {
                Phase::Resolved
            } else {
                Phase::Confirmed
            },
            pattern: Pattern::Steady,
            onset_at: outage.from,
            detected_at: outage.from + TimeDelta::seconds(30),
            confirmed_at: Some(outage.from + TimeDelta::seconds(90)),
            peak_share: share,
            peak_at: outage.from + TimeDelta::minutes(2),
            recovering_at: outage
                .resolved
                .then(|| outage.until - TimeDelta::minutes(5)),
            resolved_at: outage.resolved.then_some(outage.until),
            confidence: 0.95,
            sites: affected,
            evidence: vec![format!(
                "{} error pages from {} sites",
                outage.provider,
                (share * cohort as f64).round()
            )],
            timeline,
            ..ProviderIncidentRow::default()
        };
        let id = store
            .save_provider_incident(None, &row, now)
            .await
            .expect("provider incident");
        if !outage.resolved {
            open_incident = Some(id);
        }
    }
    // The heavy site's own incidents: a dozen short ones over the month,
    // and the open one the Cloudflare outage explains.
    let heavy = ids[HEAVY];
    for k in 1..=12 {
        let onset = now - TimeDelta::days(2 * k) - TimeDelta::hours(3);
        store
            .open_site_incident(
                heavy,
                onset,
                onset + TimeDelta::minutes(2),
                Some(Cause::Fault(Fault::OriginTimeout)),
                None,
            )
            .await
            .expect("site incident");
        store
            .resolve_site_incident(heavy, onset + TimeDelta::minutes(9))
            .await
            .expect("resolve");
    }
    let onset = world.outages[2].from;
    store
        .open_site_incident(
            heavy,
            onset,
            onset + TimeDelta::minutes(2),
            Some(Cause::Fault(Fault::EdgeError)),
            open_incident,
        )
        .await
        .expect("site incident");

    filled.seconds = started.elapsed().as_secs_f64();
    filled
}

/// Mean, median and 99th percentile of a run, in milliseconds.
struct Stats {
    mean: f64,
    p50: f64,
    p99: f64,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let rank = |q: f64| {
            let index = ((q * samples.len() as f64).ceil() as usize).saturating_sub(1);
            samples.get(index).copied().map(ms).unwrap_or(f64::NAN)
        };
        let mean = samples.iter().copied().map(ms).sum::<f64>() / samples.len().max(1) as f64;
        Self {
            mean,
            p50: rank(0.50),
            p99: rank(0.99),
        }
    }
}

/// The longest one row is measured for: a slow page gets fewer iterations
/// (at least 20) rather than holding the run up for minutes.
const ROW_BUDGET: Duration = Duration::from_secs(20);

/// Runs `warmup` times, then times up to `iterations` runs; returns the
/// statistics of the whole runs, of the part of each run that `run`
/// reports timing itself, and how many runs they cover.
async fn time_it<F, Fut>(warmup: u64, iterations: u64, mut run: F) -> (Stats, Stats, u64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    let started = Instant::now();
    for _ in 0..warmup {
        run().await;
    }
    let per_run = started.elapsed().as_secs_f64() / warmup.max(1) as f64;
    let affordable = (ROW_BUDGET.as_secs_f64() / per_run.max(1e-9)) as u64;
    let n = iterations.min(affordable.max(20));
    let mut samples = Vec::with_capacity(n as usize);
    let mut parts = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let started = Instant::now();
        parts.push(run().await);
        samples.push(started.elapsed());
    }
    (Stats::of(samples), Stats::of(parts), n)
}

/// One GET, body read to the end; returns the body's length.
async fn get(client: &reqwest::Client, url: &str, cookie: bool, gzip: bool) -> usize {
    let mut request = client.get(url);
    if cookie {
        request = request.header(reqwest::header::COOKIE, "bench=1");
    }
    if gzip {
        request = request.header(reqwest::header::ACCEPT_ENCODING, "gzip");
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{url}");
    response.bytes().await.expect("body").len()
}

/// The store queries behind a page, as its server functions make them,
/// one after the other.
enum Queries {
    /// `get_overview` and `list_providers`.
    Home,
    /// `get_site` for the heavy site, reading this rollup over this span.
    Site(Resolution, TimeDelta),
    /// `get_provider` over 24 hours.
    Provider(&'static str),
}

impl Queries {
    /// Runs the queries; returns the time the rollup query took.
    async fn run(&self, store: &Store, heavy: &str) -> Duration {
        match *self {
            Queries::Home => {
                store.site_summary().await.expect("summary");
                store.current_vantage_event().await.expect("vantage");
                store.active_provider_incidents().await.expect("incidents");
                store.failing_sites(10).await.expect("failing");
                store.provider_cohorts().await.expect("cohorts");
                Duration::ZERO
            }
            Queries::Site(resolution, span) => {
                let site = store
                    .site_by_host(heavy)
                    .await
                    .expect("site")
                    .expect("watched");
                let status = store.site_status(site.id).await.expect("status");
                store.latest_failure(site.id).await.expect("last failure");
                store.probe_history(site.id, 20).await.expect("probes");
                store
                    .site_provider_history(site.id)
                    .await
                    .expect("providers");
                store.site_incidents(site.id, 50).await.expect("incidents");
                let end = status.map_or_else(Utc::now, |s| s.started_at);
                let started = Instant::now();
                store
                    .rollups(site.id, resolution, end - span, end)
                    .await
                    .expect("rollups");
                started.elapsed()
            }
            Queries::Provider(id) => {
                let cohorts = store.provider_cohorts().await.expect("cohorts");
                store
                    .provider_incidents(Some(id), 100)
                    .await
                    .expect("incidents");
                store.provider_sites(id).await.expect("sites");
                let end = cohorts
                    .iter()
                    .filter_map(|c| c.latest_probe)
                    .max()
                    .unwrap_or_else(Utc::now);
                let started = Instant::now();
                store
                    .provider_rollups(id, Resolution::Hour, end - TimeDelta::days(1), end)
                    .await
                    .expect("rollups");
                started.elapsed()
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let sites = arg("--sites", 1000) as usize;
    let iterations = arg("--iterations", 200);
    let warmup = arg("--warmup", 20);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("faultline.db");
    let store = Store::open(&path).await.expect("open");
    let now = Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .expect("minute");
    let world = World::new(sites, now);
    let retention = Retention::default();
    let filled = fill(&store, &world, retention).await;
    // Restarted on the filled file, as a server would be.
    store.close().await;
    let db_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let store = Store::open(&path).await.expect("reopen");

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let mut config = Config {
        listen: addr,
        database: server::config::Database::File(path.clone()),
        site_root: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/site"),
        ..Config::default()
    };
    config.monitor.enabled = false;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(http::serve(
        listener,
        AppState::new(&config, store.clone()),
        shutdown.clone(),
    ));
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_proxy()
        .build()
        .expect("client");

    let heavy = host(HEAVY);
    let pages = [
        ("home", "/".to_owned(), Queries::Home),
        (
            "site, 24 h",
            format!("/site/{heavy}"),
            Queries::Site(Resolution::Minute, TimeDelta::days(1)),
        ),
        (
            "site, 7 d",
            format!("/site/{heavy}?window=7d"),
            Queries::Site(Resolution::Hour, TimeDelta::days(7)),
        ),
        (
            "site, 30 d",
            format!("/site/{heavy}?window=30d"),
            Queries::Site(Resolution::Day, TimeDelta::days(30)),
        ),
        (
            "provider cloudflare, 24 h",
            "/provider/cloudflare".to_owned(),
            Queries::Provider("cloudflare"),
        ),
    ];

    println!(
        "database: {sites} sites, {} raw probes, {} minute / {} hour / {} day rollup rows, {:.0} MB, filled in {:.0} s",
        filled.raw_probes,
        filled.minute_rows,
        filled.hour_rows,
        filled.day_rows,
        db_bytes as f64 / 1e6,
        filled.seconds
    );
    println!(
        "sequential GETs with Accept-Encoding: gzip on 127.0.0.1, {warmup} of warm-up, then up to {iterations} timed; \
         the heavy site is {heavy}"
    );
    println!();
    println!(
        "| {:<26} | {:<22} | {:>4} | {:>8} | {:>8} | {:>8} | {:>12} |",
        "page", "how", "n", "mean ms", "p50 ms", "p99 ms", "bytes (gzip)"
    );
    println!(
        "|{:-<28}|{:-<24}|{:->6}|{:->10}|{:->10}|{:->10}|{:->14}|",
        "", "", "", "", "", "", ""
    );
    for (name, path, queries) in &pages {
        let url = format!("http://{addr}{path}");
        let html = get(&client, &url, true, false).await;
        let gz = get(&client, &url, true, true).await;
        let size = format!("{html} ({gz})");
        let (rendered, _, rendered_n) = time_it(warmup, iterations, || async {
            get(&client, &url, true, true).await;
            Duration::ZERO
        })
        .await;
        let (cached, _, cached_n) = time_it(warmup, iterations, || async {
            get(&client, &url, false, true).await;
            Duration::ZERO
        })
        .await;
        let (sql, rollups, sql_n) =
            time_it(warmup, iterations, || queries.run(&store, &heavy)).await;
        let mut rows = vec![
            (
                "rendered (with cookie)",
                rendered,
                rendered_n,
                size.as_str(),
            ),
            ("cached", cached, cached_n, size.as_str()),
            ("store queries alone", sql, sql_n, ""),
        ];
        if !matches!(queries, Queries::Home) {
            rows.push(("of which the rollups", rollups, sql_n, ""));
        }
        for (how, stats, n, size) in rows {
            println!(
                "| {name:<26} | {how:<22} | {n:>4} | {:>8.2} | {:>8.2} | {:>8.2} | {size:>12} |",
                stats.mean, stats.p50, stats.p99
            );
        }
    }

    shutdown.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("the server failed: {error}"),
        Err(error) => eprintln!("the server task failed: {error}"),
    }
    store.close().await;
}
