//! Reading watchlists: a plain list of domains or URLs, CSV, or TOML.
//!
//! A watchlist is user input. Files are size-bounded, every entry is
//! validated on its own, and a bad line is reported with its number and
//! skipped while the good ones are kept.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use store::NewSite;

/// Watchlists larger than this are refused whole.
pub const MAX_WATCHLIST_BYTES: usize = 32 * 1024 * 1024;
/// The longest URL we accept; real home pages are far shorter.
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG_LEN: usize = 40;
pub const DEFAULT_INTERVAL_S: i64 = 60;
pub const MIN_INTERVAL_S: i64 = 10;
pub const MAX_INTERVAL_S: i64 = 86_400;

/// The watchlist `faultline serve` starts with on an empty database.
pub const DEFAULT_WATCHLIST: &str = include_str!("../watchlist/default.csv");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One domain or URL per line, optionally followed by a display name.
    Plain,
    /// `url,name,tags[,interval_s]` with an optional header row.
    Csv,
    /// `[[site]]` tables with `url`, `name`, `tags`, `interval_s`.
    Toml,
}

impl Format {
    /// Guesses from the file name: `.csv`, `.toml`, anything else is plain.
    pub fn from_path(path: &Path) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Format::Csv,
            Some("toml") => Format::Toml,
            _ => Format::Plain,
        }
    }
}

/// What a watchlist held: the valid sites, and each rejected line with why.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub sites: Vec<NewSite>,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchlistError {
    #[error("watchlist is {size} bytes; the limit is {MAX_WATCHLIST_BYTES}")]
    TooLarge { size: usize },
    #[error("watchlist is not valid TOML: {0}")]
    Toml(String),
}

/// Parses a whole watchlist. Only a file that cannot be read as a whole
/// (too large, broken TOML syntax) is an error; bad entries are `rejected`.
pub fn parse(text: &str, format: Format) -> Result<Parsed, WatchlistError> {
    if text.len() > MAX_WATCHLIST_BYTES {
        return Err(WatchlistError::TooLarge { size: text.len() });
    }
    let mut parsed = match format {
        Format::Plain => parse_plain(text),
        Format::Csv => parse_csv(text),
        Format::Toml => parse_toml(text)?,
    };
    drop_duplicates(&mut parsed);
    Ok(parsed)
}

fn parse_plain(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (target, name) = match line.split_once(char::is_whitespace) {
            Some((target, name)) => (target, Some(name.trim())),
            None => (line, None),
        };
        push(&mut parsed, index + 1, site(target, name, "", None));
    }
    parsed
}

