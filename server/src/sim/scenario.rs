//! Scenario files: a small synthetic internet and a timeline of faults on it
//! (the format is described in `scenarios/FORMAT.md`). Parsed like any user
//! input: bounded in size, unknown keys refused by name and line, every
//! value checked.

use chrono::{DateTime, TimeDelta, Utc};
use engine::{AlertEvent, Pattern, Role};
use serde::Deserialize;

use crate::sim::front::{Front, Page};

/// Scenario files larger than this are refused unread.
pub const MAX_SCENARIO_BYTES: usize = 1024 * 1024;
/// More sites than this would not be a small synthetic internet.
pub const MAX_SITES: u32 = 20_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub start: DateTime<Utc>,
    pub duration: TimeDelta,
    pub probe_interval: TimeDelta,
    pub seed: u64,
    /// Independent recursive resolvers the vantage uses.
    pub resolvers: u8,
    pub sites: Vec<SiteGroup>,
    pub faults: Vec<Fault>,
    pub subscriptions: Vec<Subscription>,
    /// What providers' status pages publish, and when.
    pub statements: Vec<Statement>,
    pub expects: Vec<Expect>,
}

/// One update a provider's status page publishes during the scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub provider: String,
    /// The official incident's id on the status page.
    pub incident: String,
    pub at: TimeDelta,
    pub status: engine::vocab::OfficialStatus,
    pub impact: engine::vocab::OfficialImpact,
    pub title: String,
    pub text: String,
}

/// Most statements one scenario may have.
pub const MAX_STATEMENTS: usize = 500;

/// A subscriber the simulation delivers alerts to: by webhook over real
/// HTTP, or by mail over real SMTP, to receivers it runs on loopback.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// What the report and the expectations call it.
    pub name: String,
    pub channel: engine::AlertChannel,
    pub interests: engine::alert::Interests,
}

/// Most resolvers a scenario's vantage may use.
pub const MAX_RESOLVERS: u8 = 4;

fn one_resolver() -> u8 {
    1
}

