//! Who hears about what: the rules that turn one stored alert event into
//! at most one alert per subscription.
//!
//! An outage of one provider is one alert per phase change for everyone who
//! follows that provider, never one per affected site: a site going down
//! inside a provider incident is folded into it for subscribers who already
//! heard of the incident, and told as "your site is down, and this outage
//! explains it" to those who follow only the site. Resolutions reach only
//! those who heard the opening, and are never muted. Nothing here reads a
//! clock or a database: the dispatcher gives the facts and the time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::vocab::{AlertEvent, Role};

/// Most scopes one subscription may list.
pub const MAX_SCOPES: usize = 64;
/// Most mute windows one subscription may keep.
pub const MAX_MUTES: usize = 16;

/// Longest time between two reminders of an open outage, in hours.
pub const MAX_REMIND_HOURS: i64 = 7 * 24;

/// One thing a subscription follows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every provider incident, and every site that fails on its own.
    Everything,
    /// One site, by host name.
    Site(String),
    /// One provider, in any role or in one.
    Provider { id: String, role: Option<Role> },
    /// Every site of the watchlist with this tag.
    Tag(String),
}

/// Why a scope's text was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeError {
    pub text: String,
    pub reason: &'static str,
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is not a scope: {}", self.text, self.reason)
    }
}

impl std::error::Error for ScopeError {}

impl Scope {
    /// Reads `all`, `site:HOST`, `provider:ID`, `provider:ID/ROLE` or
    /// `tag:TAG`.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let refuse = |reason| ScopeError {
            text: text.chars().take(80).collect(),
            reason,
        };
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") || text == "*" {
            return Ok(Self::Everything);
        }
        let (kind, value) = text
            .split_once(':')
            .ok_or_else(|| refuse("expected all, site:HOST, provider:ID or tag:TAG"))?;
        let value = value.trim().to_ascii_lowercase();
        let plain = |value: &str| {
            !value.is_empty()
                && value.len() <= 253
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
        match kind.trim().to_ascii_lowercase().as_str() {
            "site" if plain(&value) => Ok(Self::Site(value.trim_end_matches('.').to_owned())),
            "tag" if plain(&value) && value.len() <= 64 => Ok(Self::Tag(value)),
            "provider" => {
                let (id, role) = match value.split_once('/') {
                    Some((id, role)) => {
                        let role = Role::from_name(role)
                            .filter(|role| *role != Role::Unknown)
                            .ok_or_else(|| refuse("unknown role"))?;
                        (id.to_owned(), Some(role))
                    }
                    None => (value, None),
                };
                if plain(&id) && id.len() <= 64 {
                    Ok(Self::Provider { id, role })
                } else {
                    Err(refuse("a provider id is letters, digits and dashes"))
                }
            }
            "site" | "tag" => Err(refuse(
                "a host name or tag is letters, digits, dots and dashes",
            )),
            _ => Err(refuse("expected all, site:HOST, provider:ID or tag:TAG")),
        }
    }
}

