//! What the classifier reads: one HTTP answer and, optionally, what DNS said
//! about the name. Built by the prober from a live response, or parsed from a
//! file by [`Observation::parse`] for the `classify` command and the tests.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Most bytes of a body the classifier keeps; every marker we know sits in
/// the first few KiB, and a cap keeps time and memory bounded for any input.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most header lines kept from a parsed response.
pub const MAX_HEADERS: usize = 256;
/// Longest header name or value kept, in bytes.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// One probe's answer as the classifier sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// HTTP status; `None` when only a body was captured.
    pub status: Option<u16>,
    /// Header names and values in received order; names compare
    /// case-insensitively.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub dns: Option<DnsFacts>,
}

/// What a lookup of the site's name returned. Deserialises from
/// `{"cname": [...], "addresses": [...], "ns": [...]}`, every key optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsFacts {
    /// The CNAME chain, first hop first.
    pub cname: Vec<String>,
    pub addresses: Vec<IpAddr>,
    /// Authoritative name servers of the zone.
    pub ns: Vec<String>,
}

impl Observation {
    /// A body with nothing else known.
    pub fn from_body(body: impl Into<Vec<u8>>) -> Self {
        let mut body = body.into();
        body.truncate(MAX_BODY_BYTES);
        Self {
            body,
            ..Self::default()
        }
    }

    /// Reads either a raw HTTP/1.x response (status line, headers, blank
    /// line, body; CRLF or LF line ends) or a bare body. Never fails: input
    /// that does not start with a valid status line is taken as a body, and
    /// header lines without a colon are skipped, because a saved page is
    /// worth classifying even when its capture is damaged. An interim `1xx`
    /// response in front of the final one is skipped.
    pub fn parse(bytes: &[u8]) -> Self {
        let mut rest = bytes;
        loop {
            match parse_head(rest) {
                Some((status, headers, body)) => {
                    if (100..200).contains(&status) && body.starts_with(b"HTTP/") {
                        rest = body;
                        continue;
                    }
                    let mut body = body.to_vec();
                    body.truncate(MAX_BODY_BYTES);
                    return Self {
                        status: Some(status),
                        headers,
                        body,
                        dns: None,
                    };
                }
                None => return Self::from_body(rest),
            }
        }
    }

    /// Adds DNS facts, for the `--dns FILE` path.
    pub fn with_dns(mut self, dns: DnsFacts) -> Self {
        self.dns = Some(dns);
        self
    }

    /// Values of every header with this name (case-insensitive).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Head<'a> = (u16, Vec<(String, String)>, &'a [u8]);

/// Splits a status line and header block off the front of `bytes`.
fn parse_head(bytes: &[u8]) -> Option<Head<'_>> {
    let (line, mut rest) = split_line(bytes)?;
    let status = parse_status_line(line)?;
    let mut headers = Vec::new();
    loop {
        let Some((line, after)) = split_line(rest) else {
            // Headers ran to the end of input without a blank line.
            if let Some(h) = parse_header(rest) {
                if headers.len() < MAX_HEADERS {
                    headers.push(h);
                }
            }
            return Some((status, headers, &[]));
        };
        rest = after;
        if line.is_empty() {
            return Some((status, headers, rest));
        }
        if let Some(h) = parse_header(line) {
            if headers.len() < MAX_HEADERS {
                headers.push(h);
            }
        }
    }
}

/// One line without its `\n` or `\r\n`, and what follows it.
fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let line = &bytes[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, &bytes[nl + 1..]))
}

/// `HTTP/1.1 522 Origin Connection Time-out`, `HTTP/2 403` and similar.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    (100..=999).contains(&code).then_some(code)
}

fn parse_header(line: &[u8]) -> Option<(String, String)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = String::from_utf8_lossy(&line[..colon]).trim().to_owned();
    if name.is_empty() || name.len() > MAX_HEADER_BYTES || name.contains(char::is_whitespace) {
        return None;
    }
    let mut value = String::from_utf8_lossy(&line[colon + 1..])
        .trim()
        .to_owned();
    if value.len() > MAX_HEADER_BYTES {
        let mut cut = MAX_HEADER_BYTES;
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        value.truncate(cut);
    }
    Some((name.to_ascii_lowercase(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_response_with_crlf() {
        let o = Observation::parse(
            b"HTTP/1.1 522 Origin Connection Time-out\r\nServer: cloudflare\r\nCF-RAY: 1-AMS\r\n\r\n<html>x</html>",
        );
        assert_eq!(o.status, Some(522));
        assert_eq!(o.headers[0], ("server".into(), "cloudflare".into()));
        assert_eq!(o.header_values("cf-ray").next(), Some("1-AMS"));
        assert_eq!(o.body, b"<html>x</html>");
    }

    #[test]
    fn raw_response_with_lf_and_http2() {
        let o = Observation::parse(b"HTTP/2 403\nserver: cloudflare\n\nbody");
        assert_eq!(o.status, Some(403));
        assert_eq!(o.body, b"body");
    }

    #[test]
    fn bare_body_and_damaged_status_line() {
        let o = Observation::parse(b"<html>HTTP/1.1 200</html>");
        assert_eq!(o.status, None);
        assert_eq!(o.body, b"<html>HTTP/1.1 200</html>");
        let o = Observation::parse(b"HTTP/1.1 abc\n\nx");
        assert_eq!(o.status, None);
    }

    #[test]
    fn interim_response_is_skipped() {
        let o =
            Observation::parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 502 Bad Gateway\r\n\r\nx");
        assert_eq!(o.status, Some(502));
        assert_eq!(o.body, b"x");
    }

    #[test]
    fn headers_without_blank_line() {
        let o = Observation::parse(b"HTTP/1.1 520 \r\nserver: cloudflare");
        assert_eq!(o.status, Some(520));
        assert_eq!(o.headers.len(), 1);
        assert!(o.body.is_empty());
    }

    #[test]
    fn dns_facts_from_json() {
        let d: DnsFacts = serde_json::from_str(
            r#"{"cname": ["x.cdn.cloudflare.net"], "addresses": ["104.16.1.1", "2606:4700::1"]}"#,
        )
        .unwrap();
        assert_eq!(d.cname.len(), 1);
        assert_eq!(d.addresses.len(), 2);
        assert!(d.ns.is_empty());
    }
}
