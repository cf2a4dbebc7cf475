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
use crate::sim::scenario::{Fault, FaultKind, FaultTarget, Scenario};

/// How a provider's edge looks from outside.
struct EdgeProfile {
    id: &'static str,
    /// CNAME target suffix customers point their names at.
    cname_suffix: &'static str,
    ns: &'static str,
    headers: &'static [(&'static str, &'static str)],
    edge_error: (u16, &'static str),
    origin_down: (u16, &'static str),
    origin_timeout: (u16, &'static str),
}

// The labelled fixture pages (sources in engine/tests/fixtures/error-pages/SOURCES.md).
const CLOUDFLARE_500: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/cloudflare__500__1.html");
const CLOUDFLARE_521: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/cloudflare__521__1.html");
const CLOUDFLARE_524: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/cloudflare__524__1.html");
const CLOUDFRONT_502: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/cloudfront__502__2.html");
const CLOUDFRONT_504: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/cloudfront__504__1.html");
const FASTLY_503: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/fastly__503__1.html");
const AKAMAI_500: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/akamai__500__1.html");
const AKAMAI_ERROR: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/akamai__error__1.html");
const AZURE_FRONT_DOOR: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/azure_frontdoor__error__2.html");
const NGINX_502: &str =
    include_str!("../../../engine/tests/fixtures/error-pages/nginx__502__1.html");
/// Fastly's own "Service Unavailable" (edge fault), in its Varnish template.
const FASTLY_EDGE_503: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\"\n \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n<html>\n  <head>\n    <title>503 Service Unavailable</title>\n  </head>\n  <body>\n    <h1>Error 503 Service Unavailable</h1>\n    <p>Service Unavailable</p>\n    <h3>Guru Mediation:</h3>\n    <p>Details: cache-lhr7331-LHR 1623145620 2043920337</p>\n    <hr>\n    <p>Varnish cache server</p>\n  </body>\n</html>\n";

const EDGES: &[EdgeProfile] = &[
    EdgeProfile {
        id: "cloudflare",
        cname_suffix: "cdn.cloudflare.net",
        ns: "ns.cloudflare.com",
        headers: &[
            ("server", "cloudflare"),
            ("cf-ray", "8a1b2c3d4e5f6a7b-IAD"),
            ("cf-cache-status", "DYNAMIC"),
        ],
        edge_error: (500, CLOUDFLARE_500),
        origin_down: (521, CLOUDFLARE_521),
        origin_timeout: (524, CLOUDFLARE_524),
    },
    EdgeProfile {
        id: "fastly",
        cname_suffix: "global.ssl.fastly.net",
        ns: "ns1.fastly.net",
        headers: &[
            ("via", "1.1 varnish"),
            ("x-served-by", "cache-lhr7331-LHR"),
            ("x-cache", "MISS"),
            ("x-timer", "S1623145620.1,VS0,VE1"),
        ],
        edge_error: (503, FASTLY_EDGE_503),
        origin_down: (503, FASTLY_503),
        origin_timeout: (503, FASTLY_503),
    },
    EdgeProfile {
        id: "akamai",
        cname_suffix: "edgekey.net",
        ns: "a1-64.akam.net",
        headers: &[
            ("server", "AkamaiGHost"),
            ("x-akamai-request-id", "1a2b3c4d"),
        ],
        edge_error: (500, AKAMAI_ERROR),
        origin_down: (503, AKAMAI_500),
        origin_timeout: (504, AKAMAI_500),
    },
    EdgeProfile {
        id: "cloudfront",
        cname_suffix: "cloudfront.net",
        ns: "ns-1.awsdns-01.com",
        headers: &[
            ("server", "CloudFront"),
            ("via", "1.1 5f2a0c1b.cloudfront.net (CloudFront)"),
            ("x-amz-cf-pop", "IAD89-C3"),
            ("x-amz-cf-id", "Zm9vYmFyYmF6cXV4cXV1eA=="),
        ],
        edge_error: (500, CLOUDFRONT_502),
        origin_down: (502, CLOUDFRONT_502),
        origin_timeout: (504, CLOUDFRONT_504),
    },
    EdgeProfile {
        id: "azure-front-door",
        cname_suffix: "azurefd.net",
        ns: "ns1-06.azure-dns.com",
        headers: &[("x-azure-ref", "0xyQLYAAAAADiRmVVknX7Qb8+IEvRqKr8")],
        edge_error: (503, AZURE_FRONT_DOOR),
        origin_down: (502, AZURE_FRONT_DOOR),
        origin_timeout: (504, AZURE_FRONT_DOOR),
    },
];

fn profile(id: &str) -> Option<&'static EdgeProfile> {
    EDGES.iter().find(|edge| edge.id == id)
}

/// Name servers of DNS providers that are not CDNs in `EDGES`.
fn dns_ns(provider: &str) -> String {
    match provider {
        "aws" => "ns-2.awsdns-02.org".to_owned(),
        "google" => "ns-cloud-a1.googledomains.com".to_owned(),
        other => {
            profile(other).map_or_else(|| format!("ns1.{other}.test"), |edge| edge.ns.to_owned())
        }
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
    stop: CancellationToken,
    /// The edge and origin servers.
    tasks: TaskTracker,
}

struct Shared {
    clock: SimClock,
    start: DateTime<Utc>,
    faults: Vec<Fault>,
    sites: HashMap<String, SimSite>,
    seed: u64,
}

impl World {
    /// Builds DNS zones and starts the edges and the origin server, all on
    /// one port across several loopback addresses.
    pub async fn start(scenario: &Scenario, clock: SimClock) -> std::io::Result<Self> {
        let dns = DnsServer::start().await?;
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
            sites: sites.iter().map(|s| (s.host.clone(), s.clone())).collect(),
            seed: scenario.seed,
        });
        serve(&tasks, origin_listener, shared.clone(), None, stop.clone());
        for (index, edge) in EDGES.iter().enumerate() {
            if !sites.iter().any(|s| s.cdn.as_deref() == Some(edge.id)) {
                continue;
            }
            let ip = IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                1,
                u8::try_from(index + 1).unwrap_or(1),
            ));
            let listener = TcpListener::bind(SocketAddr::new(ip, port)).await?;
            serve(&tasks, listener, shared.clone(), Some(edge), stop.clone());
            dns.add_addresses(&format!("edge.{}", edge.cname_suffix), &[ip]);
        }
        for site in &sites {
            match site.cdn.as_deref().and_then(profile) {
                Some(edge) => {
                    let target = format!("{}.{}", site.host.replace('.', "-"), edge.cname_suffix);
                    dns.add_cname(&site.host, &target);
                    dns.add_cname(&target, &format!("edge.{}", edge.cname_suffix));
                }
                None => dns.add_addresses(&site.host, &[origin_ip]),
            }
            let ns = site
                .dns
                .as_deref()
                .map_or_else(|| "ns1.neutral-dns.test".to_owned(), dns_ns);
            dns.add_ns(&site.host, &[&ns]);
        }
        tasks.close();
        Ok(Self {
            dns,
            port,
            sites,
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
        let lost = scenario
            .faults
            .iter()
            .any(|f| f.kind == FaultKind::NetworkLoss && f.active_at(offset));
        self.dns.set_fault("", lost.then_some(DnsFault::Silence));
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
            let cname = site
                .cdn
                .as_deref()
                .and_then(profile)
                .map(|edge| format!("{}.{}", site.host.replace('.', "-"), edge.cname_suffix));
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

/// Whether fault `f` concerns `site`.
fn hits(f: &Fault, site: &SimSite) -> bool {
    match &f.target {
        FaultTarget::Cdn(id) => site.cdn.as_deref() == Some(id),
        FaultTarget::Dns(id) => site.dns.as_deref() == Some(id),
        FaultTarget::Host(id) => site.host_provider.as_deref() == Some(id),
        FaultTarget::Group(group) => &site.group == group,
        FaultTarget::Site(host) => &site.host == host,
        FaultTarget::Vantage => false,
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
    edge: Option<&'static EdgeProfile>,
    stop: CancellationToken,
) {
    let app = axum::Router::new()
        .fallback(
            move |State(shared): State<Arc<Shared>>, headers: HeaderMap| async move {
                answer(&shared, edge, &headers).await
            },
        )
        .with_state(shared);
    tasks.spawn(async move {
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
    edge: Option<&'static EdgeProfile>,
    headers: &HeaderMap,
) -> Response<Body> {
    let mut response = answer_without_host(shared, edge, headers).await;
    // Only what the origin wrote carries its host's header: an edge's own
    // error page (edge failure, origin unreachable) hides it.
    let origin_wrote = edge.is_none() || response.status().is_success();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default();
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

async fn answer_without_host(
    shared: &Shared,
    edge: Option<&'static EdgeProfile>,
    headers: &HeaderMap,
) -> Response<Body> {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default();
    if host.starts_with("canary-") {
        return page(StatusCode::OK, None, "<html><body>ok</body></html>");
    }
    let Some(site) = shared.sites.get(&host) else {
        return page(StatusCode::NOT_FOUND, edge, "unknown host");
    };
    let now = shared.clock.now();
    let offset = now - shared.start;
    let active: Vec<&Fault> = shared
        .faults
        .iter()
        .filter(|f| f.active_at(offset) && hits(f, site) && site.lot < f.share)
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
    if let Some(edge) = edge {
        if active
            .iter()
            .any(|f| matches!(f.kind, FaultKind::EdgeError | FaultKind::EdgeUnreachable))
        {
            let status = active
                .iter()
                .find_map(|f| f.status)
                .unwrap_or(edge.edge_error.0);
            return edge_page(edge, status, edge.edge_error.1);
        }
        if active.iter().any(|f| f.kind == FaultKind::OriginDown) || noisy {
            return edge_page(edge, edge.origin_down.0, edge.origin_down.1);
        }
        if active.iter().any(|f| f.kind == FaultKind::OriginTimeout) {
            return edge_page(edge, edge.origin_timeout.0, edge.origin_timeout.1);
        }
        if let Some(fault) = active.iter().find(|f| f.kind == FaultKind::OriginError) {
            let mut response = page(
                StatusCode::from_u16(fault.status.unwrap_or(502))
                    .unwrap_or(StatusCode::BAD_GATEWAY),
                Some(edge),
                NGINX_502,
            );
            response.headers_mut().insert(
                "content-type",
                "text/html"
                    .parse()
                    .unwrap_or_else(|_| axum::http::HeaderValue::from_static("text/html")),
            );
            return response;
        }
        return page(StatusCode::OK, Some(edge), "<html><body>ok</body></html>");
    }
    if let Some(fault) = active.iter().find(|f| {
        matches!(
            f.kind,
            FaultKind::OriginError | FaultKind::OriginDown | FaultKind::OriginTimeout
        )
    }) {
        let status = fault.status.unwrap_or(502);
        return page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            None,
            NGINX_502,
        );
    }
    if noisy {
        return page(StatusCode::BAD_GATEWAY, None, NGINX_502);
    }
    page(StatusCode::OK, None, "<html><body>ok</body></html>")
}

fn edge_page(edge: &EdgeProfile, status: u16, html: &'static str) -> Response<Body> {
    page(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Some(edge),
        html,
    )
}

fn page(status: StatusCode, edge: Option<&EdgeProfile>, html: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(html.to_owned()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Some(edge) = edge {
        for (name, value) in edge.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                axum::http::HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
    } else {
        headers.insert("server", axum::http::HeaderValue::from_static("nginx"));
    }
    response
}
