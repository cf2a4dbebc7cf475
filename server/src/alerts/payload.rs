//! An alert as every channel tells it: the Standard Webhooks JSON payload
//! (`{"type", "timestamp", "data"}`), with a headline in plain words.
//!
//! The payload is built from the stored event alone (its figures were kept
//! when it happened), so every retry of a delivery sends the same bytes.
//! Its schema is `docs/alert-payload.schema.json`.

use chrono::{DateTime, Utc};
use engine::{AlertEvent, Role, Tally};
use serde::Serialize;
use store::AlertEventRow;

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// The event, as this subscription hears it (`provider.confirmed`).
    #[serde(rename = "type")]
    pub event: AlertEvent,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    pub data: AlertData,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertData {
    /// The alert in one sentence.
    pub headline: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteRef>,
    pub figures: Figures,
    /// Which sites said what.
    pub evidence: Vec<String>,
    /// Said when the alert was held back (Faultline's own network was down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What the provider's status page said, for `provider.acknowledged`
    /// and `provider.official_resolved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub official: Option<store::OfficialSaid>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentRef {
    pub id: i64,
    /// `provider` or `site`.
    pub kind: &'static str,
    /// The incident's phase when this was sent.
    pub phase: engine::Phase,
    /// This event's number among the incident's events: 1, 2, 3 ...
    pub sequence: i64,
    pub permalink: String,
    /// A provider incident seen by vantages in several regions: global or
    /// regional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<engine::Scope>,
    /// The regions that see it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderRef {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub permalink: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteRef {
    pub host: String,
    pub permalink: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Watched sites behind the provider failing in the way its role
    /// explains, of those with a fresh probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected_sites: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Site events: why the site fails, in one word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// What building a payload needs besides the event.
pub struct Context<'a> {
    /// Where permalinks point: the configured public URL, without a
    /// trailing slash.
    pub base: &'a str,
    /// A provider's display name.
    pub name_of: &'a dyn Fn(&str) -> String,
}

/// The alert a subscription gets for `event`, heard as `sent_as`. `host`
/// is the site concerned, for site events and for a site subscriber
/// warned of its provider.
pub fn build(
    event: &AlertEventRow,
    sent_as: AlertEvent,
    host: Option<&str>,
    context: &Context<'_>,
) -> Alert {
    let detail = &event.detail;
    let provider = detail.provider.as_ref().map(|id| ProviderRef {
        id: id.clone(),
        name: (context.name_of)(id),
        role: detail.role.unwrap_or_default(),
        permalink: format!("{}/provider/{id}", context.base),
    });
    let site = host.map(|host| SiteRef {
        host: host.to_owned(),
        permalink: format!("{}/site/{host}", context.base),
    });
    let incident = event.incident_id.map(|id| IncidentRef {
        id,
        kind: if detail.provider.is_some() {
            "provider"
        } else {
            "site"
        },
        phase: detail.phase.unwrap_or(match event.event {
            AlertEvent::SiteRecovered => engine::Phase::Resolved,
            _ => engine::Phase::Confirmed,
        }),
        sequence: event.seq,
        permalink: format!("{}/incident/{id}", context.base),
        scope: detail.scope,
        regions: detail.regions.clone(),
    });
    let figures = Figures {
        failing: detail.tally.map(|t| t.failing),
        of: detail.tally.map(|t| t.of),
        share: detail.tally.map(Tally::share),
        peak_share: detail.peak_share,
        affected_sites: detail.affected_sites,
        onset_at: detail.onset_at,
        confirmed_at: detail.confirmed_at,
        resolved_at: detail.resolved_at,
        confidence: detail.confidence,
        cause: detail.cause.clone(),
    };
    let headline = headline(sent_as, provider.as_ref(), host, detail, event.at);
    Alert {
        event: sent_as,
        timestamp: event.at,
        data: AlertData {
            headline,
            incident,
            provider,
            site,
            figures,
            evidence: detail.evidence.clone(),
            note: None,
            official: detail.official.clone(),
        },
    }
}

