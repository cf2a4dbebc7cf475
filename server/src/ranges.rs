//! `faultline providers refresh-ranges`: fetches the IP ranges providers
//! publish and writes them where the knowledge base's override directory
//! looks first (`DIR/ipranges/`), so attribution by address stays current.
//!
//! Every file is validated before it replaces the one in place, and the
//! whole directory must still load as a knowledge base; a source that
//! fails to fetch or parse leaves its previous file untouched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

/// Largest document accepted from a source.
const MAX_SOURCE_BYTES: usize = 8 * 1024 * 1024;
/// Most prefixes written to one file (the knowledge base's own limit).
const MAX_PREFIXES: usize = 16 * 1024;

/// Where each snapshot comes from. Imperva's list needs an API call with
/// credentials, so its snapshot is refreshed by hand.
pub const DEFAULT_SOURCES: &str = r#"
[[source]]
file = "cloudflare.txt"
urls = ["https://www.cloudflare.com/ips-v4", "https://www.cloudflare.com/ips-v6"]
format = "lines"

[[source]]
file = "fastly.txt"
urls = ["https://api.fastly.com/public-ip-list"]
format = "json"
keys = ["addresses", "ipv6_addresses"]

[[source]]
file = "cloudfront.txt"
urls = ["https://ip-ranges.amazonaws.com/ip-ranges.json"]
format = "json"
keys = ["ip_prefix", "ipv6_prefix"]
where = { service = "CLOUDFRONT" }

[[source]]
file = "google_cdn.txt"
urls = ["https://www.gstatic.com/ipranges/goog.json"]
format = "json"
keys = ["ipv4Prefix", "ipv6Prefix"]
"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    pub source: Vec<Source>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// File name under `ipranges/`, as the provider files name it.
    pub file: String,
    pub urls: Vec<String>,
    pub format: Format,
    /// With `json`: the keys whose string (or string array) values are prefixes.
    #[serde(default)]
    pub keys: Vec<String>,
    /// With `json`: only objects with these key/value pairs count.
    #[serde(default, rename = "where")]
    pub filter: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One prefix per line; blank lines and `#` comments skipped.
    Lines,
    /// A JSON document; see [`Source::keys`].
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("invalid sources file: {0}")]
    Sources(String),
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url}: {reason}")]
    Parse { url: String, reason: String },
    #[error("{path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("the directory would no longer load: {0}")]
    Invalid(String),
}

impl Sources {
    pub fn parse(text: &str) -> Result<Self, RefreshError> {
        let sources: Self =
            toml::from_str(text).map_err(|e| RefreshError::Sources(e.to_string()))?;
        for source in &sources.source {
            let plain = !source.file.is_empty()
                && source
                    .file
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                && !source.file.starts_with('.');
            if !plain {
                return Err(RefreshError::Sources(format!(
                    "file {:?} must be a plain file name",
                    source.file
                )));
            }
            if source.urls.is_empty() {
                return Err(RefreshError::Sources(format!(
                    "{} has no urls",
                    source.file
                )));
            }
            if source.format == Format::Json && source.keys.is_empty() {
                return Err(RefreshError::Sources(format!(
                    "{}: format json needs keys",
                    source.file
                )));
            }
        }
        Ok(sources)
    }
}

/// What happened to one source.
#[derive(Debug)]
pub struct Outcome {
    pub file: String,
    pub result: Result<usize, RefreshError>,
}

/// Refreshes every source into `dir/ipranges/`, one at a time.
pub async fn refresh(dir: &Path, sources: &Sources) -> Vec<Outcome> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("Faultline/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            return sources
                .source
                .iter()
                .map(|s| Outcome {
                    file: s.file.clone(),
                    result: Err(RefreshError::Fetch {
                        url: String::new(),
                        reason: error.to_string(),
                    }),
                })
                .collect()
        }
    };
    let mut outcomes = Vec::new();
    for source in &sources.source {
        let result = refresh_one(&client, dir, source).await;
        outcomes.push(Outcome {
            file: source.file.clone(),
            result,
        });
    }
    outcomes
}

