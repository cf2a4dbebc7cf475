//! Which measured incident a provider's statement is about, and who spoke
//! first.
//!
//! A statement describes a Faultline provider incident when both name the
//! same provider and their times overlap: the provider's incident runs from
//! when it says it began (or its first update) to its resolution (or
//! open), Faultline's from the onset it measured to its resolution (or
//! open), and either may start up to [`SLACK`] after the other ended
//! (status pages are often late, and sometimes keep an incident open for
//! hours after the traffic recovered). Of several candidates the one whose
//! start is nearest wins. A statement that matches nothing is kept
//! unmatched: "the provider reported an incident Faultline did not see" is
//! news too.

use chrono::{DateTime, TimeDelta, Utc};

/// How far apart two accounts of one incident may be.
pub const SLACK: TimeDelta = TimeDelta::hours(1);

/// A provider incident Faultline measured, as matching needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured<'a> {
    pub id: i64,
    pub provider: &'a str,
    pub onset_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// An official incident, as matching needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stated<'a> {
    pub provider: &'a str,
    pub started_at: Option<DateTime<Utc>>,
    pub acknowledged_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Stated<'_> {
    fn start(&self) -> DateTime<Utc> {
        self.started_at.map_or(self.acknowledged_at, |started| {
            started.min(self.acknowledged_at)
        })
    }
}

/// The id of the measured incident `stated` describes, if any.
pub fn best_match(stated: &Stated<'_>, measured: &[Measured<'_>]) -> Option<i64> {
    let start = stated.start();
    measured
        .iter()
        .filter(|incident| incident.provider == stated.provider)
        .filter(|incident| {
            let before_end = |at: DateTime<Utc>, end: Option<DateTime<Utc>>| {
                end.is_none_or(|end| at <= end + SLACK)
            };
            before_end(start, incident.resolved_at)
                && before_end(incident.onset_at, stated.resolved_at)
        })
        .min_by_key(|incident| ((incident.onset_at - start).abs(), incident.id))
        .map(|incident| incident.id)
}

/// How long before the provider's first statement Faultline detected the
/// incident: positive when Faultline was first.
pub fn lead_time(detected_at: DateTime<Utc>, acknowledged_at: DateTime<Utc>) -> TimeDelta {
    acknowledged_at - detected_at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn measured<'a>(
        id: i64,
        provider: &'a str,
        onset: &str,
        resolved: Option<&str>,
    ) -> Measured<'a> {
        Measured {
            id,
            provider,
            onset_at: at(onset),
            resolved_at: resolved.map(at),
        }
    }

    #[test]
    fn a_late_statement_matches_the_outage_it_describes() {
        let incidents = [
            measured(
                1,
                "cloudflare",
                "2025-11-17T09:00:00Z",
                Some("2025-11-17T09:30:00Z"),
            ),
            measured(
                2,
                "cloudflare",
                "2025-11-18T11:20:00Z",
                Some("2025-11-18T14:40:00Z"),
            ),
            measured(3, "fastly", "2025-11-18T11:21:00Z", None),
        ];
        let stated = Stated {
            provider: "cloudflare",
            started_at: None,
            acknowledged_at: at("2025-11-18T11:48:00Z"),
            resolved_at: Some(at("2025-11-18T17:06:00Z")),
        };
        assert_eq!(best_match(&stated, &incidents), Some(2));
        assert_eq!(
            lead_time(incidents[1].onset_at, stated.acknowledged_at),
            TimeDelta::minutes(28)
        );
    }

    #[test]
    fn statements_far_from_any_outage_stay_unmatched() {
        let incidents = [measured(
            1,
            "cloudflare",
            "2025-11-18T11:20:00Z",
            Some("2025-11-18T12:00:00Z"),
        )];
        let later = Stated {
            provider: "cloudflare",
            started_at: None,
            acknowledged_at: at("2025-11-18T13:30:00Z"),
            resolved_at: None,
        };
        assert_eq!(best_match(&later, &incidents), None);
        let other = Stated {
            provider: "fastly",
            acknowledged_at: at("2025-11-18T11:30:00Z"),
            ..later
        };
        assert_eq!(best_match(&other, &incidents), None);
        // Resolved before our incident began, by more than the slack.
        let earlier = Stated {
            provider: "cloudflare",
            started_at: Some(at("2025-11-18T08:00:00Z")),
            acknowledged_at: at("2025-11-18T08:05:00Z"),
            resolved_at: Some(at("2025-11-18T09:00:00Z")),
        };
        assert_eq!(best_match(&earlier, &incidents), None);
    }

    #[test]
    fn an_open_statement_matches_an_open_incident_that_began_after_it() {
        let incidents = [measured(7, "aws", "2025-10-20T07:30:00Z", None)];
        let stated = Stated {
            provider: "aws",
            started_at: Some(at("2025-10-20T06:48:00Z")),
            acknowledged_at: at("2025-10-20T07:11:00Z"),
            resolved_at: None,
        };
        assert_eq!(best_match(&stated, &incidents), Some(7));
    }
}
