//! Every labelled page in `tests/fixtures/error-pages/` (copied from the
//! project's shared fixtures, see `SOURCES.md` there) classified twice:
//! from the body alone, and with the label's status and headers. Provider
//! and fault side must be right on every page, and the fault wherever the
//! label gives one.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

use engine::{classify, Observation};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct Label {
    provider: Option<String>,
    server_software: Option<String>,
    status: Option<u16>,
    fault_side: String,
    fault: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Labels the bodies contradict. Each entry names the page, the labelled
/// page whose body it duplicates, and why; the test checks the duplication
/// so the entry cannot outlive the fact that justifies it.
const DISPUTED_LABELS: &[(&str, &str, &str)] = &[(
    "cloudfront__403__2",
    "cloudfront__403__1",
    "label and notes say the 'Bad request.' variant (origin/config_error), but the body is \
     the 'Request blocked.' page, byte-identical to cloudfront__403__1 except the Request ID",
)];

struct Case {
    name: String,
    body: Vec<u8>,
    label: Label,
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/error-pages");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|json| {
            let label: Label =
                serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
            let body = std::fs::read(json.with_extension("html")).unwrap();
            Case {
                name: json.file_stem().unwrap().to_string_lossy().into_owned(),
                body,
                label,
            }
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    total: usize,
    provider_ok: usize,
    side_ok: usize,
    fault_ok: usize,
}

fn run(mode: &str, with_headers: bool) -> Vec<String> {
    let mut per_provider: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut skipped = 0;
    for case in cases() {
        let obs = if with_headers {
            Observation {
                status: case.label.status,
                headers: case
                    .label
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                body: case.body.clone(),
                dns: None,
            }
        } else {
            if case.body.iter().all(u8::is_ascii_whitespace) {
                // Nothing to read without headers (cloudflare__520__1).
                skipped += 1;
                continue;
            }
            Observation::from_body(case.body.clone())
        };
        let got = classify(&obs);
        let key = case
            .label
            .provider
            .clone()
            .or(case.label.server_software.clone().map(|s| format!("({s})")))
            .unwrap_or_else(|| String::from("(none)"));
        let t = per_provider.entry(key).or_default();
        t.total += 1;
        let provider_ok =
            got.provider.as_ref().map(|p| p.as_str().to_owned()) == case.label.provider;
        let side_ok = got.fault_side.map(|s| s.as_str()) == Some(case.label.fault_side.as_str());
        let fault_ok = match &case.label.fault {
            Some(f) => got.fault.map(|x| x.as_str()) == Some(f.as_str()),
            None => true,
        };
        let software_ok = match &case.label.server_software {
            Some(s) => got.server_software.as_deref() == Some(s.as_str()),
            None => true,
        };
        t.provider_ok += usize::from(provider_ok);
        t.side_ok += usize::from(side_ok);
        t.fault_ok += usize::from(fault_ok);
        if !(provider_ok && side_ok && fault_ok && software_ok) {
            if let Some((_, _, why)) = DISPUTED_LABELS.iter().find(|d| d.0 == case.name) {
                println!("  disputed label {}: {why}", case.name);
                continue;
            }
            failures.push(format!(
                "{mode} {}: want {:?}/{:?}/{}/{:?}, got {:?}/{:?}/{:?}/{:?} evidence {:?}",
                case.name,
                case.label.provider,
                case.label.server_software,
                case.label.fault_side,
                case.label.fault,
                got.provider.map(|p| p.to_string()),
                got.server_software,
                got.fault_side,
                got.fault,
                got.evidence
            ));
        }
    }
    println!("{mode}: accuracy per provider (provider / fault_side / fault), {skipped} empty bodies skipped");
    for (p, t) in &per_provider {
        println!(
            "  {p:<18} {:>2} pages  {:>5.1}% / {:>5.1}% / {:>5.1}%",
            t.total,
            100.0 * t.provider_ok as f64 / t.total as f64,
            100.0 * t.side_ok as f64 / t.total as f64,
            100.0 * t.fault_ok as f64 / t.total as f64
        );
    }
    failures
}

#[test]
fn every_labelled_page_body_only() {
    let failures = run("body only", false);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_labelled_page_with_status_and_headers() {
    let failures = run("with headers", true);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn disputed_labels_are_duplicates_of_other_pages() {
    let all = cases();
    let body = |name: &str| {
        let c = all.iter().find(|c| c.name == name).unwrap();
        String::from_utf8_lossy(&c.body)
            .lines()
            .filter(|l| !l.starts_with("Request ID:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (name, twin, _) in DISPUTED_LABELS {
        assert_eq!(body(name), body(twin), "{name} no longer duplicates {twin}");
    }
}

#[test]
fn all_pages_are_there() {
    assert_eq!(cases().len(), 49);
}