/// Most subscriptions one scenario may have.
pub const MAX_SUBSCRIPTIONS: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteGroup {
    pub group: String,
    #[serde(default = "one")]
    pub count: u32,
    pub names: Option<Vec<String>>,
    pub cdn: Option<String>,
    pub dns: Option<String>,
    pub host: Option<String>,
    #[serde(default)]
    pub flaky: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultTarget {
    Cdn(String),
    Dns(String),
    Host(String),
    Group(String),
    Site(String),
    Vantage,
    /// One of the vantage's own resolvers, numbered from 1.
    Resolver(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    EdgeError,
    OriginDown,
    OriginTimeout,
    OriginError,
    EdgeUnreachable,
    DnsServfail,
    DnsNxdomain,
    DnsTimeout,
    Slow,
    NetworkLoss,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Intermittent {
    pub period: TimeDelta,
    pub failing: TimeDelta,
    pub until: TimeDelta,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub target: FaultTarget,
    pub kind: FaultKind,
    pub status: Option<u16>,
    pub from: TimeDelta,
    pub until: TimeDelta,
    pub share: f64,
    pub intermittent: Option<Intermittent>,
    pub delay: Option<TimeDelta>,
    /// Only clients probing from these addresses meet it (none: every
    /// client): one vantage's view of a regional outage.
    pub seen_from: Vec<std::net::IpAddr>,
}

impl Fault {
    /// Whether a client probing from `client` meets this fault.
    pub fn seen_by(&self, client: std::net::IpAddr) -> bool {
        self.seen_from.is_empty() || self.seen_from.contains(&client)
    }

    /// Whether the fault is in force `offset` after the scenario start.
    pub fn active_at(&self, offset: TimeDelta) -> bool {
        if offset < self.from || offset >= self.until {
            return false;
        }
        match &self.intermittent {
            Some(pattern) if offset < pattern.until => {
                let into = (offset - self.from).num_milliseconds();
                let period = pattern.period.num_milliseconds().max(1);
                into.rem_euclid(period) < pattern.failing.num_milliseconds()
            }
            _ => true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expect {
    pub provider_incident: Option<String>,
    pub detected_by: Option<TimeDelta>,
    pub resolved_by: Option<TimeDelta>,
    pub pattern: Option<Pattern>,
    pub max_incidents: Option<u32>,
    pub not_provider_incident: Vec<String>,
    pub no_provider_incident: bool,
    pub vantage_offline: bool,
    /// One of our resolvers is reported failing while another answered.
    pub resolver_failed: bool,
    /// With `provider_incident`: the provider's statement is matched to it.
    pub acknowledged: bool,
    /// This event must reach `subscription` (by `by`, if given).
    pub alert: Option<AlertEvent>,
    pub subscription: Option<String>,
    pub by: Option<TimeDelta>,
    /// At most this many alerts reach `subscription` (or all of them).
    pub alerts_max: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("the scenario is {size} bytes; the limit is {MAX_SCENARIO_BYTES}")]
    TooLarge { size: usize },
    #[error("{0}")]
    Toml(String),
    #[error("line {line}: {message}")]
    Invalid { line: usize, message: String },
}

/// Longest error message: a huge value quoted in one is cut in the
/// middle, so the message stays short and keeps its reason at the end.
const MAX_MESSAGE: usize = 300;

fn bounded(message: String) -> String {
    let chars: Vec<char> = message.chars().collect();
    if chars.len() <= MAX_MESSAGE {
        return message;
    }
    let head: String = chars[..MAX_MESSAGE / 2].iter().collect();
    let tail: String = chars[chars.len() - MAX_MESSAGE / 3..].iter().collect();
    format!("{head} … {tail}")
}

/// The provider ids a scenario may name.
pub const PROVIDERS: &[&str] = &[
    "cloudflare",
    "akamai",
    "fastly",
    "cloudfront",
    "aws",
    "azure-front-door",
    "azure",
    "google",
    "vercel",
    "netlify",
    "fly",
    "heroku",
    "github-pages",
    "bunny",
    "imperva",
    "sucuri",
    "stackpath",
    "keycdn",
    "pantheon",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    start: String,
    duration: toml::Spanned<String>,
    probe_interval: Option<toml::Spanned<String>>,
    #[serde(default = "seed_one")]
    seed: u64,
    #[serde(default = "one_resolver")]
    resolvers: u8,
    #[serde(default)]
    sites: Vec<toml::Spanned<SiteGroup>>,
    #[serde(default)]
    fault: Vec<toml::Spanned<RawFault>>,
    #[serde(default)]
    subscription: Vec<toml::Spanned<RawSubscription>>,
    #[serde(default)]
    statement: Vec<toml::Spanned<RawStatement>>,
    #[serde(default)]
    expect: Vec<toml::Spanned<RawExpect>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    provider: String,
    incident: Option<String>,
    at: String,
    status: String,
    impact: Option<String>,
    title: Option<String>,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    name: String,
    kind: String,
    #[serde(default)]
    provider: Vec<String>,
    #[serde(default)]
    site: Vec<String>,
    #[serde(default)]
    tag: Vec<String>,
    #[serde(default)]
    all: bool,
    events: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    target: String,
    kind: FaultKind,
    status: Option<u16>,
    from: String,
    until: String,
    #[serde(default = "share_all")]
    share: f64,
    intermittent: Option<RawIntermittent>,
    delay: Option<String>,
    #[serde(default)]
    seen_from: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntermittent {
    period: String,
    failing: String,
    until: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    provider_incident: Option<String>,
    detected_by: Option<String>,
    resolved_by: Option<String>,
    pattern: Option<String>,
    max_incidents: Option<u32>,
    #[serde(default)]
    not_provider_incident: Vec<String>,
    #[serde(default)]
    no_provider_incident: bool,
    #[serde(default)]
    vantage_offline: bool,
    #[serde(default)]
    resolver_failed: bool,
    #[serde(default)]
    acknowledged: bool,
    alert: Option<String>,
    subscription: Option<String>,
    by: Option<String>,
    alerts_max: Option<u32>,
}

fn one() -> u32 {
    1
}
fn seed_one() -> u64 {
    1
}
fn share_all() -> f64 {
    1.0
}

impl Scenario {
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        if text.len() > MAX_SCENARIO_BYTES {
            return Err(ScenarioError::TooLarge { size: text.len() });
        }
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            ScenarioError::Toml(bounded(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            ))
        })?;
        let invalid = |offset: usize, message: String| ScenarioError::Invalid {
            line: line_of(text, offset),
            message: bounded(message),
        };
        let start = DateTime::parse_from_rfc3339(&raw.start)
            .map_err(|e| {
                invalid(
                    0,
                    format!("start {:?} is not an RFC 3339 time: {e}", raw.start),
                )
            })?
            .with_timezone(&Utc);
        let duration = parse_duration(raw.duration.get_ref())
            .map_err(|m| invalid(raw.duration.span().start, m))?;
        let probe_interval = match &raw.probe_interval {
            Some(value) => {
                parse_duration(value.get_ref()).map_err(|m| invalid(value.span().start, m))?
            }
            None => TimeDelta::seconds(60),
        };
        if probe_interval < TimeDelta::seconds(10) {
            return Err(invalid(0, "probe_interval must be at least 10s".to_owned()));
        }
        let resolvers = raw.resolvers;
        if !(1..=MAX_RESOLVERS).contains(&resolvers) {
            return Err(invalid(
                0,
                format!("resolvers must be between 1 and {MAX_RESOLVERS}"),
            ));
        }
        let mut total = 0u32;
        let mut sites = Vec::new();
        let mut groups = Vec::new();
        for spanned in raw.sites {
            let at = spanned.span().start;
            let mut group = spanned.into_inner();
            if let Some(names) = &group.names {
                group.count = u32::try_from(names.len()).unwrap_or(u32::MAX);
            }
            for provider in [&group.cdn, &group.dns, &group.host].into_iter().flatten() {
                if !PROVIDERS.contains(&provider.as_str()) {
                    return Err(invalid(at, format!("unknown provider {provider:?}")));
                }
            }
            if let Some(cdn) = &group.cdn {
                if crate::sim::front::front(cdn).is_none() {
                    return Err(invalid(
                        at,
                        format!("the synthetic internet has no front for {cdn:?}"),
                    ));
                }
            }
            if !(0.0..=1.0).contains(&group.flaky) {
                return Err(invalid(at, "flaky must be between 0 and 1".to_owned()));
            }
            total = total.saturating_add(group.count);
            if total > MAX_SITES {
                return Err(invalid(at, format!("more than {MAX_SITES} sites")));
            }
            if groups.contains(&group.group) {
                return Err(invalid(
                    at,
                    format!("group {:?} is defined twice", group.group),
                ));
            }
            groups.push(group.group.clone());
            sites.push(group);
        }
        let mut faults = Vec::new();
        for spanned in raw.fault {
            let at = spanned.span().start;
            let raw = spanned.into_inner();
            let offset = |value: &str| parse_offset(value).map_err(|m| invalid(at, m));
            let target = parse_target(&raw.target, &groups).map_err(|m| invalid(at, m))?;
            if let FaultTarget::Resolver(n) = target {
                if n == 0 || n > resolvers {
                    return Err(invalid(
                        at,
                        format!("resolver {n}: the scenario has {resolvers} (resolvers = N)"),
                    ));
                }
                if !matches!(raw.kind, FaultKind::DnsServfail | FaultKind::DnsTimeout) {
                    return Err(invalid(
                        at,
                        "a resolver fails with dns_servfail or dns_timeout".to_owned(),
                    ));
                }
            }
            if (raw.kind == FaultKind::NetworkLoss) != (target == FaultTarget::Vantage) {
                return Err(invalid(
                    at,
                    "network_loss goes with target = \"vantage\", and only it".to_owned(),
                ));
            }
            let (from, until) = (offset(&raw.from)?, offset(&raw.until)?);
            if until <= from {
                return Err(invalid(at, "until must come after from".to_owned()));
            }
            if !(0.0..=1.0).contains(&raw.share) {
                return Err(invalid(at, "share must be between 0 and 1".to_owned()));
            }
            let intermittent = match raw.intermittent {
                Some(pattern) => {
                    let period = parse_duration(&pattern.period).map_err(|m| invalid(at, m))?;
                    let failing = parse_duration(&pattern.failing).map_err(|m| invalid(at, m))?;
                    if failing > period {
                        return Err(invalid(
                            at,
                            "intermittent failing must not exceed its period".to_owned(),
                        ));
                    }
                    Some(Intermittent {
                        period,
                        failing,
                        until: offset(&pattern.until)?,
                    })
                }
                None => None,
            };
            let delay = raw
                .delay
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|m| invalid(at, m))?;
            if raw.kind == FaultKind::Slow && delay.is_none() {
                return Err(invalid(at, "kind slow needs a delay".to_owned()));
            }
            let seen_from = parse_clients(&raw.seen_from, raw.kind).map_err(|m| invalid(at, m))?;
            let fault = Fault {
                target,
                kind: raw.kind,
                status: raw.status,
                from,
                until,
                share: raw.share,
                intermittent,
                delay,
                seen_from,
            };
            if let Some(message) = missing_page(&fault, &sites) {
                return Err(invalid(at, message));
            }
            faults.push(fault);
        }
        let mut subscriptions: Vec<Subscription> = Vec::new();
        for spanned in raw.subscription {
            let at = spanned.span().start;
            let raw = spanned.into_inner();
            if subscriptions.len() >= MAX_SUBSCRIPTIONS {
                return Err(invalid(
                    at,
                    format!("more than {MAX_SUBSCRIPTIONS} subscriptions"),
                ));
            }
            let plain_name = !raw.name.is_empty()
                && raw.name.len() <= 64
                && raw
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !plain_name {
                return Err(invalid(
                    at,
                    format!(
                        "subscription name {:?}: use letters, digits, - and _",
                        raw.name
                    ),
                ));
            }
            if subscriptions.iter().any(|s| s.name == raw.name) {
                return Err(invalid(
                    at,
                    format!("subscription {:?} is defined twice", raw.name),
                ));
            }
            let channel = match raw.kind.as_str() {
                "webhook" => engine::AlertChannel::Webhook,
                "email" => engine::AlertChannel::Email,
                _ => {
                    return Err(invalid(
                        at,
                        format!(
                            "subscription kind {:?}: \"webhook\" or \"email\"",
                            raw.kind.chars().take(40).collect::<String>()
                        ),
                    ))
                }
            };
            let mut scopes = Vec::new();
            if raw.all {
                scopes.push(engine::alert::Scope::Everything);
            }
            let texts = raw
                .provider
                .iter()
                .map(|p| format!("provider:{p}"))
                .chain(raw.site.iter().map(|s| format!("site:{s}")))
                .chain(raw.tag.iter().map(|t| format!("tag:{t}")));
            for text in texts {
                scopes.push(
                    engine::alert::Scope::parse(&text).map_err(|e| invalid(at, e.to_string()))?,
                );
            }
            if scopes.is_empty() || scopes.len() > engine::alert::MAX_SCOPES {
                return Err(invalid(
                    at,
                    "a subscription follows 1 to 64 of provider, site, tag or all".to_owned(),
                ));
            }
            let events = match raw.events {
                None => AlertEvent::DEFAULTS.to_vec(),
                Some(names) => names
                    .iter()
                    .map(|name| {
                        event_named(name)
                            .ok_or_else(|| invalid(at, format!("unknown event {name:?}")))
                    })
                    .collect::<Result<_, _>>()?,
            };
            subscriptions.push(Subscription {
                name: raw.name,
                channel,
                interests: engine::alert::Interests {
                    scopes,
                    events,
                    mutes: Vec::new(),
                },
            });
        }
        let mut expects = Vec::new();
        for spanned in raw.expect {
            let at = spanned.span().start;
            let raw = spanned.into_inner();
            let offset = |value: Option<&String>| {
                value
                    .map(|v| parse_offset(v))
                    .transpose()
                    .map_err(|m| invalid(at, m))
            };
            for provider in raw
                .provider_incident
                .iter()
                .chain(&raw.not_provider_incident)
            {
                if !PROVIDERS.contains(&provider.as_str()) {
                    return Err(invalid(at, format!("unknown provider {provider:?}")));
                }
            }
            let pattern = match raw.pattern.as_deref().map(|p| (p, Pattern::from_name(p))) {
                None => None,
                Some((_, Some(pattern @ (Pattern::Steady | Pattern::Intermittent)))) => {
                    Some(pattern)
                }
                Some((text, _)) => {
                    return Err(invalid(
                        at,
                        format!("pattern {text:?} is neither \"steady\" nor \"intermittent\""),
                    ))
                }
            };
            if let Some(name) = &raw.subscription {
                if !subscriptions.iter().any(|s| s.name == *name) {
                    return Err(invalid(at, format!("no subscription named {name:?}")));
                }
            }
            let alert = raw
                .alert
                .as_deref()
                .map(|name| {
                    event_named(name).ok_or_else(|| invalid(at, format!("unknown event {name:?}")))
                })
                .transpose()?;
            if alert.is_some() && raw.subscription.is_none() {
                return Err(invalid(at, "alert goes with subscription".to_owned()));
            }
            expects.push(Expect {
                alert,
                by: offset(raw.by.as_ref())?,
                subscription: raw.subscription,
                alerts_max: raw.alerts_max,
                detected_by: offset(raw.detected_by.as_ref())?,
                resolved_by: offset(raw.resolved_by.as_ref())?,
                provider_incident: raw.provider_incident,
                pattern,
                max_incidents: raw.max_incidents,
                not_provider_incident: raw.not_provider_incident,
                no_provider_incident: raw.no_provider_incident,
                vantage_offline: raw.vantage_offline,
                resolver_failed: raw.resolver_failed,
                acknowledged: raw.acknowledged,
            });
        }
        if raw.statement.len() > MAX_STATEMENTS {
            return Err(invalid(0, format!("more than {MAX_STATEMENTS} statements")));
        }
        let mut statements: Vec<Statement> = Vec::new();
        for spanned in raw.statement {
            let at = spanned.span().start;
            let raw = spanned.into_inner();
            if !PROVIDERS.contains(&raw.provider.as_str()) {
                return Err(invalid(at, format!("unknown provider {:?}", raw.provider)));
            }
            let incident = raw.incident.unwrap_or_else(|| "incident-1".to_owned());
            if incident.is_empty()
                || incident.len() > 64
                || !incident
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    at,
                    "incident is 1–64 letters, digits, '-' or '_'".to_owned(),
                ));
            }
            let status = engine::vocab::OfficialStatus::from_name(&raw.status)
                .filter(|s| *s != engine::vocab::OfficialStatus::Unknown)
                .ok_or_else(|| invalid(at, format!("unknown status {:?}", raw.status)))?;
            let impact = match raw.impact.as_deref() {
                None => engine::vocab::OfficialImpact::Major,
                Some(word) => engine::vocab::OfficialImpact::from_name(word)
                    .filter(|i| *i != engine::vocab::OfficialImpact::Unknown)
                    .ok_or_else(|| invalid(at, format!("unknown impact {word:?}")))?,
            };
            let earlier = statements
                .iter()
                .rev()
                .find(|s| s.provider == raw.provider && s.incident == incident);
            let title = match (raw.title, earlier) {
                (Some(title), _) => title,
                (None, Some(earlier)) => earlier.title.clone(),
                (None, None) => {
                    return Err(invalid(
                        at,
                        "the first statement of an incident needs a title".to_owned(),
                    ))
                }
            };
            let offset = parse_offset(&raw.at).map_err(|m| invalid(at, m))?;
            if earlier.is_some_and(|earlier| earlier.at > offset) {
                return Err(invalid(
                    at,
                    "an incident's statements come in the order they are published".to_owned(),
                ));
            }
            statements.push(Statement {
                provider: raw.provider,
                incident,
                at: offset,
                status,
                impact,
                title,
                text: raw.text,
            });
        }
        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            start,
            duration,
            probe_interval,
            seed: raw.seed,
            resolvers,
            sites,
            faults,
            subscriptions,
            statements,
            expects,
        })
    }

    /// Providers whose status page publishes statements, each once.
    pub fn statement_providers(&self) -> Vec<String> {
        let mut providers: Vec<String> = Vec::new();
        for statement in &self.statements {
            if !providers.contains(&statement.provider) {
                providers.push(statement.provider.clone());
            }
        }
        providers
    }

    /// Host names of every site, group by group: `<group>-<n>.test` unless named.
    pub fn site_names(&self) -> Vec<(String, &SiteGroup)> {
        let mut out = Vec::new();
        for group in &self.sites {
            match &group.names {
                Some(names) => out.extend(names.iter().map(|n| (n.to_ascii_lowercase(), group))),
                None => out.extend(
                    (1..=group.count).map(|n| (format!("{}-{n:03}.test", group.group), group)),
                ),
            }
        }
        out
    }
}

