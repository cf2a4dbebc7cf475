//! A scenario's world on loopback: one authoritative DNS server, one edge
//! per CDN provider answering with that provider's real headers and error
//! pages, and origins for the sites reached directly. Every server reads the
//! simulation clock on each request, so the fault timeline plays out as the
//! virtual time passes, with no one to switch faults on and off.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, SimClock};
use crate::sim::dns::{DnsFault, DnsServer};
use crate::sim::front::{front, fronts, Front, Page, ERROR_PAGES};
use crate::sim::scenario::{page_for, Fault, FaultKind, FaultTarget, Scenario, Served, Statement};
use engine::vocab::StatusFormat;

/// Name servers of DNS providers the synthetic internet has no front for.
fn dns_ns(provider: &str) -> String {
    match provider {
        "aws" => "ns-2.awsdns-02.org".to_owned(),
        "google" => "ns-cloud-a1.googledomains.com".to_owned(),
        other => front(other).map_or_else(|| format!("ns1.{other}.test"), |f| f.ns.clone()),
    }
}

/// The name a fronted site's own name points at: under the front's CNAME
/// suffix, or the site's own name when the front has none.
fn front_name(site: &SimSite, front: &Front) -> String {
    match &front.cname_suffix {
        Some(suffix) => format!("{}.{suffix}", site.host.replace('.', "-")),
        None => site.host.clone(),
    }
}

/// One site of the world.
#[derive(Clone, Debug)]
pub struct SimSite {
    pub host: String,
    pub group: String,
    pub cdn: Option<String>,
    pub dns: Option<String>,
    pub host_provider: Option<String>,
    pub flaky: f64,
    /// Stable pseudo-random number in [0, 1) for `share` choices.
    pub lot: f64,
}

/// The running world. `stop` ends every server.
pub struct World {
    pub dns: DnsServer,
    pub port: u16,
    pub sites: Vec<SimSite>,
    /// Each running front's addresses, by provider id.
    edges: HashMap<String, Edge>,
    stop: CancellationToken,
    /// The edge and origin servers.
    tasks: TaskTracker,
}

/// A running front's address, and the one where nothing listens that its
/// sites point at while their edge is unreachable.
struct Edge {
    ip: IpAddr,
    unreachable: IpAddr,
}

struct Shared {
    clock: SimClock,
    start: DateTime<Utc>,
    faults: Vec<Fault>,
    statements: Vec<Statement>,
    sites: HashMap<String, SimSite>,
    seed: u64,
}

