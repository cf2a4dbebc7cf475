//! What providers say about their own incidents.
//!
//! A provider's status page publishes its incidents in one of three formats
//! (`engine::vocab::StatusFormat`): Atlassian Statuspage's JSON API, an
//! Atom or RSS feed, or Google Cloud's `incidents.json`. [`parse`] reads
//! any of them into the same [`Document`], treating the bytes as untrusted
//! input: the size is bounded, every string is cleaned and capped, links
//! must be http(s), times must be real, and a document that breaks a rule
//! is refused whole with a [`StatementError`] that says why, so the caller
//! keeps the last good one. [`matching`] links an official incident to the
//! incident Faultline measured and says the lead time.
//!
//! Like `engine`, this crate does no I/O and reads no clock.

mod feed;
mod google;
pub mod matching;
mod statuspage;
mod text;

use chrono::{DateTime, Utc};
use engine::vocab::{OfficialImpact, OfficialStatus, StatusFormat};
use serde::{Deserialize, Serialize};

/// One provider's incidents as its status page publishes them, newest
/// first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub incidents: Vec<OfficialIncident>,
}

/// One incident on a provider's status page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfficialIncident {
    /// The provider's own id for it.
    pub reference: String,
    pub title: String,
    pub impact: OfficialImpact,
    /// Components or products it names, as the provider spells them.
    pub components: Vec<String>,
    /// When the provider says it began, if it says.
    pub started_at: Option<DateTime<Utc>>,
    /// When the provider said it was over.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The incident's page on the provider's site.
    pub url: Option<String>,
    /// Oldest first.
    pub updates: Vec<OfficialUpdate>,
}

/// One update the provider published about an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfficialUpdate {
    /// The provider's id for the update (or one derived from its time).
    pub reference: String,
    pub status: OfficialStatus,
    /// Plain text, HTML removed.
    pub text: String,
    /// When the provider published it, as it says.
    pub published_at: DateTime<Utc>,
}

impl OfficialIncident {
    /// The first update: when the provider first said anything.
    pub fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.updates.first().map(|update| update.published_at)
    }

    /// The stage of its latest update.
    pub fn status(&self) -> OfficialStatus {
        self.updates
            .last()
            .map_or(OfficialStatus::Unknown, |update| update.status)
    }

    /// Whether the provider still calls it open.
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none() && !self.status().is_resolution()
    }
}

/// How much of a document is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the whole document. Google Cloud's `incidents.json` holds
    /// its whole history (a few MiB); Statuspage's last 50 incidents take
    /// a few hundred KiB.
    pub max_bytes: usize,
    /// Incidents kept: the most recently updated.
    pub max_incidents: usize,
    /// Updates kept per incident: the first and the last halves.
    pub max_updates: usize,
    /// Characters of an update's text.
    pub max_text: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 8 * 1024 * 1024,
            max_incidents: 200,
            max_updates: 100,
            max_text: 4_000,
        }
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("the document is {size} bytes, more than the {limit} accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("not {format}: {message}")]
    Malformed {
        format: &'static str,
        message: String,
    },
    #[error("incident {incident:?}: {message}")]
    Invalid { incident: String, message: String },
    #[error("the status format is unknown")]
    UnknownFormat,
}