/// The page `front` serves for a fault of `kind`, if it serves one: a
/// front with no customer origin behind it serves its own edge's page for
/// the origin's faults too (it is the origin); a slow origin gets the page
/// of an unreachable one when no other is on record.
pub fn page_for(front: &Front, kind: FaultKind) -> Served<'_> {
    let down = front.origin_down.as_ref().or(front.edge_error.as_ref());
    let page = match kind {
        FaultKind::EdgeError => front.edge_error.as_ref(),
        FaultKind::OriginDown => down,
        FaultKind::OriginTimeout => front.origin_timeout.as_ref().or(down),
        _ => return Served::NoPage,
    };
    page.map_or(Served::Missing, Served::Page)
}

/// What a front serves for a fault.
#[derive(Debug)]
pub enum Served<'a> {
    Page(&'a Page),
    /// The fault is not answered with a page of the front's.
    NoPage,
    /// The fault needs a page of the front's, and none is on record.
    Missing,
}

/// Why `fault` cannot be played, if it needs a page from a front with no
/// such page on record: the synthetic internet serves only pages a real
/// user has seen.
fn missing_page(fault: &Fault, sites: &[SiteGroup]) -> Option<String> {
    let kind = match fault.kind {
        FaultKind::EdgeError => "edge_error",
        FaultKind::OriginDown => "origin_down",
        FaultKind::OriginTimeout => "origin_timeout",
        _ => return None,
    };
    let hits = |group: &SiteGroup| match &fault.target {
        FaultTarget::Cdn(id) => group.cdn.as_ref() == Some(id),
        FaultTarget::Host(id) => group.host.as_ref() == Some(id),
        FaultTarget::Group(name) => &group.group == name,
        FaultTarget::Site(host) => match &group.names {
            Some(names) => names.iter().any(|name| name.eq_ignore_ascii_case(host)),
            None => host
                .strip_prefix(&format!("{}-", group.group))
                .is_some_and(|rest| rest.len() == 8 && rest.ends_with(".test")),
        },
        FaultTarget::Dns(_) | FaultTarget::Vantage | FaultTarget::Resolver(_) => false,
    };
    sites
        .iter()
        .filter(|group| hits(group))
        .filter_map(|group| crate::sim::front::front(group.cdn.as_deref()?))
        .find(|front| matches!(page_for(front, fault.kind), Served::Missing))
        .map(|front| {
            format!(
                "{} has no page for {kind} on record: give its sites edge_unreachable, \
                 origin_error or a DNS fault instead",
                front.id
            )
        })
}

