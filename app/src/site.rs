//! One watched site as its page shows it, and the "is X down?" lookup.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::chart::{nice_ceiling, Bar, TimeChart, YUnit};
use crate::error::AppError;
use crate::incident::IncidentSummary;
#[cfg(feature = "ssr")]
use crate::knowledge::provider_name;

/// Everything the site page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SitePage {
    pub host: String,
    /// This server takes email subscriptions.
    #[serde(default)]
    pub email_alerts: bool,
    pub name: String,
    pub url: String,
    pub interval_s: i64,
    pub status: Option<StatusNow>,
    pub last_error: Option<ProbeView>,
    /// The provider incident that explains the last error, if one does.
    pub explained_by: Option<IncidentSummary>,
    pub window: Window,
    pub series: Series,
    pub probes: Vec<ProbeView>,
    pub providers: Vec<ProviderView>,
    pub incidents: Vec<IncidentSummary>,
    /// The data's time: the snapshot's newest probe, or the clock.
    pub as_of: DateTime<Utc>,
    pub freshness: crate::status::Freshness,
}

/// The latest probe's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusNow {
    pub checked_at: DateTime<Utc>,
    pub ok: bool,
    pub suspect: bool,
    pub failure: Option<engine::FailureClass>,
    pub fault: Option<engine::Fault>,
    pub provider: Option<String>,
    pub since: DateTime<Utc>,
}

/// One probe with its phase timings and classification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeView {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub suspect: bool,
    pub status: Option<i64>,
    pub failure: Option<engine::FailureClass>,
    pub detail: Option<String>,
    pub dns_ms: Option<i64>,
    pub connect_ms: Option<i64>,
    pub tls_ms: Option<i64>,
    pub ttfb_ms: Option<i64>,
    pub total_ms: Option<i64>,
    pub remote_ip: Option<String>,
    /// The provider that made the error page.
    pub provider: Option<String>,
    pub provider_name: Option<String>,
    pub fault_side: Option<engine::FaultSide>,
    /// Who is at fault, in words.
    pub at_fault: Option<String>,
    pub fault: Option<engine::Fault>,
    pub confidence: Option<f64>,
    pub evidence: Vec<String>,
}

/// A provider seen serving the site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderView {
    pub provider: String,
    pub provider_name: String,
    pub role: engine::Role,
    pub evidence: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// The chart windows a page offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    #[default]
    Day,
    Week,
    Month,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Day, Window::Week, Window::Month];

    pub fn parse(text: &str) -> Self {
        match text {
            "7d" => Window::Week,
            "30d" => Window::Month,
            _ => Window::Day,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Window::Day => "24h",
            Window::Week => "7d",
            Window::Month => "30d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Window::Day => "24 hours",
            Window::Week => "7 days",
            Window::Month => "30 days",
        }
    }

    /// The window's length and its bins, in seconds.
    pub fn span_and_bin(self) -> (i64, i64) {
        match self {
            Window::Day => (86_400, 900),
            Window::Week => (7 * 86_400, 3_600),
            Window::Month => (30 * 86_400, 86_400),
        }
    }

    /// The window that ends with the bin holding `end` (Unix seconds):
    /// `(from, until, bin)`.
    pub fn bounds(self, end: i64) -> (i64, i64, i64) {
        let (span, bin) = self.span_and_bin();
        let until = (end.div_euclid(bin) + 1) * bin;
        (until - span, until, bin)
    }

    /// The rollup table the window reads.
    #[cfg(feature = "ssr")]
    pub fn resolution(self) -> store::Resolution {
        match self {
            Window::Day => store::Resolution::Minute,
            Window::Week => store::Resolution::Hour,
            Window::Month => store::Resolution::Day,
        }
    }
}

/// What a chart's bars are, by their width in seconds: (one, many).
fn bin_words(bin_s: i64) -> (&'static str, &'static str) {
    if bin_s <= 900 {
        ("quarter-hour", "quarter-hours")
    } else if bin_s <= 3_600 {
        ("hour", "hours")
    } else {
        ("day", "days")
    }
}

/// Rollups binned over a window ending at the latest data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Unix seconds.
    pub from: i64,
    pub until: i64,
    pub bin_s: i64,
    pub bins: Vec<Bin>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub start: i64,
    pub probes: i64,
    pub failures: i64,
    pub suspect: i64,
    pub total_ms_sum: i64,
    pub total_ms_max: i64,
}

impl Bin {
    fn counted(&self) -> i64 {
        self.probes - self.suspect
    }

    fn failed_share(&self) -> f64 {
        if self.counted() > 0 {
            self.failures as f64 / self.counted() as f64
        } else {
            0.0
        }
    }

    /// The share of counted probes that answered; none without any.
    pub fn availability(&self) -> Option<f64> {
        (self.counted() > 0).then(|| (1.0 - self.failed_share()).clamp(0.0, 1.0))
    }

