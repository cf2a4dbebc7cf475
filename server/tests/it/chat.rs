//! Chat formats of alerts, checked by the services' own SDKs where one
//! exists: every Slack message Faultline renders is read back by Slack's
//! Python SDK (slack-sdk, installed into `.tools/venv` by `scripts/setup
//! --browser`), each block parsed and validated against Block Kit's limits.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use engine::{AlertEvent, AlertFormat, Phase, Role};
use server::alerts::format::render;
use server::alerts::payload::{Alert, AlertData, Figures, IncidentRef, ProviderRef, SiteRef};

/// Reads a Slack message on stdin; exits non-zero unless every block
/// parses, validates, and reads back exactly as sent (a misspelt or
/// unknown key would be dropped), and `text` is within Slack's 40,000.
const SLACK_CHECK: &str = r#"
import json, sys
from slack_sdk.models.blocks import Block

message = json.load(sys.stdin)
text = message["text"]
if not isinstance(text, str) or not 0 < len(text) <= 40000:
    sys.exit(f"text: {len(text)} characters")
blocks = message["blocks"]
if not 0 < len(blocks) <= 50:
    sys.exit(f"{len(blocks)} blocks")
for sent in blocks:
    block = Block.parse(sent)
    if block is None:
        sys.exit(f"not a block: {sent}")
    block.validate_json()
    if block.to_dict() != sent:
        sys.exit(f"read back differently:\n{block.to_dict()}\n{sent}")
"#;

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/setup --browser` to install the Slack SDK these tests check with",
        python.display()
    );
    python
}

/// What Slack's SDK says of `message`: `Err` with its complaint.
fn slack_sdk_check(message: &[u8]) -> Result<(), String> {
    let mut child = Command::new(python())
        .arg("-c")
        .arg(SLACK_CHECK)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn confirmed() -> Alert {
    Alert {
        event: AlertEvent::ProviderConfirmed,
        timestamp: at("2025-11-18T11:48:00Z"),
        data: AlertData {
            headline: "Cloudflare (CDN) outage confirmed: 54 of 60 (90 %) watched sites behind \
                       it are failing"
                .to_owned(),
            incident: Some(IncidentRef {
                id: 7,
                kind: "provider",
                phase: Phase::Confirmed,
                sequence: 2,
                permalink: "https://faultline.example/incident/7".to_owned(),
                scope: None,
                regions: Vec::new(),
            }),
            provider: Some(ProviderRef {
                id: "cloudflare".to_owned(),
                name: "Cloudflare".to_owned(),
                role: Role::Cdn,
                permalink: "https://faultline.example/provider/cloudflare".to_owned(),
            }),
            site: None,
            figures: Figures {
                failing: Some(54),
                of: Some(60),
                share: Some(0.9),
                peak_share: Some(0.95),
                affected_sites: Some(57),
                onset_at: Some(at("2025-11-18T11:20:00Z")),
                confirmed_at: Some(at("2025-11-18T11:48:00Z")),
                resolved_at: None,
                confidence: Some(0.87),
                cause: None,
            },
            evidence: vec![
                "shop.example: 502 from Cloudflare".to_owned(),
                "news.example: 500 from Cloudflare".to_owned(),
            ],
            note: Some(
                "Held while Faultline's own network was down, 11:30 to 11:40 UTC.".to_owned(),
            ),
            official: None,
        },
    }
}

fn site_down() -> Alert {
    Alert {
        event: AlertEvent::SiteDown,
        timestamp: at("2025-11-18T11:25:00Z"),
        data: AlertData {
            headline: "shop.example is down: the origin server is unreachable".to_owned(),
            incident: Some(IncidentRef {
                id: 9,
                kind: "site",
                phase: Phase::Confirmed,
                sequence: 1,
                permalink: "https://faultline.example/incident/9".to_owned(),
                scope: None,
                regions: Vec::new(),
            }),
            provider: None,
            site: Some(SiteRef {
                host: "shop.example".to_owned(),
                permalink: "https://faultline.example/site/shop.example".to_owned(),
            }),
            figures: Figures {
                onset_at: Some(at("2025-11-18T11:20:00Z")),
                cause: Some("origin_unreachable".to_owned()),
                ..Figures::default()
            },
            evidence: vec!["shop.example: 522 from Cloudflare".to_owned()],
            note: None,
            official: None,
        },
    }
}

fn resolved() -> Alert {
    let mut alert = confirmed();
    alert.event = AlertEvent::ProviderResolved;
    alert.data.headline = "Cloudflare (CDN) outage resolved at 14:31 UTC".to_owned();
    alert.data.figures.resolved_at = Some(at("2025-11-18T14:31:00Z"));
    alert.data.incident.as_mut().unwrap().phase = Phase::Resolved;
    alert.data.note = None;
    alert
}

fn test_alert() -> Alert {
    Alert {
        event: AlertEvent::Test,
        timestamp: at("2025-11-18T09:00:00Z"),
        data: AlertData {
            headline: "Test alert from Faultline: this endpoint receives alerts".to_owned(),
            incident: None,
            provider: None,
            site: None,
            figures: Figures::default(),
            evidence: Vec::new(),
            note: None,
            official: None,
        },
    }
}

/// As long and as hostile as an alert gets: every text far past its
/// limit, mentions, markup and wide characters.
fn monstrous() -> Alert {
    let mut alert = confirmed();
    alert.data.headline = "<!channel> @here & <b>🙂</b> ".repeat(400);
    alert.data.evidence = (0..500)
        .map(|n| format!("site{n}.example said <!everyone> {}", "&<>é".repeat(n)))
        .collect();
    alert.data.note = Some("@everyone ".repeat(1_000));
    alert.data.provider.as_mut().unwrap().name = "Prövider🙂".repeat(500);
    alert.data.site = Some(SiteRef {
        host: "h".repeat(3_000),
        permalink: "https://faultline.example/site/h".to_owned(),
    });
    alert.data.figures.cause = Some("<!here>".repeat(800));
    alert
}

#[test]
fn slack_messages_pass_the_slack_sdk() {
    for (name, alert) in [
        ("confirmed", confirmed()),
        ("site down", site_down()),
        ("resolved", resolved()),
        ("test", test_alert()),
        ("monstrous", monstrous()),
    ] {
        let rendered = render(
            AlertFormat::Slack,
            &alert,
            "https://hooks.slack.com/services/T/B/x",
        )
        .unwrap();
        if let Err(complaint) = slack_sdk_check(&rendered.body) {
            panic!(
                "the {name} alert fails the Slack SDK:\n{complaint}\n{}",
                String::from_utf8_lossy(&rendered.body)
            );
        }
    }
}

#[test]
fn the_slack_check_rejects_an_over_long_header() {
    let rendered = render(
        AlertFormat::Slack,
        &confirmed(),
        "https://hooks.slack.com/x",
    )
    .unwrap();
    let mut message: serde_json::Value = serde_json::from_slice(&rendered.body).unwrap();
    assert_eq!(message["blocks"][0]["type"], "header");
    message["blocks"][0]["text"]["text"] = "x".repeat(151).into();
    let complaint = slack_sdk_check(&serde_json::to_vec(&message).unwrap())
        .expect_err("the SDK accepted a 151-character header");
    assert!(complaint.contains("150"), "{complaint}");
}
