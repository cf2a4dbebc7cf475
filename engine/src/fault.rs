//! The fault vocabulary shared with the store, the web app and the
//! `classify` command. The strings are part of the product's output, so they
//! are spelled out here once and serialised as-is.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which side of the request path failed or decided.
///
/// `Origin` also covers a provider's own "origin unreachable" pages, code the
/// customer runs on the edge (Workers, Lambda@Edge) and the customer's own
/// configuration (unknown domain, no such app, default pages), because in all
/// of those the provider worked as designed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultSide {
    /// The provider's own infrastructure failed.
    Edge,
    /// The site's own servers, code or configuration.
    Origin,
    /// A deliberate refusal: block, challenge, rate limit.
    Policy,
    /// An error page that does not say who failed.
    Unknown,
}

/// What went wrong, as precisely as the evidence allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    EdgeError,
    OriginUnreachable,
    OriginTimeout,
    OriginTls,
    OriginError,
    DnsError,
    ConfigError,
    Blocked,
    Challenge,
    RateLimited,
    Maintenance,
    NotFound,
    Unknown,
}

impl FaultSide {
    /// The serialised name, for evidence strings and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edge => "edge",
            Self::Origin => "origin",
            Self::Policy => "policy",
            Self::Unknown => "unknown",
        }
    }
}

impl Fault {
    /// The serialised name, for evidence strings and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdgeError => "edge_error",
            Self::OriginUnreachable => "origin_unreachable",
            Self::OriginTimeout => "origin_timeout",
            Self::OriginTls => "origin_tls",
            Self::OriginError => "origin_error",
            Self::DnsError => "dns_error",
            Self::ConfigError => "config_error",
            Self::Blocked => "blocked",
            Self::Challenge => "challenge",
            Self::RateLimited => "rate_limited",
            Self::Maintenance => "maintenance",
            Self::NotFound => "not_found",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for FaultSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