    /// The mean response time of the probes that answered.
    pub fn mean_ms(&self) -> Option<f64> {
        let answered = (self.probes - self.failures - self.suspect).max(0);
        (answered > 0 && self.total_ms_sum > 0).then(|| self.total_ms_sum as f64 / answered as f64)
    }
}

impl Series {
    /// Sums rollup rows `(bucket, probes, failures, suspect, ms_sum, ms_max)`
    /// into the window's bins; rows outside the window are ignored.
    pub fn binned(
        from: i64,
        until: i64,
        bin_s: i64,
        rows: impl IntoIterator<Item = (i64, i64, i64, i64, i64, i64)>,
    ) -> Self {
        let bin_s = bin_s.max(1);
        let mut bins: Vec<Bin> = Vec::new();
        for (bucket, probes, failures, suspect, sum, max) in rows {
            if bucket < from || bucket >= until {
                continue;
            }
            let start = from + (bucket - from) / bin_s * bin_s;
            match bins.last_mut() {
                Some(bin) if bin.start == start => {
                    bin.probes += probes;
                    bin.failures += failures;
                    bin.suspect += suspect;
                    bin.total_ms_sum += sum;
                    bin.total_ms_max = bin.total_ms_max.max(max);
                }
                _ => bins.push(Bin {
                    start,
                    probes,
                    failures,
                    suspect,
                    total_ms_sum: sum,
                    total_ms_max: max,
                }),
            }
        }
        Self {
            from,
            until,
            bin_s,
            bins,
        }
    }

    /// Binned stored rollups.
    #[cfg(feature = "ssr")]
    pub fn from_rollups(from: i64, until: i64, bin_s: i64, rows: Vec<store::RollupRow>) -> Self {
        Self::binned(
            from,
            until,
            bin_s,
            rows.into_iter().map(|r| {
                (
                    r.bucket.timestamp(),
                    r.probes,
                    r.failures,
                    r.suspect,
                    r.total_ms_sum,
                    r.total_ms_max,
                )
            }),
        )
    }

    /// Share of counted probes that answered, over the whole window.
    pub fn availability(&self) -> Option<f64> {
        let counted: i64 = self.bins.iter().map(Bin::counted).sum();
        let failures: i64 = self.bins.iter().map(|b| b.failures).sum();
        (counted > 0).then(|| 1.0 - failures as f64 / counted as f64)
    }

    /// Stretches of the window with no probe at all.
    pub fn gaps(&self) -> Vec<(i64, i64)> {
        let mut gaps = Vec::new();
        let mut cursor = self.from;
        for bin in &self.bins {
            if bin.start > cursor {
                gaps.push((cursor, bin.start));
            }
            cursor = bin.start + self.bin_s;
        }
        if cursor < self.until {
            gaps.push((cursor, self.until));
        }
        gaps
    }

    /// The availability chart: hatched bars where probes failed.
    pub fn availability_chart(&self, id: &str, what: &str, window: Window) -> TimeChart {
        let failing_bins = self.bins.iter().filter(|b| b.failures > 0).count();
        let summary = match self.availability() {
            Some(share) => {
                let (one, many) = bin_words(self.bin_s);
                let probes = self.bins.iter().map(|b| b.probes).sum::<i64>();
                format!(
                    "{what} answered {:.2} % of {} over the last {}; failures in {failing_bins} of {} with data.",
                    share * 100.0,
                    crate::words::count(usize::try_from(probes).unwrap_or_default(), "probe", "probes"),
                    window.label(),
                    crate::words::count(self.bins.len(), one, many),
                )
            }
            None => format!("No probes of {what} in the last {}.", window.label()),
        };
        TimeChart {
            id: id.to_owned(),
            title: format!("Failed probes, last {}", window.label()),
            summary,
            from: self.from,
            until: self.until,
            y_max: 1.0,
            y_unit: YUnit::Percent,
            bars: self
                .bins
                .iter()
                .map(|bin| Bar {
                    from: bin.start,
                    until: bin.start + self.bin_s,
                    value: bin.failed_share(),
                    label: format!(
                        "{}: {} of {} probes failed",
                        DateTime::<Utc>::from_timestamp(bin.start, 0)
                            .map(|t| t.format("%-d %b %H:%M UTC").to_string())
                            .unwrap_or_default(),
                        bin.failures,
                        bin.counted()
                    ),
                })
                .collect(),
            gaps: self.gaps(),
            ..TimeChart::default()
        }
    }

