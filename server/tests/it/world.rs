//! The synthetic internet plays a scenario's timeline on the virtual clock.

use chrono::TimeDelta;
use probe::guard::GuardPolicy;
use probe::{gunzip, LiveProber, ProberConfig};
use server::clock::SimClock;
use server::sim::scenario::Scenario;
use server::sim::world::World;

const CLOUDFLARE_2025_11_18: &str = include_str!("../../../scenarios/cloudflare-2025-11-18.toml");

#[tokio::test]
async fn the_18_november_scenario_serves_cloudflare_error_pages_on_schedule() {
    let scenario = Scenario::parse(CLOUDFLARE_2025_11_18).unwrap();
    let clock = SimClock::new(scenario.start);
    let world = World::start(&scenario, clock.clone()).await.unwrap();
    let prober = LiveProber::new(ProberConfig {
        nameservers: vec![world.dns.addr()],
        total_timeout_ms: 2_000,
        guard: GuardPolicy::loopback_only(),
        ..ProberConfig::default()
    })
    .unwrap();
    let cloudflare: Vec<_> = world
        .sites
        .iter()
        .filter(|s| s.cdn.as_deref() == Some("cloudflare"))
        .collect();
    assert_eq!(cloudflare.len(), 60);

    // Before the outage every site answers.
    let before = prober
        .probe_url(&world.url(cloudflare[0]), clock_now(&clock))
        .await;
    assert!(before.ok, "{before:?}");
    let facts: serde_json::Value = serde_json::from_str(before.facts.as_deref().unwrap()).unwrap();
    assert_eq!(facts["dns"]["cname"][0], "cf-001-test.cdn.cloudflare.net");

    // 11:22, inside the first failing half of the intermittent period: 85 %
    // of Cloudflare sites get its branded 500 page.
    clock.advance_to(scenario.start + TimeDelta::minutes(52));
    let mut failing = 0;
    for site in &cloudflare {
        let record = prober.probe_url(&world.url(site), clock_now(&clock)).await;
        if !record.ok {
            assert_eq!(record.status, Some(500));
            let page = gunzip(record.body_gz.as_deref().unwrap(), 1 << 20).unwrap();
            assert!(String::from_utf8_lossy(&page).contains("cf-error-source"));
            assert!(record.facts.as_deref().unwrap().contains("cf-ray"));
            failing += 1;
        }
    }
    assert!((40..=58).contains(&failing), "{failing} of 60 failing");

    // 11:27, in the healthy half of the period: they answer again.
    clock.advance_to(scenario.start + TimeDelta::minutes(57));
    let record = prober
        .probe_url(&world.url(cloudflare[0]), clock_now(&clock))
        .await;
    assert!(record.ok, "{record:?}");

    // Sites on other providers are never touched.
    let fastly = world
        .sites
        .iter()
        .find(|s| s.cdn.as_deref() == Some("fastly"))
        .unwrap();
    clock.advance_to(scenario.start + TimeDelta::minutes(180));
    assert!(
        prober
            .probe_url(&world.url(fastly), clock_now(&clock))
            .await
            .ok
    );
    world.stop();
}

fn clock_now(clock: &SimClock) -> chrono::DateTime<chrono::Utc> {
    server::clock::Clock::now(clock)
}
