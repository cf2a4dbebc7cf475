//! Keeping up when targets hang: the real monitor (schedule, prober,
//! writer, correlator) probing a large watchlist on loopback where a share
//! of the targets accept the connection and never answer, so each of those
//! probes waits for its total timeout (20 s by default), as during an
//! outage. Reports how late probes start (the scheduler's lag), probes in
//! flight and memory, every 10 s.
//!
//! `cargo bench -p server --bench hanging` runs 100 000 sites at a 60 s
//! interval, 30 % hanging, for 180 s with the in-flight capacity sized for
//! the watchlist; `-- --capacity 256` fixes it instead (the old default),
//! and `--sites`, `--interval`, `--hanging-percent` and `--seconds` change
//! the rest. The hanging targets live in a child process, so that their
//! held connections do not count against this process's open files.
//! Everything stays on 127.0.0.1.

mod common;
use common::{arg, memory_kib};

use std::future::Future;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use probe::guard::GuardPolicy;
use probe::{LiveProber, Outcome, Probe, ProberConfig};
use server::monitor::{Capacity, Monitor, MonitorConfig};
use server::sim::dns::DnsServer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Listeners of each kind, each on its own loopback address, so that
/// closed connections waiting out TIME_WAIT spread over many address pairs
/// as they do towards real sites.
const LISTENERS: u8 = 64;

/// The child process: listeners that accept and never answer. Each
/// connection is held until the prober gives up and closes it. Prints its
/// ports, then serves until its standard input closes (the parent gone).
async fn hang_server(listeners: u8) {
    let mut addresses = Vec::new();
    for n in 1..=listeners {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 2, n], 0)))
            .expect("bind");
        let listener = socket.listen(4096).expect("listen");
        addresses.push(listener.local_addr().expect("address"));
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                tokio::spawn(async move {
                    let mut sink = [0u8; 1024];
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                });
            }
        });
    }
    let mut out = std::io::stdout().lock();
    for address in addresses {
        writeln!(out, "{address}").expect("stdout");
    }
    out.flush().expect("stdout");
    drop(out);
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().lock().read_line(&mut line).unwrap_or(0) > 0 {}
    })
    .await;
}