/// Reads a status document of `format` fetched from `base` (relative links
/// resolve against it).
pub fn parse(
    format: StatusFormat,
    bytes: &[u8],
    base: &str,
    limits: &Limits,
) -> Result<Document, StatementError> {
    if bytes.len() > limits.max_bytes {
        return Err(StatementError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let incidents = match format {
        StatusFormat::Statuspage => statuspage::parse(bytes, limits)?,
        StatusFormat::Feed => feed::parse(bytes, base, limits)?,
        StatusFormat::GoogleCloud => google::parse(bytes, base, limits)?,
        StatusFormat::Unknown => return Err(StatementError::UnknownFormat),
    };
    Ok(Document {
        incidents: finish(incidents, limits),
    })
}

/// Orders updates oldest first, keeps the first and last halves of long
/// lists, then keeps the most recently updated incidents, newest first.
fn finish(mut incidents: Vec<OfficialIncident>, limits: &Limits) -> Vec<OfficialIncident> {
    for incident in &mut incidents {
        incident.updates.sort_by_key(|update| update.published_at);
        let count = incident.updates.len();
        if count > limits.max_updates {
            let head = limits.max_updates / 2;
            let tail = limits.max_updates - head;
            incident.updates.drain(head..count - tail);
        }
    }
    let latest = |incident: &OfficialIncident| {
        incident
            .updates
            .last()
            .map(|update| update.published_at)
            .or(incident.resolved_at)
            .or(incident.started_at)
    };
    incidents.sort_by_key(|incident| std::cmp::Reverse(latest(incident)));
    incidents.truncate(limits.max_incidents);
    incidents
}

/// Times before this are not status posts.
const EARLIEST_YEAR: i32 = 2000;
/// Times after this are not either.
const LATEST_YEAR: i32 = 2100;

/// An RFC 3339 time within the years status pages can mean.
fn time(text: &str, incident: &str, what: &str) -> Result<DateTime<Utc>, StatementError> {
    let at = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|error| StatementError::Invalid {
            incident: text::bounded(incident, text::MAX_REFERENCE),
            message: format!("{what} {text:?} is not a time: {error}"),
        })?
        .with_timezone(&Utc);
    plausible(at, incident, what)
}

fn plausible(
    at: DateTime<Utc>,
    incident: &str,
    what: &str,
) -> Result<DateTime<Utc>, StatementError> {
    use chrono::Datelike;
    if (EARLIEST_YEAR..=LATEST_YEAR).contains(&at.year()) {
        Ok(at)
    } else {
        Err(StatementError::Invalid {
            incident: text::bounded(incident, text::MAX_REFERENCE),
            message: format!("{what} {at} is outside {EARLIEST_YEAR}–{LATEST_YEAR}"),
        })
    }
}

/// An http(s) link, resolved against `base`; anything else is dropped.
fn link(href: &str, base: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.len() > text::MAX_URL {
        return None;
    }
    let resolved = match url::Url::parse(href) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            url::Url::parse(base).ok()?.join(href).ok()?
        }
        Err(_) => return None,
    };
    let safe = matches!(resolved.scheme(), "http" | "https")
        && resolved.host().is_some()
        && resolved.username().is_empty()
        && resolved.password().is_none();
    safe.then(|| resolved.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_survive() {
        let base = "https://status.example.com/api/v2/incidents.json";
        assert_eq!(
            link("incidents/abc", base).as_deref(),
            Some("https://status.example.com/api/v2/incidents/abc")
        );
        assert_eq!(
            link("https://stspg.io/x", base).as_deref(),
            Some("https://stspg.io/x")
        );
        for hostile in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https://user:pw@evil.example/",
            "file:///etc/passwd",
        ] {
            assert_eq!(link(hostile, base), None, "{hostile}");
        }
    }

    #[test]
    fn times_must_be_real_and_plausible() {
        assert!(time("2025-11-18T11:48:00Z", "i", "created_at").is_ok());
        assert!(time("2025-11-18T11:48:00.123+00:00", "i", "created_at").is_ok());
        assert!(time("yesterday", "i", "created_at").is_err());
        assert!(time("1970-01-01T00:00:00Z", "i", "created_at").is_err());
        assert!(time("9999-01-01T00:00:00Z", "i", "created_at").is_err());
    }

    #[test]
    fn a_document_over_the_limit_is_refused_before_it_is_read() {
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        let error = parse(StatusFormat::Statuspage, &[b' '; 11], "", &limits).unwrap_err();
        assert_eq!(
            error,
            StatementError::TooLarge {
                size: 11,
                limit: 10
            }
        );
        assert_eq!(
            error.to_string(),
            "the document is 11 bytes, more than the 10 accepted"
        );
    }
}
