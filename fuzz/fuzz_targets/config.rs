//! Any bytes as the configuration file must load or be refused with a
//! one-line message naming what is wrong, never panic. A configuration
//! that loads has a usable public URL if any, settings the monitor clamps
//! into range, and survives being written out and loaded again unchanged.
//!
//! `Config::load` reads a file, so each input is written to one file in a
//! temporary directory first; `FAULTLINE_*` variables in the environment
//! apply as they would to `faultline serve`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use server::config::{Config, ConfigError, Overrides};

fn file() -> &'static PathBuf {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("faultline.toml");
        (dir, path)
    });
    path
}

fn load(bytes: &[u8]) -> Result<Config, ConfigError> {
    std::fs::write(file(), bytes).expect("the input written");
    Config::load(Some(file()), &Overrides::default())
}

fuzz_target!(|data: &[u8]| {
    let config = match load(data) {
        Ok(config) => config,
        Err(error) => {
            let message = error.to_string();
            assert!(!message.contains('\n'), "{message}");
            return;
        }
    };
    if let Some(url) = &config.public_url {
        assert!(matches!(url.scheme(), "http" | "https"), "{url}");
        assert!(url.host_str().is_some(), "{url}");
    }
    let monitor = config.monitor.to_monitor_config();
    assert!((1..=10_000).contains(&monitor.concurrency));
    assert!((1..=64).contains(&monitor.per_host));

    let text = toml::to_string(&config).expect("a loaded configuration serializes");
    let again = load(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(again, config, "{text}");
});
