//! `/metrics` as Prometheus reads it: during the replay of 18 Nov 2025,
//! guarded by a token, accepted by `promtool check metrics`, and read by
//! the Python `prometheus_client` parser, which finds the open Cloudflare
//! incident and the probes that found it.

use sha2::Digest as _;

use server::sim::scenario::Scenario;
use server::sim::simulate::Simulation;

const TOKEN: &str = "scrape-token-for-tests";

fn tool(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../.tools/venv/bin/{name}"))
}

#[tokio::test]
async fn prometheus_reads_an_open_incident_and_the_probes_during_a_replayed_outage() {
    let scenario = Scenario::parse(include_str!(
        "../../../scenarios/cloudflare-2025-11-18.toml"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut simulation = Simulation::start(
        &scenario,
        &server::config::Database::File(dir.path().join("replay.db")),
        server::sim::simulate::SIMULATED_SITE_URL,
    )
    .await
    .unwrap();
    // Well into the steady part of the outage.
    simulation
        .run_until(&scenario, scenario.start + chrono::TimeDelta::minutes(95))
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = server::config::Config {
        listen: addr,
        database: server::config::Database::File(dir.path().join("replay.db")),
        site_root: crate::support::site_root(),
        ..Default::default()
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let state = server::http::AppState::new(&config, simulation.store.clone())
        .with_status(server::startup::replay_status(&simulation, &scenario))
        .with_metrics(
            simulation.metrics(),
            Some(simulation.vantage()),
            Some(sha2::Sha256::digest(TOKEN.as_bytes()).into()),
        );
    let served = tokio::spawn(server::http::serve(listener, state, stop.clone()));
    let url = format!("http://{addr}/metrics");
    let client = reqwest::Client::new();

    for authorization in [None, Some("Bearer not-the-token-at-all"), Some(TOKEN)] {
        let mut request = client.get(&url);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert!(response.headers().contains_key("www-authenticate"));
    }
    let response = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let exposition = dir.path().join("metrics.txt");
    std::fs::write(&exposition, &text).unwrap();

    // Prometheus' own linter accepts the exposition.
    let checked = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&exposition).unwrap())
        .output()
        .expect("promtool (Debian's prometheus package, installed by scripts/setup)");
    assert!(
        checked.status.success(),
        "promtool refuses /metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // The reference parser reads the open incident and the probes.
    let read = std::process::Command::new(tool("python"))
        .args([
            "-c",
            r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
values = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for sample in family.samples:
        key = sample.name + "".join(f"|{k}={v}" for k, v in sorted(sample.labels.items()))
        values[key] = sample.value
def total(prefix):
    return sum(v for k, v in values.items() if k.startswith(prefix))
print(int(total("faultline_incidents_open|phase=confirmed|provider=cloudflare|role=cdn")))
print(int(total("faultline_probes_total|")))
print(int(total("faultline_probes_total|failure=http_status|outcome=failed")))
print(int(values.get("faultline_vantage_state|state=online", -1)))
print(int(total("faultline_probe_phase_duration_seconds_count|phase=total")))
print(int(total("faultline_status_page_polls_total|outcome=read")))
print(int(values.get("faultline_status_pages_failing", -1)))
"#,
        ])
        .arg(&exposition)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let figures: Vec<i64> = String::from_utf8_lossy(&read.stdout)
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .collect();
    let [open, probes, failed, online, timed, status_read, status_failing] = figures[..] else {
        panic!("{figures:?}");
    };
    assert_eq!(open, 1, "the open Cloudflare incident\n{text}");
    assert!(probes > 1_000, "{probes} probes counted");
    assert!(failed > 100, "{failed} failed with an error status");
    assert_eq!(online, 1, "the vantage is online");
    assert!(timed > 1_000, "{timed} probes timed");
    // The replay's Cloudflare status page, read as it published.
    assert!(status_read >= 1, "{status_read} status pages read");
    assert_eq!(status_failing, 0, "no status page failing");

    // OpenMetrics, for a scraper that asks for it.
    let response = client
        .get(&url)
        .bearer_auth(TOKEN)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(response.text().await.unwrap().ends_with("# EOF\n"));

    stop.cancel();
    served.await.unwrap().unwrap();
    simulation.finish(&scenario).await.unwrap();
}
