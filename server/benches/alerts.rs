//! Alert delivery on loopback, each figure beside a bare client's on the
//! same receiver in the same run. Run with `cargo bench -p server --bench
//! alerts` (add `-- --incidents 50 --followers 100 --fanout 10000
//! --mails 1000 --rounds 2 --wrk-seconds 3` to change the sizes).
//!
//! 1. Latency from an incident's confirmation (the `save_provider_incident`
//!    call that writes the confirmed event) to the first webhook at the
//!    receiver, for a provider with `--followers` webhook subscriptions,
//!    over `--incidents` incidents. A real `Dispatcher::run` on the system
//!    clock is woken as `serve` wakes it: the correlation task stores the
//!    incident, then publishes a snapshot on the `watch` the dispatcher
//!    was given with `with_trigger`.
//! 2. Fan-out of one incident to `--fanout` webhook subscriptions, from the
//!    save to the last request at the receiver and to the last attempt
//!    recorded in the store; beside it, the same number of bare POSTs of the
//!    same size by reqwest with 64 concurrent tasks (`IN_FLIGHT`), and wrk
//!    (`-t2 -c64`, a Lua script posting a fixed body) for `--wrk-seconds`.
//! 3. `--mails` email alerts to a loopback aiosmtpd (`.tools/venv`); beside
//!    it, as many mails of the same size sent with lettre directly (the
//!    `Mailer`'s transport, 64 at once) and with Python's smtplib over one
//!    connection.
//! 4. The store's share: the fan-out transaction, one `due_deliveries`
//!    batch and one `record_attempt`, timed alone, and `record_attempt`
//!    again while bare POSTs keep the runtime busy, as the sends do.
//!
//! Everything stays on 127.0.0.1. Compare ratios within one run, not rates
//! across runs: the machine is shared.

mod common;
use common::arg;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use engine::correlate::Snapshot;
use engine::{AlertChannel, DeliveryState};
use engine::{AlertEvent, AlertFormat, Phase, Role};
use server::alerts::mail::Mailer;
use server::alerts::token::Signer;
use server::alerts::webhook::WebhookClient;
use server::alerts::{AlertSettings, Dispatcher, IN_FLIGHT};
use server::clock::SystemClock;
use store::{AfterAttempt, Attempt, NewDelivery, NewSubscription, ProviderIncidentRow, Store};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The longest any one wait may take before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(600);
/// The batch `Dispatcher::round` takes (its private `BATCH`), to find the
/// pauses between rounds in the arrivals.
const ROUND_BATCH: usize = 512;

