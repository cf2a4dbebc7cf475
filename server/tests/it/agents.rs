//! The central's side of the agents' protocol over HTTP: each agent sees
//! its own region's share of the watchlist, and only with its own live
//! token.

use chrono::Utc;
use server::agents::Assignment;

use crate::support::spawn_app;

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