impl World {
    /// Builds DNS zones and starts the edges and the origin server, all on
    /// one port across several loopback addresses.
    pub async fn start(scenario: &Scenario, clock: SimClock) -> std::io::Result<Self> {
        let dns = DnsServer::start_with(usize::from(scenario.resolvers)).await?;
        let sites: Vec<SimSite> = scenario
            .site_names()
            .into_iter()
            .map(|(host, group)| SimSite {
                lot: lot(scenario.seed, &host),
                host,
                group: group.group.clone(),
                cdn: group.cdn.clone(),
                dns: group.dns.clone(),
                host_provider: group.host.clone(),
                flaky: group.flaky,
            })
            .collect();

        // Edges get 127.0.1.N, the origin server 127.0.2.1; all on one port.
        let origin_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1));
        let origin_listener = TcpListener::bind(SocketAddr::new(origin_ip, 0)).await?;
        let port = origin_listener.local_addr()?.port();
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let shared = Arc::new(Shared {
            clock,
            start: scenario.start,
            faults: scenario.faults.clone(),
            statements: scenario.statements.clone(),
            sites: sites.iter().map(|s| (s.host.clone(), s.clone())).collect(),
            seed: scenario.seed,
        });
        serve(&tasks, origin_listener, shared.clone(), None, stop.clone());
        let fronts = fronts().map_err(std::io::Error::other)?;
        let mut edges = HashMap::new();
        for (index, front) in fronts.iter().enumerate() {
            if !sites
                .iter()
                .any(|s| s.cdn.as_deref() == Some(front.id.as_str()))
            {
                continue;
            }
            let n = u8::try_from(index + 1).map_err(std::io::Error::other)?;
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 1, n));
            let listener = TcpListener::bind(SocketAddr::new(ip, port)).await?;
            serve(&tasks, listener, shared.clone(), Some(front), stop.clone());
            // Where nothing listens: the edge of a front that stopped
            // answering refuses the connection.
            let unreachable = IpAddr::V4(Ipv4Addr::new(127, 0, 3, n));
            edges.insert(front.id.clone(), Edge { ip, unreachable });
        }
        for site in &sites {
            match site.cdn.as_deref().and_then(front) {
                Some(front) => {
                    let name = front_name(site, front);
                    if name != site.host {
                        dns.add_cname(&site.host, &name);
                    }
                    if let Some(edge) = edges.get(&front.id) {
                        dns.add_addresses(&name, &[edge.ip]);
                    }
                }
                None => dns.add_addresses(&site.host, &[origin_ip]),
            }
            let ns = site
                .dns
                .as_deref()
                .map_or_else(|| "ns1.neutral-dns.test".to_owned(), dns_ns);
            dns.add_ns(&site.host, &[&ns]);
        }
        // Each provider with statements publishes them on its status page.
        for provider in scenario.statement_providers() {
            dns.add_addresses(&status_host(&provider), &[origin_ip]);
        }
        tasks.close();
        Ok(Self {
            dns,
            port,
            sites,
            edges,
            stop,
            tasks,
        })
    }

    /// Canary URLs for the own-network guard, on the origin server.
    pub fn canaries(&self) -> Vec<String> {
        (1..=4)
            .map(|n| {
                let host = format!("canary-{n}.vantage.test");
                self.dns
                    .add_addresses(&host, &[IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1))]);
                format!("http://{host}:{}/", self.port)
            })
            .collect()
    }

    /// Where `provider`'s status page publishes its incidents, in the
    /// provider's own format ([`status_format`]).
    pub fn status_url(&self, provider: &str) -> String {
        format!(
            "http://{}:{}{}",
            status_host(provider),
            self.port,
            status_path(status_format(provider))
        )
    }

    /// The URL the watchlist uses for a site.
    pub fn url(&self, site: &SimSite) -> String {
        format!("http://{}:{}/", site.host, self.port)
    }

    pub fn stop(&self) {
        self.stop.cancel();
        self.dns.stop();
    }

    /// Waits until every server, once stopped, has finished.
    pub async fn stopped(&self) {
        self.tasks.wait().await;
        self.dns.stopped().await;
    }

    /// Switches DNS faults to what the scenario says at `now`; the driver
    /// calls it at every step. With `cdn:<id>` the fault sits in the CDN's
    /// CNAME target (as in Akamai's 2021 outage), otherwise in the site's
    /// own zone; `network_loss` silences every name.
    pub fn apply_dns_faults(&self, scenario: &Scenario, now: DateTime<Utc>) {
        let offset = now - scenario.start;
        let losses: Vec<&Fault> = scenario
            .faults
            .iter()
            .filter(|f| f.kind == FaultKind::NetworkLoss && f.active_at(offset))
            .collect();
        let lost = losses.iter().any(|f| f.seen_from.is_empty());
        self.dns.set_fault("", lost.then_some(DnsFault::Silence));
        let cut_off: Vec<IpAddr> = losses
            .iter()
            .flat_map(|f| f.seen_from.iter().copied())
            .collect();
        self.dns.cut_off(&cut_off);
        for n in 1..=scenario.resolvers {
            let fault = scenario.faults.iter().find_map(|f| {
                (f.target == FaultTarget::Resolver(n) && f.active_at(offset)).then_some(
                    match f.kind {
                        FaultKind::DnsServfail => DnsFault::ServFail,
                        _ => DnsFault::Silence,
                    },
                )
            });
            self.dns.set_resolver_fault(usize::from(n - 1), fault);
        }
        for site in &self.sites {
            let active = scenario.faults.iter().find_map(|f| {
                let kind = match f.kind {
                    FaultKind::DnsServfail => DnsFault::ServFail,
                    FaultKind::DnsNxdomain => DnsFault::NxDomain,
                    FaultKind::DnsTimeout => DnsFault::Silence,
                    _ => return None,
                };
                (f.active_at(offset) && hits(f, site) && site.lot < f.share).then_some((f, kind))
            });
            let fronted = site.cdn.as_deref().and_then(front);
            if let Some(front) = fronted {
                self.point_at_edge(scenario, site, front, offset);
            }
            let cname = fronted
                .filter(|front| front.cname_suffix.is_some())
                .map(|front| front_name(site, front));
            let (in_cdn_zone, fault) = match active {
                Some((f, kind)) => (matches!(f.target, FaultTarget::Cdn(_)), Some(kind)),
                None => (false, None),
            };
            match (&cname, in_cdn_zone) {
                (Some(cname), true) => {
                    self.dns.set_fault(cname, fault);
                    self.dns.set_fault(&site.host, None);
                }
                _ => {
                    self.dns.set_fault(&site.host, fault);
                    if let Some(cname) = &cname {
                        self.dns.set_fault(cname, None);
                    }
                }
            }
        }
    }
}