impl Scope {
    /// In words, providers named by `knowledge`: "Cloudflare (CDN)",
    /// "shop.example", "sites tagged eu".
    #[cfg(feature = "detect")]
    pub fn in_words(&self, knowledge: &crate::KnowledgeBase) -> String {
        let name = |id: &str| knowledge.name_of(id).unwrap_or(id).to_owned();
        match self {
            Self::Everything => "every provider outage".to_owned(),
            Self::Site(host) => host.clone(),
            Self::Provider { id, role: None } => name(id),
            Self::Provider {
                id,
                role: Some(role),
            } => format!("{} ({})", name(id), role.plain()),
            Self::Tag(tag) => format!("sites tagged {tag}"),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Everything => f.write_str("all"),
            Self::Site(host) => write!(f, "site:{host}"),
            Self::Provider { id, role: None } => write!(f, "provider:{id}"),
            Self::Provider {
                id,
                role: Some(role),
            } => write!(f, "provider:{id}/{role}"),
            Self::Tag(tag) => write!(f, "tag:{tag}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A time range in which a subscription hears nothing new.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MuteWindow {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// What a subscription asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interests {
    pub scopes: Vec<Scope>,
    pub events: Vec<AlertEvent>,
    pub mutes: Vec<MuteWindow>,
}

impl Interests {
    /// What they follow, in words: "Cloudflare, shop.example and sites
    /// tagged eu".
    #[cfg(feature = "detect")]
    pub fn follows_in_words(&self, knowledge: &crate::KnowledgeBase) -> String {
        let words: Vec<String> = self
            .scopes
            .iter()
            .map(|scope| scope.in_words(knowledge))
            .collect();
        match words.as_slice() {
            [] => "nothing".to_owned(),
            [one] => one.clone(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        }
    }

    fn wants(&self, event: AlertEvent) -> bool {
        event == AlertEvent::Test || self.events.contains(&event)
    }

    fn muted_at(&self, now: DateTime<Utc>) -> bool {
        self.mutes.iter().any(|m| m.from <= now && now < m.until)
    }

    fn follows_provider(&self, provider: &str, role: Role) -> bool {
        self.scopes.iter().any(|scope| match scope {
            Scope::Everything => true,
            Scope::Provider { id, role: wanted } => {
                id == provider && wanted.is_none_or(|wanted| wanted == role)
            }
            _ => false,
        })
    }

    /// Whether these interests follow `site` itself (by host or tag).
    pub fn follows_site(&self, site: &SiteFacts) -> bool {
        self.scopes.iter().any(|scope| match scope {
            Scope::Site(host) => *host == site.host,
            Scope::Tag(tag) => site.tags.iter().any(|t| t == tag),
            _ => false,
        })
    }
}

/// A watched site as the rules need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteFacts {
    pub host: String,
    pub tags: Vec<String>,
}

/// The event being fanned out.
#[derive(Clone, Debug, PartialEq)]
pub enum Happening<'a> {
    /// A provider incident changed phase. `sites` are the watched sites
    /// behind the provider in that role, each with whether it is among the
    /// affected.
    Provider {
        event: AlertEvent,
        provider: &'a str,
        role: Role,
        sites: &'a [(SiteFacts, bool)],
    },
    /// A site went down or came back. `explained_by` is the provider
    /// incident the correlator tied the failure to, if any.
    Site {
        event: AlertEvent,
        site: &'a SiteFacts,
        explained_by: Option<i64>,
    },
    /// A test event for one subscription.
    Test,
}

/// What one subscription already heard, for the rules' memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// It was alerted about this incident before.
    pub this_incident: bool,
    /// It was alerted about the provider incident that explains this site
    /// incident.
    pub explaining_incident: bool,
}

/// The rules' answer for one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send this event.
    Send(AlertEvent),
    /// Known but not sent: it fell in a mute window. Kept, so the same
    /// news is not sent when the window ends.
    Muted(AlertEvent),
    /// Not for this subscription.
    Skip,
}

/// Whether a subscription that asked to be reminded every `every` of an
/// outage it heard of, last alerted about it at `last`, is due a reminder
/// now. Never during its mute windows: a reminder is no news.
pub fn reminder_due(
    interests: &Interests,
    every: chrono::TimeDelta,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    every > chrono::TimeDelta::zero() && now - last >= every && !interests.muted_at(now)
}

