//! The fronts of the synthetic internet: for each provider that serves web
//! traffic (a CDN's edge, a firewall, a platform's router), how it looks
//! from outside and which labelled page it serves for each fault. The table
//! is `fronts.toml`, validated like any data file; its pages are the
//! labelled fixtures, embedded at build time.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use engine::FaultSide;
use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/error_pages.rs"));

const FRONTS: &str = include_str!("fronts.toml");

/// A page a front serves, with the status it is served with.
#[derive(Debug)]
pub struct Page {
    /// The labelled fixture's name.
    pub name: String,
    pub status: StatusCode,
    pub body: &'static [u8],
    /// Who the page itself says failed, when that is not what its fault
    /// implies: a provider whose real page for this fault does not say
    /// (`unknown`). `None`: the page blames the side the fault implies.
    pub reads: Option<FaultSide>,
}

#[derive(Debug)]
pub struct Front {
    pub id: String,
    /// What customers point their names at; `None`: their names resolve
    /// straight to the front's address.
    pub cname_suffix: Option<String>,
    /// The provider's name server, for the zones it hosts.
    pub ns: String,
    /// On every answer through this front.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Its own page when its edge fails; `None` where no page of that
    /// kind is on record (a scenario cannot then give it that fault).
    pub edge_error: Option<Page>,
    /// Its pages when it cannot reach, or waits in vain for, the
    /// customer's origin; `None` when it has no customer origin, or no
    /// such page is on record.
    pub origin_down: Option<Page>,
    pub origin_timeout: Option<Page>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontsFile {
    front: Vec<FrontSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontSpec {
    id: String,
    cname_suffix: Option<String>,
    ns: String,
    headers: BTreeMap<String, String>,
    edge_error: Option<PageSpec>,
    origin_down: Option<PageSpec>,
    origin_timeout: Option<PageSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageSpec {
    page: String,
    status: u16,
    reads: Option<FaultSide>,
}

/// Every front, parsed once. The table is part of the binary, so an error
/// here is a build mistake; it is reported, not panicked on.
pub fn fronts() -> Result<&'static [Front], String> {
    static PARSED: OnceLock<Result<Vec<Front>, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| parse(FRONTS))
        .as_deref()
        .map_err(Clone::clone)
}

/// The front of provider `id`, if the synthetic internet models one.
pub fn front(id: &str) -> Option<&'static Front> {
    fronts().ok()?.iter().find(|front| front.id == id)
}

fn parse(text: &str) -> Result<Vec<Front>, String> {
    let file: FrontsFile =
        toml::from_str(text).map_err(|error| format!("sim/fronts.toml: {error}"))?;
    let mut fronts: Vec<Front> = Vec::new();
    for spec in file.front {
        let id = spec.id;
        let fail = |what: String| format!("sim/fronts.toml: front {id:?}: {what}");
        if fronts.iter().any(|front| front.id == id) {
            return Err(fail("defined twice".to_owned()));
        }
        let headers = spec
            .headers
            .iter()
            .map(|(name, value)| {
                Ok((
                    HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| fail(format!("bad header name {name:?}")))?,
                    HeaderValue::from_str(value)
                        .map_err(|_| fail(format!("bad value of header {name:?}")))?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let page = |spec: PageSpec| -> Result<Page, String> {
            let body = ERROR_PAGES
                .iter()
                .find(|(name, _)| *name == spec.page)
                .map(|(_, body)| *body)
                .ok_or_else(|| fail(format!("no labelled page {:?}", spec.page)))?;
            let status = StatusCode::from_u16(spec.status)
                .ok()
                .filter(|status| status.as_u16() >= 400)
                .ok_or_else(|| fail(format!("status {} is not an error", spec.status)))?;
            Ok(Page {
                name: spec.page,
                status,
                body,
                reads: spec.reads,
            })
        };
        let origin_down = spec.origin_down.map(page).transpose()?;
        let origin_timeout = spec.origin_timeout.map(page).transpose()?;
        let front = Front {
            edge_error: spec.edge_error.map(page).transpose()?,
            origin_down,
            origin_timeout,
            cname_suffix: spec.cname_suffix,
            ns: spec.ns,
            headers,
            id,
        };
        fronts.push(front);
    }
    Ok(fronts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_names_only_labelled_pages() {
        let fronts = fronts().unwrap();
        assert!(fronts.len() >= 5);
        assert!(ERROR_PAGES.len() >= 49);
    }

    #[test]
    fn a_bad_table_is_refused_with_the_front_named() {
        let error = parse(
            "[[front]]\nid = \"x\"\nns = \"ns.x\"\nheaders = {}\n\
             edge_error = { page = \"no-such-page\", status = 500 }\n",
        )
        .unwrap_err();
        assert!(error.contains("front \"x\": no labelled page"), "{error}");
        let error = parse("[[front]]\nid = \"x\"\nnope = 1\n").unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
    }
}