impl World {
    /// Points a fronted site's name at its front's edge, or, while an
    /// `edge_unreachable` fault holds it, at an address that refuses
    /// connections, as an edge that stopped answering does.
    fn point_at_edge(&self, scenario: &Scenario, site: &SimSite, front: &Front, offset: TimeDelta) {
        let Some(edge) = self.edges.get(&front.id) else {
            return;
        };
        let unreachable = scenario.faults.iter().any(|f| {
            f.kind == FaultKind::EdgeUnreachable
                && f.active_at(offset)
                && hits(f, site)
                && site.lot < f.share
        });
        let ip = if unreachable {
            edge.unreachable
        } else {
            edge.ip
        };
        self.dns.add_addresses(&front_name(site, front), &[ip]);
    }
}

/// The format `provider`'s real status page publishes in (its knowledge
/// base file's `[status]`), Statuspage's for a provider without one.
pub fn status_format(provider: &str) -> StatusFormat {
    engine::KnowledgeBase::shared()
        .status_pages()
        .find(|(id, _)| id.as_str() == provider)
        .map_or(StatusFormat::Statuspage, |(_, page)| page.format)
}

/// Where a status page of `format` publishes, as the real ones do.
fn status_path(format: StatusFormat) -> &'static str {
    match format {
        StatusFormat::Feed => "/rss/all.rss",
        StatusFormat::GoogleCloud => "/incidents.json",
        StatusFormat::Statuspage | StatusFormat::Unknown => "/api/v2/incidents.json",
    }
}

/// `provider`'s statements published by `offset`, grouped by official
/// incident in the order they first appear.
fn published<'a>(
    statements: &'a [Statement],
    provider: &str,
    offset: TimeDelta,
) -> Vec<(&'a str, Vec<&'a Statement>)> {
    let mut incidents: Vec<(&str, Vec<&Statement>)> = Vec::new();
    for statement in statements
        .iter()
        .filter(|s| s.provider == provider && s.at <= offset)
    {
        match incidents
            .iter_mut()
            .find(|(id, _)| *id == statement.incident.as_str())
        {
            Some((_, updates)) => updates.push(statement),
            None => incidents.push((&statement.incident, vec![statement])),
        }
    }
    incidents
}