/// Decides what, if anything, one subscription hears of `happening`.
pub fn decide(
    happening: &Happening<'_>,
    interests: &Interests,
    heard: Heard,
    now: DateTime<Utc>,
) -> Decision {
    let event = match happening {
        Happening::Test => AlertEvent::Test,
        Happening::Provider {
            event,
            provider,
            role,
            sites,
        } => {
            if interests.follows_provider(provider, *role) {
                *event
            } else if let Some(affected) = sites
                .iter()
                .filter(|(site, _)| interests.follows_site(site))
                .map(|(_, affected)| *affected)
                .reduce(|a, b| a || b)
            {
                // Followed only through its sites: a warning while it
                // grows, and the closing phases for those who were warned.
                match event {
                    AlertEvent::ProviderSuspected
                    | AlertEvent::ProviderConfirmed
                    | AlertEvent::ProviderRelapsed
                    | AlertEvent::ProviderSpread
                        if heard.this_incident =>
                    {
                        return Decision::Skip
                    }
                    AlertEvent::ProviderSuspected
                    | AlertEvent::ProviderConfirmed
                    | AlertEvent::ProviderRelapsed
                    | AlertEvent::ProviderSpread => {
                        if affected {
                            AlertEvent::SiteExplained
                        } else {
                            AlertEvent::SiteProviderFailing
                        }
                    }
                    other => *other,
                }
            } else {
                return Decision::Skip;
            }
        }
        Happening::Site {
            event,
            site,
            explained_by,
        } => {
            if !interests.follows_site(site) && !interests.scopes.contains(&Scope::Everything) {
                return Decision::Skip;
            }
            match (event, explained_by) {
                // Folded into the provider incident it already heard of.
                (AlertEvent::SiteDown, Some(_)) if heard.explaining_incident => {
                    return Decision::Skip
                }
                (AlertEvent::SiteDown, Some(_)) => AlertEvent::SiteExplained,
                (other, _) => *other,
            }
        }
    };
    // Closing news, and what the provider said about an outage, only for
    // those who heard the opening.
    let closing = matches!(
        event,
        AlertEvent::ProviderRecovering
            | AlertEvent::ProviderResolved
            | AlertEvent::SiteRecovered
            | AlertEvent::ProviderAcknowledged
            | AlertEvent::ProviderOfficiallyResolved
    );
    if closing && !heard.this_incident {
        return Decision::Skip;
    }
    if !interests.wants(event) {
        return Decision::Skip;
    }
    if interests.muted_at(now) && !event.is_resolution() && event != AlertEvent::Test {
        return Decision::Muted(event);
    }
    Decision::Send(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 18, 11, minute, 0).unwrap()
    }

    fn interests(scopes: &[&str], events: &[AlertEvent]) -> Interests {
        Interests {
            scopes: scopes.iter().map(|s| Scope::parse(s).unwrap()).collect(),
            events: events.to_vec(),
            mutes: Vec::new(),
        }
    }

    fn site(host: &str, tags: &[&str]) -> SiteFacts {
        SiteFacts {
            host: host.to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn scopes_read_and_write_the_same_text() {
        for text in [
            "all",
            "site:shop.example",
            "provider:cloudflare",
            "provider:cloudflare/cdn",
            "tag:eu",
        ] {
            assert_eq!(Scope::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Scope::parse(" Site:Shop.Example. ").unwrap(),
            Scope::Site("shop.example".into())
        );
        for bad in [
            "",
            "site:",
            "site:a b",
            "provider:x/firewalls",
            "everything",
            "tag:<b>",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_provider_follower_hears_each_phase_and_a_site_follower_is_warned_once() {
        let sites = [
            (site("shop.example", &["eu"]), false),
            (site("news.example", &[]), true),
        ];
        let provider = |event| Happening::Provider {
            event,
            provider: "cloudflare",
            role: Role::Cdn,
            sites: &sites,
        };
        let follower = interests(&["provider:cloudflare"], AlertEvent::DEFAULTS);
        let heard = Heard {
            this_incident: true,
            ..Heard::default()
        };
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderConfirmed),
                &follower,
                Heard::default(),
                at(20)
            ),
            Decision::Send(AlertEvent::ProviderConfirmed)
        );
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderRelapsed),
                &follower,
                heard,
                at(40)
            ),
            Decision::Send(AlertEvent::ProviderRelapsed)
        );
        // Another role of the same provider is not followed.
        let dns_only = interests(&["provider:cloudflare/dns"], AlertEvent::DEFAULTS);
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderConfirmed),
                &dns_only,
                Heard::default(),
                at(20)
            ),
            Decision::Skip
        );

        // Following a healthy site behind it: an early warning, once.
        let shop = interests(&["site:shop.example"], AlertEvent::DEFAULTS);
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderConfirmed),
                &shop,
                Heard::default(),
                at(20)
            ),
            Decision::Send(AlertEvent::SiteProviderFailing)
        );
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderRelapsed),
                &shop,
                heard,
                at(40)
            ),
            Decision::Skip
        );
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderResolved),
                &shop,
                heard,
                at(50)
            ),
            Decision::Send(AlertEvent::ProviderResolved)
        );
        // An outage spreading to more regions: news for its followers,
        // and for a site's follower the first word of it if they had none.
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderSpread),
                &follower,
                heard,
                at(30)
            ),
            Decision::Send(AlertEvent::ProviderSpread)
        );
        assert_eq!(
            decide(&provider(AlertEvent::ProviderSpread), &shop, heard, at(30)),
            Decision::Skip
        );
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderSpread),
                &shop,
                Heard::default(),
                at(30)
            ),
            Decision::Send(AlertEvent::SiteProviderFailing)
        );
        // Following an affected site (by tag or host): told why it fails.
        let news = interests(&["site:news.example"], AlertEvent::DEFAULTS);
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderConfirmed),
                &news,
                Heard::default(),
                at(20)
            ),
            Decision::Send(AlertEvent::SiteExplained)
        );
        // Nobody hears a resolution of what they never heard.
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderResolved),
                &follower,
                Heard::default(),
                at(50)
            ),
            Decision::Skip
        );
        // An unrelated site's follower hears nothing.
        let other = interests(&["site:other.example", "tag:us"], AlertEvent::DEFAULTS);
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderConfirmed),
                &other,
                Heard::default(),
                at(20)
            ),
            Decision::Skip
        );
    }

    #[test]
    fn a_site_failing_inside_a_known_outage_is_folded_into_it() {
        let shop = site("shop.example", &["eu"]);
        let down = |explained_by| Happening::Site {
            event: AlertEvent::SiteDown,
            site: &shop,
            explained_by,
        };
        let everything = interests(&["all"], AlertEvent::DEFAULTS);
        let heard_outage = Heard {
            explaining_incident: true,
            ..Heard::default()
        };
        assert_eq!(
            decide(&down(Some(7)), &everything, heard_outage, at(21)),
            Decision::Skip
        );
        assert_eq!(
            decide(&down(None), &everything, Heard::default(), at(21)),
            Decision::Send(AlertEvent::SiteDown)
        );
        let by_tag = interests(&["tag:eu"], AlertEvent::DEFAULTS);
        assert_eq!(
            decide(&down(Some(7)), &by_tag, Heard::default(), at(21)),
            Decision::Send(AlertEvent::SiteExplained)
        );
        // A provider's follower does not hear single sites.
        let provider = interests(&["provider:cloudflare"], AlertEvent::DEFAULTS);
        assert_eq!(
            decide(&down(None), &provider, Heard::default(), at(21)),
            Decision::Skip
        );
    }

    #[test]
    fn mute_windows_hold_news_but_never_resolutions_and_choices_are_kept() {
        let sites = [];
        let provider = |event| Happening::Provider {
            event,
            provider: "fastly",
            role: Role::Cdn,
            sites: &sites,
        };
        let mut muted = interests(&["provider:fastly"], AlertEvent::DEFAULTS);
        muted.mutes.push(MuteWindow {
            from: at(0),
            until: at(30),
        });
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderConfirmed),
                &muted,
                Heard::default(),
                at(10)
            ),
            Decision::Muted(AlertEvent::ProviderConfirmed)
        );
        let heard = Heard {
            this_incident: true,
            ..Heard::default()
        };
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderResolved),
                &muted,
                heard,
                at(20)
            ),
            Decision::Send(AlertEvent::ProviderResolved)
        );
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderConfirmed),
                &muted,
                Heard::default(),
                at(30)
            ),
            Decision::Send(AlertEvent::ProviderConfirmed)
        );
        // Suspicions only for those who asked for them.
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderSuspected),
                &muted,
                Heard::default(),
                at(40)
            ),
            Decision::Skip
        );
        let early = interests(&["provider:fastly"], &[AlertEvent::ProviderSuspected]);
        assert_eq!(
            decide(
                &provider(AlertEvent::ProviderSuspected),
                &early,
                Heard::default(),
                at(40)
            ),
            Decision::Send(AlertEvent::ProviderSuspected)
        );
    }

    #[test]
    fn reminders_come_at_their_interval_never_when_off_or_muted() {
        let mut follows = interests(&["provider:cloudflare"], AlertEvent::DEFAULTS);
        let every = chrono::TimeDelta::minutes(20);
        assert!(!reminder_due(&follows, every, at(0), at(19)));
        assert!(reminder_due(&follows, every, at(0), at(20)));
        assert!(reminder_due(&follows, every, at(0), at(45)));
        assert!(!reminder_due(
            &follows,
            chrono::TimeDelta::zero(),
            at(0),
            at(59)
        ));
        follows.mutes.push(MuteWindow {
            from: at(30),
            until: at(50),
        });
        assert!(!reminder_due(&follows, every, at(0), at(45)));
        assert!(reminder_due(&follows, every, at(0), at(50)));
    }
}