/// An event type a scenario may name (not the test event).
fn event_named(name: &str) -> Option<AlertEvent> {
    AlertEvent::from_name(name).filter(|e| !matches!(e, AlertEvent::Test | AlertEvent::Unknown))
}

/// The client addresses of `seen_from`: loopback only (a scenario runs on
/// this machine), and for faults the servers answer or a cut network; DNS
/// faults and unreachable edges are the same for every client.
fn parse_clients(values: &[String], kind: FaultKind) -> Result<Vec<std::net::IpAddr>, String> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    if matches!(
        kind,
        FaultKind::DnsServfail
            | FaultKind::DnsNxdomain
            | FaultKind::DnsTimeout
            | FaultKind::EdgeUnreachable
    ) {
        return Err("seen_from goes with faults the servers answer (edge_error, origin_down, origin_timeout, origin_error, slow) and network_loss: DNS faults and unreachable edges are the same for every client".to_owned());
    }
    values
        .iter()
        .map(|value| match value.parse::<std::net::IpAddr>() {
            Ok(address) if address.is_loopback() => Ok(address),
            Ok(_) => Err(format!(
                "seen_from {value}: only loopback clients probe a scenario"
            )),
            Err(_) => Err(format!("seen_from {value}: not an IP address")),
        })
        .collect()
}