/// The statements as an RSS feed in the style of the AWS Health
/// Dashboard's: one item per update, its stage in the title's first words.
fn status_feed(
    statements: &[Statement],
    provider: &str,
    start: DateTime<Utc>,
    offset: TimeDelta,
) -> String {
    let escape = crate::markup::escape;
    let mut items: Vec<(TimeDelta, String)> = Vec::new();
    for (incident, updates) in published(statements, provider, offset) {
        for update in updates {
            let at = start + update.at;
            let title = if update.status.is_resolution() {
                format!("Service is operating normally: [RESOLVED] {}", update.title)
            } else {
                format!("Informational message: {}", update.title)
            };
            items.push((
                update.at,
                format!(
                    "<item><title>{}</title><link>http://{}/</link><pubDate>{}</pubDate><guid isPermaLink=\"false\">http://{}/#{}_{}</guid><description>{}</description></item>",
                    escape(&title),
                    status_host(provider),
                    at.to_rfc2822(),
                    status_host(provider),
                    escape(incident),
                    at.timestamp(),
                    escape(&update.text)
                ),
            ));
        }
    }
    items.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let items: String = items.into_iter().map(|(_, item)| item).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>{} Service Status</title><link>http://{}/</link><description>{}</description>{items}</channel></rss>",
        escape(provider),
        status_host(provider),
        escape(provider)
    )
}

/// The statements as Google Cloud's `incidents.json`: each incident with
/// its updates, newest first, `AVAILABLE` once resolved.
fn status_google(
    statements: &[Statement],
    provider: &str,
    start: DateTime<Utc>,
    offset: TimeDelta,
) -> serde_json::Value {
    let time = |at: TimeDelta| (start + at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let incidents: Vec<serde_json::Value> = published(statements, provider, offset)
        .into_iter()
        .rev()
        .map(|(incident, updates)| {
            let first = updates.first().map_or(TimeDelta::zero(), |s| s.at);
            let last = updates.last().map_or(first, |s| s.at);
            let end = updates
                .iter()
                .find(|s| s.status.is_resolution())
                .map(|s| time(s.at));
            let title = updates.last().map_or("", |s| s.title.as_str());
            serde_json::json!({
                "id": incident,
                "number": incident,
                "begin": time(first),
                "created": time(first),
                "end": end,
                "modified": time(last),
                "external_desc": title,
                "updates": updates.iter().rev().map(|s| serde_json::json!({
                    "created": time(s.at),
                    "modified": time(s.at),
                    "when": time(s.at),
                    "text": s.text,
                    "status": if s.status.is_resolution() { "AVAILABLE" } else { "SERVICE_OUTAGE" },
                    "affected_locations": [],
                })).collect::<Vec<_>>(),
                "status_impact": "SERVICE_OUTAGE",
                "severity": "high",
                "affected_products": [],
                "uri": format!("incidents/{incident}"),
            })
        })
        .collect();
    serde_json::Value::Array(incidents)
}

/// The host name of `provider`'s status page.
fn status_host(provider: &str) -> String {
    format!("status.{provider}.test")
}

/// `provider`'s status page at `offset`: its incidents and the updates
/// published so far, newest first, as Atlassian Statuspage's
/// `/api/v2/incidents.json` has them.
fn status_document(
    statements: &[Statement],
    provider: &str,
    start: DateTime<Utc>,
    offset: TimeDelta,
) -> serde_json::Value {
    let time = |at: TimeDelta| (start + at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let listed: Vec<serde_json::Value> = published(statements, provider, offset)
        .into_iter()
        .rev()
        .filter_map(|(incident, updates)| {
            let (first, last) = (updates.first()?, updates.last()?);
            let resolved = updates
                .iter()
                .find(|s| s.status.is_resolution())
                .map(|s| time(s.at));
            Some(serde_json::json!({
                "id": incident,
                "name": last.title,
                "status": last.status.as_str(),
                "impact": last.impact.as_str(),
                "created_at": time(first.at),
                "started_at": time(first.at),
                "resolved_at": resolved,
                "shortlink": null,
                "components": [],
                "incident_updates": updates.iter().enumerate().rev().map(|(n, s)| serde_json::json!({
                    "id": format!("{incident}-{n}"),
                    "status": s.status.as_str(),
                    "body": s.text,
                    "created_at": time(s.at),
                    "display_at": time(s.at),
                    "affected_components": null,
                })).collect::<Vec<_>>(),
            }))
        })
        .collect();
    serde_json::json!({
        "page": { "id": provider, "name": provider, "url": format!("http://{}", status_host(provider)) },
        "incidents": listed,
    })
}

/// A status page's answer, with an ETag and `304` for a client that has it.
fn status_answer(
    shared: &Shared,
    provider: &str,
    path: &str,
    headers: &HeaderMap,
) -> Response<Body> {
    let format = status_format(provider);
    if path != status_path(format) {
        return page(StatusCode::NOT_FOUND, None, b"not found");
    }
    let offset = shared.clock.now() - shared.start;
    let (body, content_type) = match format {
        StatusFormat::Feed => (
            status_feed(&shared.statements, provider, shared.start, offset),
            "application/rss+xml",
        ),
        StatusFormat::GoogleCloud => (
            status_google(&shared.statements, provider, shared.start, offset).to_string(),
            "application/json",
        ),
        StatusFormat::Statuspage | StatusFormat::Unknown => (
            status_document(&shared.statements, provider, shared.start, offset).to_string(),
            "application/json",
        ),
    };
    let etag = format!("\"{:016x}\"", (lot(0, &body) * 1e15) as u64);
    let mut response =
        if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            let mut unchanged = Response::new(Body::empty());
            *unchanged.status_mut() = StatusCode::NOT_MODIFIED;
            unchanged
        } else {
            let mut full = Response::new(Body::from(body));
            full.headers_mut().insert(
                "content-type",
                axum::http::HeaderValue::from_static(content_type),
            );
            full
        };
    if let Ok(value) = axum::http::HeaderValue::from_str(&etag) {
        response.headers_mut().insert("etag", value);
    }
    response
}

/// Whether fault `f` concerns `site`.
fn hits(f: &Fault, site: &SimSite) -> bool {
    match &f.target {
        FaultTarget::Cdn(id) => site.cdn.as_deref() == Some(id),
        FaultTarget::Dns(id) => site.dns.as_deref() == Some(id),
        FaultTarget::Host(id) => site.host_provider.as_deref() == Some(id),
        FaultTarget::Group(group) => &site.group == group,
        FaultTarget::Site(host) => &site.host == host,
        FaultTarget::Vantage | FaultTarget::Resolver(_) => false,
    }
}

/// A stable number in [0, 1) from the seed and a name (FNV-1a).
fn lot(seed: u64, name: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

fn serve(
    tasks: &TaskTracker,
    listener: TcpListener,
    shared: Arc<Shared>,
    front: Option<&'static Front>,
    stop: CancellationToken,
) {
    let app = axum::Router::new()
        .fallback(
            move |State(shared): State<Arc<Shared>>,
                  axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<SocketAddr>,
                  uri: axum::http::Uri,
                  headers: HeaderMap| async move {
                let host = host_of(&headers);
                match host
                    .strip_prefix("status.")
                    .and_then(|h| h.strip_suffix(".test"))
                {
                    Some(provider) if front.is_none() => {
                        status_answer(&shared, provider, uri.path(), &headers)
                    }
                    _ => answer(&shared, front, &headers, client.ip()).await,
                }
            },
        )
        .with_state(shared);
    tasks.spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::error!(%error, "a synthetic server failed");
        }
    });
}

