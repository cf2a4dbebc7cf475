//! The words of the domain, typed once: what failed in a probe, who is at
//! fault, the role a provider plays, an incident's kind, phase and pattern,
//! and the own-network verdict.
//!
//! Each word has one spelling (`as_str`, the value stored in the database,
//! written to exports and shown in raw details) and one rendering in plain
//! words (`plain`). Text read back from storage goes through `From<&str>`,
//! which maps anything unrecognised (an older or newer database) to the
//! explicit `Unknown` word instead of failing; serde, used for data files
//! and configuration, refuses unknown spellings.
//!
//! This module depends on nothing but `serde`, so the web app can use it in
//! the browser as well.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Declares a word enum with its spellings and plain words, and the
/// conversions every word shares.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $spelling:literal, $plain:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every word, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The one spelling: stored, exported and shown in raw details.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $spelling, )*
                }
            }

            /// The word in plain language, for pages, feeds and alerts.
            pub fn plain(self) -> &'static str {
                match self {
                    $( $name::$variant => $plain, )*
                }
            }

            /// The word with exactly this spelling, if there is one.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $spelling => Some($name::$variant), )*
                    _ => None,
                }
            }
        }

        impl Default for $name {
            /// No word known yet.
            fn default() -> Self {
                $name::Unknown
            }
        }

        impl From<&str> for $name {
            /// Lenient, for text read back from storage: an unrecognised
            /// spelling is `Unknown`, never an error.
            fn from(name: &str) -> Self {
                Self::from_name(name).unwrap_or($name::Unknown)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// Strict, for data files: an unknown spelling is an error that
            /// lists the accepted ones.
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Self::from_name(&text).ok_or_else(|| {
                    let expected: Vec<&str> = Self::ALL.iter().map(|w| w.as_str()).collect();
                    serde::de::Error::custom(format!(
                        "unknown {} `{text}`, expected one of {}",
                        stringify!($name),
                        expected.join(", ")
                    ))
                })
            }
        }
    };
}

vocabulary! {
    /// How a probe failed: the closed taxonomy of the prober. A probe that
    /// got an answer with an error status is `HttpStatus`; everything else
    /// names the step that did not complete.
    pub enum FailureClass {
        /// The URL could not be parsed or has no host.
        InvalidUrl => "invalid_url", "the address is not a valid web address";
        /// The SSRF guard refused the scheme or the address.
        BlockedTarget => "blocked_target", "Faultline may not probe this address or port (a private or reserved network, or a port other than the web's)";
        DnsNxdomain => "dns_nxdomain", "the name does not exist in DNS";
        DnsServfail => "dns_servfail", "DNS failed to answer (SERVFAIL)";
        DnsTimeout => "dns_timeout", "DNS did not answer in time";
        DnsError => "dns_error", "the DNS lookup failed";
        ConnectRefused => "connect_refused", "the connection was refused";
        ConnectTimeout => "connect_timeout", "the connection timed out";
        ConnectError => "connect_error", "the connection failed";
        TlsHandshake => "tls_handshake", "the secure connection (TLS handshake) failed";
        TlsCertificate => "tls_certificate", "the site's certificate was not accepted";
        HttpProtocol => "http_protocol", "the answer was not valid HTTP";
        ReadTimeout => "read_timeout", "no complete answer in time";
        TooManyRedirects => "too_many_redirects", "too many redirects";
        RedirectLoop => "redirect_loop", "the page redirects in a loop";
        HttpStatus => "http_status", "an HTTP error status";
        /// A spelling this build does not know.
        Unknown => "unknown", "an unknown failure";
    }
}

impl FailureClass {
    /// A failure of the name lookup.
    pub fn is_dns(self) -> bool {
        matches!(
            self,
            Self::DnsNxdomain | Self::DnsServfail | Self::DnsTimeout | Self::DnsError
        )
    }

    /// A failure to open a connection at all.
    pub fn is_connect(self) -> bool {
        matches!(
            self,
            Self::ConnectRefused | Self::ConnectTimeout | Self::ConnectError
        )
    }

    /// "The network did not carry us there", as opposed to a server that
    /// answered badly: what the own-network guard counts.
    pub fn is_network(self) -> bool {
        self.is_dns() || self.is_connect() || self == Self::ReadTimeout
    }
}

