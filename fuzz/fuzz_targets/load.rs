//! Any text as a provider file must load or be refused, never panic.
#![no_main]

use engine::knowledge::SourceFile;
use engine::{KnowledgeBase, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let files = [SourceFile {
        name: "fuzz.toml".into(),
        text: text.clone(),
    }];
    let ranges = [SourceFile {
        name: "fuzz.txt".into(),
        text,
    }];
    if let Ok(kb) = KnowledgeBase::from_sources(&files, &ranges, &Limits::default()) {
        let _ = kb.classify(&engine::Observation::from_body(data.to_vec()));
    }
});
