//! The synthetic internet plays a scenario's timeline on the virtual clock.

use chrono::TimeDelta;
use probe::guard::GuardPolicy;
use probe::{gunzip, LiveProber, ProberConfig};
use server::clock::SimClock;
use server::sim::scenario::{FaultKind, Scenario};
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

/// Every front of the synthetic internet, for every fault kind that serves
/// a page: the page it serves classifies to its provider and to the side
/// the fault implies (its own edge for an edge error, the customer's origin
/// for an origin that is down or slow); a healthy answer is attributed to
/// it; an unreachable edge refuses the connection.
#[tokio::test]
async fn every_front_serves_pages_that_blame_the_side_its_fault_implies() {
    let fronts = server::sim::front::fronts().unwrap();
    let kinds = [
        ("ok", None),
        ("edge", Some("edge_error")),
        ("down", Some("origin_down")),
        ("timeout", Some("origin_timeout")),
        ("unreachable", Some("edge_unreachable")),
    ];
    // Only the faults a front has a page for: a scenario may not ask for
    // a page that is not on record.
    let has_page = |front: &server::sim::front::Front, kind: &str| {
        let fault = match kind {
            "edge" => FaultKind::EdgeError,
            "down" => FaultKind::OriginDown,
            "timeout" => FaultKind::OriginTimeout,
            _ => return true,
        };
        !matches!(
            server::sim::scenario::page_for(front, fault),
            server::sim::scenario::Served::Missing
        )
    };
    let mut text =
        String::from("name = \"fronts\"\nstart = \"2025-01-01T00:00:00Z\"\nduration = \"1h\"\n");
    for front in fronts {
        for (kind, _) in kinds {
            text.push_str(&format!(
                "[[sites]]\ngroup = \"{}-{kind}\"\ncdn = \"{}\"\n",
                front.id, front.id
            ));
        }
        for (kind, fault) in kinds {
            if !has_page(front, kind) {
                continue;
            }
            if let Some(fault) = fault {
                text.push_str(&format!(
                    "[[fault]]\ntarget = \"group:{}-{kind}\"\nkind = \"{fault}\"\n\
                     from = \"+0s\"\nuntil = \"+1h\"\n",
                    front.id
                ));
            }
        }
    }
    let scenario = Scenario::parse(&text).unwrap();
    let clock = SimClock::new(scenario.start);
    let world = World::start(&scenario, clock.clone()).await.unwrap();
    world.apply_dns_faults(&scenario, scenario.start);
    let prober = LiveProber::new(ProberConfig {
        nameservers: vec![world.dns.addr()],
        total_timeout_ms: 2_000,
        guard: GuardPolicy::loopback_only(),
        ..ProberConfig::default()
    })
    .unwrap();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for front in fronts {
        for (kind, _) in kinds {
            // A front with no customer origin serves its edge's page for
            // an origin's faults: that page is checked as its edge's.
            let has_origin = front.origin_down.is_some();
            if !has_page(front, kind) || matches!(kind, "down" | "timeout") && !has_origin {
                continue;
            }
            let site = world
                .sites
                .iter()
                .find(|s| s.group == format!("{}-{kind}", front.id))
                .unwrap();
            let outcome = prober.probe_url(&world.url(site), clock_now(&clock)).await;
            checked += 1;
            let served_by = outcome
                .providers
                .iter()
                .any(|serving| serving.provider == front.id);
            // The side the fault implies, unless the front's table says
            // the provider's real page does not say.
            let blames = |page: Option<&server::sim::front::Page>, implied| {
                !outcome.ok
                    && outcome.provider.as_deref() == Some(front.id.as_str())
                    && outcome.fault_side == Some(page.and_then(|p| p.reads).unwrap_or(implied))
            };
            let ok = match kind {
                "ok" => outcome.ok && served_by,
                "edge" => blames(front.edge_error.as_ref(), engine::FaultSide::Edge),
                "down" => blames(front.origin_down.as_ref(), engine::FaultSide::Origin),
                "timeout" => blames(front.origin_timeout.as_ref(), engine::FaultSide::Origin),
                _ => outcome.failure.is_some_and(|f| f.is_connect()),
            };
            if !ok {
                wrong.push(format!(
                    "{} {kind}: ok {} status {:?} failure {:?} page by {:?} side {:?} fault {:?} \
                     served by {:?} evidence {:?}",
                    front.id,
                    outcome.ok,
                    outcome.status,
                    outcome.failure,
                    outcome.provider,
                    outcome.fault_side,
                    outcome.fault,
                    outcome
                        .providers
                        .iter()
                        .map(|s| s.provider.as_str())
                        .collect::<Vec<_>>(),
                    outcome.evidence
                ));
            }
        }
    }
    world.stop();
    println!("{checked} provider × fault pairs checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