fn parse_target(target: &str, groups: &[String]) -> Result<FaultTarget, String> {
    if target == "vantage" {
        return Ok(FaultTarget::Vantage);
    }
    if let Some(n) = target.strip_prefix("resolver:") {
        return n
            .parse()
            .map(FaultTarget::Resolver)
            .map_err(|_| format!("resolver {n:?} is not a number"));
    }
    let (kind, value) = target
        .split_once(':')
        .ok_or_else(|| format!("target {target:?} is not kind:value or \"vantage\""))?;
    let provider = |value: &str| {
        if PROVIDERS.contains(&value) {
            Ok(value.to_owned())
        } else {
            Err(format!("unknown provider {value:?} in target"))
        }
    };
    match (kind, Role::from_name(kind)) {
        (_, Some(Role::Cdn)) => provider(value).map(FaultTarget::Cdn),
        (_, Some(Role::Dns)) => provider(value).map(FaultTarget::Dns),
        (_, Some(Role::Host)) => provider(value).map(FaultTarget::Host),
        ("group", _) if groups.iter().any(|g| g == value) => {
            Ok(FaultTarget::Group(value.to_owned()))
        }
        ("group", _) => Err(format!("no site group named {value:?}")),
        ("site", _) => Ok(FaultTarget::Site(value.to_ascii_lowercase())),
        (other, _) => Err(format!("unknown target kind {other:?}")),
    }
}

