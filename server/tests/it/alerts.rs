//! Alert deliveries to a real receiver on loopback, driven round by round
//! on a virtual clock, and checked with the Standard Webhooks reference
//! verifier (the `standardwebhooks` package, in `.tools/venv`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeDelta, Utc};
use engine::{Phase, Role};
use server::alerts::webhook::WebhookClient;
use server::alerts::{AlertSettings, Dispatcher};
use server::clock::{Clock, SimClock};
use store::{NewSubscription, ProviderIncidentRow, Store};

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// An answer the receiver is told to give: a status and extra headers.
type Answer = (u16, Vec<(&'static str, String)>);

/// A webhook receiver answering from a script of statuses (then 204), with
/// optional extra headers per answer.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<Answer>>>,
}

impl Receiver {
    pub(crate) async fn start(&self) -> std::net::SocketAddr {
        let me = self.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let me = me.clone();
                async move {
                    me.got.lock().unwrap().push(Received {
                        path: uri.path().to_owned(),
                        headers,
                        body: body.to_vec(),
                    });
                    let (status, extra) = {
                        let mut script = me.script.lock().unwrap();
                        if script.is_empty() {
                            (204, Vec::new())
                        } else {
                            script.remove(0)
                        }
                    };
                    let mut response = axum::response::Response::new(axum::body::Body::empty());
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    for (name, value) in extra {
                        response.headers_mut().insert(name, value.parse().unwrap());
                    }
                    response
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    pub(crate) fn answer(&self, answers: &[(u16, &[(&'static str, &str)])]) {
        let mut script = self.script.lock().unwrap();
        for (status, headers) in answers {
            script.push((
                *status,
                headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
            ));
        }
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

struct Fixture {
    store: Store,
    clock: SimClock,
    dispatcher: Dispatcher,
    _dir: tempfile::TempDir,
}

async fn fixture(retry_seconds: Vec<u64>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("faultline.db")).await.unwrap();
    let settings = AlertSettings {
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
        retry_seconds,
        ..AlertSettings::default()
    };
    let prober = probe::LiveProber::new(probe::ProberConfig {
        // Names are never looked up here; a silent port keeps it so.
        nameservers: vec!["127.0.0.1:9".parse().unwrap()],
        dns_timeout_ms: 300,
        total_timeout_ms: 1_000,
        guard: settings.guard(),
        ..probe::ProberConfig::default()
    })
    .unwrap();
    let client = WebhookClient::new(Arc::new(prober)).unwrap();
    // The verifier checks timestamps against the real time: start there.
    let clock = SimClock::new(Utc::now());
    let dispatcher = Dispatcher::new(
        store.clone(),
        Arc::new(clock.clone()),
        client,
        server::knowledge::Knowledge::builtin(),
        "https://faultline.example".to_owned(),
        &settings,
    );
    Fixture {
        store,
        clock,
        dispatcher,
        _dir: dir,
    }
}

async fn subscribe(store: &Store, target: String, scopes: &[&str], secrets: Vec<String>) -> i64 {
    store
        .create_subscription(
            &NewSubscription {
                channel: engine::AlertChannel::Webhook,
                format: engine::AlertFormat::Standard,
                target,
                secrets,
                interests: engine::alert::Interests {
                    scopes: scopes
                        .iter()
                        .map(|s| engine::alert::Scope::parse(s).unwrap())
                        .collect(),
                    events: engine::AlertEvent::DEFAULTS.to_vec(),
                    mutes: Vec::new(),
                },
                min_interval_s: 0,
                remind_every_s: 0,
                confirmed_at: None,
                created_by: "test".to_owned(),
                owner: None,
            },
            Utc::now(),
        )
        .await
        .unwrap()
}

pub(crate) fn incident(phase: Phase, at: chrono::DateTime<Utc>) -> ProviderIncidentRow {
    ProviderIncidentRow {
        mechanism: engine::Mechanism::Own,
        origins: 0,
        provider: "cloudflare".to_owned(),
        role: Role::Cdn,
        phase,
        onset_at: at - TimeDelta::minutes(2),
        detected_at: at - TimeDelta::minutes(1),
        confirmed_at: Some(at - TimeDelta::minutes(1)),
        peak_share: 0.9,
        peak_at: at,
        resolved_at: (phase == Phase::Resolved).then_some(at),
        confidence: 0.95,
        evidence: vec!["shop.example: Cloudflare 500 page".to_owned()],
        ..ProviderIncidentRow::default()
    }
}

/// Moves the clock on and runs one dispatcher round.
async fn round_at(fixture: &mut Fixture, seconds: i64) {
    let at = fixture.clock.now() + TimeDelta::seconds(seconds);
    fixture.clock.advance_to(at);
    fixture.dispatcher.round().await.unwrap();
}

pub(crate) fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup --browser",
        python.display()
    );
    python
}

/// Asks the reference verifier about each request; returns "ok" or the
/// error it raised, per request.
pub(crate) fn verify(secret: &str, requests: &[(String, String, String, Vec<u8>)]) -> Vec<String> {
    use std::io::Write;
    const SCRIPT: &str = r#"
import base64, json, sys
from standardwebhooks.webhooks import Webhook
secret = sys.argv[1]
for line in sys.stdin:
    item = json.loads(line)
    headers = {"webhook-id": item["id"], "webhook-timestamp": item["timestamp"], "webhook-signature": item["signature"]}
    try:
        Webhook(secret).verify(base64.b64decode(item["body"]), headers)
        print("ok")
    except Exception as error:
        print(type(error).__name__ + ": " + str(error))
"#;
    let mut child = std::process::Command::new(python())
        .args(["-c", SCRIPT, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for (id, timestamp, signature, body) in requests {
            use base64::Engine as _;
            let line = serde_json::json!({
                "id": id,
                "timestamp": timestamp,
                "signature": signature,
                "body": base64::engine::general_purpose::STANDARD.encode(body),
            });
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the verifier itself failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Checks each body against the documented schema with the `jsonschema`
/// package; returns the errors, one per body ("ok" when valid).
fn against_schema(bodies: &[Vec<u8>]) -> Vec<String> {
    use std::io::Write;
    const SCRIPT: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
for line in sys.stdin:
    errors = [e.message for e in validator.iter_errors(json.loads(line))]
    print("ok" if not errors else "; ".join(errors))
"#;
    let schema =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/alert-payload.schema.json");
    let mut child = std::process::Command::new(python())
        .args(["-c", SCRIPT, schema.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for body in bodies {
            let value: serde_json::Value = serde_json::from_slice(body).unwrap();
            writeln!(stdin, "{value}").unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the schema checker itself failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn header(request: &Received, name: &str) -> String {
    request.headers[name].to_str().unwrap().to_owned()
}

pub(crate) fn as_signed(request: &Received) -> (String, String, String, Vec<u8>) {
    (
        header(request, "webhook-id"),
        header(request, "webhook-timestamp"),
        header(request, "webhook-signature"),
        request.body.clone(),
    )
}

#[tokio::test]
async fn every_phase_reaches_a_provider_subscriber_signed_and_the_verifier_accepts_it() {
    let mut fixture = fixture(vec![5, 300]).await;
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    // A rotation: the new secret first, the old one still signed with.
    let (new, old) = (
        server::alerts::sign::new_secret(),
        server::alerts::sign::new_secret(),
    );
    subscribe(
        &fixture.store,
        format!("http://{addr}/hooks/faultline"),
        &["provider:cloudflare"],
        vec![new.clone(), old.clone()],
    )
    .await;
    let elsewhere = subscribe(
        &fixture.store,
        format!("http://{addr}/hooks/fastly"),
        &["provider:fastly"],
        vec![server::alerts::sign::new_secret()],
    )
    .await;

    let now = fixture.clock.now();
    let id = fixture
        .store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    // The first answer fails: the same message comes again, 5 s later.
    receiver.answer(&[(500, &[])]);
    round_at(&mut fixture, 0).await;
    round_at(&mut fixture, 6).await;
    for phase in [Phase::Recovering, Phase::Resolved] {
        let now = fixture.clock.now();
        fixture
            .store
            .save_provider_incident(Some(id), &incident(phase, now), now)
            .await
            .unwrap();
        round_at(&mut fixture, 1).await;
    }
    // Nothing changes: nothing more is sent.
    round_at(&mut fixture, 600).await;

    let got = receiver.got();
    assert!(got.iter().all(|r| r.path == "/hooks/faultline"), "{got:?}");
    let kinds: Vec<String> = got
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "provider.confirmed",
            "provider.confirmed",
            "provider.recovering",
            "provider.resolved"
        ]
    );
    // A retry is the same message: the same id and body.
    assert_eq!(header(&got[0], "webhook-id"), header(&got[1], "webhook-id"));
    assert_eq!(got[0].body, got[1].body);
    let body: serde_json::Value = serde_json::from_slice(&got[3].body).unwrap();
    assert_eq!(body["data"]["incident"]["id"], id);
    assert_eq!(body["data"]["incident"]["sequence"], 3);
    assert_eq!(body["data"]["incident"]["phase"], "resolved");
    assert_eq!(
        body["data"]["incident"]["permalink"],
        format!("https://faultline.example/incident/{id}")
    );
    assert_eq!(body["data"]["provider"]["name"], "Cloudflare");
    assert!(
        body["data"]["headline"]
            .as_str()
            .unwrap()
            .starts_with("Cloudflare (CDN) outage resolved at"),
        "{body}"
    );

    // Every body is valid against the documented schema, and the checker
    // can tell: a body without its headline is not.
    let bodies: Vec<Vec<u8>> = got.iter().map(|r| r.body.clone()).collect();
    assert!(
        against_schema(&bodies).iter().all(|v| v == "ok"),
        "{:?}",
        against_schema(&bodies)
    );
    let mut broken: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
    broken["data"].as_object_mut().unwrap().remove("headline");
    assert_ne!(
        against_schema(&[serde_json::to_vec(&broken).unwrap()])[0],
        "ok"
    );

    // The reference verifier accepts every request with either secret.
    let signed: Vec<_> = got.iter().map(as_signed).collect();
    for secret in [&new, &old] {
        assert!(
            verify(secret, &signed).iter().all(|v| v == "ok"),
            "{:?}",
            verify(secret, &signed)
        );
    }
    // A flipped byte, a stale timestamp (signed correctly for it) and a
    // stranger's secret are refused.
    let (id_header, timestamp, signature, mut body) = signed[0].clone();
    body[10] ^= 1;
    let stale = (Utc::now() - TimeDelta::hours(1)).timestamp();
    let stale_signature = server::alerts::sign::signature_header(
        std::slice::from_ref(&new),
        &id_header,
        stale,
        &signed[0].3,
    );
    let refused = verify(
        &new,
        &[
            (id_header.clone(), timestamp, signature, body),
            (
                id_header,
                stale.to_string(),
                stale_signature,
                signed[0].3.clone(),
            ),
        ],
    );
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|v| v != "ok"), "{refused:?}");
    assert!(verify(&server::alerts::sign::new_secret(), &signed[..1])[0] != "ok");

    // The log shows each attempt.
    let log = fixture.store.delivery_log(None, 10).await.unwrap();
    assert!(log.iter().all(|line| line.subscription_id != elsewhere));
    let first = log
        .iter()
        .find(|l| l.sent_as == engine::AlertEvent::ProviderConfirmed)
        .unwrap();
    assert_eq!((first.attempts, first.last_status), (2, Some(204)));
}

#[tokio::test]
async fn failures_are_retried_on_schedule_gone_endpoints_disabled_and_redirects_not_followed() {
    let mut fixture = fixture(vec![5, 300]).await;
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    let retried = subscribe(
        &fixture.store,
        format!("http://{addr}/retried"),
        &["all"],
        vec![server::alerts::sign::new_secret()],
    )
    .await;
    let now = fixture.clock.now();
    fixture
        .store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    // 500, then 429 asking for two minutes, then 500 again: dead after the
    // schedule's two retries.
    receiver.answer(&[(500, &[]), (429, &[("retry-after", "120")]), (500, &[])]);
    round_at(&mut fixture, 0).await;
    round_at(&mut fixture, 4).await;
    assert_eq!(receiver.got().len(), 1, "retried before its time");
    round_at(&mut fixture, 2).await;
    assert_eq!(receiver.got().len(), 2);
    // Retry-After wins over the schedule's 300 s.
    round_at(&mut fixture, 100).await;
    assert_eq!(receiver.got().len(), 2, "Retry-After not honoured");
    round_at(&mut fixture, 21).await;
    assert_eq!(receiver.got().len(), 3);
    let log = fixture.store.delivery_log(None, 10).await.unwrap();
    assert_eq!(log[0].state, engine::DeliveryState::Dead, "{log:?}");
    assert_eq!(log[0].attempts, 3);
    // An administrator replays it; the receiver is back.
    assert!(fixture
        .store
        .replay_delivery(log[0].id, fixture.clock.now())
        .await
        .unwrap());
    // Three failures in a row opened the endpoint's breaker for 5 s.
    round_at(&mut fixture, 1).await;
    assert_eq!(receiver.got().len(), 3, "sent through an open breaker");
    round_at(&mut fixture, 10).await;
    let log = fixture.store.delivery_log(None, 10).await.unwrap();
    assert_eq!(log[0].state, engine::DeliveryState::Delivered, "{log:?}");
    let got = receiver.got();
    assert_eq!(got.len(), 4);
    assert!(got
        .iter()
        .all(|r| header(r, "webhook-id") == header(&got[0], "webhook-id")));
    fixture.store.remove_subscription(retried).await.unwrap();

    // A redirect is a failure and is not followed.
    let redirected = subscribe(
        &fixture.store,
        format!("http://{addr}/moved"),
        &["all"],
        vec![server::alerts::sign::new_secret()],
    )
    .await;
    receiver.answer(&[(302, &[("location", "/elsewhere")])]);
    let now = fixture.clock.now();
    let second = fixture
        .store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    round_at(&mut fixture, 1).await;
    let got = receiver.got();
    assert_eq!(got.last().unwrap().path, "/moved");
    assert!(got.iter().all(|r| r.path != "/elsewhere"));
    let log = fixture.store.delivery_log(None, 1).await.unwrap();
    assert_eq!(log[0].last_status, Some(302));
    assert!(log[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("not followed"));
    fixture.store.remove_subscription(redirected).await.unwrap();

    // 410: the endpoint is disabled and hears nothing more.
    let gone = subscribe(
        &fixture.store,
        format!("http://{addr}/gone"),
        &["all"],
        vec![server::alerts::sign::new_secret()],
    )
    .await;
    receiver.answer(&[(410, &[])]);
    let now = fixture.clock.now();
    fixture
        .store
        .save_provider_incident(Some(second), &incident(Phase::Recovering, now), now)
        .await
        .unwrap();
    let third = fixture
        .store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    round_at(&mut fixture, 1).await;
    let before = receiver.got().len();
    let subscription = fixture.store.subscription(gone).await.unwrap().unwrap();
    assert!(
        subscription
            .disabled_reason
            .as_deref()
            .unwrap()
            .contains("410"),
        "{subscription:?}"
    );
    let now = fixture.clock.now();
    fixture
        .store
        .save_provider_incident(Some(third), &incident(Phase::Resolved, now), now)
        .await
        .unwrap();
    round_at(&mut fixture, 600).await;
    assert_eq!(receiver.got().len(), before);
}

#[tokio::test]
async fn private_and_metadata_targets_are_refused_unless_allow_listed() {
    let mut fixture = fixture(vec![]).await;
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    for target in [
        "http://10.0.0.7/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:192.168.1.1]/hook".to_owned(),
        format!("http://[::1]:{}/hook", addr.port()),
    ] {
        subscribe(
            &fixture.store,
            target,
            &["all"],
            vec![server::alerts::sign::new_secret()],
        )
        .await;
    }
    // The allow-listed loopback receiver still gets its alert.
    subscribe(
        &fixture.store,
        format!("http://{addr}/allowed"),
        &["all"],
        vec![server::alerts::sign::new_secret()],
    )
    .await;
    let now = fixture.clock.now();
    fixture
        .store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    round_at(&mut fixture, 0).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/allowed");
    let log = fixture.store.delivery_log(None, 10).await.unwrap();
    let refused: Vec<_> = log
        .iter()
        .filter(|line| line.state == engine::DeliveryState::Dead)
        .collect();
    assert_eq!(refused.len(), 4, "{log:?}");
    assert!(
        refused
            .iter()
            .all(|line| line.last_error.as_deref().unwrap().contains("refused")),
        "{refused:?}"
    );
}

/// Starts `faultline serve` on `dir`'s database, without probes, delivering
/// to loopback.
fn serve(dir: &std::path::Path) -> std::process::Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.join("faultline.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\n\
             database = \"faultline.db\"\n\
             [monitor]\nenabled = false\n\
             [on_demand]\nenabled = false\n\
             [alerts]\nallowed_networks = [\"127.0.0.0/8\"]\n"
        ),
    )
    .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("serve")
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_process_killed_mid_fan_out_delivers_every_alert_after_a_restart() {
    const ENDPOINTS: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    // A slow receiver, so the kill lands while deliveries are in flight.
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
        let kept = kept.clone();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let id = headers["webhook-id"].to_str().unwrap().to_owned();
            kept.lock().unwrap().push((uri.path().to_owned(), id));
            StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = Store::open(&dir.path().join("faultline.db")).await.unwrap();
    for n in 0..ENDPOINTS {
        subscribe(
            &store,
            format!("http://{addr}/endpoint-{n}"),
            &["provider:cloudflare"],
            vec![server::alerts::sign::new_secret()],
        )
        .await;
    }
    let now = Utc::now();
    store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    store.close().await;

    let mut first = serve(dir.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while got.lock().unwrap().len() < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "no deliveries arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    first.kill().unwrap(); // SIGKILL: no shutdown, no flush
    first.wait().unwrap();
    let at_kill = got.lock().unwrap().len();
    assert!(at_kill < ENDPOINTS, "everything arrived before the kill");

    let mut second = serve(dir.path());
    let complete = || {
        let got = got.lock().unwrap();
        let paths: std::collections::HashSet<&str> =
            got.iter().map(|(path, _)| path.as_str()).collect();
        paths.len() == ENDPOINTS
    };
    while !complete() {
        assert!(
            std::time::Instant::now() < deadline,
            "not every endpoint got its alert after the restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    // Each endpoint saw one message id, however often it came.
    let got = got.lock().unwrap();
    let mut ids: std::collections::HashMap<&str, std::collections::HashSet<&str>> =
        std::collections::HashMap::new();
    for (path, id) in got.iter() {
        ids.entry(path.as_str()).or_default().insert(id.as_str());
    }
    assert!(
        ids.values().all(|set| set.len() == 1),
        "a redelivery changed its id"
    );
    let repeated = got.len() - ENDPOINTS;
    // Only what was in flight at the kill came twice.
    assert!(
        repeated <= server::alerts::IN_FLIGHT,
        "{repeated} repeats: more than were in flight at the kill"
    );
}

fn faultline(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn the_command_line_subscribes_lists_tests_and_removes_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let db = ["--database", "alerts.db"];
    let add = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["alerts", "add-webhook"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&db);
        faultline(dir.path(), env, &args)
    };
    // Loopback is refused unless the deployment allows it, and says how.
    let (code, _, stderr) = add(
        &[],
        &["http://127.0.0.1:9000/hook", "--provider", "cloudflare"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("allowed_networks"), "{stderr}");
    // Nothing to follow, an unknown event, a bad scope: refused by name.
    for (extra, says) in [
        (&["https://hooks.example/x"][..], "--provider"),
        (
            &[
                "https://hooks.example/x",
                "--all",
                "--events",
                "provider.exploded",
            ][..],
            "provider.exploded",
        ),
        (
            &["https://hooks.example/x", "--provider", "cloud flare"][..],
            "provider",
        ),
        (&["ftp://hooks.example/x", "--all"][..], "http"),
    ] {
        let (code, _, stderr) = add(&[], extra);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    let allowed = [("FAULTLINE_ALERTS__ALLOWED_NETWORKS", r#"["127.0.0.0/8"]"#)];
    let (code, stdout, stderr) = add(
        &allowed,
        &[
            "http://127.0.0.1:9000/hook",
            "--provider",
            "cloudflare/cdn",
            "--site",
            "shop.example",
            "--format",
            "slack",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let secret = stdout.split_whitespace().last().unwrap();
    assert!(secret.starts_with("whsec_"), "{stdout}");
    assert!(stdout.starts_with("subscription 1;"), "{stdout}");

    let (code, listed, _) = faultline(
        dir.path(),
        &[],
        &["alerts", "list", "--json", "--database", "alerts.db"],
    );
    assert_eq!(code, 0);
    let line: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(line["format"], "slack");
    assert_eq!(
        line["interests"]["scopes"],
        serde_json::json!(["provider:cloudflare/cdn", "site:shop.example"])
    );
    assert!(!listed.contains(secret), "the secret was shown again");

    let (code, stdout, _) = faultline(
        dir.path(),
        &[],
        &["alerts", "test", "1", "--database", "alerts.db"],
    );
    assert_eq!(code, 0);
    assert!(stdout.contains("test event queued"), "{stdout}");
    let (code, _, stderr) = faultline(
        dir.path(),
        &[],
        &["alerts", "remove", "2", "--database", "alerts.db"],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("no subscription 2"), "{stderr}");
    let (code, _, _) = faultline(
        dir.path(),
        &[],
        &["alerts", "remove", "1", "--database", "alerts.db"],
    );
    assert_eq!(code, 0);
    let (_, listed, _) = faultline(
        dir.path(),
        &[],
        &["alerts", "list", "--database", "alerts.db"],
    );
    assert!(listed.trim().is_empty(), "{listed}");
}

/// A real SMTP server (aiosmtpd) on loopback that writes each mail it
/// accepts as one JSON line: recipients, subject, the headers that matter,
/// and the decoded text and HTML parts.
pub(crate) struct MailServer {
    pub(crate) port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl MailServer {
    pub(crate) fn start() -> Self {
        const SCRIPT: &str = r#"
import email, email.policy, json, sys, time
from aiosmtpd.controller import Controller
out = sys.argv[1]
class Keep:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            if part.get_content_type() in ("text/plain", "text/html"):
                parts[part.get_content_type()] = part.get_content()
        line = {
            "to": envelope.rcpt_tos,
            "subject": message["subject"],
            "list_id": message["list-id"],
            "list_unsubscribe": message["list-unsubscribe"],
            "list_unsubscribe_post": message["list-unsubscribe-post"],
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
        }
        with open(out, "a") as f:
            f.write(json.dumps(line) + "\n")
        return "250 OK"
controller = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[2]))
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new(python())
            .args([
                "-c",
                SCRIPT,
                dir.path().join("mail.jsonl").to_str().unwrap(),
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Self { port, child, dir }
    }

    pub(crate) fn mails(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("mail.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The token at the end of the first link to `path` in `text`.
pub(crate) fn token_after(text: &str, path: &str) -> String {
    let start = text
        .find(path)
        .unwrap_or_else(|| panic!("no {path} in {text}"))
        + path.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

#[tokio::test]
async fn email_alerts_need_a_confirmed_address_and_stop_with_one_click() {
    let smtp = MailServer::start();
    // One key signs the mails' links and checks them on the pages.
    let signer = server::alerts::token::Signer::with_key(b"a test key for links").unwrap();
    let app = {
        let signer = signer.clone();
        crate::support::spawn_app_with(move |state| {
            state.with_alert_links(
                signer,
                probe::GuardPolicy::loopback_only(),
                Arc::new(tokio::sync::Notify::new()),
            )
        })
        .await
    };
    let store = app.store.clone();
    let settings = AlertSettings::default();
    let prober = probe::LiveProber::new(probe::ProberConfig {
        nameservers: vec!["127.0.0.1:9".parse().unwrap()],
        guard: settings.guard(),
        ..probe::ProberConfig::default()
    })
    .unwrap();
    let mailer = server::alerts::mail::Mailer::new(
        &format!("smtp://127.0.0.1:{}", smtp.port),
        "Faultline <alerts@faultline.example>",
        "https://faultline.example",
    )
    .unwrap();
    let clock = SimClock::new(Utc::now());
    let mut dispatcher = Dispatcher::new(
        store.clone(),
        Arc::new(clock.clone()),
        WebhookClient::new(Arc::new(prober)).unwrap(),
        server::knowledge::Knowledge::builtin(),
        "https://faultline.example".to_owned(),
        &settings,
    )
    .with_mail(mailer, signer);
    let email = |address: &str| NewSubscription {
        channel: engine::AlertChannel::Email,
        format: engine::AlertFormat::Standard,
        target: address.to_owned(),
        secrets: Vec::new(),
        interests: engine::alert::Interests {
            scopes: vec![engine::alert::Scope::parse("provider:cloudflare").unwrap()],
            events: engine::AlertEvent::DEFAULTS.to_vec(),
            mutes: Vec::new(),
        },
        min_interval_s: 0,
        remind_every_s: 0,
        confirmed_at: None,
        created_by: "test".to_owned(),
        owner: None,
    };
    let ada = store
        .create_subscription(&email("ada@example.org"), Utc::now())
        .await
        .unwrap();
    store
        .create_subscription(&email("bob@example.org"), Utc::now())
        .await
        .unwrap();

    // Each address gets its confirmation, once; nothing else.
    dispatcher.round().await.unwrap();
    dispatcher.round().await.unwrap();
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let to_ada = mails
        .iter()
        .find(|m| m["to"][0] == "ada@example.org")
        .unwrap();
    assert_eq!(to_ada["subject"], "Confirm your Faultline alerts");
    let text = to_ada["text"].as_str().unwrap();
    assert!(
        text.contains("send alerts about Cloudflare to this address"),
        "{text}"
    );
    let confirm = token_after(text, "/alerts/confirm/");
    assert!(to_ada["html"].as_str().unwrap().contains(&confirm));

    // An outage while nobody has confirmed: nothing is sent.
    let now = clock.now();
    let first = store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    round_at_clock(&mut dispatcher, &clock, 1).await;
    assert_eq!(smtp.mails().len(), 2);

    // Following the link shows a button and changes nothing; the button
    // confirms.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(app.url(&format!("/alerts/confirm/{confirm}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("ada@example.org"));
    assert!(store
        .subscription(ada)
        .await
        .unwrap()
        .unwrap()
        .confirmed_at
        .is_none());
    let done = client
        .post(app.url(&format!("/alerts/confirm/{confirm}")))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(store
        .subscription(ada)
        .await
        .unwrap()
        .unwrap()
        .confirmed_at
        .is_some());
    // A forged or foreign token is refused.
    let forged = confirm.replacen(&format!("c{ada}."), &format!("c{}.", ada + 1), 1);
    let refused = client
        .post(app.url(&format!("/alerts/confirm/{forged}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    // The outage ends: Ada heard no opening, so no resolution either. The
    // next one reaches Ada, and only Ada.
    let now = clock.now();
    store
        .save_provider_incident(Some(first), &incident(Phase::Resolved, now), now)
        .await
        .unwrap();
    let second = store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    round_at_clock(&mut dispatcher, &clock, 1).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 3, "{mails:?}");
    let alert = &mails[2];
    assert_eq!(alert["to"][0], "ada@example.org");
    assert!(
        alert["subject"]
            .as_str()
            .unwrap()
            .starts_with("Cloudflare (CDN) outage confirmed"),
        "{alert}"
    );
    assert_eq!(
        alert["list_id"],
        "Faultline alerts <alerts.faultline.example>"
    );
    assert_eq!(alert["list_unsubscribe_post"], "List-Unsubscribe=One-Click");
    let header = alert["list_unsubscribe"].as_str().unwrap();
    assert!(
        header.starts_with("<https://faultline.example/alerts/unsubscribe/"),
        "{header}"
    );
    let text = alert["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("https://faultline.example/incident/{second}")),
        "{text}"
    );
    assert!(alert["html"].as_str().unwrap().contains("Unsubscribe"));
    let manage = token_after(header, "/alerts/unsubscribe/");

    // A GET never unsubscribes; the one-click POST, without cookies or a
    // redirect, does.
    let page = client
        .get(app.url(&format!("/alerts/unsubscribe/{manage}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(store.subscription(ada).await.unwrap().is_some());
    let manage_page = client
        .get(app.url(&format!("/alerts/manage/{manage}")))
        .send()
        .await
        .unwrap();
    assert!(manage_page
        .text()
        .await
        .unwrap()
        .contains("ada@example.org"));
    let one_click = client
        .post(app.url(&format!("/alerts/unsubscribe/{manage}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), StatusCode::OK);
    assert!(one_click.headers().get("location").is_none());
    assert!(store.subscription(ada).await.unwrap().is_none());

    // The next incident sends that address nothing.
    let now = clock.now();
    store
        .save_provider_incident(Some(second), &incident(Phase::Resolved, now), now)
        .await
        .unwrap();
    store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    round_at_clock(&mut dispatcher, &clock, 1).await;
    assert_eq!(smtp.mails().len(), 3);
    app.stop().await;
}

async fn round_at_clock(dispatcher: &mut Dispatcher, clock: &SimClock, seconds: i64) {
    clock.advance_to(clock.now() + TimeDelta::seconds(seconds));
    dispatcher.round().await.unwrap();
}

/// A past Cloudflare incident, so the provider has a page.
pub(crate) async fn with_a_cloudflare_incident(app: &crate::support::TestApp) {
    let now = Utc::now();
    app.store
        .save_provider_incident(None, &incident(Phase::Resolved, now), now)
        .await
        .unwrap();
}

async fn page_text(app: &crate::support::TestApp, path: &str) -> String {
    reqwest::get(app.url(path))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_visitor_asks_for_alerts_on_a_provider_page_without_javascript() {
    let signer = server::alerts::token::Signer::with_key(b"a test key for links").unwrap();
    let app = crate::support::spawn_app_with(move |state| {
        state.with_alert_links(
            signer,
            probe::GuardPolicy::loopback_only(),
            Arc::new(tokio::sync::Notify::new()),
        )
    })
    .await;
    with_a_cloudflare_incident(&app).await;
    let page = page_text(&app, "/provider/cloudflare").await;
    assert!(page.contains("Get alerts"), "{page}");
    assert!(
        page.contains("name=\"scope\" value=\"provider:cloudflare\""),
        "{page}"
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ask = |address: &'static str, scope: &'static str, back: &'static str| {
        let request = client
            .post(app.url("/api/alerts/subscribe"))
            .header("accept", "text/html")
            .form(&[("address", address), ("scope", scope), ("back", back)]);
        async move {
            let response = request.send().await.unwrap();
            let location = response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (response.status(), location.unwrap_or_default())
        }
    };
    let (status, location) = ask(
        "ada@example.org",
        "provider:cloudflare",
        "/provider/cloudflare",
    )
    .await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(location, "/provider/cloudflare?alerts=sent#alerts");
    let page = page_text(&app, "/provider/cloudflare?alerts=sent").await;
    assert!(page.contains("a confirmation link is on its way"), "{page}");
    let subscriptions = app.store.subscriptions().await.unwrap();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].channel, engine::AlertChannel::Email);
    assert!(subscriptions[0].confirmed_at.is_none());
    assert!(
        !subscriptions[0].is_active(),
        "active before its confirmation"
    );
    assert_eq!(subscriptions[0].created_by, "public");

    // Asking again changes nothing and says the same; a bad address is
    // named; the way back never leaves this site.
    let (_, location) = ask(
        "ada@example.org",
        "provider:cloudflare",
        "/provider/cloudflare",
    )
    .await;
    assert_eq!(location, "/provider/cloudflare?alerts=sent#alerts");
    assert_eq!(app.store.subscriptions().await.unwrap().len(), 1);
    let (_, location) = ask(
        "not an address",
        "provider:cloudflare",
        "/provider/cloudflare",
    )
    .await;
    assert_eq!(location, "/provider/cloudflare?alerts=invalid#alerts");
    let (_, location) = ask(
        "bob@example.org",
        "site:shop.example",
        "https://evil.example/",
    )
    .await;
    assert_eq!(location, "/?alerts=sent#alerts");
    // Only a site or a provider, from this form.
    let (status, _) = ask("eve@example.org", "all", "/provider/cloudflare").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Ten requests an hour per client address.
    let mut last = String::new();
    for _ in 0..10 {
        last = ask("carol@example.org", "provider:fastly", "/provider/fastly")
            .await
            .1;
    }
    assert_eq!(last, "/provider/fastly?alerts=limit#alerts");
    app.stop().await;

    // Without email, the same page offers no form.
    let plain = crate::support::spawn_app().await;
    with_a_cloudflare_incident(&plain).await;
    let page = page_text(&plain, "/provider/cloudflare").await;
    assert!(page.contains("Past incidents"), "{page}");
    assert!(!page.contains("Get alerts"));
    plain.stop().await;
}

#[tokio::test]
async fn while_our_network_is_down_outage_alerts_wait_and_test_alerts_go() {
    let Fixture {
        store,
        clock,
        dispatcher,
        _dir,
    } = fixture(vec![5]).await;
    let (vantage, watched) = tokio::sync::watch::channel(engine::VantageState::Offline);
    let mut dispatcher = dispatcher.with_vantage(watched);
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    let secret = server::alerts::sign::new_secret();
    let id = subscribe(
        &store,
        format!("http://{addr}/hook"),
        &["provider:cloudflare"],
        vec![secret.clone()],
    )
    .await;

    let now = clock.now();
    store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    store.queue_test_event(id, now).await.unwrap();
    clock.advance_to(now + TimeDelta::seconds(1));
    dispatcher.round().await.unwrap();
    dispatcher.round().await.unwrap();
    let types = |got: &[Received]| -> Vec<String> {
        got.iter()
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                body["type"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(types(&receiver.got()), ["test"]);

    // Back online: the held alert goes, and says it was held.
    vantage.send(engine::VantageState::Online).unwrap();
    clock.advance_to(now + TimeDelta::seconds(60));
    dispatcher.round().await.unwrap();
    let got = receiver.got();
    assert_eq!(types(&got), ["test", "provider.confirmed"]);
    let body: serde_json::Value = serde_json::from_slice(&got[1].body).unwrap();
    assert!(
        body["data"]["note"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Held while Faultline's own network was down"),
        "{body}"
    );
    assert_eq!(verify(&secret, &[as_signed(&got[1])]), ["ok"]);
}

#[tokio::test]
async fn a_webhook_failing_for_days_is_stopped_and_its_owner_told() {
    let smtp = MailServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("faultline.db")).await.unwrap();
    let day = 24 * 3600;
    // Retries are jittered by a tenth: a step this long passes each one.
    let step = (day + day / 5) as i64;
    let settings = AlertSettings {
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
        retry_seconds: vec![day, day, day, day, day],
        stop_after_hours: 72,
        ..AlertSettings::default()
    };
    let prober = probe::LiveProber::new(probe::ProberConfig {
        nameservers: vec!["127.0.0.1:9".parse().unwrap()],
        guard: settings.guard(),
        ..probe::ProberConfig::default()
    })
    .unwrap();
    let mailer = server::alerts::mail::Mailer::new(
        &format!("smtp://127.0.0.1:{}", smtp.port),
        "Faultline <alerts@faultline.example>",
        "https://faultline.example",
    )
    .unwrap();
    let clock = SimClock::new(Utc::now());
    let mut dispatcher = Dispatcher::new(
        store.clone(),
        Arc::new(clock.clone()),
        WebhookClient::new(Arc::new(prober)).unwrap(),
        server::knowledge::Knowledge::builtin(),
        "https://faultline.example".to_owned(),
        &settings,
    )
    .with_mail(
        mailer,
        server::alerts::token::Signer::with_key(b"a test key for links").unwrap(),
    );
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    // Ada's address owns the webhook; her email subscription hears
    // nothing of this provider, so the only mail is about the webhook.
    let mut page = NewSubscription {
        channel: engine::AlertChannel::Email,
        format: engine::AlertFormat::Standard,
        target: "ada@example.org".to_owned(),
        secrets: Vec::new(),
        interests: engine::alert::Interests {
            scopes: vec![engine::alert::Scope::parse("provider:fastly").unwrap()],
            events: engine::AlertEvent::DEFAULTS.to_vec(),
            mutes: Vec::new(),
        },
        min_interval_s: 0,
        remind_every_s: 0,
        confirmed_at: Some(Utc::now()),
        created_by: "test".to_owned(),
        owner: None,
    };
    store.create_subscription(&page, Utc::now()).await.unwrap();
    page.channel = engine::AlertChannel::Webhook;
    page.target = format!("http://{addr}/hook");
    page.secrets = vec![server::alerts::sign::new_secret()];
    page.interests.scopes = vec![engine::alert::Scope::parse("provider:cloudflare").unwrap()];
    page.owner = Some("ada@example.org".to_owned());
    let webhook = store.create_subscription(&page, Utc::now()).await.unwrap();

    // Fails, then answers once: the failing clock starts again.
    receiver.answer(&[(500, &[]), (200, &[])]);
    let now = clock.now();
    store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    round_at_clock(&mut dispatcher, &clock, 1).await;
    let failing = store.subscription(webhook).await.unwrap().unwrap();
    assert!(failing.failing_since.is_some());
    round_at_clock(&mut dispatcher, &clock, step).await;
    let answered = store.subscription(webhook).await.unwrap().unwrap();
    assert_eq!(answered.failing_since, None);
    assert!(answered.last_delivered_at.is_some());

    // From now on it fails: a new alert every day, retried daily. Two
    // days of failure are not enough; three are.
    let none: &[(&'static str, &str)] = &[];
    receiver.answer(&[(503, none); 20]);
    let mut stopped_after = None;
    for days in 1..=4 {
        let now = clock.now();
        store
            .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
            .await
            .unwrap();
        round_at_clock(&mut dispatcher, &clock, 1).await;
        let state = store.subscription(webhook).await.unwrap().unwrap();
        if state.disabled_at.is_some() && stopped_after.is_none() {
            stopped_after = Some(days);
        }
        round_at_clock(&mut dispatcher, &clock, step).await;
    }
    let stopped = store.subscription(webhook).await.unwrap().unwrap();
    let reason = stopped.disabled_reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("every attempt has failed since") && reason.contains("HTTP 503"),
        "{reason}"
    );
    assert!(stopped_after.unwrap_or(99) >= 3, "{stopped_after:?}");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["to"][0], "ada@example.org");
    assert_eq!(mails[0]["subject"], "Your Faultline webhook was stopped");
    let text = mails[0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("http://{addr}/hook")), "{text}");
    assert!(
        text.contains("https://faultline.example/alerts/manage/"),
        "{text}"
    );

    // Stopped, it is sent nothing; started again, it is.
    let before = receiver.got().len();
    round_at_clock(&mut dispatcher, &clock, 2 * day as i64).await;
    assert_eq!(receiver.got().len(), before);
    assert!(store.resume_subscription(webhook).await.unwrap());
    receiver.script.lock().unwrap().clear();
    round_at_clock(&mut dispatcher, &clock, 1).await;
    assert!(receiver.got().len() > before);
    assert_eq!(
        store
            .subscription(webhook)
            .await
            .unwrap()
            .unwrap()
            .failing_since,
        None
    );
}

#[tokio::test]
async fn reminders_come_while_an_outage_stays_confirmed_for_those_who_asked() {
    let mut fixture = fixture(vec![5]).await;
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    let secret = server::alerts::sign::new_secret();
    let reminded = subscribe(
        &fixture.store,
        format!("http://{addr}/reminded"),
        &["provider:cloudflare"],
        vec![secret.clone()],
    )
    .await;
    let stored = fixture.store.subscription(reminded).await.unwrap().unwrap();
    fixture
        .store
        .set_interests(
            reminded,
            &stored.interests,
            store::Cadence {
                min_interval_s: 0,
                remind_every_s: 3600,
            },
        )
        .await
        .unwrap();
    subscribe(
        &fixture.store,
        format!("http://{addr}/quiet"),
        &["provider:cloudflare"],
        vec![server::alerts::sign::new_secret()],
    )
    .await;
    let heard = |receiver: &Receiver| -> Vec<(String, String)> {
        receiver
            .got()
            .iter()
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                (r.path.clone(), body["type"].as_str().unwrap().to_owned())
            })
            .collect()
    };

    let now = fixture.clock.now();
    let id = fixture
        .store
        .save_provider_incident(None, &incident(Phase::Confirmed, now), now)
        .await
        .unwrap();
    round_at(&mut fixture, 1).await;
    assert_eq!(heard(&receiver).len(), 2);
    // Half an hour: nothing. An hour after the alert: a reminder, to the
    // subscription that asked for one, signed like every alert.
    round_at(&mut fixture, 1800).await;
    assert_eq!(heard(&receiver).len(), 2);
    round_at(&mut fixture, 1801).await;
    let got = heard(&receiver);
    assert_eq!(
        got[2..],
        [("/reminded".to_owned(), "provider.ongoing".to_owned())]
    );
    let reminder = &receiver.got()[2];
    assert_eq!(verify(&secret, &[as_signed(reminder)]), ["ok"]);
    let body: serde_json::Value = serde_json::from_slice(&reminder.body).unwrap();
    let headline = body["data"]["headline"].as_str().unwrap();
    assert!(
        headline.starts_with("Cloudflare (CDN) outage still going since"),
        "{headline}"
    );
    assert_eq!(body["data"]["incident"]["sequence"], 2, "{body}");
    assert!(against_schema(std::slice::from_ref(&reminder.body))
        .iter()
        .all(|v| v == "ok"));
    // The next one an hour after that one.
    round_at(&mut fixture, 1800).await;
    assert_eq!(heard(&receiver).len(), 3);
    round_at(&mut fixture, 1801).await;
    assert_eq!(heard(&receiver).len(), 4);

    // Resolved: both hear it, and the reminders stop.
    let now = fixture.clock.now();
    fixture
        .store
        .save_provider_incident(Some(id), &incident(Phase::Resolved, now), now)
        .await
        .unwrap();
    round_at(&mut fixture, 1).await;
    round_at(&mut fixture, 3 * 3600).await;
    let got = heard(&receiver);
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got[4..]
        .iter()
        .all(|(_, event)| event == "provider.resolved"));
}