/// The response header by which each host provider's origins can be
/// recognised (see its file in `engine/providers/`), so host cohorts form
/// the way they do on the real internet.
const HOST_HEADERS: &[(&str, &str, &str)] = &[
    (
        "aws",
        "x-amzn-requestid",
        "6f0c2d1e-4b7a-4e9f-8c3d-2a1b0e9f7d65",
    ),
    ("heroku", "via", "1.1 vegur"),
    ("fly", "fly-request-id", "01JD2X4K7QW3E5R6T8Y9U0I1O2-ams"),
    (
        "vercel",
        "x-vercel-id",
        "fra1::iad1::abcde-1732000000000-0123456789ab",
    ),
    ("netlify", "x-nf-request-id", "01JD2X4K7QW3E5R6T8Y9U0I1O3"),
    (
        "github-pages",
        "x-github-request-id",
        "A1B2:3C4D:5E6F70:8192A3:6740B1C2",
    ),
];

async fn answer(
    shared: &Shared,
    front: Option<&'static Front>,
    headers: &HeaderMap,
    client: IpAddr,
) -> Response<Body> {
    let mut response = answer_without_host(shared, front, headers, client).await;
    // Only what the origin wrote carries its host's header: a front's own
    // error page (edge failure, origin unreachable) hides it.
    let origin_wrote = front.is_none() || response.status().is_success();
    let host = host_of(headers);
    let provider = shared
        .sites
        .get(&host)
        .and_then(|site| site.host_provider.as_deref());
    if let (true, Some(provider)) = (origin_wrote, provider) {
        if let Some((_, name, value)) = HOST_HEADERS.iter().find(|(id, _, _)| *id == provider) {
            response.headers_mut().insert(
                axum::http::HeaderName::from_static(name),
                axum::http::HeaderValue::from_static(value),
            );
        }
    }
    response
}