/// `"+50m"`: an offset from the scenario start.
pub fn parse_offset(text: &str) -> Result<TimeDelta, String> {
    let rest = text
        .strip_prefix('+')
        .ok_or_else(|| format!("offset {text:?} must start with '+'"))?;
    parse_duration(rest)
}

/// `"90s"`, `"5m"`, `"2h"`, `"1h30m"`: hours, minutes and seconds.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    let mut units = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("duration {text:?} is malformed"))?;
        if n > 1_000_000 {
            return Err(format!("duration {text:?} is too long"));
        }
        total += match c {
            'h' => TimeDelta::hours(n),
            'm' => TimeDelta::minutes(n),
            's' => TimeDelta::seconds(n),
            _ => {
                return Err(format!(
                    "duration {text:?} has unknown unit {c:?}; use h, m, s"
                ))
            }
        };
        // Bounded as a whole as well, so that the start plus any duration
        // or offset is still a time the simulator can compute.
        if total > TimeDelta::hours(1_000_000) {
            return Err(format!("duration {text:?} is too long"));
        }
        digits.clear();
        units += 1;
    }
    if !digits.is_empty() || units == 0 {
        return Err(format!("duration {text:?} needs a unit: h, m or s"));
    }
    Ok(total)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../../scenarios/cloudflare-2025-11-18.toml");
        let scenario = Scenario::parse(text).unwrap();
        assert_eq!(scenario.name, "cloudflare-2025-11-18");
        assert_eq!(scenario.duration, TimeDelta::hours(7));
        assert_eq!(scenario.site_names().len(), 120);
        assert_eq!(scenario.site_names()[0].0, "cf-001.test");
        let fault = &scenario.faults[0];
        assert_eq!(fault.target, FaultTarget::Cdn("cloudflare".into()));
        assert!(fault.active_at(TimeDelta::minutes(52)));
        assert!(
            !fault.active_at(TimeDelta::minutes(57)),
            "off in the second half of the period"
        );
        assert!(
            fault.active_at(TimeDelta::minutes(170)),
            "steady after the intermittent phase"
        );
        assert_eq!(
            scenario.expects[0].detected_by,
            Some(TimeDelta::minutes(53))
        );
    }

    #[test]
    fn resolvers_and_fronts_are_checked() {
        let head = "name = \"x\"\nstart = \"2025-01-01T00:00:00Z\"\nduration = \"1h\"\n";
        let fault = |target: &str, kind: &str| {
            format!(
                "[[fault]]\ntarget = \"{target}\"\nkind = \"{kind}\"\n\
                 from = \"+1m\"\nuntil = \"+2m\"\n"
            )
        };
        let two = format!(
            "{head}resolvers = 2\n{}",
            fault("resolver:2", "dns_timeout")
        );
        assert_eq!(
            Scenario::parse(&two).unwrap().faults[0].target,
            FaultTarget::Resolver(2)
        );
        for (text, reason) in [
            (
                format!(
                    "{head}resolvers = 2\n{}",
                    fault("resolver:3", "dns_timeout")
                ),
                "the scenario has 2",
            ),
            (
                format!("{head}{}", fault("resolver:1", "edge_error")),
                "dns_servfail or dns_timeout",
            ),
            (format!("{head}resolvers = 9\n"), "between 1 and 4"),
            (
                format!(
                    "{head}[[sites]]\ngroup = \"h\"\ncdn = \"heroku\"\n{}",
                    fault("cdn:heroku", "edge_error")
                ),
                "heroku has no page for edge_error on record",
            ),
            (
                format!(
                    "{head}[[sites]]\ngroup = \"x\"\ncdn = \"keycdn\"\n{}",
                    fault("group:x", "origin_down")
                ),
                "keycdn has no page for origin_down on record",
            ),
        ] {
            let error = Scenario::parse(&text).unwrap_err().to_string();
            assert!(error.contains(reason), "{error}");
        }
    }

    #[test]
    fn a_fault_seen_from_some_clients_is_checked() {
        let head = "name = \"x\"\nstart = \"2025-01-01T00:00:00Z\"\nduration = \"1h\"\n\
                    [[sites]]\ngroup = \"a\"\ncdn = \"fastly\"\n";
        let fault = |target: &str, kind: &str, seen_from: &str| {
            format!(
                "{head}[[fault]]\ntarget = \"{target}\"\nkind = \"{kind}\"\n\
                 from = \"+1m\"\nuntil = \"+2m\"\nseen_from = {seen_from}\n"
            )
        };
        let regional = Scenario::parse(&fault("cdn:fastly", "edge_error", "[\"127.0.0.12\"]"))
            .unwrap()
            .faults
            .remove(0);
        let twelve = "127.0.0.12".parse().unwrap();
        assert!(regional.seen_by(twelve));
        assert!(!regional.seen_by("127.0.0.11".parse().unwrap()));
        let cut = Scenario::parse(&fault("vantage", "network_loss", "[\"127.0.0.13\"]")).unwrap();
        assert_eq!(
            cut.faults[0].seen_from,
            ["127.0.0.13".parse::<std::net::IpAddr>().unwrap()]
        );
        for (text, reason) in [
            (
                fault("cdn:fastly", "edge_error", "[\"10.0.0.1\"]"),
                "only loopback",
            ),
            (
                fault("cdn:fastly", "edge_error", "[\"twelve\"]"),
                "not an IP address",
            ),
            (
                fault("cdn:fastly", "dns_servfail", "[\"127.0.0.12\"]"),
                "same for every client",
            ),
        ] {
            let error = Scenario::parse(&text).unwrap_err().to_string();
            assert!(error.contains(reason), "{error}");
        }
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut parsed = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                Scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                parsed += 1;
            }
        }
        assert!(parsed >= 22, "{parsed}");
    }

    #[test]
    fn durations_and_offsets() {
        assert_eq!(parse_duration("1h30m").unwrap(), TimeDelta::minutes(90));
        assert_eq!(parse_duration("90s").unwrap(), TimeDelta::seconds(90));
        assert_eq!(parse_offset("+6h36m").unwrap(), TimeDelta::minutes(396));
        for bad in ["", "5", "5x", "h", "99999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_offset("50m").is_err());
    }

    #[test]
    fn a_duration_past_the_end_of_the_calendar_is_refused() {
        // 18 KiB of "1000000h": the simulator's `start + duration`
        // overflowed and `faultline simulate` panicked.
        let text = format!(
            "name = \"x\"\nstart = \"9999-01-01T00:00:00Z\"\nduration = \"{}\"\n",
            "1000000h".repeat(2300)
        );
        let error = Scenario::parse(&text).unwrap_err().to_string();
        assert!(error.starts_with("line 3: "), "{error:.80}");
        assert!(error.ends_with("is too long"), "{error:.80}");
        assert!(parse_offset(&format!("+{}", "600000h".repeat(2))).is_err());
        assert_eq!(
            parse_duration("1000000h").unwrap(),
            TimeDelta::hours(1_000_000)
        );
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let base = "name = \"x\"\nstart = \"2025-01-01T00:00:00Z\"\nduration = \"1h\"\n";
        let cases = [
            ("[[sites]]\ngroup = \"a\"\ncdn = \"cloudflair\"\n", "line 4", "cloudflair"),
            ("[[sites]]\ngroup = \"a\"\n\n[[fault]]\ntarget = \"group:b\"\nkind = \"edge_error\"\nfrom = \"+1m\"\nuntil = \"+2m\"\n", "line 7", "no site group"),
            ("[[fault]]\ntarget = \"cdn:fastly\"\nkind = \"edge_error\"\nfrom = \"+5m\"\nuntil = \"+2m\"\n", "line 4", "until must come after"),
            ("[[subscription]]\nname = \"x\"\nkind = \"pigeon\"\nall = true\n", "line 4", "\"webhook\" or \"email\""),
        ];
        for (tail, line, words) in cases {
            let error = Scenario::parse(&format!("{base}{tail}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(line) && error.contains(words), "{error}");
        }
        let error = Scenario::parse(&format!(
            "{base}[[sites]]\ngroup = \"a\"\ncnd = \"fastly\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("cnd") && error.contains("line 6"), "{error}");
    }

    #[test]
    fn a_huge_value_makes_no_huge_message() {
        let base = "name = \"x\"\nstart = \"2025-01-01T00:00:00Z\"\nduration = \"1h\"\n";
        let huge = "q".repeat(100_000);
        for tail in [
            format!("[[sites]]\ngroup = \"a\"\ncdn = \"{huge}\"\n"),
            format!("[[sites]]\ngroup = \"a\"\ncdn = {huge}\n"),
        ] {
            let error = Scenario::parse(&format!("{base}{tail}"))
                .unwrap_err()
                .to_string();
            assert!(error.chars().count() < 400, "{} chars", error.len());
        }
    }
}