fn parse_csv(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    for (index, record) in reader.records().enumerate() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(index + 1, |p| p.line() as usize);
                parsed.rejected.push(Rejected {
                    line,
                    reason: format!("unreadable CSV: {error}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(index + 1, |p| p.line() as usize);
        let field = |i: usize| record.get(i).unwrap_or("");
        if field(0).eq_ignore_ascii_case("url") {
            continue; // the header row
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        let interval = match field(3) {
            "" => None,
            value => match value.parse::<i64>() {
                Ok(seconds) => Some(seconds),
                Err(_) => {
                    parsed.rejected.push(Rejected {
                        line,
                        reason: format!("interval_s {value:?} is not a whole number of seconds"),
                    });
                    continue;
                }
            },
        };
        let name = Some(field(1)).filter(|n| !n.is_empty());
        push(&mut parsed, line, site(field(0), name, field(2), interval));
    }
    parsed
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlWatchlist {
    #[serde(default)]
    site: Vec<toml::Spanned<TomlSite>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlSite {
    url: String,
    name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    interval_s: Option<i64>,
}

fn parse_toml(text: &str) -> Result<Parsed, WatchlistError> {
    let list: TomlWatchlist =
        toml::from_str(text).map_err(|e| WatchlistError::Toml(one_line(&e.to_string())))?;
    let mut parsed = Parsed::default();
    for entry in list.site {
        let line = line_of(text, entry.span().start);
        let entry = entry.into_inner();
        let tags = entry.tags.join(",");
        push(
            &mut parsed,
            line,
            site(&entry.url, entry.name.as_deref(), &tags, entry.interval_s),
        );
    }
    Ok(parsed)
}

fn push(parsed: &mut Parsed, line: usize, result: Result<NewSite, String>) {
    match result {
        Ok(site) => parsed.sites.push(site),
        Err(reason) => parsed.rejected.push(Rejected { line, reason }),
    }
}

fn drop_duplicates(parsed: &mut Parsed) {
    let mut seen = HashSet::new();
    parsed.sites.retain(|site| seen.insert(site.url.clone()));
}

/// The watchlist rules as the admin pages apply them: the same validation
/// as `faultline sites import`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules;

impl app::admin::WatchlistRules for Rules {
    fn site(
        &self,
        target: &str,
        name: Option<&str>,
        tags: &str,
        interval_s: Option<i64>,
    ) -> Result<NewSite, String> {
        site(target, name, tags, interval_s)
    }

    fn parse(
        &self,
        text: &str,
        format: app::admin::ImportFormat,
    ) -> Result<app::admin::ParsedWatchlist, String> {
        let format = match format {
            app::admin::ImportFormat::Plain => Format::Plain,
            app::admin::ImportFormat::Csv => Format::Csv,
            app::admin::ImportFormat::Toml => Format::Toml,
        };
        let parsed = parse(text, format).map_err(|error| error.to_string())?;
        Ok(app::admin::ParsedWatchlist {
            sites: parsed.sites,
            rejected: parsed.rejected.iter().map(ToString::to_string).collect(),
        })
    }
}

/// Validates one entry. `target` is a bare domain (https is assumed) or an
/// http(s) URL; host names are stored lowercase, in punycode.
pub fn site(
    target: &str,
    name: Option<&str>,
    tags: &str,
    interval_s: Option<i64>,
) -> Result<NewSite, String> {
    let url = normalize_url(target)?;
    let host = url.host_str().ok_or("the URL has no host")?.to_owned();
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            // One "www." off, and only when a name is left.
            host.strip_prefix("www.")
                .filter(|rest| rest.trim_end_matches('.').contains('.'))
                .unwrap_or(&host)
        })
        .to_owned();
    if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(format!(
            "the name must be at most {MAX_NAME_LEN} printable characters"
        ));
    }
    let tags = parse_tags(tags)?;
    let interval_s = interval_s.unwrap_or(DEFAULT_INTERVAL_S);
    if !(MIN_INTERVAL_S..=MAX_INTERVAL_S).contains(&interval_s) {
        return Err(format!(
            "interval_s {interval_s} is outside {MIN_INTERVAL_S}..={MAX_INTERVAL_S} seconds"
        ));
    }
    Ok(NewSite {
        url: url.to_string(),
        host,
        name,
        tags,
        interval_s,
    })
}

/// Parses a target as a probe URL: http or https only, a domain name or IP,
/// no credentials, no fragment.
pub fn normalize_url(target: &str) -> Result<url::Url, String> {
    let target = target.trim();
    if target.is_empty() {
        return Err("empty URL".to_owned());
    }
    if target.len() > MAX_URL_LEN {
        return Err(format!("the URL is longer than {MAX_URL_LEN} characters"));
    }
    let with_scheme = if target.contains("://") {
        target.to_owned()
    } else {
        format!("https://{target}")
    };
    let mut url =
        url::Url::parse(&with_scheme).map_err(|e| format!("{target:?} is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme {:?} is not probed; use http or https",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs with credentials are not accepted".to_owned());
    }
    match url.host() {
        Some(url::Host::Domain(domain)) if !is_domain_name(domain) => {
            return Err(format!("{domain:?} is not a fully qualified domain name"));
        }
        Some(_) => {}
        None => return Err("the URL has no host".to_owned()),
    }
    url.set_fragment(None);
    // Percent-encoding lengthens a URL: the stored one must fit as well,
    // or the site could be added but never edited.
    if url.as_str().len() > MAX_URL_LEN {
        return Err(format!(
            "the URL is longer than {MAX_URL_LEN} characters once encoded"
        ));
    }
    Ok(url)
}

/// At least two labels, none empty or longer than DNS allows.
fn is_domain_name(domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn parse_tags(tags: &str) -> Result<Vec<String>, String> {
    let tags: Vec<String> = tags
        .split([',', ';', ' '])
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if tags.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags per site"));
    }
    if let Some(bad) = tags.iter().find(|t| {
        t.len() > MAX_TAG_LEN
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return Err(format!(
            "tag {bad:?} must be at most {MAX_TAG_LEN} letters, digits, '-' or '_'"
        ));
    }
    Ok(tags)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(parsed: &Parsed) -> Vec<&str> {
        parsed.sites.iter().map(|s| s.url.as_str()).collect()
    }

    #[test]
    fn plain_lists_take_domains_and_urls_and_report_bad_lines() {
        let text = "# comment\nexample.com\nhttp://Shop.Example.org/status Shop status\n\nftp://x.test/\nlocalhost\nhttps://user:pw@a.test/\n";
        let parsed = parse(text, Format::Plain).unwrap();
        assert_eq!(
            urls(&parsed),
            ["https://example.com/", "http://shop.example.org/status"]
        );
        assert_eq!(parsed.sites[1].name, "Shop status");
        assert_eq!(parsed.sites[0].name, "example.com");
        let lines: Vec<usize> = parsed.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [5, 6, 7], "{:?}", parsed.rejected);
    }

    #[test]
    fn csv_with_header_tags_and_intervals() {
        let text = "url,name,tags,interval_s\nexample.com,Example,news;eu,30\nbad..host,,,\nb.test,,,5\nc.test,,\"Bad Tag!\",\n";
        let parsed = parse(text, Format::Csv).unwrap();
        assert_eq!(urls(&parsed), ["https://example.com/"]);
        assert_eq!(parsed.sites[0].tags, ["news", "eu"]);
        assert_eq!(parsed.sites[0].interval_s, 30);
        let lines: Vec<usize> = parsed.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 5], "{:?}", parsed.rejected);
    }

    #[test]
    fn toml_entries_are_checked_one_by_one_with_their_line() {
        let text = "[[site]]\nurl = \"https://a.test/\"\ntags = [\"x\"]\n\n[[site]]\nurl = \"gopher://b.test/\"\n";
        let parsed = parse(text, Format::Toml).unwrap();
        assert_eq!(urls(&parsed), ["https://a.test/"]);
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.rejected[0].line, 5);
        assert!(matches!(
            parse("[[site]\n", Format::Toml),
            Err(WatchlistError::Toml(_))
        ));
        assert!(matches!(
            parse("[[site]]\nurll = \"a.test\"\n", Format::Toml),
            Err(WatchlistError::Toml(_))
        ));
    }

    #[test]
    fn unicode_hosts_become_punycode_and_duplicates_collapse() {
        let parsed = parse("bücher.example\nxn--bcher-kva.example\n", Format::Plain).unwrap();
        assert_eq!(urls(&parsed), ["https://xn--bcher-kva.example/"]);
    }

    #[test]
    fn a_site_is_named_after_its_host_without_one_www() {
        let name = |target: &str| site(target, None, "", None).unwrap().name;
        assert_eq!(name("www.example.com"), "example.com");
        assert_eq!(name("www.www.example.com"), "www.example.com");
        // "www." off would leave no name, or no domain.
        assert_eq!(name("www.www."), "www.www.");
        assert_eq!(name("www.com"), "www.com");
    }

    #[test]
    fn a_url_that_encoding_lengthens_past_the_limit_is_refused() {
        // 700 spaces fit as typed; encoded (%20 each), they do not.
        let typed = format!("https://example.com/{}", " x".repeat(700));
        assert!(typed.len() <= MAX_URL_LEN);
        let error = site(&typed, None, "", None).unwrap_err();
        assert!(error.contains("once encoded"), "{error}");
        let fits = format!("https://example.com/{}", " x".repeat(100));
        let stored = site(&fits, None, "", None).unwrap();
        // What is stored can be read back as is: an edit keeps it.
        assert_eq!(site(&stored.url, None, "", None).unwrap().url, stored.url);
    }

    #[test]
    fn oversized_lists_are_refused_whole() {
        let text = "a.test\n".repeat(MAX_WATCHLIST_BYTES / 7 + 1);
        assert!(matches!(
            parse(&text, Format::Plain),
            Err(WatchlistError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_default_watchlist_is_valid_and_names_the_outage_sites() {
        let parsed = parse(DEFAULT_WATCHLIST, Format::Csv).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        assert!(parsed.sites.len() >= 300, "{}", parsed.sites.len());
        for host in [
            "canva.com",
            "zoom.us",
            "chatgpt.com",
            "claude.ai",
            "mta.info",
            "soundcloud.com",
        ] {
            assert!(
                parsed.sites.iter().any(|s| s.host == host),
                "{host} missing"
            );
        }
    }
}