/// The host a request names, without its port.
fn host_of(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default()
}

/// The page an origin's own nginx serves when it fails.
fn origin_page() -> &'static [u8] {
    ERROR_PAGES
        .iter()
        .find(|(name, _)| *name == "nginx__502__1")
        .map_or(b"<html><body>502 Bad Gateway</body></html>", |(_, body)| {
            *body
        })
}

/// What a client probing from `client` gets: only the faults it meets.
async fn answer_without_host(
    shared: &Shared,
    front: Option<&'static Front>,
    headers: &HeaderMap,
    client: IpAddr,
) -> Response<Body> {
    let host = host_of(headers);
    if host.starts_with("canary-") {
        return page(StatusCode::OK, None, OK_PAGE);
    }
    let Some(site) = shared.sites.get(&host) else {
        return page(StatusCode::NOT_FOUND, front, b"unknown host");
    };
    let now = shared.clock.now();
    let offset = now - shared.start;
    let active: Vec<&Fault> = shared
        .faults
        .iter()
        .filter(|f| f.active_at(offset) && hits(f, site) && site.lot < f.share && f.seen_by(client))
        .collect();
    // Background noise: a flaky site fails some probes on the origin side.
    let minute = (offset.num_seconds() / 60).to_string();
    let noisy = site.flaky > 0.0 && lot(shared.seed, &format!("{host}@{minute}")) < site.flaky;

    for fault in &active {
        if let FaultKind::Slow = fault.kind {
            let delay = fault
                .delay
                .unwrap_or(TimeDelta::zero())
                .to_std()
                .unwrap_or_default();
            tokio::time::sleep(delay.min(std::time::Duration::from_secs(5))).await;
        }
    }
    let origin_error = active.iter().find(|f| {
        matches!(
            f.kind,
            FaultKind::OriginError | FaultKind::OriginDown | FaultKind::OriginTimeout
        )
    });
    let Some(front) = front else {
        if let Some(fault) = origin_error {
            let status = StatusCode::from_u16(fault.status.unwrap_or(502))
                .unwrap_or(StatusCode::BAD_GATEWAY);
            return page(status, None, origin_page());
        }
        if noisy {
            return page(StatusCode::BAD_GATEWAY, None, origin_page());
        }
        return page(StatusCode::OK, None, OK_PAGE);
    };
    // A scenario gives a front only the faults it has pages for (see
    // `Scenario::parse`).
    let page_of = |kind| match page_for(front, kind) {
        Served::Page(page) => Some(page),
        Served::NoPage | Served::Missing => None,
    };
    let edge = page_of(FaultKind::EdgeError);
    if let Some(edge) = edge.filter(|_| active.iter().any(|f| f.kind == FaultKind::EdgeError)) {
        let status = active
            .iter()
            .find_map(|f| f.status)
            .and_then(|status| StatusCode::from_u16(status).ok())
            .unwrap_or(edge.status);
        return page(status, Some(front), edge.body);
    }
    if active.iter().any(|f| f.kind == FaultKind::OriginDown) || noisy {
        // Background noise behind a front with no page of its own for it:
        // the origin's own error, passed through.
        return match page_of(FaultKind::OriginDown) {
            Some(down) => served(front, down),
            None => page(StatusCode::BAD_GATEWAY, Some(front), origin_page()),
        };
    }
    if let Some(timeout) = page_of(FaultKind::OriginTimeout)
        .filter(|_| active.iter().any(|f| f.kind == FaultKind::OriginTimeout))
    {
        return served(front, timeout);
    }
    if let Some(fault) = active.iter().find(|f| f.kind == FaultKind::OriginError) {
        // The origin's own page, passed through the front.
        let status =
            StatusCode::from_u16(fault.status.unwrap_or(502)).unwrap_or(StatusCode::BAD_GATEWAY);
        return page(status, Some(front), origin_page());
    }
    page(StatusCode::OK, Some(front), OK_PAGE)
}

