//! Plain words for times, shares and who is at fault, as the pages, the
//! citation text and the feeds say them. The words of the domain (faults,
//! failure classes, phases, ...) say themselves: `engine::vocab`'s `plain()`.

use chrono::{DateTime, Utc};
use engine::FaultSide;

use crate::knowledge::provider_name;

/// "11:20 UTC, 18 Nov 2025".
pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%H:%M UTC, %-d %b %Y").to_string()
}

/// "13:42:10 UTC" on `today`, "13:42:10 UTC, 18 Nov 2025" on any other
/// day (or when today is not known).
pub fn moment(at: DateTime<Utc>, today: Option<chrono::NaiveDate>) -> String {
    if today == Some(at.date_naive()) {
        at.format("%H:%M:%S UTC").to_string()
    } else {
        at.format("%H:%M:%S UTC, %-d %b %Y").to_string()
    }
}

/// "11:20 UTC" on `today`, "11:20 UTC, 18 Nov 2025" on any other day:
/// the one way pages give a time in running text.
pub fn when(at: DateTime<Utc>, today: Option<chrono::NaiveDate>) -> String {
    if today == Some(at.date_naive()) {
        at.format("%H:%M UTC").to_string()
    } else {
        utc(at)
    }
}

/// "11:20 to 14:31 UTC, 18 Nov 2025", or with both dates when the span
/// crosses midnight.
pub fn span(from: DateTime<Utc>, until: DateTime<Utc>) -> String {
    if from.date_naive() == until.date_naive() {
        format!("{} to {}", from.format("%H:%M"), utc(until))
    } else {
        format!("{} to {}", utc(from), utc(until))
    }
}

/// "eu-west", "eu-west and us-east", "ap-east, eu-west and us-east".
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The regions a regional incident is seen from, as a title names them
/// ("eu-west and us-east"); none for a global one, or when one region
/// probes.
pub fn regional(scope: Option<engine::Scope>, regions: &[String]) -> Option<String> {
    (scope == Some(engine::Scope::Regional) && !regions.is_empty()).then(|| and_list(regions))
}

/// Where a provider incident was seen, when vantages probe from several
/// regions: "Seen only from eu-west." or "Seen from every region:
/// central, eu-west and us-east."; nothing when one region probes.
pub fn reach(scope: Option<engine::Scope>, regions: &[String]) -> Option<String> {
    match scope {
        _ if regions.is_empty() => None,
        Some(engine::Scope::Regional) => Some(format!("Seen only from {}.", and_list(regions))),
        Some(engine::Scope::Global) => {
            Some(format!("Seen from every region: {}.", and_list(regions)))
        }
        _ => None,
    }
}

/// "1 site", "3 sites".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "8 s", "3 min", "2 h 5 min": how long ago, for freshness.
pub fn age(seconds: i64) -> String {
    if seconds < 60 {
        format!("{} s", seconds.max(0))
    } else {
        duration(seconds)
    }
}