async fn refresh_one(
    client: &reqwest::Client,
    dir: &Path,
    source: &Source,
) -> Result<usize, RefreshError> {
    let mut prefixes = BTreeSet::new();
    for url in &source.urls {
        let text = fetch(client, url).await?;
        let found = match source.format {
            Format::Lines => parse_lines(&text),
            Format::Json => parse_json(&text, &source.keys, &source.filter),
        }
        .map_err(|reason| RefreshError::Parse {
            url: url.clone(),
            reason,
        })?;
        if found.is_empty() {
            return Err(RefreshError::Parse {
                url: url.clone(),
                reason: "no prefixes in it".to_owned(),
            });
        }
        prefixes.extend(found);
    }
    if prefixes.len() > MAX_PREFIXES {
        return Err(RefreshError::Parse {
            url: source.urls.join(", "),
            reason: format!("{} prefixes; the limit is {MAX_PREFIXES}", prefixes.len()),
        });
    }
    let mut text = format!(
        "# Source: {} (fetched {} by `faultline providers refresh-ranges`)\n",
        source.urls.join(", "),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    for prefix in &prefixes {
        text.push_str(&prefix.to_string());
        text.push('\n');
    }
    install(dir, &source.file, &text)?;
    Ok(prefixes.len())
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, RefreshError> {
    let failed = |reason: String| RefreshError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| failed(e.to_string()))?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        if body.len() + chunk.len() > MAX_SOURCE_BYTES {
            return Err(failed(format!("larger than {MAX_SOURCE_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| failed("not UTF-8 text".to_owned()))
}

fn parse_lines(text: &str) -> Result<Vec<IpNet>, String> {
    let mut prefixes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        prefixes.push(parse_prefix(line).map_err(|e| format!("line {}: {e}", index + 1))?);
    }
    Ok(prefixes)
}

fn parse_prefix(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{text:?} is not an IP prefix"))
}

fn parse_json(
    text: &str,
    keys: &[String],
    filter: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<IpNet>, String> {
    let document: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut prefixes = Vec::new();
    collect(&document, keys, filter, &mut prefixes, 0)?;
    Ok(prefixes)
}

/// Walks the document; nesting deeper than this is refused.
const MAX_DEPTH: usize = 16;

fn collect(
    value: &serde_json::Value,
    keys: &[String],
    filter: &std::collections::BTreeMap<String, String>,
    out: &mut Vec<IpNet>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".to_owned());
    }
    match value {
        serde_json::Value::Array(items) => {
            for item in items {
                collect(item, keys, filter, out, depth + 1)?;
            }
        }
        serde_json::Value::Object(object) => {
            let selected = filter
                .iter()
                .all(|(k, v)| object.get(k).and_then(|x| x.as_str()) == Some(v.as_str()));
            for (key, item) in object {
                if keys.contains(key) {
                    if selected {
                        match item {
                            serde_json::Value::String(s) => out.push(parse_prefix(s)?),
                            serde_json::Value::Array(list) => {
                                for s in list {
                                    let s = s.as_str().ok_or(format!("{key}: not a string"))?;
                                    out.push(parse_prefix(s)?);
                                }
                            }
                            _ => return Err(format!("{key}: not a string or list")),
                        }
                    }
                } else {
                    collect(item, keys, filter, out, depth + 1)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Writes `text` as `dir/ipranges/file` only if the directory still loads
/// with it, through a temporary file and a rename, so a crash leaves either
/// the old file or the new one.
fn install(dir: &Path, file: &str, text: &str) -> Result<(), RefreshError> {
    let folder = dir.join("ipranges");
    let write_failed = |path: &Path, e: std::io::Error| RefreshError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&folder).map_err(|e| write_failed(&folder, e))?;
    let target = folder.join(file);
    let staging = tempfile::tempdir_in(dir).map_err(|e| write_failed(dir, e))?;
    // Validate in a copy of the directory's provider files with the new file.
    let trial = staging.path();
    let trial_ranges = trial.join("ipranges");
    std::fs::create_dir_all(&trial_ranges).map_err(|e| write_failed(trial, e))?;
    copy_files(dir, trial, "toml")?;
    copy_files(&folder, &trial_ranges, "")?;
    std::fs::write(trial_ranges.join(file), text).map_err(|e| write_failed(trial, e))?;
    crate::knowledge::load_dir(trial).map_err(|e| RefreshError::Invalid(e.to_string()))?;

    let temporary = folder.join(format!(".{file}.new"));
    {
        use std::io::Write;
        let mut out = std::fs::File::create(&temporary).map_err(|e| write_failed(&temporary, e))?;
        out.write_all(text.as_bytes())
            .and_then(|()| out.sync_all())
            .map_err(|e| write_failed(&temporary, e))?;
    }
    std::fs::rename(&temporary, &target).map_err(|e| write_failed(&target, e))
}

/// Copies the regular files of `from` (with this extension, or all) into `to`.
fn copy_files(from: &Path, to: &Path, extension: &str) -> Result<(), RefreshError> {
    let failed = |e: std::io::Error| RefreshError::Write {
        path: from.to_path_buf(),
        reason: e.to_string(),
    };
    for entry in std::fs::read_dir(from).map_err(failed)?.flatten() {
        let path = entry.path();
        let wanted = extension.is_empty() || path.extension().is_some_and(|x| x == extension);
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if path.is_file() && wanted && !hidden {
            std::fs::copy(&path, to.join(entry.file_name())).map_err(failed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_sources_are_read_by_key_and_filter() {
        let aws = r#"{"prefixes": [
            {"ip_prefix": "3.2.34.0/26", "service": "AMAZON"},
            {"ip_prefix": "13.32.0.0/15", "service": "CLOUDFRONT"}],
          "ipv6_prefixes": [{"ipv6_prefix": "2600:9000::/28", "service": "CLOUDFRONT"}]}"#;
        let filter = [("service".to_owned(), "CLOUDFRONT".to_owned())].into();
        let keys = ["ip_prefix".to_owned(), "ipv6_prefix".to_owned()];
        let mut found = parse_json(aws, &keys, &filter).unwrap();
        found.sort();
        assert_eq!(
            found,
            vec![
                "13.32.0.0/15".parse::<IpNet>().unwrap(),
                "2600:9000::/28".parse().unwrap()
            ]
        );
        let fastly = r#"{"addresses": ["23.235.32.0/20"], "ipv6_addresses": ["2a04:4e40::/32"]}"#;
        let keys = ["addresses".to_owned(), "ipv6_addresses".to_owned()];
        assert_eq!(
            parse_json(fastly, &keys, &Default::default())
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let error = parse_lines("173.245.48.0/20\n\n# note\nnot-a-prefix\n").unwrap_err();
        assert!(error.contains("line 4"), "{error}");
    }

    #[test]
    fn the_builtin_sources_parse() {
        let sources = Sources::parse(DEFAULT_SOURCES).unwrap();
        assert_eq!(sources.source.len(), 4);
        assert!(Sources::parse(
            "[[source]]\nfile = \"../x\"\nurls = [\"http://a\"]\nformat = \"lines\"\n"
        )
        .is_err());
    }
}
