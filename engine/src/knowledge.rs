//! The provider knowledge base: one TOML file per provider or origin
//! software in `engine/providers/`, compiled in, optionally overlaid at run
//! time by an operator's files (read from disk by the server).
//!
//! Every file is treated as untrusted input: sizes and counts are capped,
//! every regex is compiled with size limits (the `regex` crate matches in
//! linear time, so a pattern cannot blow up on a hostile page), and
//! duplicates or conflicts are refused with the file and line named.
//! Loading never panics.
//!
//! Keeping the last good set: loading returns a fresh [`KnowledgeBase`] or a
//! [`LoadError`] and never touches the one in use. A caller that reloads
//! holds its current base in an `Arc` and swaps it only on `Ok`:
//!
//! ```
//! use std::sync::Arc;
//! use engine::{KnowledgeBase, Limits, SourceFile};
//! let mut current = KnowledgeBase::shared();
//! let broken = SourceFile { name: "mine.toml".into(), text: "id = ".into() };
//! match KnowledgeBase::overlay(&[broken], &[], &Limits::default()) {
//!     Ok(kb) => current = Arc::new(kb),
//!     Err(e) => eprintln!("provider files refused, keeping the previous set: {e}"),
//! }
//! # let _ = current;
//! ```

mod builtin;
mod compile;
mod schema;

use crate::iprange::IpRangeSet;
use crate::provider::ProviderId;
use crate::vocab::StatusFormat;
use aho_corasick::AhoCorasick;
use std::fmt;
use std::sync::{Arc, LazyLock};

pub(crate) use compile::{Entry, PageMarker, StatusRule};
pub use schema::Kind;

/// Caps applied while loading. The defaults fit the shipped files with a
/// wide margin; raise them only for a deliberately larger override set.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Bytes per provider file.
    pub max_file_bytes: usize,
    /// Provider files in total (builtin plus override).
    pub max_files: usize,
    /// Signals and markers per provider: header and server patterns, CNAME
    /// and NS suffixes, page markers and status rules added up.
    pub max_patterns_per_provider: usize,
    /// Bytes per IP range file.
    pub max_ip_file_bytes: usize,
    /// Prefixes per IP range file.
    pub max_ip_ranges_per_file: usize,
    /// Characters per pattern or literal.
    pub max_pattern_len: usize,
    /// Compiled size per regex, in bytes (`RegexBuilder::size_limit`).
    pub regex_size_limit: usize,
    /// Lazy DFA cache per regex, in bytes (`RegexBuilder::dfa_size_limit`).
    pub regex_dfa_size_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 64 * 1024,
            max_files: 128,
            max_patterns_per_provider: 256,
            max_ip_file_bytes: 512 * 1024,
            max_ip_ranges_per_file: 16 * 1024,
            max_pattern_len: 1024,
            regex_size_limit: 256 * 1024,
            regex_dfa_size_limit: 256 * 1024,
        }
    }
}

/// A provider file refused, with where and why. `Display` gives
/// `file:line: message` (just `file: message` when no line applies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.location_and_message())]
pub struct LoadError {
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a line.
    pub line: usize,
    pub kind: LoadErrorKind,
}

impl LoadError {
    fn location_and_message(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.kind)
        } else {
            format!("{}:{}: {}", self.file, self.line, self.kind)
        }
    }
}

/// Why a provider file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadErrorKind {
    #[error("cannot read: {0}")]
    Io(String),
    #[error("file is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("more than {limit} provider files")]
    TooManyFiles { limit: usize },
    #[error("more than {limit} patterns for provider {id}")]
    TooManyPatterns { id: String, limit: usize },
    #[error("{0}")]
    Syntax(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("bad regex {pattern:?}: {message}")]
    BadRegex { pattern: String, message: String },
    #[error("bad IP range {text:?}: {message}")]
    BadIpRange { text: String, message: String },
    #[error("provider id {id:?} already defined at {first}")]
    DuplicateProvider { id: String, first: String },
    #[error("duplicate {what} {value:?}, already at {first}")]
    Duplicate {
        what: &'static str,
        value: String,
        first: String,
    },
    #[error("{what} {value:?} conflicts with {first}")]
    Conflict {
        what: &'static str,
        value: String,
        first: String,
    },
}