/// "11:20:05 UTC, 18 Nov 2025" for tables: the same shape as running text.
pub fn stamp(at: DateTime<Utc>) -> String {
    moment(at, None)
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

/// Who is at fault, given the side and the provider that made the page.
/// (Faults, failure classes and the other words of the domain are said by
/// their own `plain()`.)
pub fn side(side: FaultSide, provider: Option<&str>) -> String {
    let by = provider.map(provider_name);
    match (side, by) {
        (FaultSide::Edge, Some(name)) => format!("{name}'s edge, not the site's own servers"),
        (FaultSide::Edge, None) => "a provider's edge, not the site's own servers".to_owned(),
        (FaultSide::Origin, Some(name)) => {
            format!("the site's own servers (the error page was relayed by {name})")
        }
        (FaultSide::Policy | FaultSide::Origin | FaultSide::Unknown, _) => side.plain().to_owned(),
    }
}

/// Decodes a JSON array of evidence strings; anything else reads as empty.
#[cfg(feature = "ssr")]
pub fn evidence(json: Option<&str>) -> Vec<String> {
    json.and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// A correlator's evidence line, "site 12: edge_error (page by
/// cloudflare)", as people read it: "shop.example: the provider's edge
/// failed (error page by Cloudflare)". `host_of` names a site by its id;
/// lines of any other shape are kept as they are.
#[cfg(feature = "ssr")]
pub fn evidence_line(line: &str, host_of: impl Fn(i64) -> Option<String>) -> String {
    let parsed = line.strip_prefix("site ").and_then(|rest| {
        let (id, rest) = rest.split_once(": ")?;
        let (what, by) = rest.split_once(" (page by ")?;
        Some((id.parse::<i64>().ok()?, what, by.strip_suffix(')')?))
    });
    let Some((id, what, by)) = parsed else {
        return line.to_owned();
    };
    let site = host_of(id).unwrap_or_else(|| format!("a site no longer watched (#{id})"));
    let by = match by {
        "unknown" | "" => "a server Faultline does not recognise".to_owned(),
        provider => provider_name(provider),
    };
    format!(
        "{site}: {} (error page by {by})",
        engine::Cause::from(what).plain()
    )
}

/// Titles joined as a list: "“a”, “b”"; a dash for none.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "–".to_owned();
    }
    items
        .iter()
        .map(|item| format!("“{item}”"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_read_as_a_list_and_say_where_an_incident_was_seen() {
        let regions = |names: &[&str]| -> Vec<String> {
            names.iter().map(|name| (*name).to_owned()).collect()
        };
        assert_eq!(and_list(&regions(&["eu-west"])), "eu-west");
        assert_eq!(
            and_list(&regions(&["ap-east", "eu-west", "us-east"])),
            "ap-east, eu-west and us-east"
        );
        assert_eq!(
            reach(Some(engine::Scope::Regional), &regions(&["eu-west"])).as_deref(),
            Some("Seen only from eu-west.")
        );
        assert_eq!(
            reach(
                Some(engine::Scope::Global),
                &regions(&["central", "eu-west"])
            )
            .as_deref(),
            Some("Seen from every region: central and eu-west.")
        );
        assert_eq!(reach(Some(engine::Scope::Regional), &[]), None);
        assert_eq!(reach(None, &regions(&["eu-west"])), None);
        let both = regions(&["eu-west", "us-east"]);
        assert_eq!(
            regional(Some(engine::Scope::Regional), &both).as_deref(),
            Some("eu-west and us-east")
        );
        assert_eq!(regional(Some(engine::Scope::Global), &both), None);
        assert_eq!(regional(Some(engine::Scope::Regional), &[]), None);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn evidence_names_sites_and_says_what_failed() {
        let host_of = |id| (id == 12).then(|| "shop.example".to_owned());
        let line = evidence_line("site 12: edge_error (page by cloudflare)", host_of);
        assert!(line.starts_with("shop.example: "), "{line}");
        assert!(line.ends_with("(error page by Cloudflare)"), "{line}");
        assert!(!line.contains("edge_error"), "{line}");
        let gone = evidence_line("site 7: timeout (page by unknown)", host_of);
        assert!(
            gone.starts_with("a site no longer watched (#7): "),
            "{gone}"
        );
        assert_eq!(
            evidence_line("server: cloudflare", host_of),
            "server: cloudflare"
        );
    }

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
    fn a_span_names_its_day_once() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.to_utc())
                .unwrap_or_default()
        };
        assert_eq!(
            span(at("2025-11-18T11:20:00Z"), at("2025-11-18T14:31:00Z")),
            "11:20 to 14:31 UTC, 18 Nov 2025"
        );
        assert_eq!(
            span(at("2025-11-18T23:50:00Z"), at("2025-11-19T00:20:00Z")),
            "23:50 UTC, 18 Nov 2025 to 00:20 UTC, 19 Nov 2025"
        );
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
            side(FaultSide::Edge, Some("cloudflare")),
            "Cloudflare's edge, not the site's own servers"
        );
        assert!(side(FaultSide::Origin, Some("fastly")).starts_with("the site's own servers"));
        assert_eq!(
            side(FaultSide::Policy, Some("cloudflare")),
            "a deliberate block (a security or access rule), not an outage"
        );
    }
}