    /// The response-time chart: the mean over answered probes per bin.
    pub fn response_chart(&self, id: &str, what: &str, window: Window) -> TimeChart {
        let line: Vec<(i64, f64)> = self
            .bins
            .iter()
            .filter_map(|bin| bin.mean_ms().map(|ms| (bin.start + self.bin_s / 2, ms)))
            .collect();
        let max = line.iter().map(|(_, ms)| *ms).fold(0.0, f64::max);
        let summary = if line.is_empty() {
            format!(
                "No answered probes of {what} in the last {}.",
                window.label()
            )
        } else {
            let mean = line.iter().map(|(_, ms)| *ms).sum::<f64>() / line.len() as f64;
            format!(
                "{what} answered in {mean:.0} ms on average over the last {}; the slowest {} averaged {max:.0} ms.",
                window.label(),
                bin_words(self.bin_s).0,
            )
        };
        TimeChart {
            id: id.to_owned(),
            title: format!("Response time, last {}", window.label()),
            summary,
            from: self.from,
            until: self.until,
            y_max: nice_ceiling(max),
            y_unit: YUnit::Millis,
            line,
            gaps: self.gaps(),
            ..TimeChart::default()
        }
    }
}

/// What a search found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CheckOutcome {
    /// Nothing that reads as a domain or URL.
    Invalid,
    /// A host that is not on the watchlist.
    /// `can_check`: this server checks unwatched sites on demand.
    NotWatched { host: String, can_check: bool },
    /// A watched host: its page is at `/site/{host}`.
    Watched { host: String },
    /// A provider, named: its page is at `/provider/{id}`.
    Provider { id: String, name: String },
}

/// Finds the watched site a search means; sends the browser to its page
/// when there is one.
#[server]
pub async fn check_site(query: String) -> Result<CheckOutcome, AppError> {
    let store = expect_context::<store::Store>();
    if let Some(id) = crate::knowledge::provider_named(&query) {
        // Provider ids are lowercase letters, digits and hyphens.
        leptos_axum::redirect(&format!("/provider/{id}"));
        let name = crate::knowledge::provider_name(&id);
        return Ok(CheckOutcome::Provider { id, name });
    }
    let Some(host) = crate::ondemand::normalise_query(&query) else {
        return Ok(CheckOutcome::Invalid);
    };
    let alternative = match host.strip_prefix("www.") {
        Some(bare) => bare.to_owned(),
        None => format!("www.{host}"),
    };
    for candidate in [&host, &alternative] {
        if let Some(site) = store.site_by_host(candidate).await? {
            // Only a plain host name goes into the Location header.
            if site
                .host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                leptos_axum::redirect(&format!("/site/{}", site.host));
            }
            return Ok(CheckOutcome::Watched { host: site.host });
        }
    }
    let can_check = use_context::<crate::ondemand::OnDemand>().is_some();
    Ok(CheckOutcome::NotWatched { host, can_check })
}

/// A site page's live updates, from the short memo.
#[server]
pub async fn poll_site(host: String, window: String) -> Result<SitePage, AppError> {
    // One key per page: the host as looked up, a window the page knows.
    let window = Window::parse(&window).key().to_owned();
    let key = (host.to_ascii_lowercase(), window.clone());
    crate::live::memoised(key, get_site(host, window)).await
}