/// Counts what the monitor's probes found.
struct Counting {
    inner: LiveProber,
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Probe for Counting {
    fn probe<'a>(
        &'a self,
        url: &'a str,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let outcome = self.inner.probe(url, now).await;
            let counter = if outcome.ok { &self.ok } else { &self.failed };
            counter.fetch_add(1, Ordering::Relaxed);
            outcome
        })
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--hang-server") {
        hang_server(LISTENERS).await;
        return;
    }
    let sites = arg("--sites", 100_000);
    let interval = arg("--interval", 60);
    let hanging_percent = arg("--hanging-percent", 30);
    let seconds = arg("--seconds", 180);
    let fixed = arg("--capacity", 0);

    let open_files = server::startup::probes_open_files();
    let mut child = std::process::Command::new(std::env::current_exe().expect("this program"))
        .arg("--hang-server")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the hanging targets");
    let hanging_targets: Vec<SocketAddr> =
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .lines()
            .take(usize::from(LISTENERS))
            .map(|line| {
                line.expect("an address")
                    .trim()
                    .parse()
                    .expect("an address")
            })
            .collect();

    let app = Router::new().route("/", get(|| async { "ok" }));
    let mut fast_targets = Vec::new();
    for n in 1..=LISTENERS {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 1, n], 0)))
            .await
            .expect("bind");
        fast_targets.push(listener.local_addr().expect("address"));
        let app = app.clone();
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    // One name per site, so the per-host limit applies per site as it
    // does for real ones; the names share the listeners' addresses.
    let dns = DnsServer::start().await.expect("dns");
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = store::Store::open(&dir.path().join("faultline.db"))
        .await
        .expect("database");
    let mut batch = Vec::new();
    let mut hanging = 0u64;
    for i in 0..sites {
        let name = format!("site-{i}.test");
        let target = if i % 100 < hanging_percent {
            hanging += 1;
            hanging_targets[i as usize % hanging_targets.len()]
        } else {
            fast_targets[i as usize % fast_targets.len()]
        };
        dns.add_addresses(&name, &[target.ip()]);
        let port = target.port();
        batch.push(
            server::watchlist::site(
                &format!("http://{name}:{port}/"),
                None,
                "",
                Some(i64::try_from(interval).unwrap_or(60)),
            )
            .expect("site"),
        );
        if batch.len() == 5_000 {
            store.add_sites(&batch, Utc::now()).await.expect("sites");
            batch.clear();
        }
    }
    store.add_sites(&batch, Utc::now()).await.expect("sites");

    let config = ProberConfig {
        nameservers: vec![dns.addr()],
        guard: GuardPolicy::loopback_only(),
        ..ProberConfig::default()
    };
    let timeout = Duration::from_millis(config.total_timeout_ms);
    let prober = Arc::new(Counting {
        inner: LiveProber::new(config).expect("prober"),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let concurrency = match fixed {
        0 => Capacity::Sized {
            floor: 256,
            ceiling: open_files,
            timeout,
        },
        n => Capacity::Fixed(usize::try_from(n).unwrap_or(256)),
    };
    let monitor = Monitor::new(
        store.clone(),
        Arc::new(server::clock::SystemClock),
        prober.clone(),
        MonitorConfig {
            concurrency,
            canaries: Vec::new(),
            ..MonitorConfig::default()
        },
    );
    let metrics = monitor.metrics();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(monitor.run(shutdown.clone()));

    let started = Instant::now();
    let mut windows = Vec::new();
    let mut probes_before = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let probes = prober.ok.load(Ordering::Relaxed) + prober.failed.load(Ordering::Relaxed);
        let lag = metrics.take_lag_max().as_secs_f64();
        let (rss, _) = memory_kib();
        let window = serde_json::json!({
            "at_s": started.elapsed().as_secs(),
            "lag_max_s": (lag * 100.0).round() / 100.0,
            "in_flight": metrics.in_flight(),
            "probes_per_second": (probes - probes_before) / 10,
            "rss_mib": rss / 1024,
        });
        eprintln!("{window}");
        windows.push(window);
        probes_before = probes;
    }
    let capacity = metrics.capacity_now();
    shutdown.cancel();
    let _ = running.await;
    let _ = child.kill();
    let _ = child.wait();

    // The first interval fills the schedule; steady state is after it.
    let steady: Vec<&serde_json::Value> = windows
        .iter()
        .filter(|w| w["at_s"].as_u64().unwrap_or(0) > interval)
        .collect();
    let mut lags: Vec<f64> = steady
        .iter()
        .filter_map(|w| w["lag_max_s"].as_f64())
        .collect();
    lags.sort_by(f64::total_cmp);
    let rates: Vec<u64> = steady
        .iter()
        .filter_map(|w| w["probes_per_second"].as_u64())
        .collect();
    let (rss, peak) = memory_kib();
    println!(
        "{}",
        serde_json::json!({
            "sites": sites,
            "interval_s": interval,
            "hanging_sites": hanging,
            "total_timeout_s": timeout.as_secs(),
            "capacity": capacity,
            "capacity_mode": if fixed == 0 { "sized" } else { "fixed" },
            "open_files_for_probes": open_files,
            "seconds": seconds,
            "needed_probes_per_second": (sites as f64 / interval as f64).round(),
            "steady_probes_per_second_mean": rates.iter().sum::<u64>() / (rates.len().max(1) as u64),
            "steady_lag_max_s": lags.last(),
            "steady_lag_window_max_median_s": lags.get(lags.len() / 2),
            "probes_ok": prober.ok.load(Ordering::Relaxed),
            "probes_failed": prober.failed.load(Ordering::Relaxed),
            "rss_mib": rss / 1024,
            "peak_rss_mib": peak / 1024,
            "windows": windows,
        })
    );
}
