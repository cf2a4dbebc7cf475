//! A visitor who cannot view a page's source copies what the screen shows.
//! The visible text of each page in `tests/fixtures/visible-text/` must
//! classify as its HTML's label says, and name the label's status.

use engine::{classify, Observation};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct Label {
    provider: Option<String>,
    status: Option<u16>,
    fault_side: String,
    fault: Option<String>,
}

#[test]
fn copied_text_of_an_error_page_classifies_like_its_html() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(fixtures.join("visible-text")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "txt") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let label: Label = serde_json::from_str(
            &std::fs::read_to_string(fixtures.join(format!("error-pages/{name}.json"))).unwrap(),
        )
        .unwrap();
        let text = std::fs::read(&path).unwrap();
        let got = classify(&Observation::from_body(text.clone()));
        let provider = got.provider.as_ref().map(|p| p.as_str().to_owned());
        let side = got.fault_side.map(|s| s.to_string());
        let fault = got.fault.map(|f| f.to_string());
        if provider != label.provider
            || side.as_deref() != Some(label.fault_side.as_str())
            || (label.fault.is_some() && fault != label.fault)
        {
            wrong.push(format!(
                "{name}: got {provider:?} {side:?} {fault:?}, label {:?} {} {:?}",
                label.provider, label.fault_side, label.fault
            ));
        }
        let status = engine::page::status_in_page(&text);
        if status.is_some() && status != label.status {
            wrong.push(format!(
                "{name}: the page names status {status:?}, label {:?}",
                label.status
            ));
        }
        // A 1xxx page (served as 530 or 403) does not name its HTTP status.
        let named = |s: u16| String::from_utf8_lossy(&text).contains(&s.to_string());
        if label.status.is_some_and(|s| s >= 500 && named(s)) && status.is_none() {
            wrong.push(format!("{name}: no status read from the page"));
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} copied pages found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
