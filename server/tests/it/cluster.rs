//! Two central processes on one PostgreSQL database: one leads (probes,
//! judges, alerts) while both serve the same snapshot, agents' results
//! sent to either are judged by the leader, and when the leader dies the
//! other takes over and probing goes on.

use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use server::agents::wire::{AgentResult, ResultBatch};

use crate::support::{origins, postgres_database, site_root, slots, wait_for};

/// A `faultline serve` process on `database`, listening on a free port.
struct Central {
    child: tokio::process::Child,
    base: String,
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

impl Central {
    async fn start(dir: &std::path::Path, database: &str) -> Self {
        Self::start_on(dir, database, free_port()).await
    }

    async fn start_on(dir: &std::path::Path, database: &str, port: u16) -> Self {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", database])
            .arg("--site-root")
            .arg(site_root())
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let central = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let health = central.url("/healthz");
        wait_for(Duration::from_secs(60), "a central answering", || {
            let health = health.clone();
            async move { reqwest::get(&health).await.is_ok() }
        })
        .await;
        central
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, and waits for a clean exit.
    async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the central stops")
            .unwrap();
        let log = self.log().await;
        assert!(status.success(), "{status}: {log}");
        assert!(!log.contains("panicked"), "{log}");
        log
    }

    async fn leads(&self) -> Option<bool> {
        let health: serde_json::Value = reqwest::get(self.url("/healthz"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        health["leads"].as_bool()
    }

    /// The snapshot version its API answers from, and each site's state.
    async fn sites(&self) -> Option<(u64, Vec<(String, String)>)> {
        let sites: serde_json::Value = reqwest::get(self.url("/api/v1/sites"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let states = sites["items"]
            .as_array()?
            .iter()
            .map(|item| (item["name"].to_string(), item["state"].to_string()))
            .collect();
        Some((sites["snapshot"]["version"].as_u64()?, states))
    }

    async fn version(&self) -> Option<u64> {
        Some(self.sites().await?.0)
    }

    /// What it logged, once it has stopped.
    async fn log(mut self) -> String {
        let mut stderr = String::new();
        if let Some(pipe) = self.child.stderr.as_mut() {
            tokio::io::AsyncReadExt::read_to_string(pipe, &mut stderr)
                .await
                .unwrap();
        }
        stderr
    }
}

async fn newest_own_slot(store: &store::Store, site: i64) -> Option<chrono::DateTime<Utc>> {
    store
        .recent_probes(site, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|probe| probe.vantage_id == store::OWN_VANTAGE)
        .filter_map(|probe| probe.slot)
        .max()
}

#[tokio::test]
async fn one_central_leads_both_serve_the_same_snapshot_and_the_other_takes_over() {
    let Some(server::config::Database::Postgres(url)) = postgres_database().await else {
        return;
    };
    let origin = origins().await;
    let store = store::Store::connect(&url, 2).await.unwrap();
    let sites: Vec<store::NewSite> = [("up-1", "up"), ("up-2", "up"), ("down-1", "down")]
        .into_iter()
        .map(|(name, path)| store::NewSite {
            url: format!("http://{origin}/{path}?{name}"),
            host: origin.ip().to_string(),
            name: name.to_owned(),
            tags: vec![],
            interval_s: 10,
        })
        .collect();
    store.add_sites(&sites, Utc::now()).await.unwrap();
    let ids: Vec<i64> = store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|site| site.id)
        .collect();
    let (token, hash) = app::admin_tokens::new_token();
    let agent = store
        .add_agent("lab-1", "eu-west", &hash, Utc::now())
        .await
        .unwrap()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("faultline.toml"),
        "[monitor]\ncanaries = []\n\n[statuses]\nenabled = false\n\n[probe.guard]\nallowed_networks = [\"127.0.0.0/8\"]\n",
    )
    .unwrap();
    let first = Central::start(dir.path(), &url).await;
    assert_eq!(first.leads().await, Some(true), "alone, it leads");
    let second = Central::start(dir.path(), &url).await;
    assert_eq!(second.leads().await, Some(false), "one leader at a time");

    // The leader probes; the follower's pages show the leader's judgement.
    wait_for(
        Duration::from_secs(60),
        "the leader's first probes of every site",
        || {
            let store = store.clone();
            let ids = ids.clone();
            async move {
                let mut each = true;
                for id in ids {
                    each &= newest_own_slot(&store, id).await.is_some();
                }
                each
            }
        },
    )
    .await;
    wait_for(
        Duration::from_secs(40),
        "the follower showing the leader's snapshot, every site judged",
        || async {
            let (Some(led), Some(followed)) = (first.sites().await, second.sites().await) else {
                return false;
            };
            let judged = followed
                .1
                .iter()
                .all(|(_, state)| !state.contains("not_probed"));
            followed.0 > 0 && judged && led == followed
        },
    )
    .await;
    let (_, states) = second.sites().await.unwrap();
    assert!(
        states.contains(&("\"down-1\"".to_owned(), "\"down\"".to_owned())),
        "{states:?}"
    );

    // An agent's results sent to the follower are judged by the leader.
    let slot = Utc::now() - chrono::TimeDelta::seconds(30);
    let batch = ResultBatch {
        results: ids
            .iter()
            .map(|site_id| AgentResult {
                site_id: *site_id,
                slot,
                started_at: slot,
                ok: true,
                status: Some(200),
                total_ms: Some(12),
                ..AgentResult::default()
            })
            .collect(),
    };
    let pushed = reqwest::Client::new()
        .post(second.url("/agent/v1/results"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("idempotency-key", "lab-1:1")
        .body(serde_json::to_vec(&batch).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 200, "{}", pushed.text().await.unwrap());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    wait_for(
        Duration::from_secs(30),
        "the leader taking the follower's queued results",
        || {
            let pool = pool.clone();
            async move {
                let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM pending_observations")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                waiting == 0
            }
        },
    )
    .await;
    pool.close().await;
    for id in &ids {
        assert!(store.site_status_from(*id, agent).await.unwrap().is_some());
    }

    // The leader dies without a word; the other takes over and probes.
    let before = second.version().await.unwrap();
    let mut first = first;
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    let died_at = Utc::now();
    wait_for(
        Duration::from_secs(30),
        "the follower taking over",
        || async { second.leads().await == Some(true) },
    )
    .await;
    wait_for(
        Duration::from_secs(60),
        "probes after the takeover, of every site",
        || {
            let store = store.clone();
            let ids = ids.clone();
            async move {
                let mut each = true;
                for id in ids {
                    each &= newest_own_slot(&store, id)
                        .await
                        .is_some_and(|slot| slot > died_at);
                }
                each
            }
        },
    )
    .await;
    wait_for(
        Duration::from_secs(30),
        "snapshot versions going on from the dead leader's",
        || async {
            second
                .version()
                .await
                .is_some_and(|version| version > before)
        },
    )
    .await;

    // SIGTERM: the new leader stops cleanly.
    let pid = second.child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let mut second = second;
    let status = tokio::time::timeout(Duration::from_secs(30), second.child.wait())
        .await
        .expect("the central stops")
        .unwrap();
    let log = second.log().await;
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("takes over"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    store.close().await;
}

/// A `faultline agent run` process probing from `source`.
async fn start_agent(
    dir: &std::path::Path,
    central: &str,
    token: &str,
    source: &str,
    world: &server::sim::world::World,
) -> tokio::process::Child {
    std::fs::write(dir.join("token"), format!("{token}\n")).unwrap();
    let quoted = |items: Vec<String>| {
        items
            .iter()
            .map(|item| format!("\"{item}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let config = format!(
        "[monitor]\ncanaries = [{}]\n\n[probe]\nnameservers = [{}]\nsource_address = \"{source}\"\n\n[probe.guard]\nallowed_networks = [\"127.0.0.0/8\"]\n",
        quoted(world.canaries()),
        quoted(world.dns.addrs().iter().map(ToString::to_string).collect()),
    );
    std::fs::write(dir.join("faultline.toml"), config).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "agent",
            "run",
            "--central",
            central,
            "--token-file",
            "token",
        ])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// The regions of each confirmed provider incident still open, by
/// provider: `(provider, scope, regions)`.
async fn open_incidents(store: &store::Store) -> Vec<(String, Option<engine::Scope>, Vec<String>)> {
    let mut incidents: Vec<_> = store
        .active_provider_incidents()
        .await
        .unwrap()
        .into_iter()
        .map(|incident| {
            let regions = incident.regions();
            (
                incident.provider.unwrap_or_default(),
                incident.scope,
                regions,
            )
        })
        .collect();
    incidents.sort();
    incidents
}

/// A central on PostgreSQL and three agents in three regions, each
/// probing from its own address, against the synthetic internet:
/// Cloudflare fails for every client, Fastly only for the agent at
/// 127.0.0.12 (us-east), and the network of the agent at 127.0.0.13
/// (ap-south) is cut.
#[tokio::test]
async fn three_agents_in_three_regions_tell_global_from_regional_from_their_own_network() {
    let Some(server::config::Database::Postgres(url)) = postgres_database().await else {
        return;
    };
    let scenario = server::sim::scenario::Scenario::parse(
        r#"
name = "three-regions"
start = "2026-01-01T00:00:00Z"
duration = "24h"

[[sites]]
group = "cf"
count = 10
cdn = "cloudflare"

[[sites]]
group = "fy"
count = 10
cdn = "fastly"

[[sites]]
group = "plain"
count = 3

[[fault]]
target = "cdn:cloudflare"
kind = "edge_error"
from = "+0s"
until = "+24h"

[[fault]]
target = "cdn:fastly"
kind = "edge_error"
from = "+0s"
until = "+24h"
seen_from = ["127.0.0.12"]

# An hour in (the test moves the world's clock there): Fastly fails for
# every client, and its regional incident spreads.
[[fault]]
target = "cdn:fastly"
kind = "edge_error"
from = "+1h"
until = "+24h"

[[fault]]
target = "vantage"
kind = "network_loss"
from = "+0s"
until = "+24h"
seen_from = ["127.0.0.13"]
"#,
    )
    .unwrap();
    // The world's clock stands at the start until the test moves it.
    let clock = server::clock::SimClock::new(scenario.start);
    let world = server::sim::world::World::start(&scenario, clock.clone())
        .await
        .unwrap();
    world.apply_dns_faults(&scenario, scenario.start);

    let store = store::Store::connect(&url, 2).await.unwrap();
    let sites: Vec<store::NewSite> = world
        .sites
        .iter()
        .map(|site| store::NewSite {
            url: world.url(site),
            host: site.host.clone(),
            name: site.host.clone(),
            tags: vec![],
            interval_s: 10,
        })
        .collect();
    store.add_sites(&sites, Utc::now()).await.unwrap();
    let ids: std::collections::HashMap<String, i64> = store
        .list_sites()
        .await
        .unwrap()
        .into_iter()
        .map(|site| (site.host, site.id))
        .collect();
    let mut agents = Vec::new();
    let mut tokens = Vec::new();
    for (name, region) in [
        ("lab-11", "eu-west"),
        ("lab-12", "us-east"),
        ("lab-13", "ap-south"),
    ] {
        let (token, hash) = app::admin_tokens::new_token();
        agents.push(
            store
                .add_agent(name, region, &hash, Utc::now())
                .await
                .unwrap()
                .unwrap(),
        );
        tokens.push(token);
    }

    // Fastly's followers, by webhook to a receiver on loopback.
    let receiver = server::sim::receiver::WebhookReceiver::start(clock.clone())
        .await
        .unwrap();
    let subscribed = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "alerts",
            "add-webhook",
            &receiver.url("fastly"),
            "--provider",
            "fastly",
            "--database",
            &url,
        ])
        .env("FAULTLINE_ALERTS__ALLOWED_NETWORKS", r#"["127.0.0.0/8"]"#)
        .output()
        .await
        .unwrap();
    assert!(subscribed.status.success(), "{subscribed:?}");

    let central_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        central_dir.path().join("faultline.toml"),
        format!(
            "[monitor]\ncanaries = [{}]\n\n[statuses]\nenabled = false\n\n[alerts]\nallowed_networks = [\"127.0.0.0/8\"]\n\n[probe]\nnameservers = [{}]\n\n[probe.guard]\nallowed_networks = [\"127.0.0.0/8\"]\n",
            world.canaries().iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", "),
            world.dns.addrs().iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", "),
        ),
    )
    .unwrap();
    let port = free_port();
    let central = Central::start_on(central_dir.path(), &url, port).await;
    let agent_dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut children = Vec::new();
    for (n, dir) in agent_dirs.iter().enumerate() {
        let source = format!("127.0.0.{}", 11 + n);
        children
            .push(start_agent(dir.path(), &central.url("/"), &tokens[n], &source, &world).await);
    }

    // Cloudflare, failing for everyone: one incident, global. Fastly,
    // failing only from us-east: regional to it, and nothing global.
    let expected = vec![
        (
            "cloudflare".to_owned(),
            Some(engine::Scope::Global),
            vec![
                "central".to_owned(),
                "eu-west".to_owned(),
                "us-east".to_owned(),
            ],
        ),
        (
            "fastly".to_owned(),
            Some(engine::Scope::Regional),
            vec!["us-east".to_owned()],
        ),
    ];
    let store_ref = &store;
    let expected_ref = &expected;
    wait_for(
        Duration::from_secs(240),
        "a global Cloudflare incident and a Fastly one regional to us-east",
        || async move { open_incidents(store_ref).await == *expected_ref },
    )
    .await;

    // The agent whose network is cut: its vantage offline, its results
    // suspect, so no site is down and it opens nothing.
    let cut_off = agents[2];
    for host in ["plain-001.test", "cf-001.test", "fy-001.test"] {
        let status = store
            .site_status_from(ids[host], cut_off)
            .await
            .unwrap()
            .expect("the cut-off agent still reports");
        assert!(!status.ok && status.suspect, "{host}: {status:?}");
    }
    let listed = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["agent", "list", "--json", "--database", &url])
        .output()
        .await
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    let networks: Vec<(String, String)> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .map(|agent| {
            (
                agent["name"].as_str().unwrap().to_owned(),
                agent["network"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected_networks: Vec<(String, String)> = [
        ("lab-11", "online"),
        ("lab-12", "online"),
        ("lab-13", "offline"),
    ]
    .iter()
    .map(|(name, network)| ((*name).to_owned(), (*network).to_owned()))
    .collect();
    assert_eq!(
        networks, expected_networks,
        "the cut-off agent's vantage is offline"
    );
    let sites: serde_json::Value = reqwest::get(central.url("/api/v1/sites?limit=100"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let states: Vec<(String, String)> = sites["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["host"].as_str().unwrap().to_owned(),
                item["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (host, state) in &states {
        let expected = if host.starts_with("cf-") {
            "down"
        } else {
            "up"
        };
        assert_eq!(state, expected, "{host}: {states:?}");
    }
    // Nothing but the two incidents, ever: no site of ours went down for
    // Fastly, and nothing was opened for ap-south.
    let incidents = store.list_incidents(None, 100).await.unwrap();
    let provider_incidents: Vec<_> = incidents
        .iter()
        .filter(|incident| incident.kind == engine::IncidentKind::Provider)
        .collect();
    assert_eq!(provider_incidents.len(), 2, "{provider_incidents:#?}");
    let sites_down: Vec<i64> = incidents
        .iter()
        .filter(|incident| incident.kind == engine::IncidentKind::Site)
        .filter_map(|incident| incident.site_id)
        .collect();
    let cloudflare: Vec<i64> = ids
        .iter()
        .filter(|(host, _)| host.starts_with("cf-"))
        .map(|(_, id)| *id)
        .collect();
    assert!(
        sites_down.iter().all(|id| cloudflare.contains(id)),
        "{sites_down:?}"
    );

    // The central stops for 30 s; every slot probed meanwhile is stored once.
    let _ = central.stop().await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let back_at = Utc::now();
    let central = Central::start_on(central_dir.path(), &url, port).await;
    let probed: Vec<i64> = ["plain-001.test", "cf-002.test", "fy-003.test"]
        .iter()
        .map(|host| ids[*host])
        .collect();
    wait_for(
        Duration::from_secs(90),
        "every agent's spooled results after the central came back",
        || {
            let store = store.clone();
            let probed = probed.clone();
            let agents = agents.clone();
            async move {
                for id in probed {
                    for agent in &agents {
                        let slots = slots(&store, id, *agent).await;
                        if slots.last().is_none_or(|last| *last < back_at) {
                            return false;
                        }
                    }
                }
                true
            }
        },
    )
    .await;
    for id in &probed {
        for agent in &agents {
            let slots = slots(&store, *id, *agent).await;
            let gaps: Vec<i64> = slots
                .windows(2)
                .map(|pair| (pair[1] - pair[0]).num_seconds())
                .filter(|gap| *gap != 10)
                .collect();
            assert!(
                gaps.is_empty(),
                "site {id}, agent {agent}: gaps {gaps:?} in {slots:?}"
            );
            assert!(
                slots.len() >= 8,
                "site {id}, agent {agent}: {} slots",
                slots.len()
            );
        }
    }

    // Fastly now fails for every client: the same incident, now global,
    // and its followers hear that it spread, after hearing it confirmed.
    let fastly_alerts = |receiver: &server::sim::receiver::WebhookReceiver| {
        server::sim::receiver::once_each(&receiver.received())
            .into_iter()
            .map(|got| (got.event, got.incident))
            .collect::<Vec<_>>()
    };
    let receiver_ref = &receiver;
    let heard_of = |event: engine::AlertEvent, what: &'static str| {
        wait_for(Duration::from_secs(60), what, move || async move {
            fastly_alerts(receiver_ref)
                .iter()
                .any(|(heard, _)| *heard == event)
        })
    };
    heard_of(
        engine::AlertEvent::ProviderConfirmed,
        "Fastly's regional outage confirmed to its followers",
    )
    .await;
    clock.advance_to(scenario.start + chrono::TimeDelta::hours(1));
    let everywhere = vec![
        "central".to_owned(),
        "eu-west".to_owned(),
        "us-east".to_owned(),
    ];
    let expected = vec![
        (
            "cloudflare".to_owned(),
            Some(engine::Scope::Global),
            everywhere.clone(),
        ),
        ("fastly".to_owned(), Some(engine::Scope::Global), everywhere),
    ];
    let expected_ref = &expected;
    wait_for(
        Duration::from_secs(120),
        "Fastly's incident seen from every region",
        || async move { open_incidents(store_ref).await == *expected_ref },
    )
    .await;
    heard_of(
        engine::AlertEvent::ProviderSpread,
        "Fastly's followers told that it spread",
    )
    .await;
    let heard = fastly_alerts(&receiver);
    let confirmed = heard
        .iter()
        .find(|(event, _)| *event == engine::AlertEvent::ProviderConfirmed)
        .and_then(|(_, incident)| *incident);
    let spread: Vec<Option<i64>> = heard
        .iter()
        .filter(|(event, _)| *event == engine::AlertEvent::ProviderSpread)
        .map(|(_, incident)| *incident)
        .collect();
    assert!(confirmed.is_some(), "{heard:?}");
    assert_eq!(
        spread,
        [confirmed],
        "one spread, of the same incident: {heard:?}"
    );
    let provider_incidents = store
        .list_incidents(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|incident| incident.kind == engine::IncidentKind::Provider)
        .count();
    assert_eq!(provider_incidents, 2, "it spread rather than opened anew");

    // A wrong token, and a revoked one: 401, and nothing stored.
    let batch = ResultBatch {
        results: vec![AgentResult {
            site_id: ids["plain-001.test"],
            slot: Utc::now() - chrono::TimeDelta::hours(2),
            started_at: Utc::now() - chrono::TimeDelta::hours(2),
            ok: true,
            status: Some(200),
            ..AgentResult::default()
        }],
    };
    assert!(store.revoke_agent("lab-11", Utc::now()).await.unwrap());
    for token in ["flt_wrong", tokens[0].as_str()] {
        let pushed = reqwest::Client::new()
            .post(central.url("/agent/v1/results"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("idempotency-key", "late:1")
            .body(serde_json::to_vec(&batch).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status(), 401);
    }
    // A live agent cannot write for another vantage: naming one is refused.
    let mut claims = serde_json::to_value(&batch).unwrap();
    claims["results"][0]["vantage_id"] = serde_json::json!(agents[0]);
    let forged = reqwest::Client::new()
        .post(central.url("/agent/v1/results"))
        .bearer_auth(&tokens[1])
        .header("content-type", "application/json")
        .header("idempotency-key", "forged:1")
        .body(serde_json::to_vec(&claims).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    for agent in &agents[..2] {
        let slots = slots(&store, ids["plain-001.test"], *agent).await;
        assert!(
            !slots.contains(&batch.results[0].slot),
            "nothing stored under a refused token or a forged vantage"
        );
    }

    for mut child in children {
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    central.stop().await;
    receiver.stop();
    world.stop();
    world.stopped().await;
    store.close().await;
}