#[tokio::main]
async fn main() {
    let incidents = arg("--incidents", 50) as usize;
    let followers = arg("--followers", 100) as usize;
    let fanout = arg("--fanout", 10_000) as usize;
    let mails = arg("--mails", 1_000) as usize;
    let rounds = arg("--rounds", 2) as usize;
    let wrk_seconds = arg("--wrk-seconds", 3);

    println!("load average at start: {}", load_average());
    let latency = latency(incidents, followers).await;
    println!("load average after the latency runs: {}", load_average());
    let webhooks = webhook_fanout(fanout, rounds, wrk_seconds).await;
    println!("load average after the fan-out runs: {}", load_average());
    let email = email(mails, rounds).await;
    println!("load average after the mail runs: {}", load_average());

    println!();
    println!(
        "1. confirmation to webhook, {followers} followers, {incidents} incidents (after 1 warm-up):"
    );
    println!(
        "   save_provider_incident  p50 {:7.2} ms  p99 {:7.2} ms",
        ms(percentile(&latency.saved, 0.5)),
        ms(percentile(&latency.saved, 0.99))
    );
    println!(
        "   first webhook received  p50 {:7.2} ms  p99 {:7.2} ms",
        ms(percentile(&latency.first, 0.5)),
        ms(percentile(&latency.first, 0.99))
    );
    println!(
        "   all {followers:>4} received     p50 {:7.2} ms  p99 {:7.2} ms",
        ms(percentile(&latency.all, 0.5)),
        ms(percentile(&latency.all, 0.99))
    );
    println!();
    println!(
        "2. one incident to {fanout} webhook subscriptions, POST body {} bytes:",
        webhooks.body_len
    );
    println!("   | run | sender | received | in store | first at | last at | all recorded | per second | CPU per request | ratio to reqwest | ratio to wrk |");
    println!("   |---|---|---|---|---|---|---|---|---|---|---|");
    for (round, run) in webhooks.runs.iter().enumerate() {
        let round = round + 1;
        println!(
            "   | {round} | dispatcher | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} | {:.0} µs | {:.2} | {} |",
            run.dispatcher.received,
            run.dispatcher.in_store,
            ms(run.dispatcher.first),
            ms(run.dispatcher.last),
            ms(run.dispatcher.recorded),
            run.dispatcher.rate(),
            run.dispatcher.cpu_us,
            run.dispatcher.rate() / run.reqwest.rate(),
            run.wrk
                .as_ref()
                .map_or("–".to_owned(), |w| format!("{:.2}", run.dispatcher.rate() / w.rate)),
        );
        println!(
            "   | {round} | reqwest, 64 tasks | {} | – | {:.0} ms | {:.0} ms | – | {:.0} | {:.0} µs | 1 | {} |",
            run.reqwest.received,
            ms(run.reqwest.first),
            ms(run.reqwest.last),
            run.reqwest.rate(),
            run.reqwest.cpu_us,
            run.wrk
                .as_ref()
                .map_or("–".to_owned(), |w| format!("{:.2}", run.reqwest.rate() / w.rate)),
        );
        match &run.wrk {
            Some(wrk) => println!(
                "   | {round} | wrk -t2 -c64, {wrk_seconds} s | {} | – | – | – | – | {:.0} | {:.0} µs | – | 1 |",
                wrk.requests, wrk.rate, wrk.cpu_us
            ),
            None => println!("   | {round} | wrk | not run (is wrk installed?) |"),
        }
        println!(
            "   round {round}: first to last arrival {:.0} per second",
            (run.dispatcher.received.max(1) - 1) as f64
                / (run.dispatcher.last - run.dispatcher.first)
                    .as_secs_f64()
                    .max(1e-9),
        );
        println!(
            "   round {round}: {} pauses of 5 ms or more between two arrivals ({:.0} ms in all); at the {}-delivery round boundaries: median {:.1} ms, {:.0} ms in all",
            run.dispatcher.pauses.0,
            ms(run.dispatcher.pauses.1),
            ROUND_BATCH,
            ms(percentile(&run.dispatcher.boundaries, 0.5)),
            ms(run.dispatcher.boundaries.iter().sum()),
        );
        println!(
            "   round {round}: reqwest's {} POSTs: {} pauses of 5 ms or more ({:.0} ms in all)",
            run.reqwest.received,
            run.reqwest.pauses.0,
            ms(run.reqwest.pauses.1),
        );
    }
    println!();
    println!(
        "3. {mails} email alerts to aiosmtpd, mail {} bytes:",
        email.mail_len
    );
    println!("   | run | sender | received | all recorded | per second | aiosmtpd CPU | ratio to lettre |");
    println!("   |---|---|---|---|---|---|---|");
    for (round, run) in email.runs.iter().enumerate() {
        let round = round + 1;
        println!(
            "   | {round} | dispatcher | {} | {:.0} ms | {:.0} | {:.0} % | {:.2} |",
            run.dispatcher.received,
            ms(run.dispatcher.recorded),
            run.dispatcher.rate(),
            run.dispatcher.server_cpu * 100.0,
            run.dispatcher.rate() / run.lettre.rate(),
        );
        println!(
            "   | {round} | lettre, 64 tasks | {} | – | {:.0} | {:.0} % | 1 |",
            run.lettre.received,
            run.lettre.rate(),
            run.lettre.server_cpu * 100.0,
        );
        match &run.smtplib {
            Some(smtplib) => println!(
                "   | {round} | smtplib, one connection | {} | – | {:.0} | {:.0} % | {:.2} |",
                smtplib.received,
                smtplib.rate(),
                smtplib.server_cpu * 100.0,
                smtplib.rate() / run.lettre.rate(),
            ),
            None => println!("   | {round} | smtplib | failed |"),
        }
    }
    println!();
    let costs = &webhooks.costs;
    println!("4. the store alone, {fanout} subscriptions:");
    println!(
        "   subscriptions() {:.1} ms; fan_out of {fanout} deliveries (one transaction) {:.1} ms; due_deliveries({ROUND_BATCH}) median {:.1} ms; record_attempt median {:.0} µs, mean {:.0} µs, p99 {:.0} µs ({:.0} per second at the mean, one after another)",
        ms(costs.subscriptions),
        ms(costs.fan_out),
        ms(percentile(&costs.due, 0.5)),
        percentile(&costs.record, 0.5).as_secs_f64() * 1e6,
        mean(&costs.record).as_secs_f64() * 1e6,
        percentile(&costs.record, 0.99).as_secs_f64() * 1e6,
        1.0 / mean(&costs.record).as_secs_f64(),
    );
    let slow = |records: &[Duration]| {
        let slow: Vec<&Duration> = records
            .iter()
            .filter(|d| **d >= Duration::from_millis(1))
            .collect();
        let share = slow.iter().copied().sum::<Duration>().as_secs_f64()
            / records.iter().sum::<Duration>().as_secs_f64().max(1e-9);
        format!(
            "{} of {} took 1 ms or more, {:.0} % of their time",
            slow.len(),
            records.len(),
            share * 100.0
        )
    };
    println!("   record_attempt alone: {}", slow(&costs.record));
    println!(
        "   record_attempt while {fanout} bare POSTs run beside it: median {:.0} µs, mean {:.0} µs, p99 {:.0} µs ({:.0} per second at the mean, one after another)",
        percentile(&costs.loaded, 0.5).as_secs_f64() * 1e6,
        mean(&costs.loaded).as_secs_f64() * 1e6,
        percentile(&costs.loaded, 0.99).as_secs_f64() * 1e6,
        1.0 / mean(&costs.loaded).as_secs_f64(),
    );
    println!("   record_attempt beside POSTs: {}", slow(&costs.loaded));
    println!(
        "   one subscription read alone (due_deliveries does one per subscription in its batch): median {:.0} µs",
        percentile(&costs.lookup, 0.5).as_secs_f64() * 1e6,
    );
    println!("load average at the end: {}", load_average());
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The nearest-rank percentile `p` (0 to 1) of `values`.
fn percentile(values: &[Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn mean(values: &[Duration]) -> Duration {
    values.iter().sum::<Duration>() / u32::try_from(values.len().max(1)).unwrap_or(u32::MAX)
}

/// CPU seconds (user plus system) of process `pid`, or of this process
/// with its waited-for children (wrk, smtplib) for `None`.
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = pid.map_or("/proc/self/stat".to_owned(), |pid| {
        format!("/proc/{pid}/stat")
    });
    std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| {
            // The fields after the command name, which may contain spaces:
            // utime, stime, cutime and cstime are the 12th to 15th.
            let rest = stat.rsplit_once(')')?.1.to_owned();
            let fields: Vec<f64> = rest
                .split_whitespace()
                .skip(11)
                .take(4)
                .filter_map(|v| v.parse().ok())
                .collect();
            let ticks = match pid {
                Some(_) => fields.iter().take(2).sum::<f64>(),
                None => fields.iter().sum::<f64>(),
            };
            Some(ticks / 100.0)
        })
        .unwrap_or_default()
}

/// What a receiver (webhook or SMTP) got: when each request or mail
/// arrived, and the size of the last one.
#[derive(Clone)]
struct Arrivals {
    at: Arc<Mutex<Vec<Instant>>>,
    count: Arc<watch::Sender<usize>>,
    last_len: Arc<AtomicUsize>,
}

impl Arrivals {
    fn new() -> Self {
        Self {
            at: Arc::default(),
            count: Arc::new(watch::Sender::new(0)),
            last_len: Arc::default(),
        }
    }

    fn arrive(&self, len: usize) {
        let now = Instant::now();
        let count = {
            let mut at = self.at.lock().expect("arrivals");
            at.push(now);
            at.len()
        };
        self.last_len.store(len, Ordering::Relaxed);
        self.count.send_replace(count);
    }

    fn len(&self) -> usize {
        *self.count.borrow()
    }

    fn at(&self, i: usize) -> Instant {
        self.at.lock().expect("arrivals")[i]
    }

    fn between(&self, from: usize, to: usize) -> Vec<Instant> {
        self.at.lock().expect("arrivals")[from..to].to_vec()
    }

    /// Waits until `n` have arrived in all.
    async fn reach(&self, n: usize, what: &str) {
        let mut count = self.count.subscribe();
        if tokio::time::timeout(PATIENCE, count.wait_for(|c| *c >= n))
            .await
            .is_err()
        {
            panic!("{what}: only {} of {n} arrived in {PATIENCE:?}", self.len());
        }
    }
}

/// A webhook receiver answering every request with 204.
async fn receiver(arrivals: Arrivals) -> SocketAddr {
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let arrivals = arrivals.clone();
        async move {
            arrivals.arrive(body.len());
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("the receiver's address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A dispatcher on the system clock that may reach loopback, as a test
/// deployment with `allowed_networks = ["127.0.0.0/8"]` has it.
fn dispatcher(store: &Store) -> Dispatcher {
    let settings = AlertSettings {
        allowed_networks: vec!["127.0.0.0/8".parse().expect("a network")],
        ..AlertSettings::default()
    };
    let prober = probe::LiveProber::new(probe::ProberConfig {
        // Names are never looked up here; a silent port keeps it so.
        nameservers: vec!["127.0.0.1:9".parse().expect("an address")],
        dns_timeout_ms: 300,
        guard: settings.guard(),
        ..probe::ProberConfig::default()
    })
    .expect("the prober");
    Dispatcher::new(
        store.clone(),
        Arc::new(SystemClock),
        WebhookClient::new(Arc::new(prober)).expect("the webhook client"),
        server::knowledge::Knowledge::builtin(),
        "https://faultline.example".to_owned(),
        &settings,
    )
}

/// A dispatcher task woken as in `serve`: by each published snapshot.
struct Running {
    snapshots: watch::Sender<Arc<Snapshot>>,
    version: u64,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(dispatcher: Dispatcher) -> Self {
        let (snapshots, watched) = watch::channel(Arc::new(Snapshot::default()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(dispatcher.with_trigger(watched).run(shutdown.clone()));
        Self {
            snapshots,
            version: 0,
            shutdown,
            task,
        }
    }

    /// What the correlation task does once a judgement's events are
    /// stored: publishes the new snapshot.
    fn publish(&mut self) {
        self.version += 1;
        self.snapshots.send_replace(Arc::new(Snapshot {
            version: self.version,
            judged_at: Some(Utc::now()),
            ..Snapshot::default()
        }));
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

fn webhook(target: String) -> NewSubscription {
    NewSubscription {
        channel: AlertChannel::Webhook,
        format: AlertFormat::Standard,
        target,
        secrets: vec![server::alerts::sign::new_secret()],
        interests: interests(),
        min_interval_s: 0,
        remind_every_s: 0,
        confirmed_at: None,
        created_by: "bench".to_owned(),
        owner: None,
    }
}

fn interests() -> engine::alert::Interests {
    engine::alert::Interests {
        scopes: vec![engine::alert::Scope::parse("provider:cloudflare").expect("a scope")],
        events: AlertEvent::DEFAULTS.to_vec(),
        mutes: Vec::new(),
    }
}

async fn subscribe_all(store: &Store, subscriptions: impl Iterator<Item = NewSubscription>) {
    for subscription in subscriptions {
        store
            .create_subscription(&subscription, Utc::now())
            .await
            .expect("create a subscription");
    }
}

/// Stores a newly confirmed Cloudflare incident, as the correlation task
/// does; returns its id.
async fn confirm(store: &Store) -> i64 {
    let now = Utc::now();
    let row = ProviderIncidentRow {
        mechanism: engine::Mechanism::Own,
        origins: 0,
        provider: "cloudflare".to_owned(),
        role: Role::Cdn,
        phase: Phase::Confirmed,
        onset_at: now - TimeDelta::minutes(2),
        detected_at: now - TimeDelta::minutes(1),
        confirmed_at: Some(now),
        peak_share: 0.9,
        peak_at: now,
        confidence: 0.95,
        evidence: vec!["shop.example: Cloudflare 500 page".to_owned()],
        ..ProviderIncidentRow::default()
    };
    store
        .save_provider_incident(None, &row, now)
        .await
        .expect("save the incident")
}

/// Waits until nothing waits in the outbox or among the deliveries: every
/// attempt is recorded.
async fn settled(store: &Store) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let event = store.next_event_due().await.expect("next event");
        let delivery = store.next_delivery_due().await.expect("next delivery");
        if event.is_none() && delivery.is_none() {
            return;
        }
        assert!(Instant::now() < deadline, "deliveries still pending");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Delivered deliveries of `incident`, from the store's log.
async fn delivered_in_store(store: &Store, incident: i64, at_most: usize) -> usize {
    store
        .delivery_log(None, at_most as i64 + 10)
        .await
        .expect("the delivery log")
        .iter()
        .filter(|line| line.incident_id == Some(incident) && line.state == DeliveryState::Delivered)
        .count()
}

struct Latency {
    saved: Vec<Duration>,
    first: Vec<Duration>,
    all: Vec<Duration>,
}

async fn latency(incidents: usize, followers: usize) -> Latency {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("faultline.db"))
        .await
        .expect("the store");
    let arrivals = Arrivals::new();
    let addr = receiver(arrivals.clone()).await;
    subscribe_all(
        &store,
        (0..followers).map(|i| webhook(format!("http://{addr}/hooks/{i}"))),
    )
    .await;
    let mut running = Running::start(dispatcher(&store));
    let mut latency = Latency {
        saved: Vec::new(),
        first: Vec::new(),
        all: Vec::new(),
    };
    // One warm-up incident opens the client's connections.
    for k in 0..=incidents {
        settled(&store).await;
        // Let the dispatcher finish its round and go back to sleep, as it
        // is between two judgements.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let base = arrivals.len();
        let started = Instant::now();
        confirm(&store).await;
        let saved = started.elapsed();
        running.publish();
        arrivals.reach(base + followers, "latency").await;
        if k > 0 {
            latency.saved.push(saved);
            latency.first.push(arrivals.at(base) - started);
            latency
                .all
                .push(arrivals.at(base + followers - 1) - started);
        }
    }
    settled(&store).await;
    running.stop().await;
    latency
}

/// One sender's run over the receiver.
#[derive(Default)]
struct Sent {
    received: usize,
    in_store: usize,
    /// From the start to the first and the last arrival.
    first: Duration,
    last: Duration,
    /// From the start until the store recorded every attempt.
    recorded: Duration,
    /// Process CPU (receiver included) per request.
    cpu_us: f64,
    /// Pauses of 5 ms or more between arrivals: how many, how long.
    pauses: (usize, Duration),
    /// The pauses at each `ROUND_BATCH`-th arrival.
    boundaries: Vec<Duration>,
    /// The SMTP server's CPU, as a share of one core over the run.
    server_cpu: f64,
}

impl Sent {
    fn rate(&self) -> f64 {
        let over = self.recorded.max(self.last);
        self.received as f64 / over.as_secs_f64().max(1e-9)
    }
}

struct WrkRun {
    requests: u64,
    rate: f64,
    cpu_us: f64,
}

struct FanoutRound {
    dispatcher: Sent,
    reqwest: Sent,
    wrk: Option<WrkRun>,
}

struct StoreCosts {
    subscriptions: Duration,
    fan_out: Duration,
    due: Vec<Duration>,
    /// `record_attempt` while bare POSTs run beside it.
    loaded: Vec<Duration>,
    /// One `Store::subscription` read.
    lookup: Vec<Duration>,
    record: Vec<Duration>,
}

struct Webhooks {
    body_len: usize,
    runs: Vec<FanoutRound>,
    costs: StoreCosts,
}

async fn webhook_fanout(fanout: usize, rounds: usize, wrk_seconds: u64) -> Webhooks {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("faultline.db"))
        .await
        .expect("the store");
    let arrivals = Arrivals::new();
    let addr = receiver(arrivals.clone()).await;
    let created = Instant::now();
    subscribe_all(
        &store,
        (0..fanout).map(|i| webhook(format!("http://{addr}/hooks/{i}"))),
    )
    .await;
    println!(
        "{fanout} webhook subscriptions created in {:.1} s",
        created.elapsed().as_secs_f64()
    );
    let mut running = Running::start(dispatcher(&store));
    let mut runs = Vec::new();
    let mut body_len = 0;
    for _ in 0..rounds {
        settled(&store).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let base = arrivals.len();
        let cpu = cpu_seconds(None);
        let started = Instant::now();
        let incident = confirm(&store).await;
        running.publish();
        arrivals.reach(base + fanout, "fan-out").await;
        settled(&store).await;
        let recorded = started.elapsed();
        let cpu = cpu_seconds(None) - cpu;
        body_len = arrivals.last_len.load(Ordering::Relaxed);
        let times = arrivals.between(base, base + fanout);
        let gap = |i: usize| times[i] - times[i - 1];
        let dispatched = Sent {
            received: arrivals.len() - base,
            in_store: delivered_in_store(&store, incident, fanout).await,
            first: times[0] - started,
            last: times[fanout - 1] - started,
            recorded,
            cpu_us: cpu * 1e6 / fanout as f64,
            pauses: pauses(&times),
            boundaries: (1..times.len())
                .filter(|i| i % ROUND_BATCH == 0)
                .map(gap)
                .collect(),
            server_cpu: 0.0,
        };

        let bare = bare_posts(&arrivals, addr, fanout, body_len).await;
        let wrk = {
            let cpu = cpu_seconds(None);
            let ran = tokio::task::spawn_blocking(move || wrk(addr, wrk_seconds, body_len))
                .await
                .ok()
                .flatten();
            let cpu = cpu_seconds(None) - cpu;
            ran.map(|(requests, rate)| WrkRun {
                requests,
                rate,
                cpu_us: cpu * 1e6 / requests.max(1) as f64,
            })
        };
        runs.push(FanoutRound {
            dispatcher: dispatched,
            reqwest: bare,
            wrk,
        });
    }
    settled(&store).await;
    running.stop().await;
    let costs = store_costs(&store, fanout, &arrivals, addr, body_len).await;
    Webhooks {
        body_len,
        runs,
        costs,
    }
}

/// The pauses of 5 ms or more between two arrivals: how many, how long in
/// all.
fn pauses(times: &[Instant]) -> (usize, Duration) {
    let long: Vec<Duration> = times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .filter(|gap| *gap >= Duration::from_millis(5))
        .collect();
    (long.len(), long.iter().sum())
}

/// Headers of the same sizes as a signed delivery's.
const LIKE_SIGNED: [(&str, &str); 3] = [
    ("webhook-id", "msg_12_3456"),
    ("webhook-timestamp", "1764000000"),
    (
        "webhook-signature",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    ),
];

/// `n` POSTs of `body_len` bytes by a plain reqwest client, 64 at once.
async fn bare_posts(arrivals: &Arrivals, addr: SocketAddr, n: usize, body_len: usize) -> Sent {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let body = axum::body::Bytes::from(vec![b'x'; body_len]);
    let url = format!("http://{addr}/hooks/bare");
    let next = Arc::new(AtomicUsize::new(0));
    let base = arrivals.len();
    let cpu = cpu_seconds(None);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (client, body, url, next) = (client.clone(), body.clone(), url.clone(), next.clone());
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let mut request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                for (name, value) in LIKE_SIGNED {
                    request = request.header(name, value);
                }
                match request.send().await {
                    Ok(response) if response.status().as_u16() == 204 => {}
                    Ok(response) => eprintln!("bare POST answered {}", response.status()),
                    Err(error) => eprintln!("bare POST failed: {error}"),
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let done = started.elapsed();
    let cpu = cpu_seconds(None) - cpu;
    arrivals.reach(base + n, "bare POSTs").await;
    Sent {
        received: arrivals.len() - base,
        first: arrivals.at(base) - started,
        last: arrivals.at(base + n - 1) - started,
        recorded: done,
        cpu_us: cpu * 1e6 / n as f64,
        pauses: pauses(&arrivals.between(base, base + n)),
        ..Sent::default()
    }
}

/// wrk posting a fixed body of `body_len` bytes over 64 connections for
/// `seconds`; the requests it completed and its rate.
fn wrk(addr: SocketAddr, seconds: u64, body_len: usize) -> Option<(u64, f64)> {
    let dir = tempfile::tempdir().ok()?;
    let script = dir.path().join("post.lua");
    let mut lua = format!(
        "wrk.method = \"POST\"\nwrk.body = string.rep(\"x\", {body_len})\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
    );
    for (name, value) in LIKE_SIGNED {
        lua.push_str(&format!("wrk.headers[\"{name}\"] = \"{value}\"\n"));
    }
    std::fs::write(&script, lua).ok()?;
    let output = std::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{IN_FLIGHT}"),
            &format!("-d{seconds}s"),
            "-s",
            script.to_str()?,
            &format!("http://{addr}/hooks/wrk"),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = text
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    let requests = text
        .lines()
        .find_map(|line| line.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())?;
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        eprintln!("wrk saw errors:\n{text}");
    }
    Some((requests, rate))
}

/// The dispatcher's store calls for `fanout` subscriptions, timed alone on
/// the same store (the dispatcher stopped): what a new incident's fan-out
/// and each batch and attempt cost in SQLite.
async fn store_costs(
    store: &Store,
    fanout: usize,
    arrivals: &Arrivals,
    addr: SocketAddr,
    body_len: usize,
) -> StoreCosts {
    confirm(store).await;
    let now = Utc::now();
    let event = store
        .events_to_fan_out(now, store::Sendable::All, 1)
        .await
        .expect("the outbox")
        .pop()
        .expect("the event just stored");
    let started = Instant::now();
    let subscriptions = store.subscriptions().await.expect("the subscriptions");
    let subscriptions_took = started.elapsed();
    let deliveries: Vec<NewDelivery> = subscriptions
        .iter()
        .take(fanout)
        .map(|s| NewDelivery {
            subscription_id: s.id,
            sent_as: AlertEvent::ProviderConfirmed,
            host: None,
            state: DeliveryState::Pending,
            due_at: now,
        })
        .collect();
    let started = Instant::now();
    store
        .fan_out(event.id, &deliveries, now)
        .await
        .expect("the fan-out");
    let fan_out = started.elapsed();
    let mut due = Vec::new();
    let mut record = Vec::new();
    for _ in 0..3 {
        if !record_batch(store, &mut due, &mut record).await {
            break;
        }
    }
    // The same while bare POSTs keep the runtime as busy as the sends do
    // beside the dispatcher's records.
    let mut loaded = Vec::new();
    let mut unused = Vec::new();
    let busy = bare_posts(arrivals, addr, fanout, body_len);
    let records = async {
        for _ in 0..3 {
            if !record_batch(store, &mut unused, &mut loaded).await {
                break;
            }
        }
    };
    tokio::join!(busy, records);
    // `due_deliveries` reads each subscription of its batch on its own.
    let mut lookup = Vec::new();
    for subscription in subscriptions.iter().take(ROUND_BATCH) {
        let started = Instant::now();
        store
            .subscription(subscription.id)
            .await
            .expect("a subscription");
        lookup.push(started.elapsed());
    }
    StoreCosts {
        subscriptions: subscriptions_took,
        lookup,
        fan_out,
        due,
        record,
        loaded,
    }
}

/// Takes a batch as a round does, then records each of its attempts one
/// after another, as the dispatcher does; `false` once nothing is due.
async fn record_batch(store: &Store, due: &mut Vec<Duration>, record: &mut Vec<Duration>) -> bool {
    let started = Instant::now();
    let batch = store
        .due_deliveries(Utc::now(), store::Sendable::All, ROUND_BATCH as i64)
        .await
        .expect("due deliveries");
    if batch.is_empty() {
        return false;
    }
    due.push(started.elapsed());
    for delivery in batch {
        let attempt = Attempt {
            at: Utc::now(),
            status: Some(204),
            duration_ms: 1,
            error: None,
            next: AfterAttempt::Delivered,
        };
        let started = Instant::now();
        store
            .record_attempt(delivery.id, &attempt)
            .await
            .expect("record an attempt");
        record.push(started.elapsed());
    }
    true
}

struct EmailRound {
    dispatcher: Sent,
    lettre: Sent,
    smtplib: Option<Sent>,
}

struct Email {
    mail_len: usize,
    runs: Vec<EmailRound>,
}

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup --browser",
        python.display()
    );
    python
}

/// aiosmtpd on loopback, telling the size of each mail it accepts, one
/// line each, on its standard output.
struct MailServer {
    port: u16,
    child: std::process::Child,
}

impl MailServer {
    fn start(arrivals: Arrivals) -> Self {
        const SCRIPT: &str = r#"
import sys, time
from aiosmtpd.controller import Controller
class Count:
    async def handle_DATA(self, server, session, envelope):
        print(len(envelope.content), flush=True)
        return "250 OK"
controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;
        use std::io::BufRead;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut child = std::process::Command::new(python())
            .args(["-c", SCRIPT, &port.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("its output")).lines();
        let ready = lines.next().and_then(Result::ok);
        assert_eq!(ready.as_deref(), Some("ready"), "aiosmtpd did not start");
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                arrivals.arrive(line.trim().parse().unwrap_or(0));
            }
        });
        Self { port, child }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(Some(self.child.id()))
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mailer(url: &str) -> Mailer {
    Mailer::new(
        url,
        "Faultline <alerts@faultline.example>",
        "https://faultline.example",
    )
    .expect("the mailer")
}

async fn email(mails: usize, rounds: usize) -> Email {
    let arrivals = Arrivals::new();
    let smtp = MailServer::start(arrivals.clone());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("faultline.db"))
        .await
        .expect("the store");
    subscribe_all(
        &store,
        (0..mails).map(|i| NewSubscription {
            channel: AlertChannel::Email,
            format: AlertFormat::Standard,
            target: format!("reader{i}@example.org"),
            secrets: Vec::new(),
            interests: interests(),
            min_interval_s: 0,
            remind_every_s: 0,
            confirmed_at: Some(Utc::now()),
            created_by: "bench".to_owned(),
            owner: None,
        }),
    )
    .await;
    let mut running = Running::start(dispatcher(&store).with_mail(
        mailer(&smtp.url()),
        Signer::with_key(b"bench key").expect("the signer"),
    ));
    let mut runs = Vec::new();
    let mut mail_len = 0;
    for _ in 0..rounds {
        settled(&store).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let base = arrivals.len();
        let server_cpu = smtp.cpu();
        let started = Instant::now();
        confirm(&store).await;
        running.publish();
        arrivals.reach(base + mails, "email alerts").await;
        settled(&store).await;
        let recorded = started.elapsed();
        mail_len = arrivals.last_len.load(Ordering::Relaxed);
        let dispatched = Sent {
            received: arrivals.len() - base,
            first: arrivals.at(base) - started,
            last: arrivals.at(base + mails - 1) - started,
            recorded,
            server_cpu: (smtp.cpu() - server_cpu) / recorded.as_secs_f64(),
            ..Sent::default()
        };
        let lettre = bare_mails(&arrivals, &smtp, mails, mail_len).await;
        let smtplib = smtplib_mails(&arrivals, &smtp, mails, mail_len).await;
        runs.push(EmailRound {
            dispatcher: dispatched,
            lettre,
            smtplib,
        });
    }
    running.stop().await;
    Email { mail_len, runs }
}

/// A mail of about `size` bytes as sent, with a plain and an HTML part like
/// an alert's.
fn similar_mail(to: &str, size: usize) -> Option<lettre::Message> {
    let build = |pad: usize| {
        let line = "Cloudflare (CDN) outage confirmed: failing sites, peak and evidence.\n";
        let text: String = line.chars().cycle().take(pad).collect();
        let html = format!("<p>{}</p>", text.replace('\n', "<br>\n"));
        lettre::Message::builder()
            .from("Faultline <alerts@faultline.example>".parse().ok()?)
            .to(to.parse().ok()?)
            .subject("Cloudflare (CDN) outage confirmed at 11:20 UTC")
            .multipart(lettre::message::MultiPart::alternative_plain_html(
                text, html,
            ))
            .ok()
    };
    let bare = build(0)?.formatted().len();
    build(size.saturating_sub(bare) / 2)
}

/// `n` mails of `size` bytes sent with the dispatcher's transport (a
/// `Mailer`: lettre, one connection per mail), 64 at once.
async fn bare_mails(arrivals: &Arrivals, smtp: &MailServer, n: usize, size: usize) -> Sent {
    let mailer = Arc::new(mailer(&smtp.url()));
    let next = Arc::new(AtomicUsize::new(0));
    let base = arrivals.len();
    let server_cpu = smtp.cpu();
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (mailer, next) = (mailer.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let Some(message) = similar_mail(&format!("reader{i}@example.org"), size) else {
                    eprintln!("cannot build the mail");
                    break;
                };
                if let Some(error) = mailer.send(message).await.error {
                    eprintln!("bare mail failed: {error}");
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let done = started.elapsed();
    arrivals.reach(base + n, "bare mails").await;
    Sent {
        received: arrivals.len() - base,
        first: arrivals.at(base) - started,
        last: arrivals.at(base + n - 1) - started,
        recorded: done,
        server_cpu: (smtp.cpu() - server_cpu) / done.as_secs_f64(),
        ..Sent::default()
    }
}

/// `n` mails of `size` bytes sent by Python's smtplib over one connection,
/// one after another.
async fn smtplib_mails(
    arrivals: &Arrivals,
    smtp: &MailServer,
    n: usize,
    size: usize,
) -> Option<Sent> {
    const SCRIPT: &str = r#"
import smtplib, sys, time
from email.message import EmailMessage
port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
line = "Cloudflare (CDN) outage confirmed: failing sites, peak and evidence.\n"
def mail(i, pad):
    message = EmailMessage()
    message["From"] = "Faultline <alerts@faultline.example>"
    message["To"] = "reader%d@example.org" % i
    message["Subject"] = "Cloudflare (CDN) outage confirmed at 11:20 UTC"
    text = (line * (pad // len(line) + 1))[:pad]
    message.set_content(text)
    message.add_alternative("<p>" + text.replace("\n", "<br>\n") + "</p>", subtype="html")
    return message
pad = max(0, size - len(mail(0, 0).as_bytes())) // 2
client = smtplib.SMTP("127.0.0.1", port)
started = time.perf_counter()
for i in range(n):
    client.send_message(mail(i, pad))
elapsed = time.perf_counter() - started
client.quit()
print(elapsed)
"#;
    let base = arrivals.len();
    let server_cpu = smtp.cpu();
    let args = [
        "-c".to_owned(),
        SCRIPT.to_owned(),
        smtp.port.to_string(),
        n.to_string(),
        size.to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python()).args(args).output()
    })
    .await
    .ok()?
    .ok()?;
    if !output.status.success() {
        eprintln!(
            "smtplib failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let elapsed: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    let elapsed = Duration::from_secs_f64(elapsed);
    arrivals.reach(base + n, "smtplib mails").await;
    Some(Sent {
        received: arrivals.len() - base,
        last: elapsed,
        recorded: elapsed,
        server_cpu: (smtp.cpu() - server_cpu) / elapsed.as_secs_f64(),
        ..Sent::default()
    })
}
