//! Plain words for what the store records: times, faults, fault sides and
//! probe failures, as the pages, the citation text and the feeds say them.

use chrono::{DateTime, Utc};

use crate::knowledge::provider_name;

/// "11:20 UTC, 18 Nov 2025".
pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%H:%M UTC, %-d %b %Y").to_string()
}

/// "18 Nov 2025 11:20:05" for tables.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y %H:%M:%S").to_string()
}

/// RFC 3339 with seconds, for `datetime` attributes and exports.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// "42 %" from a share between 0 and 1.
pub fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// "2 h 5 min" for a duration in seconds.
pub fn duration(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    match (minutes / 1440, minutes / 60 % 24, minutes % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// The fault label in plain words.
pub fn fault(fault: &str) -> String {
    match fault {
        "edge_error" => "the provider's edge failed to serve the page".to_owned(),
        "origin_unreachable" => "the site's own server could not be reached".to_owned(),
        "origin_timeout" => "the site's own server did not answer in time".to_owned(),
        "origin_tls" => "the site's own server failed the secure connection".to_owned(),
        "origin_error" => "the site's own server returned an error".to_owned(),
        "blocked" => "the request was blocked by a security rule".to_owned(),
        other => other.replace('_', " "),
    }
}

/// Who is at fault, given the side and the provider that made the page.
pub fn side(side: &str, provider: Option<&str>) -> String {
    let by = provider.map(provider_name);
    match (side, by) {
        ("edge", Some(name)) => format!("{name}'s edge, not the site's own servers"),
        ("edge", None) => "a provider's edge, not the site's own servers".to_owned(),
        ("origin", Some(name)) => {
            format!("the site's own servers (the error page was relayed by {name})")
        }
        ("origin", None) => "the site's own servers".to_owned(),
        ("policy", _) => "a deliberate block (a security or access rule), not an outage".to_owned(),
        ("dns", Some(name)) => format!("the DNS served by {name}"),
        (other, Some(name)) => format!("{other} ({name})"),
        (other, None) => other.to_owned(),
    }
}

/// The probe's failure class in plain words.
pub fn failure(failure: &str) -> String {
    match failure {
        "http_status" => "an HTTP error status".to_owned(),
        "dns_nxdomain" => "the name does not exist in DNS".to_owned(),
        "dns_servfail" => "DNS failed to answer (SERVFAIL)".to_owned(),
        "dns_timeout" => "DNS did not answer in time".to_owned(),
        "connect_refused" => "the connection was refused".to_owned(),
        "connect_timeout" => "the connection timed out".to_owned(),
        "tls_error" => "the secure connection failed".to_owned(),
        "timeout" => "no answer in time".to_owned(),
        other => other.replace('_', " "),
    }
}

/// Decodes a JSON array of evidence strings; anything else reads as empty.
#[cfg(feature = "ssr")]
pub fn evidence(json: Option<&str>) -> Vec<String> {
    json.and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn evidence_reads_what_serde_json_writes() {
        assert_eq!(
            evidence(Some(r#"["server: cloudflare", "caf\u00e9"]"#)),
            ["server: cloudflare", "café"]
        );
        assert_eq!(evidence(Some("[]")), Vec::<String>::new());
        assert_eq!(evidence(Some("not json")), Vec::<String>::new());
        assert_eq!(evidence(None), Vec::<String>::new());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(59), "0 min");
        assert_eq!(duration(25 * 60), "25 min");
        assert_eq!(duration(3 * 3600), "3 h");
        assert_eq!(duration(3 * 3600 + 10 * 60), "3 h 10 min");
        assert_eq!(duration(2 * 86_400 + 3600), "2 d 1 h");
    }

    // Provider names come from the knowledge base, on the server.
    #[cfg(feature = "ssr")]
    #[test]
    fn fault_sides_name_who_is_at_fault() {
        assert_eq!(
            side("edge", Some("cloudflare")),
            "Cloudflare's edge, not the site's own servers"
        );
        assert!(side("origin", Some("fastly")).starts_with("the site's own servers"));
    }
}
