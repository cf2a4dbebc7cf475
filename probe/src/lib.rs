//! The network probe: one look at one URL, the way a visitor's browser
//! would get there — DNS, TCP connect, TLS, one HTTP/1.1 exchange, redirects
//! — with each phase timed, every failure named in a closed taxonomy
//! ([`engine::FailureClass`]) and the answer classified by the engine.
//!
//! - [`guard`]: the SSRF policy, which addresses may be reached at all.
//! - [`resolver`]: DNS through hickory, returning only guard-checked
//!   addresses, with the zone's name servers cached.
//! - [`fetch`]: one request over a connection opened to a checked address.
//! - [`prober`]: [`LiveProber`], which ties them together and follows
//!   redirects hop by hop.
//!
//! A probe returns an [`Outcome`]; it knows nothing of where outcomes are
//! stored or how they are scheduled.
#![forbid(unsafe_code)]

mod fetch;
pub mod guard;
pub mod prober;
pub mod resolver;

pub use fetch::tls_config;
pub use guard::{GuardPolicy, Refusal};
pub use prober::{LiveProber, ProberConfig, ProberError};
pub use resolver::DnsFacts;

use std::future::Future;
use std::io::Write;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use engine::{FailureClass, Fault, FaultSide, KnowledgeBase, Role};

/// Probes one URL. The live implementation goes over the network; every
/// failure is inside the returned outcome, never an error.
pub trait Probe: Send + Sync + 'static {
    fn probe<'a>(
        &'a self,
        url: &'a str,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;
}

/// Where the prober finds the knowledge base to classify with: read once
/// per probe, so a reloaded set applies from the next probe on.
pub trait KnowledgeSource: Send + Sync {
    fn current(&self) -> Arc<KnowledgeBase>;
}

/// The knowledge base compiled into the binary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Builtin;

impl KnowledgeSource for Builtin {
    fn current(&self) -> Arc<KnowledgeBase> {
        KnowledgeBase::shared()
    }
}

/// What one probe found, classified.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub started_at: DateTime<Utc>,
    /// An answer with a status below 400.
    pub ok: bool,
    pub status: Option<u16>,
    pub failure: Option<FailureClass>,
    /// What exactly failed, bounded; for the record, not for the public.
    pub detail: Option<String>,
    pub dns_ms: Option<i64>,
    pub connect_ms: Option<i64>,
    pub tls_ms: Option<i64>,
    pub ttfb_ms: Option<i64>,
    pub total_ms: Option<i64>,
    pub remote_ip: Option<IpAddr>,
    /// JSON with the DNS, TLS and redirect facts.
    pub facts: Option<String>,
    /// gzip of an error page.
    pub body_gz: Option<Vec<u8>>,
    /// The provider that generated the error page, if known.
    pub provider: Option<String>,
    pub fault_side: Option<FaultSide>,
    pub fault: Option<Fault>,
    pub confidence: Option<f64>,
    /// What the classifier saw, for an error.
    pub evidence: Vec<String>,
    /// Providers this probe showed serving the site.
    pub providers: Vec<Serving>,
    /// After a name lookup: our resolvers set aside for failing while
    /// another answered (`None`: no lookup, as for an address in the URL).
    pub resolvers_failing: Option<Vec<String>>,
}

/// A provider seen serving the site in a role, and why we think so.
#[derive(Clone, Debug, PartialEq)]
pub struct Serving {
    pub provider: String,
    pub role: Role,
    pub evidence: Vec<String>,
}

/// A failed step, in the closed taxonomy.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{class}: {detail}")]
pub(crate) struct StepFailure {
    pub(crate) class: FailureClass,
    pub(crate) detail: String,
}

pub(crate) fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

/// Inflates a stored error page, at most `limit` bytes.
pub fn gunzip(bytes: &[u8], limit: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

pub(crate) fn elapsed_ms(since: Instant) -> i64 {
    ms_between(since, Instant::now())
}

pub(crate) fn ms_between(from: Instant, to: Instant) -> i64 {
    i64::try_from(to.saturating_duration_since(from).as_millis()).unwrap_or(i64::MAX)
}

/// Error details and header values are evidence, not payloads: cap them.
pub(crate) fn bounded(text: &str) -> String {
    const MAX: usize = 1024;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