/// The alert in one sentence.
fn headline(
    event: AlertEvent,
    provider: Option<&ProviderRef>,
    host: Option<&str>,
    detail: &store::AlertDetail,
    at: DateTime<Utc>,
) -> String {
    let who = provider
        .map(|p| format!("{} ({})", p.name, p.role.plain()))
        .unwrap_or_else(|| "A provider".to_owned());
    // "Cloudflare (CDN) outage in eu-west" when only some regions see it.
    let outage = match detail.scope {
        Some(engine::Scope::Regional) if !detail.regions.is_empty() => {
            format!("{who} outage in {}", app::words::and_list(&detail.regions))
        }
        _ => format!("{who} outage"),
    };
    let name = provider.map(|p| p.name.as_str()).unwrap_or("its provider");
    let counted = detail
        .tally
        .map(|tally| format!(": {} watched sites behind it are failing", tally.short()))
        .unwrap_or_default();
    let site = host.unwrap_or("A watched site");
    let time = at.format("%H:%M UTC");
    match event {
        AlertEvent::ProviderSuspected => format!("Possible {outage}{counted}"),
        AlertEvent::ProviderConfirmed => format!("{outage} confirmed{counted}"),
        AlertEvent::ProviderRelapsed => format!("{outage} is back{counted}"),
        AlertEvent::ProviderSpread => {
            let regions = app::words::and_list(&detail.regions);
            match detail.scope {
                Some(engine::Scope::Regional) => {
                    format!("{who} outage has spread, now in {regions}{counted}")
                }
                _ if detail.regions.is_empty() => format!("{who} outage is now global{counted}"),
                _ => format!("{who} outage is now global, seen from {regions}{counted}"),
            }
        }
        AlertEvent::ProviderOngoing => match detail.onset_at {
            Some(onset) => format!(
                "{outage} still going since {}{counted}",
                onset.format("%H:%M UTC")
            ),
            None => format!("{outage} still going{counted}"),
        },
        AlertEvent::ProviderRecovering => {
            format!("{outage} recovering: failures have stayed low since {time}")
        }
        AlertEvent::ProviderResolved if detail.confirmed_at.is_none() => {
            format!("The suspected {outage} did not confirm")
        }
        AlertEvent::ProviderResolved => format!("{outage} resolved at {time}"),
        AlertEvent::ProviderAcknowledged => match &detail.official {
            Some(said) => format!(
                "{name}'s status page acknowledged the outage at {}: “{}” ({})",
                said.at.format("%H:%M UTC"),
                said.title,
                said.status.plain()
            ),
            None => format!("{name}'s status page acknowledged the outage at {time}"),
        },
        AlertEvent::ProviderOfficiallyResolved => match &detail.official {
            Some(said) => format!(
                "{name}'s status page declared the outage resolved at {}: “{}”",
                said.at.format("%H:%M UTC"),
                said.title
            ),
            None => format!("{name}'s status page declared the outage resolved at {time}"),
        },
        AlertEvent::SiteDown => match detail.cause.as_deref() {
            Some(cause) => format!("{site} is down: {}", engine::Cause::from(cause).plain()),
            None => format!("{site} is down"),
        },
        AlertEvent::SiteRecovered => format!("{site} is back up at {time}"),
        AlertEvent::SiteExplained => format!("{site} is down in the {outage}"),
        AlertEvent::SiteProviderFailing => {
            format!("{name}, which serves {site}, is failing; {site} is still up")
        }
        AlertEvent::Test => "Test alert from Faultline: this endpoint receives alerts".to_owned(),
        AlertEvent::Unknown => "Faultline alert".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmed(detail: store::AlertDetail) -> AlertEventRow {
        let at: DateTime<Utc> = "2025-11-18T11:48:00Z".parse().expect("time");
        AlertEventRow {
            id: 1,
            incident_id: Some(7),
            event: AlertEvent::ProviderConfirmed,
            seq: 2,
            at,
            not_before: at,
            detail: store::AlertDetail {
                provider: Some("cloudflare".to_owned()),
                role: Some(Role::Cdn),
                phase: Some(engine::Phase::Confirmed),
                tally: Some(Tally::new(54, 60)),
                ..detail
            },
            test_for: None,
        }
    }

    #[test]
    fn an_alert_says_where_a_regional_outage_is_seen() {
        let context = Context {
            base: "https://faultline.example",
            name_of: &|_| "Cloudflare".to_owned(),
        };
        let regional = confirmed(store::AlertDetail {
            scope: Some(engine::Scope::Regional),
            regions: vec!["eu-west".to_owned(), "us-east".to_owned()],
            ..store::AlertDetail::default()
        });
        let alert = build(&regional, AlertEvent::ProviderConfirmed, None, &context);
        assert_eq!(
            alert.data.headline,
            "Cloudflare (CDN) outage in eu-west and us-east confirmed: 54 of 60 (90 %) \
             watched sites behind it are failing"
        );
        let incident = serde_json::to_value(&alert.data.incident).expect("json");
        assert_eq!(incident["scope"], "regional");
        assert_eq!(
            incident["regions"],
            serde_json::json!(["eu-west", "us-east"])
        );

        let alone = confirmed(store::AlertDetail::default());
        let alert = build(&alone, AlertEvent::ProviderConfirmed, None, &context);
        assert!(
            alert
                .data
                .headline
                .starts_with("Cloudflare (CDN) outage confirmed"),
            "{}",
            alert.data.headline
        );
        let incident = serde_json::to_value(&alert.data.incident).expect("json");
        assert!(incident.get("scope").is_none(), "{incident}");
    }

    #[test]
    fn an_alert_says_where_an_outage_spread_to() {
        let context = Context {
            base: "https://faultline.example",
            name_of: &|_| "Cloudflare".to_owned(),
        };
        let headline = |scope, regions: &[&str]| {
            let event = confirmed(store::AlertDetail {
                scope,
                regions: regions.iter().map(|r| (*r).to_owned()).collect(),
                ..store::AlertDetail::default()
            });
            build(&event, AlertEvent::ProviderSpread, None, &context)
                .data
                .headline
        };
        assert_eq!(
            headline(Some(engine::Scope::Regional), &["eu-west", "us-east"]),
            "Cloudflare (CDN) outage has spread, now in eu-west and us-east: 54 of 60 (90 %) \
             watched sites behind it are failing"
        );
        assert_eq!(
            headline(
                Some(engine::Scope::Global),
                &["ap-south", "eu-west", "us-east"]
            ),
            "Cloudflare (CDN) outage is now global, seen from ap-south, eu-west and us-east: \
             54 of 60 (90 %) watched sites behind it are failing"
        );
    }
}
