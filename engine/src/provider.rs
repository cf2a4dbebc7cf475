//! Provider identity.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A knowledge-base id such as `cloudflare` or `github-pages`.
///
/// A string rather than an enum because the knowledge base is data: an
/// operator's override directory may add providers without a new build.
/// Ids are validated on load (lowercase ASCII letters, digits and `-`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderId(String);

impl ProviderId {
    /// Accepts only the id alphabet, so ids can go into evidence strings,
    /// URLs and SQL parameters without escaping.
    pub fn parse(id: &str) -> Option<Self> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.starts_with('-')
            && !id.ends_with('-');
        ok.then(|| Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for ProviderId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}
