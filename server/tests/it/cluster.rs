//! Two central processes on one PostgreSQL database: one leads (probes,
//! judges, alerts) while both serve the same snapshot, agents' results
//! sent to either are judged by the leader, and when the leader dies the
//! other takes over and probing goes on.

use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use server::agents::wire::{AgentResult, ResultBatch};

use crate::support::{origins, postgres_database, site_root, wait_for};

/// A `faultline serve` process on `database`, listening on a free port.
struct Central {
    child: tokio::process::Child,
    base: String,
}

impl Central {
    async fn start(dir: &std::path::Path, database: &str) -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
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
