//! Probe throughput against a loopback fleet, side by side with wrk on the
//! same fleet, plus memory per watched site and database bytes per site per
//! day. Run with `cargo bench -p server --bench probe_rate` (add
//! `-- --fleet 2000 --seconds 10 --concurrency 128` to change the sizes).
//! Everything stays on 127.0.0.1.

mod common;
use common::arg;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use chrono::{TimeDelta, Utc};
use probe::guard::GuardPolicy;
use probe::{LiveProber, ProberConfig};
use server::sim::dns::DnsServer;
use tokio::net::TcpListener;

async fn fleet(size: u64) -> Vec<SocketAddr> {
    let app = Router::new().route("/", get(|| async { "ok" }));
    let mut addrs = Vec::new();
    for _ in 0..size {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        addrs.push(listener.local_addr().expect("addr"));
        let app = app.clone();
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    addrs
}

/// CPU seconds used so far by this process and by its waited-for children
/// (`wrk`): user plus system time from `/proc/self/stat`.
fn cpu_seconds() -> (f64, f64) {
    let ticks = |fields: &[&str], i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which may contain spaces.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime, stime, cutime, cstime are fields 14 to 17 of the line.
            let own = ticks(&fields, 11)? + ticks(&fields, 12)?;
            let children = ticks(&fields, 13)? + ticks(&fields, 14)?;
            Some((own / 100.0, children / 100.0))
        })
        .unwrap_or_default()
}

fn wrk(addr: SocketAddr, seconds: u64, connections: u64) -> Option<f64> {
    let output = std::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "-H",
            "Connection: close",
            &format!("http://{addr}/"),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() {
    let fleet_size = arg("--fleet", 2000);
    let seconds = arg("--seconds", 10);
    let concurrency = arg("--concurrency", 128);
    // --literal 1 probes IP-literal URLs: no DNS, to separate its cost.
    let literal = arg("--literal", 0) == 1;

    let addrs = fleet(fleet_size).await;
    let dns = DnsServer::start().await.expect("dns");
    for (i, addr) in addrs.iter().enumerate() {
        dns.add_addresses(&format!("site-{i}.test"), &[addr.ip()]);
    }
    let prober = LiveProber::new(ProberConfig {
        nameservers: vec![dns.addr()],
        guard: GuardPolicy::loopback_only(),
        ..ProberConfig::default()
    })
    .expect("prober");

    // Our probes: fresh connection, DNS lookup and full request each time.
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (cpu_before, _) = cpu_seconds();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (prober, addrs, done, failed) =
            (prober.clone(), addrs.clone(), done.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut i = worker as usize;
            while Instant::now() < deadline {
                let addr = addrs[i % addrs.len()];
                let url = if literal {
                    format!("http://{addr}/")
                } else {
                    format!("http://site-{}.test:{}/", i % addrs.len(), addr.port())
                };
                let record = prober.probe_url(&url, Utc::now()).await;
                done.fetch_add(1, Ordering::Relaxed);
                if !record.ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += concurrency as usize;
            }
        }));
    }
    for worker in workers {
        if let Err(error) = worker.await {
            eprintln!("a probe worker failed: {error}");
        }
    }
    let probes = done.load(Ordering::Relaxed);
    let probe_rate = probes as f64 / seconds as f64;
    // Prober, fleet and DNS server share this process.
    let probe_cpu = cpu_seconds().0 - cpu_before;

    // The load generator on the same fleet, also with fresh connections.
    let (own_before, children_before) = cpu_seconds();
    let wrk_rate = tokio::task::spawn_blocking({
        let addr = addrs[0];
        move || wrk(addr, seconds, concurrency)
    })
    .await
    .ok()
    .flatten();
    // The fleet (this process) plus wrk itself.
    let (own_after, children_after) = cpu_seconds();
    let wrk_cpu = (own_after - own_before) + (children_after - children_before);

    // Memory per 10 000 watched sites: the schedule and per-site state.
    let before = common::memory_kib().0;
    let mut schedule = engine::schedule::Schedule::default();
    schedule.sync(
        (1..=10_000).map(|id| engine::schedule::Target {
            site_id: id,
            url: format!("https://site-{id}.example/"),
            host: format!("site-{id}.example"),
            interval: TimeDelta::seconds(60),
        }),
        Utc::now(),
    );
    let mut correlator = engine::correlate::Correlator::new(Default::default());
    for id in 1..=10_000 {
        correlator.add_member(id, "cloudflare", engine::correlate::Role::Cdn);
        correlator.observe(engine::correlate::Observation {
            site_id: id,
            at: Utc::now(),
            ok: true,
            ..Default::default()
        });
    }
    let per_10k_kib = common::memory_kib().0.saturating_sub(before);

    let (raw_bytes, minute_bytes, hour_day_bytes) = database_bytes_per_site_day().await;

    let needed_rate: f64 = 100_000.0 / 60.0;
    println!(
        "{}",
        serde_json::json!({
            "fleet": fleet_size,
            "seconds": seconds,
            "concurrency": concurrency,
            "dns": !literal,
            "probes": probes,
            "probe_failures": failed.load(Ordering::Relaxed),
            "probes_per_second": probe_rate.round(),
            "wrk_requests_per_second": wrk_rate.map(f64::round),
            "probe_to_wrk_ratio": wrk_rate.map(|w| (probe_rate / w * 100.0).round() / 100.0),
            // CPU per request, both sides including the fleet: a figure that
            // holds when other work shares the machine.
            "probe_cpu_us_per_probe": (probe_cpu * 1e6 / probes.max(1) as f64).round(),
            "wrk_cpu_us_per_request": wrk_rate
                .map(|w| (wrk_cpu * 1e6 / (w * seconds as f64).max(1.0)).round()),
            "needed_for_100k_sites_at_60s": needed_rate.round(),
            "process_rss_mib": common::memory_kib().0 / 1024,
            "state_kib_per_10k_sites": per_10k_kib,
            "schedule_len": schedule.len(),
            "db_raw_bytes_per_site_day": raw_bytes,
            "db_minute_rollup_bytes_per_site_day": minute_bytes,
            "db_hour_day_rollup_bytes_per_site_day": hour_day_bytes,
        })
    );
}

