//! Shipped scenarios replayed end to end: what was detected, and when.

use chrono::{DateTime, TimeDelta, Utc};
use server::scenario::Scenario;
use server::sim::simulate::{simulate, Report, ReportIncident};

async fn run(text: &str) -> (Scenario, Report) {
    let scenario = Scenario::parse(text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = simulate(&scenario, &dir.path().join("sim.db"))
        .await
        .unwrap();
    (scenario, report)
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_18_november_2025_is_one_intermittent_provider_incident() {
    let started = std::time::Instant::now();
    let (scenario, report) = run(include_str!(
        "../../../scenarios/cloudflare-2025-11-18.toml"
    ))
    .await;
    eprintln!(
        "simulated {} probes in {:?}",
        report.probes,
        started.elapsed()
    );
    let providers: Vec<&ReportIncident> = report
        .incidents
        .iter()
        .filter(|i| matches!(i, ReportIncident::Provider { .. }))
        .collect();
    assert_eq!(
        providers.len(),
        1,
        "{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    let ReportIncident::Provider {
        provider,
        detected_at,
        pattern,
        onset_at,
        ..
    } = providers[0]
    else {
        unreachable!()
    };
    assert_eq!(provider, "cloudflare");
    assert_eq!(pattern, "intermittent");
    let onset = scenario.start + TimeDelta::minutes(50);
    let detected = at(detected_at);
    eprintln!(
        "onset {onset_at}, detected {detected_at}: delay {} s",
        (detected - onset).num_seconds()
    );
    assert!(
        detected <= scenario.start + scenario.expects[0].detected_by.unwrap(),
        "{detected_at}"
    );
    assert!(report.vantage_events.is_empty());
    assert!(report.probes > 40_000, "{}", report.probes);
}