#[server]
pub async fn get_site(host: String, window: String) -> Result<SitePage, AppError> {
    use crate::words::evidence;

    let store = expect_context::<store::Store>();
    let host = host.to_ascii_lowercase();
    let Some(site) = store.site_by_host(&host).await? else {
        return Err(AppError::not_found(format!(
            "{host} is not on the watchlist."
        )));
    };
    let clock = expect_context::<crate::status::Status>();
    let snapshot = clock.snapshot();
    let freshness = clock.freshness(&snapshot);
    let now = freshness.data_until.unwrap_or(freshness.now);
    let stored = store.site_status(site.id).await?;
    // The snapshot's verdict, as every other page gives it; the stored
    // status says since when an answering site has been up, and stands
    // in for a site the correlator has not judged yet.
    let status = match (snapshot.sites.get(&site.id), stored) {
        (Some(judged), stored) => {
            let (fault, failure) = match judged.cause {
                Some(engine::Cause::Fault(fault)) => (Some(fault), None),
                Some(engine::Cause::Failure(failure)) => (None, Some(failure)),
                None => (None, None),
            };
            let up_since = stored
                .filter(|s| s.ok && s.started_at <= judged.at)
                .map(|s| s.since);
            Some(StatusNow {
                checked_at: judged.at,
                ok: judged.ok,
                suspect: judged.suspect,
                failure,
                fault,
                provider: judged.generator.clone(),
                since: if judged.ok {
                    up_since.unwrap_or(judged.at)
                } else {
                    judged.failing_since.unwrap_or(judged.at)
                },
            })
        }
        (None, stored) => stored.map(|s| StatusNow {
            checked_at: s.started_at,
            ok: s.ok,
            suspect: s.suspect,
            failure: s.failure,
            fault: s.fault,
            provider: s.provider,
            since: s.since,
        }),
    };
    let probe_view = |p: store::ProbeRecord| ProbeView {
        at: p.started_at,
        ok: p.ok,
        suspect: p.suspect,
        status: p.status,
        failure: p.failure,
        detail: p.detail,
        dns_ms: p.dns_ms,
        connect_ms: p.connect_ms,
        tls_ms: p.tls_ms,
        ttfb_ms: p.ttfb_ms,
        total_ms: p.total_ms,
        remote_ip: p.remote_ip,
        provider_name: p.provider.as_deref().map(provider_name),
        at_fault: p
            .fault_side
            .map(|side| crate::words::side(side, p.provider.as_deref())),
        provider: p.provider,
        fault_side: p.fault_side,
        fault: p.fault,
        confidence: p.confidence,
        evidence: evidence(p.evidence.as_deref()),
    };
    let last_error = store.latest_failure(site.id).await?.map(probe_view);
    let probes = store
        .probe_history(site.id, 20)
        .await?
        .into_iter()
        .map(probe_view)
        .collect();
    let providers = store
        .site_provider_history(site.id)
        .await?
        .into_iter()
        .map(|p| ProviderView {
            evidence: evidence(Some(&p.evidence)),
            provider_name: provider_name(&p.provider),
            provider: p.provider,
            role: p.role,
            first_seen: p.first_seen,
            last_seen: p.last_seen,
            until: p.until,
        })
        .collect();
    let stored_incidents = store.site_incidents(site.id, 50).await?;
    let incidents: Vec<IncidentSummary> = stored_incidents
        .into_iter()
        .map(|i| IncidentSummary::from_store(i, Some(site.host.clone())))
        .collect();
    // The provider incident whose window holds the last error, or the one
    // the site's own incident was attributed to.
    let explained_by = last_error.as_ref().and_then(|error| {
        let covers = |i: &&IncidentSummary| {
            i.kind == engine::IncidentKind::Provider
                && i.onset_at <= error.at
                && i.resolved_at.is_none_or(|end| error.at <= end)
        };
        incidents.iter().find(covers).cloned().or_else(|| {
            incidents
                .iter()
                .filter(|i| i.kind == engine::IncidentKind::Site && i.onset_at <= error.at)
                .find_map(|i| i.explained_by)
                .and_then(|id| incidents.iter().find(|p| p.id == id).cloned())
        })
    });

    let window = Window::parse(&window);
    let end = status.as_ref().map_or(now, |s| s.checked_at).timestamp();
    let (from, until, bin) = window.bounds(end);
    let at = |seconds: i64| DateTime::<Utc>::from_timestamp(seconds, 0).unwrap_or(now);
    let rows = store
        .rollups(site.id, window.resolution(), at(from), at(until))
        .await?;
    let series = Series::from_rollups(from, until, bin, rows);
    Ok(SitePage {
        email_alerts: crate::subscribe::email_offered(),
        host: site.host,
        name: site.name,
        url: site.url,
        interval_s: site.interval_s,
        status,
        last_error,
        explained_by,
        window,
        series,
        probes,
        providers,
        incidents,
        as_of: now,
        freshness,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn searches_normalise_to_a_host() {
        for (query, host) in [
            ("example.com", Some("example.com")),
            ("  Example.COM  ", Some("example.com")),
            (
                "https://www.example.com/path?q=1#x",
                Some("www.example.com"),
            ),
            ("http://example.com:8080", Some("example.com")),
            ("example.com/some/page", Some("example.com")),
            ("example.com.", Some("example.com")),
            ("bücher.de", Some("xn--bcher-kva.de")),
            ("", None),
            ("not a domain", None),
            ("localhost", None),
            ("127.0.0.1", None),
            ("ftp://example.com", None),
        ] {
            assert_eq!(
                crate::ondemand::normalise_query(query).as_deref(),
                host,
                "{query:?}"
            );
        }
    }

    #[test]
    fn rollups_bin_over_the_window_and_gaps_show() {
        let series = Series::binned(
            0,
            3600,
            900,
            [
                (0, 1, 0, 0, 100, 100),
                (60, 1, 1, 0, 0, 0),
                (1800, 2, 0, 0, 300, 200),
                (3600, 5, 5, 0, 0, 0),
            ],
        );
        assert_eq!(series.bins.len(), 2);
        assert_eq!(series.bins[0].probes, 2);
        assert_eq!(series.bins[0].mean_ms(), Some(100.0));
        assert_eq!(series.bins[1].mean_ms(), Some(150.0));
        assert_eq!(series.gaps(), [(900, 1800), (2700, 3600)]);
        assert_eq!(series.availability(), Some(0.75));
        let chart = series.availability_chart("a", "x", Window::Day);
        assert!(
            chart.summary.contains("75.00 % of 4 probes"),
            "{}",
            chart.summary
        );
    }
}