/// Stores one day of 60-second probes for 50 sites (1 % failing, each
/// failure with a 1.5 KiB compressed error page and its facts) and measures
/// the file: raw rows, minute rollups, and hour plus day rollups, by pruning
/// one kind after the other.
async fn database_bytes_per_site_day() -> (u64, u64, u64) {
    const SITES: i64 = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("size.db");
    let store = store::Store::open(&path).await.expect("open");
    let sites: Vec<store::NewSite> = (0..SITES)
        .map(|i| store::NewSite {
            url: format!("https://site-{i}.example/"),
            host: format!("site-{i}.example"),
            name: format!("site {i}"),
            tags: vec![],
            interval_s: 60,
        })
        .collect();
    let start = Utc::now() - TimeDelta::days(1);
    store.add_sites(&sites, start).await.expect("sites");
    let empty = file_size(&path, &store).await;
    for minute in 0..1440 {
        let at = start + TimeDelta::minutes(minute);
        let batch: Vec<store::ProbeRecord> = (1..=SITES)
            .map(|site_id| {
                let failed = (minute + site_id) % 100 == 0;
                store::ProbeRecord {
                    site_id,
                    started_at: at,
                    ok: !failed,
                    status: Some(if failed { 522 } else { 200 }),
                    failure: failed.then_some(engine::FailureClass::HttpStatus),
                    detail: failed.then(|| "HTTP 522".to_owned()),
                    dns_ms: Some(12),
                    connect_ms: None,
                    tls_ms: None,
                    ttfb_ms: Some(180),
                    total_ms: Some(240),
                    remote_ip: Some("104.16.1.1".to_owned()),
                    facts: failed.then(|| "{\"dns\":{\"cname\":[\"x.cdn.cloudflare.net\"],\"addresses\":[\"104.16.1.1\"]}}".repeat(4)),
                    body_gz: failed.then(|| vec![7u8; 1536]),
                    provider: failed.then(|| "cloudflare".to_owned()),
                    fault_side: failed.then_some(engine::FaultSide::Origin),
                    fault: failed.then_some(engine::Fault::OriginTimeout),
                    confidence: failed.then_some(0.9),
                    evidence: failed.then(|| "[\"header cf-ray\",\"body: Error code 522\"]".to_owned()),
                    suspect: false,
                    vantage_id: 0,
                    slot: Some(at),
                    providers: Vec::new(),
                }
            })
            .collect();
        store.insert_probes(&batch).await.expect("insert");
    }
    let full = file_size(&path, &store).await;
    let later = Utc::now() + TimeDelta::days(3);
    let keep_rollups = store::Retention {
        raw: TimeDelta::hours(48),
        minute: TimeDelta::days(30),
        ..Default::default()
    };
    store.prune(later, keep_rollups).await.expect("prune raw");
    let without_raw = file_size(&path, &store).await;
    let drop_minutes = store::Retention {
        minute: TimeDelta::hours(1),
        ..keep_rollups
    };
    store
        .prune(later, drop_minutes)
        .await
        .expect("prune minutes");
    let hours_and_days = file_size(&path, &store).await;
    store.close().await;
    let per = |bytes: u64| bytes / SITES as u64;
    (
        per(full.saturating_sub(without_raw)),
        per(without_raw.saturating_sub(hours_and_days)),
        per(hours_and_days.saturating_sub(empty)),
    )
}

async fn file_size(path: &std::path::Path, store: &store::Store) -> u64 {
    store.vacuum().await.expect("vacuum");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