/// The compiled knowledge base. Cheap to share behind an `Arc`; immutable.
pub struct KnowledgeBase {
    pub(crate) entries: Vec<Entry>,
    pub(crate) ip: IpRangeSet,
    /// Every page-marker literal, matched in one pass over the body.
    pub(crate) literals: Option<AhoCorasick>,
    pub(crate) literal_count: usize,
    /// Ids that element markers look for, so parsing can stop once seen.
    pub(crate) element_ids: Vec<String>,
}

impl fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("entries", &self.entries.len())
            .field("ip_ranges", &self.ip.len())
            .field("literals", &self.literal_count)
            .finish()
    }
}

/// Where a provider publishes its own account of incidents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusPage {
    /// The document polled.
    pub url: String,
    pub format: StatusFormat,
    /// The page people read.
    pub page: String,
}

/// One provider file given as text, for [`KnowledgeBase::from_sources`].
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Shown in errors; for IP range files, the name provider files refer to.
    pub name: String,
    pub text: String,
}

static SHARED: LazyLock<Arc<KnowledgeBase>> = LazyLock::new(|| {
    // The builtin set is checked by the test suite; should it ever fail,
    // an empty base classifies nothing rather than taking the process down.
    Arc::new(KnowledgeBase::builtin().unwrap_or_else(|_| KnowledgeBase::empty()))
});

impl KnowledgeBase {
    /// The provider files compiled into the binary.
    pub fn builtin() -> Result<Self, LoadError> {
        Self::from_sources(
            &builtin::provider_files(),
            &builtin::ip_range_files(),
            &Limits::default(),
        )
    }

    /// The builtin set, compiled once per process and shared.
    pub fn shared() -> Arc<Self> {
        Arc::clone(&SHARED)
    }

    /// A base with no providers; classifies every page as unattributed.
    pub fn empty() -> Self {
        Self {
            entries: Vec::new(),
            ip: IpRangeSet::default(),
            literals: None,
            literal_count: 0,
            element_ids: Vec::new(),
        }
    }

    /// The builtin set overlaid by an operator's provider files, given as
    /// text (the server reads them from its override directory): a file
    /// whose `id` matches a builtin provider replaces that provider as a
    /// whole (signals, markers and rules), and a file with a new id adds a
    /// provider. To drop a builtin provider, override it with a file that
    /// has no signals. IP range files named by provider files are looked up
    /// in `ip_files` first, then among the builtin ones.
    ///
    /// Nothing is returned unless everything validates, so on `Err` the
    /// caller keeps the base it already has.
    pub fn overlay(
        overrides: &[SourceFile],
        ip_files: &[SourceFile],
        limits: &Limits,
    ) -> Result<Self, LoadError> {
        let mut ip_files = ip_files.to_vec();
        for builtin in builtin::ip_range_files() {
            if !ip_files.iter().any(|f| f.name == builtin.name) {
                ip_files.push(builtin);
            }
        }
        compile::compile(&builtin::provider_files(), overrides, &ip_files, limits)
    }

    /// Compiles provider files given as text (no override semantics: every
    /// file counts, and a repeated id is an error).
    pub fn from_sources(
        files: &[SourceFile],
        ip_files: &[SourceFile],
        limits: &Limits,
    ) -> Result<Self, LoadError> {
        compile::compile(files, &[], ip_files, limits)
    }

    /// Ids of the providers and origin software known, in load order.
    pub fn ids(&self) -> impl Iterator<Item = (&ProviderId, Kind)> {
        self.entries.iter().map(|e| (&e.id, e.kind))
    }

    /// Display name of a provider or software, e.g. "Amazon CloudFront".
    pub fn name_of(&self, id: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.id.as_str() == id)
            .map(|e| e.name.as_str())
    }

    /// The status page of every provider that publishes one, in load order.
    pub fn status_pages(&self) -> impl Iterator<Item = (&ProviderId, &StatusPage)> {
        self.entries
            .iter()
            .filter_map(|e| e.status_page.as_ref().map(|page| (&e.id, page)))
    }

    /// How many published IP prefixes are loaded.
    pub fn ip_range_count(&self) -> usize {
        self.ip.len()
    }
}