vocabulary! {
    /// Which side of the request path failed or decided.
    ///
    /// `Origin` also covers a provider's own "origin unreachable" pages, code
    /// the customer runs on the edge (Workers, Lambda@Edge) and the
    /// customer's own configuration (unknown domain, no such app, default
    /// pages), because in all of those the provider worked as designed.
    pub enum FaultSide {
        /// The provider's own infrastructure failed.
        Edge => "edge", "the provider's edge";
        /// The site's own servers, code or configuration.
        Origin => "origin", "the site's own servers";
        /// A deliberate refusal: block, challenge, rate limit.
        Policy => "policy", "a deliberate block (a security or access rule), not an outage";
        /// An error page that does not say who failed.
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// What went wrong, as precisely as the evidence allows.
    pub enum Fault {
        EdgeError => "edge_error", "the provider's edge failed to serve the page";
        OriginUnreachable => "origin_unreachable", "the site's own server could not be reached";
        OriginTimeout => "origin_timeout", "the site's own server did not answer in time";
        OriginTls => "origin_tls", "the site's own server failed the secure connection";
        OriginError => "origin_error", "the site's own server returned an error";
        DnsError => "dns_error", "dns error";
        ConfigError => "config_error", "config error";
        Blocked => "blocked", "the request was blocked by a security rule";
        Challenge => "challenge", "challenge";
        RateLimited => "rate_limited", "rate limited";
        Maintenance => "maintenance", "maintenance";
        NotFound => "not_found", "not found";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// The part a provider plays in serving a site.
    pub enum Role {
        /// A caching reverse proxy in front of the origin.
        Cdn => "cdn", "CDN";
        /// The authoritative name servers.
        Dns => "dns", "DNS";
        /// The platform the site's code or files run on.
        Host => "host", "hosting";
        /// A security proxy that blocks or challenges.
        Waf => "waf", "firewall";
        /// A spelling this build does not know.
        Unknown => "unknown", "unknown role";
    }
}

impl Role {
    /// The cohort a provider in this role is judged in: a security proxy
    /// sits where a CDN does, so its sites fail the way a CDN's do.
    pub fn cohort(self) -> Self {
        match self {
            Self::Waf => Self::Cdn,
            other => other,
        }
    }
}

vocabulary! {
    /// Whether an incident is about a provider's sites or one site.
    pub enum IncidentKind {
        /// Unrelated sites failing together behind one provider.
        Provider => "provider", "provider-wide";
        /// One site down.
        Site => "site", "site";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// What shows a provider-wide incident: the provider's own failures, or
    /// pages that blame the customers' origins, from unrelated origins at
    /// once, which only the path between its edge and them explains.
    pub enum Mechanism {
        /// Its own error pages, an edge that stops answering, failed lookups.
        Own => "own", "its own failures";
        /// Its pages blame origins, but unrelated origins failed together.
        EdgeToOrigin => "edge_to_origin", "a failure between its edge and the sites' servers";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// How far a provider-wide incident reaches, as the probes' vantages
    /// see it: from every region that probes, or from some only.
    pub enum Scope {
        Global => "global", "seen from every region";
        Regional => "regional", "seen from some regions only";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// Where a provider's own account of an incident stands: the stages
    /// status pages publish.
    pub enum OfficialStatus {
        Investigating => "investigating", "investigating";
        Identified => "identified", "identified";
        Monitoring => "monitoring", "monitoring";
        Resolved => "resolved", "resolved";
        /// A follow-up after resolution (Statuspage's post-mortem stage).
        Postmortem => "postmortem", "post-mortem";
        /// Planned work announced, in progress or verified.
        Maintenance => "maintenance", "maintenance";
        /// An update that names no stage (feeds, Google Cloud).
        Update => "update", "update";
        Unknown => "unknown", "unknown";
    }
}

impl OfficialStatus {
    /// Whether this update closes the provider's incident.
    pub fn is_resolution(self) -> bool {
        matches!(self, Self::Resolved | Self::Postmortem)
    }
}

vocabulary! {
    /// How bad a provider says its incident is.
    pub enum OfficialImpact {
        None => "none", "no impact stated";
        Minor => "minor", "minor";
        Major => "major", "major";
        Critical => "critical", "critical";
        Maintenance => "maintenance", "planned maintenance";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// The format a provider's status page publishes its incidents in.
    pub enum StatusFormat {
        /// Atlassian Statuspage's JSON API (`/api/v2/incidents.json`).
        Statuspage => "statuspage", "Statuspage JSON";
        /// An Atom or RSS feed of status posts.
        Feed => "feed", "Atom or RSS feed";
        /// Google Cloud's `incidents.json`.
        GoogleCloud => "google_cloud", "Google Cloud incidents JSON";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// Where an incident is in its life.
    pub enum Phase {
        /// Above the threshold, not yet for long or broadly enough.
        Suspected => "suspected", "suspected";
        Confirmed => "confirmed", "confirmed";
        /// Below the threshold again, not yet for long enough.
        Recovering => "recovering", "recovering";
        Resolved => "resolved", "resolved";
        Unknown => "unknown", "unknown";
    }
}

impl Phase {
    /// Still open: not resolved (an unknown phase counts as open, so it is
    /// shown rather than hidden).
    pub fn is_open(self) -> bool {
        self != Self::Resolved
    }
}

vocabulary! {
    /// The shape of an incident over time.
    pub enum Pattern {
        Steady => "steady", "steady";
        /// Failures came and went in waves.
        Intermittent => "intermittent", "intermittent";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// The own-network guard's verdict on our vantage point.
    pub enum VantageState {
        Online => "online", "online";
        /// Some canaries or many probes fail at the network layer.
        Degraded => "degraded", "degraded";
        /// Our own network is down: failures now are ours.
        Offline => "offline", "offline";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// What an alert tells its subscriber.
    pub enum AlertEvent {
        /// Early warning: a provider's sites start failing together.
        ProviderSuspected => "provider.suspected", "provider outage suspected";
        ProviderConfirmed => "provider.confirmed", "provider outage confirmed";
        ProviderRecovering => "provider.recovering", "provider outage recovering";
        ProviderResolved => "provider.resolved", "provider outage resolved";
        /// A recovering outage came back (an intermittent pattern).
        ProviderRelapsed => "provider.relapsed", "provider outage back";
        /// A confirmed outage seen from some regions is now seen from more
        /// (perhaps from all of them).
        ProviderSpread => "provider.spread", "provider outage spread";
        /// A reminder that a confirmed outage is still going, for those
        /// who asked for reminders.
        ProviderOngoing => "provider.ongoing", "provider outage still going";
        /// The provider's status page first spoke of the outage.
        ProviderAcknowledged => "provider.acknowledged", "the provider acknowledged the outage";
        /// The provider's status page declared the outage over.
        ProviderOfficiallyResolved => "provider.official_resolved", "the provider declared the outage resolved";
        SiteDown => "site.down", "site down";
        SiteRecovered => "site.recovered", "site recovered";
        /// The site is failing, and a provider incident explains it.
        SiteExplained => "site.explained", "site down in a provider outage";
        /// Early warning: the site's provider is failing, the site not (yet).
        SiteProviderFailing => "site.provider_failing", "the site's provider is failing";
        /// A test event, sent on request.
        Test => "test", "test";
        Unknown => "unknown", "unknown";
    }
}

impl AlertEvent {
    /// What a new subscription gets unless it says otherwise: everything
    /// but suspicions, which may end as blips.
    pub const DEFAULTS: &'static [AlertEvent] = &[
        AlertEvent::ProviderConfirmed,
        AlertEvent::ProviderRecovering,
        AlertEvent::ProviderResolved,
        AlertEvent::ProviderRelapsed,
        AlertEvent::ProviderSpread,
        AlertEvent::SiteDown,
        AlertEvent::SiteRecovered,
        AlertEvent::SiteExplained,
        AlertEvent::SiteProviderFailing,
    ];

    /// Whether it closes what an earlier alert opened: never muted.
    pub fn is_resolution(self) -> bool {
        matches!(self, Self::ProviderResolved | Self::SiteRecovered)
    }

    /// The event a provider incident's new phase is.
    pub fn of_phase(phase: Phase, relapse: bool) -> Self {
        match phase {
            Phase::Suspected => Self::ProviderSuspected,
            Phase::Confirmed if relapse => Self::ProviderRelapsed,
            Phase::Confirmed => Self::ProviderConfirmed,
            Phase::Recovering => Self::ProviderRecovering,
            Phase::Resolved => Self::ProviderResolved,
            Phase::Unknown => Self::Unknown,
        }
    }
}

vocabulary! {
    /// Where a subscription's alerts go.
    pub enum AlertChannel {
        Webhook => "webhook", "webhook";
        Email => "email", "email";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// Where one alert's delivery to one subscription stands.
    pub enum DeliveryState {
        Pending => "pending", "waiting to be sent";
        Delivered => "delivered", "delivered";
        /// Decided during a mute window: known, never sent.
        Muted => "muted", "muted";
        /// Every attempt failed; an administrator may replay it.
        Dead => "dead", "failed every attempt";
        Unknown => "unknown", "unknown";
    }
}

vocabulary! {
    /// How a webhook's body is shaped.
    pub enum AlertFormat {
        /// Standard Webhooks: signed JSON, the full payload.
        Standard => "standard", "signed JSON (Standard Webhooks)";
        Slack => "slack", "Slack";
        Discord => "discord", "Discord";
        /// Microsoft Teams, through a Workflows webhook (an adaptive card).
        Teams => "teams", "Microsoft Teams";
        Ntfy => "ntfy", "ntfy";
        Unknown => "unknown", "unknown";
    }
}

/// Why a site was down, in one word: the classifier's fault when there
/// was an error page to read, otherwise how the probe failed. Stored as
/// the spelling of either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    Fault(Fault),
    Failure(FailureClass),
}

impl Cause {
    /// The fault if known, else the failure class.
    pub fn of(fault: Option<Fault>, failure: Option<FailureClass>) -> Option<Self> {
        fault.map(Self::Fault).or(failure.map(Self::Failure))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fault(fault) => fault.as_str(),
            Self::Failure(failure) => failure.as_str(),
        }
    }

    pub fn plain(self) -> &'static str {
        match self {
            Self::Fault(fault) => fault.plain(),
            Self::Failure(failure) => failure.plain(),
        }
    }
}

impl From<&str> for Cause {
    /// A fault's spelling first (they are the more precise words), then a
    /// failure class; anything else is an unknown failure.
    fn from(name: &str) -> Self {
        Fault::from_name(name)
            .map(Self::Fault)
            .unwrap_or_else(|| Self::Failure(FailureClass::from(name)))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Cause {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Cause {
    /// Lenient like `From<&str>`: a cause is only ever read back, never
    /// written by hand.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::from(text.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy
            + PartialEq
            + fmt::Debug
            + Serialize
            + for<'de> Deserialize<'de>
            + for<'a> From<&'a str>,
        T: fmt::Display,
    {
        for &word in all {
            let spelled = word.to_string();
            assert_eq!(T::from(spelled.as_str()), word);
            let json = serde_json::to_string(&word).unwrap();
            assert_eq!(json, format!("\"{spelled}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), word);
        }
    }

    #[test]
    fn every_word_round_trips_through_its_spelling() {
        round_trips(FailureClass::ALL);
        round_trips(FaultSide::ALL);
        round_trips(Fault::ALL);
        round_trips(Role::ALL);
        round_trips(IncidentKind::ALL);
        round_trips(Phase::ALL);
        round_trips(Mechanism::ALL);
        round_trips(Pattern::ALL);
        round_trips(VantageState::ALL);
        round_trips(Scope::ALL);
    }

    #[test]
    fn unknown_spellings_degrade_when_read_back_and_are_refused_in_data_files() {
        assert_eq!(FailureClass::from("tls_error"), FailureClass::Unknown);
        assert_eq!(Phase::from(""), Phase::Unknown);
        assert_eq!(Role::from("CDN"), Role::Unknown);
        let error = serde_json::from_str::<Role>("\"edge\"").unwrap_err();
        assert!(error.to_string().contains("cdn, dns, host, waf"), "{error}");
    }

    #[test]
    fn spellings_and_plain_words_are_distinct() {
        let spellings: Vec<&str> = FailureClass::ALL.iter().map(|c| c.as_str()).collect();
        let mut unique = spellings.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), spellings.len());
        let plain: std::collections::HashSet<&str> =
            FailureClass::ALL.iter().map(|c| c.plain()).collect();
        assert_eq!(plain.len(), FailureClass::ALL.len());
    }

    #[test]
    fn network_failures_are_the_ones_the_guard_counts() {
        let network: Vec<&str> = FailureClass::ALL
            .iter()
            .filter(|c| c.is_network())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            network,
            [
                "dns_nxdomain",
                "dns_servfail",
                "dns_timeout",
                "dns_error",
                "connect_refused",
                "connect_timeout",
                "connect_error",
                "read_timeout"
            ]
        );
    }

    #[test]
    fn a_firewall_is_judged_with_the_cdns() {
        assert_eq!(Role::Waf.cohort(), Role::Cdn);
        assert_eq!(Role::Dns.cohort(), Role::Dns);
    }
}
