//! The central's side of the agents' protocol over HTTP: each agent sees
//! its own region's share of the watchlist, and only with its own live
//! token.

use chrono::{DurationRound as _, Utc};
use server::agents::Assignment;

use crate::support::{origins, slots, spawn_app, wait_for};

fn site(host: &str) -> store::NewSite {
    store::NewSite {
        url: format!("https://{host}/"),
        host: host.to_owned(),
        name: host.to_owned(),
        tags: vec![],
        interval_s: 60,
    }
}

#[tokio::test]
async fn each_agent_gets_its_share_of_its_region_and_only_with_its_own_token() {
    let app = spawn_app().await;
    let hosts: Vec<store::NewSite> = (0..90).map(|n| site(&format!("s{n}.test"))).collect();
    app.store.add_sites(&hosts, Utc::now()).await.unwrap();
    let mut tokens = Vec::new();
    for (name, region) in [
        ("paris-1", "eu-west"),
        ("paris-2", "eu-west"),
        ("tokyo-1", "ap-northeast"),
    ] {
        let (token, hash) = app::admin_tokens::new_token();
        app.store
            .add_agent(name, region, &hash, Utc::now())
            .await
            .unwrap()
            .unwrap();
        tokens.push(token);
    }
    let client = reqwest::Client::new();
    let fetch = |token: &str| {
        client
            .get(app.url("/agent/v1/assignment"))
            .bearer_auth(token)
            .send()
    };

    // Each agent asks once, so each is fresh in its region; then again.
    for token in &tokens {
        assert_eq!(fetch(token).await.unwrap().status(), 200);
    }
    let mut got = Vec::new();
    for token in &tokens {
        let answer = fetch(token).await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.headers()["cache-control"],
            "no-store",
            "an assignment is never shared"
        );
        got.push(answer.json::<Assignment>().await.unwrap());
    }
    let ids =
        |assignment: &Assignment| -> Vec<i64> { assignment.sites.iter().map(|s| s.id).collect() };
    // Tokyo alone in its region probes everything; Paris's two split it.
    assert_eq!(
        (got[2].agent.as_str(), got[2].region.as_str()),
        ("tokyo-1", "ap-northeast")
    );
    assert_eq!((got[2].region_agents, got[2].sites.len()), (1, 90));
    assert_eq!((got[0].region_agents, got[1].region_agents), (2, 2));
    let mut paris: Vec<i64> = ids(&got[0]).into_iter().chain(ids(&got[1])).collect();
    paris.sort_unstable();
    let mut everything = ids(&got[2]);
    everything.sort_unstable();
    assert_eq!(paris, everything, "each site once in the region");
    assert!(
        !got[0].sites.is_empty() && !got[1].sites.is_empty(),
        "both Paris agents have work: {} and {}",
        got[0].sites.len(),
        got[1].sites.len()
    );

    // No token, a wrong one, an API token, a revoked agent: 401 each.
    let none = client
        .get(app.url("/agent/v1/assignment"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(fetch("flt_not-a-token").await.unwrap().status(), 401);
    let (api_token, api_hash) = app::admin_tokens::new_token();
    app.store
        .create_api_token(
            "newsroom",
            store::TokenScope::Write,
            &api_hash,
            "test",
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(fetch(&api_token).await.unwrap().status(), 401);
    assert!(app.store.revoke_agent("paris-2", Utc::now()).await.unwrap());
    assert_eq!(fetch(&tokens[1]).await.unwrap().status(), 401);
    // Its sites go to the agent left in the region.
    let alone: Assignment = fetch(&tokens[0]).await.unwrap().json().await.unwrap();
    assert_eq!((alone.region_agents, alone.sites.len()), (1, 90));

    let seen = app.store.agents().await.unwrap();
    assert!(
        seen.iter().all(|agent| agent.last_seen_at.is_some()),
        "{seen:?}"
    );
    app.stop().await;
}

/// A batch as an agent sends it: JSON, gzipped, with its key.
fn gzipped(json: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(json).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn results_are_stored_once_under_the_calling_agents_vantage() {
    use server::agents::wire::{AgentResult, BatchAnswer, ResultBatch};
    use sha2::Digest as _;

    let scrape_token = "metrics-for-the-test";
    let app = crate::support::spawn_app_with(|state| {
        let metrics = state.metrics.clone();
        state.with_metrics(
            metrics,
            None,
            Some(sha2::Sha256::digest(scrape_token.as_bytes()).into()),
        )
    })
    .await;
    let hosts: Vec<store::NewSite> = (0..3).map(|n| site(&format!("r{n}.test"))).collect();
    app.store.add_sites(&hosts, Utc::now()).await.unwrap();
    let sites = app.store.list_sites().await.unwrap();
    let (a, b, gone) = (sites[0].id, sites[1].id, sites[2].id);
    app.store.set_site_enabled(gone, false).await.unwrap();
    let mut agents = Vec::new();
    for (name, region) in [("paris-1", "eu-west"), ("tokyo-1", "ap-northeast")] {
        let (token, hash) = app::admin_tokens::new_token();
        let id = app
            .store
            .add_agent(name, region, &hash, Utc::now())
            .await
            .unwrap()
            .unwrap();
        agents.push((id, token));
    }
    let (paris, paris_token) = agents[0].clone();
    let (tokyo, tokyo_token) = agents[1].clone();

    let slot = Utc::now()
        .duration_trunc(chrono::TimeDelta::minutes(1))
        .unwrap();
    let result = |site_id: i64, ok: bool| AgentResult {
        site_id,
        slot,
        started_at: slot + chrono::TimeDelta::milliseconds(300),
        ok,
        status: Some(if ok { 200 } else { 502 }),
        failure: (!ok).then_some(engine::FailureClass::HttpStatus),
        total_ms: Some(40),
        body_gz: (!ok).then(|| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(gzipped(b"<h1>502</h1>"))
        }),
        ..AgentResult::default()
    };
    let batch = ResultBatch {
        results: vec![
            result(a, true),
            result(b, false),
            result(gone, true),
            result(999_999, true),
            AgentResult {
                slot: slot - chrono::TimeDelta::days(3),
                started_at: slot - chrono::TimeDelta::days(3),
                ..result(a, true)
            },
        ],
    };
    let body = gzipped(&serde_json::to_vec(&batch).unwrap());
    let client = reqwest::Client::new();
    let push = |token: &str, key: &str, body: Vec<u8>| {
        client
            .post(app.url("/agent/v1/results"))
            .bearer_auth(token)
            .header("content-encoding", "gzip")
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body)
            .send()
    };

    let first = push(&paris_token, "paris-1:1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let answer: BatchAnswer = first.json().await.unwrap();
    assert_eq!((answer.stored, answer.duplicates), (2, 0), "{answer:?}");
    let refused: Vec<(usize, i64)> = answer
        .refused
        .iter()
        .map(|refusal| (refusal.index, refusal.site_id))
        .collect();
    assert_eq!(refused, [(2, gone), (3, 999_999), (4, a)], "{answer:?}");
    assert!(answer.refused[2].reason.contains("slot"), "{answer:?}");

    // Stored under Paris's vantage, beside (not over) the central's own.
    let stored = app.store.recent_probes(b, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].vantage_id, stored[0].slot, stored[0].ok),
        (paris, Some(slot), false)
    );
    let from_paris = app.store.site_status_from(b, paris).await.unwrap().unwrap();
    assert!(!from_paris.ok);
    assert_eq!(app.store.site_status(b).await.unwrap(), None);
    assert_eq!(
        app.store.latest_failure(b).await.unwrap().unwrap().status,
        Some(502)
    );

    // The same batch again under its key: the same answer, nothing stored.
    let again = push(&paris_token, "paris-1:1", body.clone()).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<BatchAnswer>().await.unwrap(), answer);
    // Under a new key: every result a duplicate.
    let renamed: BatchAnswer = push(&paris_token, "paris-1:2", body.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((renamed.stored, renamed.duplicates), (0, 2));
    // Tokyo's results for the same slots are its own.
    let from_tokyo: BatchAnswer = push(&tokyo_token, "paris-1:1", body.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((from_tokyo.stored, from_tokyo.duplicates), (2, 0));
    assert_eq!(app.store.probe_count().await.unwrap(), 4);
    // Each new result, and only those, waits for the leader's correlator.
    let queued: Vec<(i64, i64)> = app
        .store
        .take_observations(100)
        .await
        .unwrap()
        .iter()
        .map(|body| serde_json::from_str::<engine::correlate::Observation>(body).unwrap())
        .map(|observation| (observation.site_id, observation.vantage))
        .collect();
    assert_eq!(queued, [(a, paris), (b, paris), (a, tokyo), (b, tokyo)]);
    assert!(app
        .store
        .site_status_from(a, tokyo)
        .await
        .unwrap()
        .is_some());

    // A vantage of its own choosing is refused whole.
    let mut claims: serde_json::Value = serde_json::to_value(&batch).unwrap();
    claims["results"][0]["vantage_id"] = serde_json::json!(tokyo);
    let forged = push(
        &paris_token,
        "paris-1:3",
        gzipped(&serde_json::to_vec(&claims).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 400);
    let problem: serde_json::Value = forged.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("vantage_id"),
        "{problem}"
    );

    // No key, a wrong encoding, broken gzip, a bomb, too many results.
    let keyless = client
        .post(app.url("/agent/v1/results"))
        .bearer_auth(&paris_token)
        .header("content-encoding", "gzip")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(keyless.status(), 400);
    let brotli = client
        .post(app.url("/agent/v1/results"))
        .bearer_auth(&paris_token)
        .header("content-encoding", "br")
        .header("idempotency-key", "paris-1:4")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(brotli.status(), 415);
    let broken = push(&paris_token, "paris-1:5", b"\x1f\x8bnot gzip".to_vec())
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    let bomb = gzipped(&vec![b' '; 40 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
    let bombed = push(&paris_token, "paris-1:6", bomb).await.unwrap();
    assert_eq!(bombed.status(), 413);
    let many = ResultBatch {
        results: vec![result(a, true); server::agents::wire::MAX_RESULTS + 1],
    };
    let crowded = push(
        &paris_token,
        "paris-1:7",
        gzipped(&serde_json::to_vec(&many).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(crowded.status(), 413);

    // A revoked agent or a wrong token: 401, nothing stored.
    assert!(app.store.revoke_agent("tokyo-1", Utc::now()).await.unwrap());
    let fresh_slot = ResultBatch {
        results: vec![AgentResult {
            slot: slot + chrono::TimeDelta::minutes(1),
            started_at: slot + chrono::TimeDelta::minutes(1),
            ..result(a, true)
        }],
    };
    let fresh = gzipped(&serde_json::to_vec(&fresh_slot).unwrap());
    assert_eq!(
        push(&tokyo_token, "tokyo-1:9", fresh.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        push("flt_forged", "x:9", fresh).await.unwrap().status(),
        401
    );
    assert_eq!(app.store.probe_count().await.unwrap(), 4);
    // Nothing refused or rejected was queued to be judged.
    assert!(app.store.take_observations(100).await.unwrap().is_empty());
    // Three batches answered (each refusing three results); a replayed
    // answer and a batch refused whole are not counted.
    let scraped = client
        .get(app.url("/metrics"))
        .bearer_auth(scrape_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "faultline_agent_results_total{outcome=\"stored\"} 4",
        "faultline_agent_results_total{outcome=\"duplicate\"} 2",
        "faultline_agent_results_total{outcome=\"refused\"} 9",
    ] {
        assert!(scraped.contains(line), "{line} missing from\n{scraped}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_agent_process_probes_its_share_and_keeps_every_slot_while_the_central_is_away() {
    let origin = origins().await;
    let app = spawn_app().await;
    let every = 10;
    let sites: Vec<store::NewSite> = [("up-1", "up"), ("up-2", "up"), ("down-1", "down")]
        .into_iter()
        .map(|(name, path)| store::NewSite {
            url: format!("http://{origin}/{path}?{name}"),
            host: origin.ip().to_string(),
            name: name.to_owned(),
            tags: vec![],
            interval_s: every,
        })
        .collect();
    app.store.add_sites(&sites, Utc::now()).await.unwrap();
    let ids: Vec<i64> = app
        .store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|site| site.id)
        .collect();
    let (token, hash) = app::admin_tokens::new_token();
    let agent = app
        .store
        .add_agent("lab-1", "eu-west", &hash, Utc::now())
        .await
        .unwrap()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{token}\n")).unwrap();
    std::fs::write(
        dir.path().join("faultline.toml"),
        "[monitor]\ncanaries = []\n\n[probe.guard]\nallowed_networks = [\"127.0.0.0/8\"]\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "agent",
            "run",
            "--central",
            &app.url("/"),
            "--token-file",
            "token",
        ])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // Results arrive under the agent's vantage, as the origins answer.
    let store = app.store.clone();
    wait_for(
        std::time::Duration::from_secs(60),
        "the agent's first results",
        || {
            let store = store.clone();
            let ids = ids.clone();
            async move {
                let mut each = true;
                for id in ids {
                    each &= !slots(&store, id, agent).await.is_empty();
                }
                each
            }
        },
    )
    .await;
    let up = app
        .store
        .site_status_from(ids[0], agent)
        .await
        .unwrap()
        .unwrap();
    let down = app
        .store
        .site_status_from(ids[2], agent)
        .await
        .unwrap()
        .unwrap();
    assert!(up.ok && !down.ok, "{up:?} {down:?}");
    assert_eq!(
        app.store.site_status(ids[0]).await.unwrap(),
        None,
        "the central probed nothing"
    );

    // The central goes away for a while; the agent keeps probing.
    let halted = app.halt().await;
    tokio::time::sleep(std::time::Duration::from_secs(25)).await;
    let app = halted.start().await;
    let away_until = Utc::now();

    // Every slot is there, once, with no gap where the central was away.
    let store = app.store.clone();
    wait_for(
        std::time::Duration::from_secs(90),
        "the spooled results after the central came back",
        || {
            let store = store.clone();
            let ids = ids.clone();
            async move {
                let mut each = true;
                for id in ids {
                    each &= slots(&store, id, agent)
                        .await
                        .last()
                        .is_some_and(|last| *last > away_until);
                }
                each
            }
        },
    )
    .await;
    for id in &ids {
        let slots = slots(&app.store, *id, agent).await;
        let gaps: Vec<i64> = slots
            .windows(2)
            .map(|pair| (pair[1] - pair[0]).num_seconds())
            .filter(|gap| *gap != every)
            .collect();
        assert!(gaps.is_empty(), "site {id}: gaps {gaps:?} in {slots:?}");
        assert!(slots.len() >= 4, "site {id}: {} slots", slots.len());
    }

    // SIGTERM: the agent stops cleanly.
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("the agent stops within its send-at-exit time")
        .unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("cannot deliver results"), "{stderr}");
    app.stop().await;
}