const OK_PAGE: &[u8] = b"<html><body>ok</body></html>";

fn served(front: &Front, served: &Page) -> Response<Body> {
    page(served.status, Some(front), served.body)
}

fn page(status: StatusCode, front: Option<&Front>, html: &'static [u8]) -> Response<Body> {
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    match front {
        Some(front) => {
            for (name, value) in &front.headers {
                headers.insert(name.clone(), value.clone());
            }
        }
        None => {
            headers.insert("server", axum::http::HeaderValue::from_static("nginx"));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::vocab::{OfficialImpact, OfficialStatus};

    fn statements() -> Vec<Statement> {
        let said = |incident: &str, minutes: i64, status, title: &str, text: &str| Statement {
            provider: "x".to_owned(),
            incident: incident.to_owned(),
            at: TimeDelta::minutes(minutes),
            status,
            impact: OfficialImpact::Major,
            title: title.to_owned(),
            text: text.to_owned(),
        };
        vec![
            said(
                "a",
                10,
                OfficialStatus::Investigating,
                "Errors & timeouts",
                "We are looking at 5xx & timeouts.",
            ),
            said(
                "a",
                40,
                OfficialStatus::Resolved,
                "Errors & timeouts",
                "Fixed.",
            ),
            said(
                "b",
                90,
                OfficialStatus::Investigating,
                "Later",
                "Not yet public.",
            ),
        ]
    }

    /// Each format the replays publish reads back, through the parser the
    /// poller uses, as what the scenario said by then.
    #[test]
    fn every_status_format_reads_back_as_the_scenario_said() {
        let start: DateTime<Utc> = "2025-11-18T11:00:00Z".parse().unwrap();
        let at = TimeDelta::minutes(60);
        let documents = [
            (
                StatusFormat::Statuspage,
                status_document(&statements(), "x", start, at).to_string(),
            ),
            (
                StatusFormat::Feed,
                status_feed(&statements(), "x", start, at),
            ),
            (
                StatusFormat::GoogleCloud,
                status_google(&statements(), "x", start, at).to_string(),
            ),
        ];
        for (format, body) in documents {
            let document = statements::parse(
                format,
                body.as_bytes(),
                "http://status.x.test/",
                &statements::Limits::default(),
            )
            .unwrap_or_else(|error| panic!("{format}: {error}"));
            let updates: Vec<_> = document
                .incidents
                .iter()
                .flat_map(|incident| incident.updates.iter())
                .collect();
            assert_eq!(
                updates.len(),
                2,
                "{format}: only what was published by then"
            );
            assert!(
                document
                    .incidents
                    .iter()
                    .all(|i| i.title.contains("Errors & timeouts")),
                "{format}"
            );
            let first = updates.iter().min_by_key(|u| u.published_at).unwrap();
            assert_eq!(
                first.published_at,
                start + TimeDelta::minutes(10),
                "{format}"
            );
            assert_eq!(first.text, "We are looking at 5xx & timeouts.", "{format}");
            let last = updates.iter().max_by_key(|u| u.published_at).unwrap();
            assert_eq!(last.status, OfficialStatus::Resolved, "{format}");
        }
    }
}
