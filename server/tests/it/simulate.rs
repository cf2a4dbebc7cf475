//! Every shipped scenario replayed end to end and checked against its own
//! `[[expect]]` blocks: which provider incidents, how soon, and none in the
//! negative scenarios.

use server::config::Database;
use server::sim::scenario::Scenario;
use server::sim::simulate::{check, simulate};

/// The 18 Nov 2025 replay stored in PostgreSQL tells the same story, to
/// the probe and the second, as in SQLite: the whole live path (the
/// writer's batches, incidents, alerts, statements) on the other database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_on_postgresql_reports_what_it_reports_on_sqlite() {
    let Some(postgres) = crate::support::postgres_database().await else {
        return;
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/cloudflare-2025-11-18.toml");
    let scenario = Scenario::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let on_sqlite = simulate(&scenario, &Database::File(dir.path().join("sim.db")))
        .await
        .unwrap();
    let on_postgres = simulate(&scenario, &postgres).await.unwrap();
    assert!(check(&scenario, &on_postgres).is_empty());
    assert!(on_postgres.probes > 0);
    // When an alert arrives depends on when the dispatcher, woken by the
    // status-page poller, runs against the virtual clock: it may be one
    // step (10 s) later on either database. Which alerts arrive may not.
    let without_arrival = |report: &server::sim::simulate::Report| {
        let mut value = serde_json::to_value(report).unwrap();
        for alert in value["alerts"].as_array_mut().unwrap() {
            alert.as_object_mut().unwrap().remove("at");
        }
        value
    };
    assert_eq!(without_arrival(&on_postgres), without_arrival(&on_sqlite));
}

async fn replay(file: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(file);
    let scenario = Scenario::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let report = simulate(&scenario, &Database::File(dir.path().join("sim.db")))
        .await
        .unwrap();
    for incident in report.provider_incidents() {
        eprintln!(
            "{file}: {} incident, onset {}, detected {} ({} s after the first failing probe), pattern {}",
            incident.provider,
            incident.onset_at,
            incident.detected_at,
            (incident.detected_at - incident.onset_at).num_seconds(),
            incident.pattern
        );
    }
    eprintln!(
        "{file}: {} probes simulated in {:?}",
        report.probes,
        started.elapsed()
    );
    let failures = check(&scenario, &report);
    assert!(
        failures.is_empty(),
        "{file}: {failures:#?}\n{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    assert!(!scenario.expects.is_empty(), "{file} checks nothing");
}

macro_rules! scenario_tests {
    ($($name:ident => $file:literal),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            replay($file).await;
        }
    )*};
}

scenario_tests! {
    cloudflare_2025_11_18 => "cloudflare-2025-11-18.toml",
    cloudflare_2025_12_05 => "cloudflare-2025-12-05.toml",
    fastly_2021_06_08 => "fastly-2021-06-08.toml",
    akamai_dns_2021_07_22 => "akamai-dns-2021-07-22.toml",
    azure_front_door_2025_10_29 => "azure-front-door-2025-10-29.toml",
    aws_us_east_1_2025_10_20 => "aws-us-east-1-2025-10-20.toml",
    negative_origin_522 => "negative-origin-522.toml",
    negative_unrelated_origins => "negative-unrelated-origins.toml",
    negative_flapping_site => "negative-flapping-site.toml",
    negative_own_network => "negative-own-network.toml",
    cloudflare_2019_07_02 => "cloudflare-2019-07-02.toml",
    cloudflare_2022_06_21 => "cloudflare-2022-06-21.toml",
    aws_us_east_1_2021_12_07 => "aws-us-east-1-2021-12-07.toml",
    google_cloud_2025_06_12 => "google-cloud-2025-06-12.toml",
    cloudflare_resolver_2025_07_14 => "cloudflare-resolver-2025-07-14.toml",
    cloudfront_edge_to_origin => "cloudfront-edge-to-origin.toml",
    negative_cloudfront_origins_spread => "negative-cloudfront-origins-spread.toml",
    negative_large_customer_cloudflare => "negative-large-customer-cloudflare.toml",
    negative_large_customer_fastly => "negative-large-customer-fastly.toml",
    negative_large_customer_akamai => "negative-large-customer-akamai.toml",
    negative_large_customer_cloudfront => "negative-large-customer-cloudfront.toml",
    negative_large_customer_vercel => "negative-large-customer-vercel.toml",
}

#[test]
fn every_shipped_scenario_has_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let this = include_str!("simulate.rs");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".toml") {
            assert!(this.contains(&format!("\"{name}\"")), "{name} has no test");
        }
    }
}
