//! The provider file format, as serde reads it. Spans are kept on every
//! item the validator may complain about, so errors can name the line.

use crate::vocab::{Fault, FaultSide};
use crate::vocab::{Role, StatusFormat};
use serde::Deserialize;
use toml::Spanned;

/// Whether an entry is a provider (it appears in the `provider` field) or
/// origin software such as nginx (it appears as `server_software`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Provider,
    Software,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDef {
    pub id: Spanned<String>,
    #[serde(default)]
    pub kind: Kind,
    pub name: String,
    /// Role of the provider when a signal does not say otherwise.
    pub role: Option<Role>,
    /// Where the signals come from; required so that every fact in the
    /// knowledge base can be traced.
    pub source: String,
    #[serde(default)]
    pub cname_suffixes: Vec<Spanned<String>>,
    #[serde(default)]
    pub ns_suffixes: Vec<Spanned<String>>,
    /// Files under `ipranges/` with one prefix per line.
    #[serde(default)]
    pub ip_range_files: Vec<Spanned<String>>,
    /// Regexes on the `Server` header value, case-insensitive.
    #[serde(default)]
    pub server: Vec<Spanned<String>>,
    #[serde(default)]
    pub header: Vec<Spanned<HeaderDef>>,
    #[serde(default)]
    pub page: Vec<Spanned<PageDef>>,
    #[serde(default)]
    pub status_rule: Vec<Spanned<StatusDef>>,
    /// Where the provider publishes its own account of incidents.
    pub status: Option<Spanned<StatusPageDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPageDef {
    /// The machine-readable document polled (an https URL).
    pub url: String,
    pub format: StatusFormat,
    /// The page people read, linked from ours (an https URL).
    pub page: String,
    /// Where the URL and its format were found.
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderDef {
    pub name: String,
    /// Regex on the value, case-insensitive; absent means "present at all".
    pub value: Option<String>,
    pub role: Option<Role>,
    pub source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageDef {
    /// Literal strings that must all occur in the body (ASCII
    /// case-insensitive).
    #[serde(default)]
    pub body: Vec<String>,
    /// Regex on the raw body bytes.
    pub body_regex: Option<String>,
    /// Regex on the decoded `<title>`, case-insensitive.
    pub title: Option<String>,
    pub element: Option<ElementDef>,
    /// Statuses the marker means; empty means any. An unknown status (a
    /// body captured alone) never rules a marker out.
    #[serde(default)]
    pub status: Vec<u16>,
    pub fault_side: FaultSide,
    pub fault: Fault,
    /// Higher wins when several markers match.
    #[serde(default)]
    pub priority: i32,
    pub confidence: Option<f64>,
    pub source: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Hash, Clone)]
#[serde(deny_unknown_fields)]
pub struct ElementDef {
    pub id: String,
    pub class: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusDef {
    /// Statuses the rule applies to; empty means any error status.
    #[serde(default)]
    pub codes: Vec<u16>,
    pub header: Option<HeaderCondDef>,
    /// `true`: only when the body is empty; `false`: only when it is not.
    pub empty_body: Option<bool>,
    pub fault_side: FaultSide,
    pub fault: Fault,
    pub confidence: Option<f64>,
    pub source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderCondDef {
    pub name: String,
    pub value: Option<String>,
}
