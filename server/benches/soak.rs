//! Soak: the real `faultline serve`, as a child process with a fresh
//! database, probes a loopback fleet of 2 000 sites (most of them healthy,
//! others slow, failing, redirecting, oversized or gzip-compressed, some
//! behind a CDN whose edge fails in waves) while a load generator asks for
//! its public pages at a steady rate. Every minute it samples the child's
//! memory, threads and open file descriptors, the database's size, the
//! probes stored and the page latency over that minute; at the end it
//! stops the child with SIGTERM and checks that it exits 0.
//!
//! Run it with `scripts/soak [MINUTES]`, which builds the release binary
//! first, or directly:
//!
//! ```sh
//! cargo build --release -p server --bin faultline
//! cargo bench -p server --bench soak -- --minutes 30 --faultline target/release/faultline
//! ```
//!
//! Options (defaults in brackets): `--minutes` [30], `--sites` [2000],
//! `--interval` seconds between probes of a site [30], `--rate` page
//! requests per second [40], `--concurrency` requesters [8],
//! `--wave-start`, `--wave-length`, `--wave-every` minutes of the CDN
//! edge's failure waves [4, 5, 20], `--faultline PATH`, `--out DIR`
//! [target/soak/<time>]. Everything stays on 127.0.0.1.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Response, StatusCode, Uri};
use axum::Router;
use server::sim::dns::{DnsFault, DnsServer};
use tokio::net::TcpListener;

// ---------------------------------------------------------------- options

struct Options {
    minutes: u64,
    sites: usize,
    interval_s: u64,
    rate: f64,
    concurrency: usize,
    wave_start: u64,
    wave_length: u64,
    wave_every: u64,
    faultline: PathBuf,
    out: PathBuf,
}

impl Options {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let value = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let number = |name: &str, default: u64| {
            value(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(default)
        };
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map_or_else(|| workspace.join("target"), |t| workspace.join(t));
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
        Self {
            minutes: number("--minutes", 30).max(1),
            sites: usize::try_from(number("--sites", 2000))
                .unwrap_or(2000)
                .max(10),
            interval_s: number("--interval", 30).clamp(10, 86_400),
            rate: number("--rate", 40).max(1) as f64,
            concurrency: usize::try_from(number("--concurrency", 8))
                .unwrap_or(8)
                .max(1),
            wave_start: number("--wave-start", 4),
            wave_length: number("--wave-length", 5),
            wave_every: number("--wave-every", 20).max(1),
            faultline: value("--faultline")
                .map(PathBuf::from)
                .unwrap_or_else(|| target.join("release/faultline")),
            out: value("--out")
                .map(PathBuf::from)
                .unwrap_or_else(|| target.join("soak").join(stamp)),
        }
    }
}

// ---------------------------------------------------------------- randomness

/// splitmix64: deterministic, seedable, good enough to pick pages.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------- the fleet

const CLOUDFLARE_500: &str =
    include_str!("../../engine/tests/fixtures/error-pages/cloudflare__500__1.html");
const CLOUDFLARE_521: &str =
    include_str!("../../engine/tests/fixtures/error-pages/cloudflare__521__1.html");
const CLOUDFLARE_524: &str =
    include_str!("../../engine/tests/fixtures/error-pages/cloudflare__524__1.html");
const FASTLY_503: &str =
    include_str!("../../engine/tests/fixtures/error-pages/fastly__503__1.html");
const AKAMAI_500: &str =
    include_str!("../../engine/tests/fixtures/error-pages/akamai__500__1.html");
const CLOUDFRONT_502: &str =
    include_str!("../../engine/tests/fixtures/error-pages/cloudfront__502__2.html");
const AZURE_FRONT_DOOR: &str =
    include_str!("../../engine/tests/fixtures/error-pages/azure_frontdoor__error__2.html");
const NGINX_502: &str = include_str!("../../engine/tests/fixtures/error-pages/nginx__502__1.html");
const NGINX_503: &str = include_str!("../../engine/tests/fixtures/error-pages/nginx__503__1.html");
const NGINX_504: &str = include_str!("../../engine/tests/fixtures/error-pages/nginx__504__1.html");

/// How a provider in front of a site looks from outside: the CNAME its
/// customers point at, its name servers, its headers and its error pages.
struct Edge {
    id: &'static str,
    cname_suffix: Option<&'static str>,
    ns: &'static str,
    headers: &'static [(&'static str, &'static str)],
    errors: &'static [(u16, &'static str)],
}

const EDGES: &[Edge] = &[
    Edge {
        id: "cloudflare",
        cname_suffix: Some("cdn.cloudflare.net"),
        ns: "ns.cloudflare.com",
        headers: &[
            ("server", "cloudflare"),
            ("cf-ray", "8a1b2c3d4e5f6a7b-IAD"),
            ("cf-cache-status", "DYNAMIC"),
        ],
        errors: &[(521, CLOUDFLARE_521), (524, CLOUDFLARE_524)],
    },
    Edge {
        id: "fastly",
        cname_suffix: Some("global.ssl.fastly.net"),
        ns: "ns1.fastly.net",
        headers: &[
            ("via", "1.1 varnish"),
            ("x-served-by", "cache-lhr7331-LHR"),
            ("x-cache", "MISS"),
            ("x-timer", "S1623145620.1,VS0,VE1"),
        ],
        errors: &[(503, FASTLY_503)],
    },
    Edge {
        id: "akamai",
        cname_suffix: Some("edgekey.net"),
        ns: "a1-64.akam.net",
        headers: &[
            ("server", "AkamaiGHost"),
            ("x-akamai-request-id", "1a2b3c4d"),
        ],
        errors: &[(503, AKAMAI_500)],
    },
    Edge {
        id: "cloudfront",
        cname_suffix: Some("cloudfront.net"),
        ns: "ns-1.awsdns-01.com",
        headers: &[
            ("server", "CloudFront"),
            ("via", "1.1 5f2a0c1b.cloudfront.net (CloudFront)"),
            ("x-amz-cf-pop", "IAD89-C3"),
            ("x-amz-cf-id", "Zm9vYmFyYmF6cXV4cXV1eA=="),
        ],
        errors: &[(502, CLOUDFRONT_502)],
    },
    Edge {
        id: "azure-front-door",
        cname_suffix: Some("azurefd.net"),
        ns: "ns1-06.azure-dns.com",
        headers: &[("x-azure-ref", "0xyQLYAAAAADiRmVVknX7Qb8+IEvRqKr8")],
        errors: &[(503, AZURE_FRONT_DOOR)],
    },
    // Sites served straight from their own nginx.
    Edge {
        id: "nginx",
        cname_suffix: None,
        ns: "ns1.neutral-dns.test",
        headers: &[("server", "nginx/1.24.0")],
        errors: &[(502, NGINX_502), (503, NGINX_503), (504, NGINX_504)],
    },
];

const CLOUDFLARE: usize = 0;

/// What a site does when probed.
#[derive(Clone, Debug, PartialEq)]
enum Behaviour {
    /// 200 with a small page.
    Normal,
    /// Behind Cloudflare: 200, but Cloudflare's own 500 page during waves.
    Wave,
    /// 200 after this long, within the probe timeout.
    Slow(Duration),
    /// 200 after 45 s: beyond the probe's 20 s timeout.
    Hang,
    /// The provider's error page, always.
    Error,
    /// `hops` redirects on the same host, then 200.
    Redirect(u32),
    /// A redirect to another site of the fleet.
    CrossRedirect(String),
    /// `/a` and `/b` redirecting to each other.
    RedirectLoop,
    /// 8 redirects: more than the prober follows.
    TooManyRedirects,
    /// 200 with 6 MiB of body.
    Huge,
    /// 503 with 3 MiB of text.
    HugeError,
    /// The normal page, gzip-compressed.
    Gzip,
    /// The provider's error page, gzip-compressed.
    GzipError,
    /// 1 GiB of zeros compressed to about 1 MiB, with this status.
    GzipBomb(u16),
    /// Says gzip, is not.
    BadGzip,
    /// Nothing listens on its port.
    Refused,
    /// DNS: no such name.
    NxDomain,
    /// DNS: SERVFAIL.
    ServFail,
    /// DNS: no answer at all.
    DnsSilence,
}

impl Behaviour {
    /// The mix, by a per-site number in 0..1000.
    fn of(index: usize, lot: usize, sites: usize) -> Self {
        match lot {
            0..=624 => Behaviour::Normal,
            625..=699 => Behaviour::Wave,
            700..=739 => Behaviour::Slow(Duration::from_secs(2 + (index % 7) as u64)),
            740..=759 => Behaviour::Hang,
            760..=819 => Behaviour::Error,
            820..=849 => Behaviour::Redirect(1 + (index % 3) as u32),
            850..=859 => Behaviour::CrossRedirect(format!("site-{}", (index * 31 + 7) % sites)),
            860..=864 => Behaviour::RedirectLoop,
            865..=869 => Behaviour::TooManyRedirects,
            870..=899 => Behaviour::Huge,
            900..=909 => Behaviour::HugeError,
            910..=939 => Behaviour::Gzip,
            940..=949 => Behaviour::GzipError,
            950..=959 => Behaviour::GzipBomb([200, 500][index % 2]),
            960..=964 => Behaviour::BadGzip,
            965..=979 => Behaviour::Refused,
            980..=989 => Behaviour::NxDomain,
            990..=994 => Behaviour::ServFail,
            _ => Behaviour::DnsSilence,
        }
    }

    fn tag(&self) -> &'static str {
        match self {
            Behaviour::Normal => "normal",
            Behaviour::Wave => "wave",
            Behaviour::Slow(_) => "slow",
            Behaviour::Hang => "hang",
            Behaviour::Error => "error",
            Behaviour::Redirect(_) => "redirect",
            Behaviour::CrossRedirect(_) => "cross-redirect",
            Behaviour::RedirectLoop => "redirect-loop",
            Behaviour::TooManyRedirects => "too-many-redirects",
            Behaviour::Huge => "huge",
            Behaviour::HugeError => "huge-error",
            Behaviour::Gzip => "gzip",
            Behaviour::GzipError => "gzip-error",
            Behaviour::GzipBomb(_) => "gzip-bomb",
            Behaviour::BadGzip => "bad-gzip",
            Behaviour::Refused => "refused",
            Behaviour::NxDomain => "nxdomain",
            Behaviour::ServFail => "servfail",
            Behaviour::DnsSilence => "dns-silence",
        }
    }

    /// Whether a server listens for this site.
    fn serves(&self) -> bool {
        !matches!(
            self,
            Behaviour::Refused | Behaviour::NxDomain | Behaviour::ServFail | Behaviour::DnsSilence
        )
    }
}

/// The bodies every site shares, built once.
struct Bodies {
    page: Bytes,
    page_gz: Bytes,
    huge: Bytes,
    huge_error: Bytes,
    bomb: Bytes,
    /// Each provider's error pages, gzip-compressed, in `EDGES` order.
    errors_gz: Vec<Vec<Bytes>>,
}

fn gzip(bytes: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(bytes);
    Bytes::from(encoder.finish().unwrap_or_default())
}

impl Bodies {
    fn build() -> Self {
        let mut page = String::from(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Welcome</title></head><body>\n<h1>Welcome</h1>\n",
        );
        for n in 0..40 {
            let _ = writeln!(
                page,
                "<p>Paragraph {n}: everything is fine here, thank you for asking.</p>"
            );
        }
        page.push_str("</body></html>\n");
        let huge = Bytes::from(page.repeat(6 * 1024 * 1024 / page.len() + 1));
        // Text that compresses like prose (about 3:1), not like zeros.
        let words = [
            "error",
            "upstream",
            "gateway",
            "service",
            "unavailable",
            "request",
            "retry",
            "later",
            "backend",
            "timeout",
            "connection",
            "server",
            "maintenance",
            "sorry",
            "please",
            "status",
            "incident",
            "region",
            "cluster",
            "node",
            "queue",
            "overload",
        ];
        let mut rng = Rng(42);
        let mut text = String::from(
            "<!doctype html><html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1><pre>\n",
        );
        while text.len() < 3 * 1024 * 1024 {
            let _ = write!(text, "{} {:x} ", rng.pick(&words), rng.next() % 65_536);
            if rng.below(12) == 0 {
                text.push('\n');
            }
        }
        text.push_str("</pre></body></html>\n");
        let bomb = {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let zeros = vec![0u8; 1024 * 1024];
            for _ in 0..1024 {
                let _ = encoder.write_all(&zeros);
            }
            Bytes::from(encoder.finish().unwrap_or_default())
        };
        Self {
            page_gz: gzip(page.as_bytes()),
            page: Bytes::from(page),
            huge,
            huge_error: Bytes::from(text),
            bomb,
            errors_gz: EDGES
                .iter()
                .map(|edge| {
                    edge.errors
                        .iter()
                        .map(|(_, body)| gzip(body.as_bytes()))
                        .collect()
                })
                .collect(),
        }
    }
}

/// When the CDN's edge fails: from `start` minutes on, for `length`
/// minutes of every `every`.
#[derive(Clone, Copy)]
struct Waves {
    began: Instant,
    start: u64,
    length: u64,
    every: u64,
}

impl Waves {
    fn failing(&self) -> bool {
        let minutes = self.began.elapsed().as_secs() / 60;
        minutes >= self.start && (minutes - self.start) % self.every < self.length
    }
}

struct Site {
    index: usize,
    host: String,
    edge: usize,
    behaviour: Behaviour,
    port: u16,
}

struct SiteState {
    index: usize,
    edge: usize,
    behaviour: Behaviour,
    bodies: Arc<Bodies>,
    waves: Waves,
    /// Where a cross-host redirect goes.
    elsewhere: Option<String>,
}

fn response(status: u16, edge: usize, body: Bytes, gzipped: bool) -> Response<Body> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8");
    for (name, value) in EDGES[edge].headers {
        builder = builder.header(*name, *value);
    }
    if gzipped {
        builder = builder.header(header::CONTENT_ENCODING, "gzip");
    }
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn redirect(status: u16, edge: usize, location: &str) -> Response<Body> {
    let mut answer = response(status, edge, Bytes::new(), false);
    if let Ok(value) = HeaderValue::from_str(location) {
        answer.headers_mut().insert(header::LOCATION, value);
    }
    answer
}

async fn answer(State(site): State<Arc<SiteState>>, uri: Uri) -> Response<Body> {
    let path = uri.path();
    let edge = site.edge;
    let bodies = &site.bodies;
    let error_page = |gzipped: bool| {
        let errors = EDGES[edge].errors;
        let pick = site.index % errors.len();
        let (status, body) = errors[pick];
        if gzipped {
            response(status, edge, bodies.errors_gz[edge][pick].clone(), true)
        } else {
            response(status, edge, Bytes::from_static(body.as_bytes()), false)
        }
    };
    match &site.behaviour {
        Behaviour::Normal => response(200, edge, bodies.page.clone(), false),
        Behaviour::Wave if site.waves.failing() => response(
            500,
            edge,
            Bytes::from_static(CLOUDFLARE_500.as_bytes()),
            false,
        ),
        Behaviour::Wave => response(200, edge, bodies.page.clone(), false),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(*delay).await;
            response(200, edge, bodies.page.clone(), false)
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(45)).await;
            response(200, edge, bodies.page.clone(), false)
        }
        Behaviour::Error => error_page(false),
        Behaviour::Redirect(hops) => {
            let at: u32 = path
                .strip_prefix("/hop/")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if at >= *hops {
                response(200, edge, bodies.page.clone(), false)
            } else {
                let status = [301, 302][at as usize % 2];
                redirect(status, edge, &format!("/hop/{}", at + 1))
            }
        }
        Behaviour::CrossRedirect(_) => match &site.elsewhere {
            Some(url) if path == "/" => redirect(301, edge, url),
            _ => response(200, edge, bodies.page.clone(), false),
        },
        Behaviour::RedirectLoop => match path {
            "/a" => redirect(302, edge, "/b"),
            _ => redirect(302, edge, "/a"),
        },
        Behaviour::TooManyRedirects => {
            let at: u32 = path
                .strip_prefix("/hop/")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if at >= 8 {
                response(200, edge, bodies.page.clone(), false)
            } else {
                redirect(307, edge, &format!("/hop/{}", at + 1))
            }
        }
        Behaviour::Huge => response(200, edge, bodies.huge.clone(), false),
        Behaviour::HugeError => response(503, edge, bodies.huge_error.clone(), false),
        Behaviour::Gzip => response(200, edge, bodies.page_gz.clone(), true),
        Behaviour::GzipError => error_page(true),
        Behaviour::GzipBomb(status) => response(*status, edge, bodies.bomb.clone(), true),
        Behaviour::BadGzip => response(
            200,
            edge,
            Bytes::from_static(b"this is not gzip at all, whatever the header says"),
            true,
        ),
        // Not served: answered by DNS or by a closed port.
        Behaviour::Refused | Behaviour::NxDomain | Behaviour::ServFail | Behaviour::DnsSilence => {
            response(200, edge, bodies.page.clone(), false)
        }
    }
}

/// A port nothing listens on: connections to it are refused.
const CLOSED_PORT: u16 = 9;

/// Starts one server per site that serves and the DNS zone for all of them;
/// returns the sites, the DNS server and the canary URLs.
async fn start_fleet(
    options: &Options,
    waves: Waves,
) -> std::io::Result<(Vec<Site>, DnsServer, Vec<String>)> {
    let dns = DnsServer::start().await?;
    let bodies = Arc::new(tokio::task::spawn_blocking(Bodies::build).await?);
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut sites = Vec::with_capacity(options.sites);
    let mut listeners = Vec::with_capacity(options.sites);
    for index in 0..options.sites {
        // Spread each behaviour over the providers.
        let lot = (index * 7919 + 13) % 1000;
        let behaviour = Behaviour::of(index, lot, options.sites);
        let edge = if behaviour == Behaviour::Wave {
            CLOUDFLARE
        } else {
            match index % 20 {
                0 | 1 => 0, // cloudflare 10 %
                2..=4 => 1, // fastly 15 %
                5 | 6 => 2, // akamai 10 %
                7..=9 => 3, // cloudfront 15 %
                10 => 4,    // azure front door 5 %
                _ => 5,     // own nginx 45 %
            }
        };
        let host = format!("site-{index}.soak.test");
        let (port, listener) = if behaviour.serves() {
            let listener = TcpListener::bind(SocketAddr::new(localhost, 0)).await?;
            (listener.local_addr()?.port(), Some(listener))
        } else {
            (CLOSED_PORT, None)
        };
        listeners.push(listener);
        sites.push(Site {
            index,
            host,
            edge,
            behaviour,
            port,
        });
    }
    for (site, listener) in sites.iter().zip(listeners) {
        let record = |name: &str| match &site.behaviour {
            Behaviour::NxDomain => {}
            Behaviour::ServFail => dns.set_fault(name, Some(DnsFault::ServFail)),
            Behaviour::DnsSilence => dns.set_fault(name, Some(DnsFault::Silence)),
            _ => dns.add_addresses(name, &[localhost]),
        };
        match EDGES[site.edge].cname_suffix {
            Some(suffix) => {
                let target = format!("{}.{suffix}", site.host.replace('.', "-"));
                dns.add_cname(&site.host, &target);
                record(&target);
            }
            None => record(&site.host),
        }
        if site.behaviour != Behaviour::NxDomain {
            dns.add_ns(&site.host, &[EDGES[site.edge].ns]);
        }
        let Some(listener) = listener else { continue };
        let elsewhere = match &site.behaviour {
            Behaviour::CrossRedirect(name) => sites
                .iter()
                .find(|s| name == &format!("site-{}", s.index))
                .map(|s| format!("http://{}:{}/", s.host, s.port)),
            _ => None,
        };
        let state = Arc::new(SiteState {
            index: site.index,
            edge: site.edge,
            behaviour: site.behaviour.clone(),
            bodies: bodies.clone(),
            waves,
            elsewhere,
        });
        let app = Router::new().fallback(answer).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    // Canaries for the own-network guard: healthy servers of their own.
    let mut canaries = Vec::new();
    for n in 1..=4 {
        let listener = TcpListener::bind(SocketAddr::new(localhost, 0)).await?;
        let port = listener.local_addr()?.port();
        let host = format!("canary-{n}.vantage.test");
        dns.add_addresses(&host, &[localhost]);
        canaries.push(format!("http://{host}:{port}/"));
        let state = Arc::new(SiteState {
            index: n,
            edge: 5,
            behaviour: Behaviour::Normal,
            bodies: bodies.clone(),
            waves,
            elsewhere: None,
        });
        let app = Router::new().fallback(answer).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    Ok((sites, dns, canaries))
}

// ---------------------------------------------------------------- the child

fn write_files(
    options: &Options,
    sites: &[Site],
    dns: SocketAddr,
    canaries: &[String],
    listen: SocketAddr,
    database: &Path,
) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(&options.out)?;
    let watchlist = options.out.join("watchlist.csv");
    let mut csv = String::from("url,name,tags,interval_s\n");
    for site in sites {
        let _ = writeln!(
            csv,
            "http://{}:{}/,Soak site {},soak;{};{},{}",
            site.host,
            site.port,
            site.index,
            site.behaviour.tag(),
            EDGES[site.edge].id,
            options.interval_s
        );
    }
    std::fs::write(&watchlist, csv)?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let canaries = canaries
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let config = format!(
        r#"# Written by server/benches/soak.rs for one soak run.
listen = "{listen}"
database = {database:?}
site_root = {site_root:?}

[log]
format = "text"
level = "info"

[monitor]
enabled = true
concurrency = 256
per_host = 2
canaries = [{canaries}]
raw_retention_hours = 48

[probe]
nameservers = ["{dns}"]
dns_timeout_ms = 5000
connect_timeout_ms = 5000
total_timeout_ms = 20000
max_redirects = 5
max_body_bytes = 262144

[probe.guard]
allow_private = false
allowed_networks = ["127.0.0.0/8"]

[on_demand]
enabled = true
"#,
        database = database.display().to_string(),
        site_root = workspace.join("target/site").display().to_string(),
    );
    let config_path = options.out.join("faultline.toml");
    std::fs::write(&config_path, config)?;
    Ok((watchlist, config_path))
}

fn free_port() -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr()
}

/// What `/proc` says about a process.
#[derive(Clone, Copy, Default)]
struct ProcessSample {
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
    fds: u64,
    cpu_ticks: u64,
}

fn sample_process(pid: u32) -> ProcessSample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count() as u64)
        .unwrap_or(0);
    let cpu_ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1.to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    ProcessSample {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
        fds,
        cpu_ticks,
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn load_average() -> (f64, f64, f64) {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut parts = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    (
        parts.next().unwrap_or(0.0),
        parts.next().unwrap_or(0.0),
        parts.next().unwrap_or(0.0),
    )
}

// ---------------------------------------------------------------- the load

/// What the requesters saw since the last sample.
#[derive(Default)]
struct Window {
    latencies_ms: Vec<f64>,
    ok: u64,
    redirects: u64,
    client_errors: u64,
    server_errors: u64,
    failures: u64,
    bytes: u64,
    /// Paths of 5xx answers and failed requests, with their counts.
    bad: std::collections::BTreeMap<String, u64>,
}

struct Load {
    hosts: Vec<String>,
    providers: Vec<&'static str>,
    incidents: RwLock<Vec<i64>>,
    provider_incidents: std::sync::atomic::AtomicUsize,
    window: Mutex<Window>,
}

impl Load {
    fn path(&self, rng: &mut Rng) -> String {
        let incident = {
            let ids = self.incidents.read().unwrap_or_else(|p| p.into_inner());
            if ids.is_empty() {
                999_999
            } else {
                *rng.pick(&ids)
            }
        };
        let provider = *rng.pick(&self.providers);
        let host = rng.pick(&self.hosts).clone();
        let roll = rng.below(100);
        let mut path = match roll {
            0..=16 => "/".to_owned(),
            17..=22 => "/incidents".to_owned(),
            23..=34 => format!("/provider/{provider}"),
            35..=62 => match rng.below(4) {
                0 => format!("/site/{host}?window=7d"),
                1 => format!("/site/{host}?window=30d"),
                _ => format!("/site/{host}"),
            },
            63..=64 => format!("/site/not-watched-{}.example", rng.below(1_000_000)),
            65..=74 => match rng.below(5) {
                0 => format!("/check?q={host}"),
                1 => format!("/check?q=http%3A%2F%2F{host}%2Fsome%2Fpath"),
                2 => format!("/check?q=unwatched-{}.example.org", rng.below(100_000)),
                3 => "/check?q=Cloudflare".to_owned(),
                _ => format!("/check?q=%25%00{}", rng.next()),
            },
            75..=79 => "/incidents.atom".to_owned(),
            80..=83 => format!("/provider/{provider}/incidents.atom"),
            84..=91 => match rng.below(4) {
                0 => format!("/incident/{incident}"),
                1 => format!("/incidents/{incident}/export.csv"),
                2 => format!("/incidents/{incident}/export.json"),
                _ => format!("/incidents/{incident}/card.png"),
            },
            92..=94 => "/explain".to_owned(),
            _ => "/healthz".to_owned(),
        };
        // Random query strings: a page must not keep one copy per variant.
        if rng.below(10) < 3 {
            let separator = if path.contains('?') { '&' } else { '?' };
            let _ = match rng.below(3) {
                0 => write!(path, "{separator}utm_source={:x}", rng.next()),
                1 => write!(path, "{separator}window={:x}", rng.next() % 4096),
                _ => write!(path, "{separator}x{}={:x}", rng.below(50), rng.next()),
            };
        }
        path
    }

    fn record(&self, path: &str, elapsed: Duration, result: Result<(u16, usize), String>) {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        window.latencies_ms.push(elapsed.as_secs_f64() * 1000.0);
        let route = path.split('?').next().unwrap_or(path);
        // Group ids and hosts so the list of bad paths stays short.
        let route = route
            .split('/')
            .map(|part| {
                if part.chars().any(|c| c.is_ascii_digit()) {
                    "*"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        match result {
            Ok((status, bytes)) => {
                window.bytes += bytes as u64;
                match status {
                    200..=299 => window.ok += 1,
                    300..=399 => window.redirects += 1,
                    400..=499 => window.client_errors += 1,
                    _ => {
                        window.server_errors += 1;
                        *window.bad.entry(format!("{status} {route}")).or_default() += 1;
                    }
                }
            }
            Err(error) => {
                window.failures += 1;
                *window.bad.entry(format!("{error} {route}")).or_default() += 1;
            }
        }
    }
}

async fn requester(
    load: Arc<Load>,
    client: reqwest::Client,
    base: String,
    mut rng: Rng,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let path = load.path(&mut rng);
        let started = Instant::now();
        let result = async {
            let response = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .map_err(|e| if e.is_timeout() { "timeout" } else { "error" })?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(|_| "body error")?;
            Ok::<_, &str>((status, body.len()))
        }
        .await;
        load.record(&path, started.elapsed(), result.map_err(str::to_owned));
    }
}

// ---------------------------------------------------------------- samples

#[derive(Clone, Default, serde::Serialize)]
struct Row {
    minute: u64,
    at: String,
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
    fds: u64,
    db_bytes: u64,
    wal_bytes: u64,
    probes: i64,
    failing_sites: i64,
    incidents: usize,
    provider_incidents: usize,
    requests: u64,
    ok: u64,
    client_errors: u64,
    server_errors: u64,
    failures: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    cpu_percent: f64,
    load1: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    (sorted[index.min(sorted.len() - 1)] * 100.0).round() / 100.0
}

const HEADER: &str = "min  rss_MiB  hwm_MiB thr  fds  db_MiB wal_MiB   probes fail  inc prov   req  p50_ms  p99_ms   max_ms 5xx err cpu% load1";

fn print_row(row: &Row) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mb = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "{:>3} {:>8.1} {:>8.1} {:>3} {:>4} {:>7.1} {:>7.1} {:>8} {:>4} {:>4} {:>4} {:>5} {:>7.2} {:>7.2} {:>8.1} {:>3} {:>3} {:>4.0} {:>5.2}",
        row.minute,
        mib(row.rss_kib),
        mib(row.hwm_kib),
        row.threads,
        row.fds,
        mb(row.db_bytes),
        mb(row.wal_bytes),
        row.probes,
        row.failing_sites,
        row.incidents,
        row.provider_incidents,
        row.requests,
        row.p50_ms,
        row.p99_ms,
        row.max_ms,
        row.server_errors,
        row.failures,
        row.cpu_percent,
        row.load1,
    );
}

/// Least-squares slope of `y` against the minute, per minute.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let num: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let den: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// The line without terminal colour codes (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Counts the log's warnings and errors, and their most frequent messages.
fn log_summary(log: &Path) -> (u64, u64, Vec<(String, u64)>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (mut warnings, mut errors) = (0, 0);
    let mut messages: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for line in text.lines() {
        let line = strip_ansi(line);
        let line = line.as_str();
        let level = line.split_whitespace().nth(1).unwrap_or("");
        let counted = match level {
            "WARN" => {
                warnings += 1;
                true
            }
            "ERROR" => {
                errors += 1;
                true
            }
            _ => false,
        };
        if counted {
            // Without the time stamp, digits and field values, to group.
            let message: String = line
                .split_whitespace()
                .skip(1)
                .filter(|word| !word.contains('='))
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .take(160)
                .collect();
            *messages.entry(message).or_default() += 1;
        }
    }
    let mut top: Vec<(String, u64)> = messages.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(12);
    (warnings, errors, top)
}

// ---------------------------------------------------------------- main

#[tokio::main]
async fn main() {
    let options = Options::from_args();
    if !options.faultline.exists() {
        eprintln!(
            "soak: no binary at {}; build it with `cargo build --release -p server --bin faultline` or pass --faultline PATH",
            options.faultline.display()
        );
        std::process::exit(2);
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let database = temp.path().join("data/faultline.db");
    let began = Instant::now();
    let waves = Waves {
        began,
        start: options.wave_start,
        length: options.wave_length,
        every: options.wave_every,
    };
    let (sites, dns, canaries) = start_fleet(&options, waves).await.expect("fleet");
    let listen = free_port().expect("a free port");
    let (watchlist, config) =
        write_files(&options, &sites, dns.addr(), &canaries, listen, &database)
            .expect("watchlist and configuration");
    let mut mix: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for site in &sites {
        *mix.entry(site.behaviour.tag()).or_default() += 1;
    }
    let mut providers: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for site in &sites {
        *providers.entry(EDGES[site.edge].id).or_default() += 1;
    }
    println!(
        "soak: {} sites every {} s, {} requests/s from {} requesters, {} min; fleet and DNS on 127.0.0.1 (DNS {})",
        sites.len(),
        options.interval_s,
        options.rate,
        options.concurrency,
        options.minutes,
        dns.addr()
    );
    println!("soak: fleet mix {mix:?}");
    println!("soak: providers {providers:?}");
    println!(
        "soak: binary {}, output in {}",
        options.faultline.display(),
        options.out.display()
    );

    // The watchlist goes in through the command people use.
    let import = std::process::Command::new(&options.faultline)
        .arg("--config")
        .arg(&config)
        .args(["sites", "import"])
        .arg(&watchlist)
        .env_remove("RUST_LOG")
        .output()
        .expect("run faultline sites import");
    println!("soak: {}", String::from_utf8_lossy(&import.stdout).trim());
    assert!(
        import.status.success(),
        "faultline sites import failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );

    let log_path = options.out.join("faultline.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = tokio::process::Command::new(&options.faultline)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env_remove("RUST_LOG")
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn faultline serve");
    let pid = child.id().expect("child pid");
    let base = format!("http://{listen}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .expect("client");
    let ready = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "faultline serve exited during start-up ({status}); see {}",
                log_path.display()
            );
        }
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status().is_success() {
                break;
            }
        }
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "faultline did not answer /healthz within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "soak: faultline serve (pid {pid}) answered after {} ms",
        ready.elapsed().as_millis()
    );
    let store = store::Store::open(&database)
        .await
        .expect("open the database to count");

    let load = Arc::new(Load {
        hosts: sites.iter().map(|s| s.host.clone()).collect(),
        providers: vec![
            "cloudflare",
            "fastly",
            "akamai",
            "cloudfront",
            "azure-front-door",
            "nginx",
            "aws",
            "google",
            "no-such-provider",
        ],
        incidents: RwLock::new(Vec::new()),
        provider_incidents: std::sync::atomic::AtomicUsize::new(0),
        window: Mutex::new(Window::default()),
    });
    let stop = tokio_util::sync::CancellationToken::new();
    let every = Duration::from_secs_f64(options.concurrency as f64 / options.rate);
    let mut requesters = Vec::new();
    let concurrency = options.concurrency as f64;
    for n in 0..options.concurrency {
        let (load, client, base, stop) = (load.clone(), client.clone(), base.clone(), stop.clone());
        let rng = Rng(0x5eed + n as u64);
        requesters.push(tokio::spawn(async move {
            // Staggered, so the requests are spread over each period.
            tokio::time::sleep(every.mul_f64(n as f64 / concurrency)).await;
            requester(load, client, base, rng, every, stop).await;
        }));
    }
    let refresher = {
        let (load, store, stop) = (load.clone(), store.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(incidents) = store.list_incidents(None, 100_000).await {
                    let providers = incidents
                        .iter()
                        .filter(|i| i.kind == engine::vocab::IncidentKind::Provider)
                        .count();
                    load.provider_incidents
                        .store(providers, std::sync::atomic::Ordering::Relaxed);
                    let ids = incidents.iter().take(500).map(|i| i.id).collect();
                    *load.incidents.write().unwrap_or_else(|p| p.into_inner()) = ids;
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(15)) => {}
                }
            }
        })
    };

    let mut rows: Vec<Row> = Vec::new();
    let mut all_latencies: Vec<f64> = Vec::new();
    let mut bad_total: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut last_cpu = sample_process(pid).cpu_ticks;
    let mut last_at = Instant::now();
    let start = Instant::now();
    println!("{HEADER}");
    for minute in 0..=options.minutes {
        if minute > 0 {
            let due = start + Duration::from_secs(60 * minute);
            tokio::time::sleep_until(due.into()).await;
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!(
                "soak: faultline serve exited early ({status}); see {}",
                log_path.display()
            );
            break;
        }
        let process = sample_process(pid);
        let window = std::mem::take(&mut *load.window.lock().unwrap_or_else(|p| p.into_inner()));
        let mut latencies = window.latencies_ms;
        latencies.sort_by(f64::total_cmp);
        all_latencies.extend_from_slice(&latencies);
        for (path, count) in window.bad {
            *bad_total.entry(path).or_default() += count;
        }
        let summary = store.site_summary().await.ok();
        let seconds = last_at.elapsed().as_secs_f64().max(1.0);
        let row = Row {
            minute,
            at: chrono::Utc::now().format("%H:%M:%S").to_string(),
            rss_kib: process.rss_kib,
            hwm_kib: process.hwm_kib,
            threads: process.threads,
            fds: process.fds,
            db_bytes: file_len(&database),
            wal_bytes: file_len(&with_suffix(&database, "-wal")),
            probes: store.probe_count().await.unwrap_or(-1),
            failing_sites: summary.map_or(-1, |s| s.failing),
            incidents: store
                .list_incidents(None, 100_000)
                .await
                .map_or(0, |i| i.len()),
            provider_incidents: load
                .provider_incidents
                .load(std::sync::atomic::Ordering::Relaxed),
            requests: latencies.len() as u64,
            ok: window.ok,
            client_errors: window.client_errors,
            server_errors: window.server_errors,
            failures: window.failures,
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: percentile(&latencies, 1.0),
            // Clock ticks are 1/100 s on Linux.
            cpu_percent: ((process.cpu_ticks.saturating_sub(last_cpu)) as f64 / seconds).round(),
            load1: load_average().0,
        };
        last_cpu = process.cpu_ticks;
        last_at = Instant::now();
        print_row(&row);
        let _ = std::io::stdout().flush();
        rows.push(row);
    }

    // Stop the load, then the child, gracefully.
    stop.cancel();
    for requester in requesters {
        let _ = requester.await;
    }
    let _ = refresher.await;
    let final_probes = store.probe_count().await.unwrap_or(-1);
    drop(store);
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let exit = tokio::time::timeout(Duration::from_secs(90), child.wait()).await;
    let stop_ms = signalled.elapsed().as_millis();
    let exit_code = match &exit {
        Ok(Ok(status)) => status.code(),
        _ => None,
    };
    if exit.is_err() {
        eprintln!("soak: faultline did not stop within 90 s of SIGTERM; killing it");
        let _ = child.kill().await;
    }
    let db_after_stop = file_len(&database) + file_len(&with_suffix(&database, "-wal"));
    dns.stop();

    // The summary.
    all_latencies.sort_by(f64::total_cmp);
    let first = rows.first().cloned().unwrap_or_default();
    let second = rows.get(1).cloned().unwrap_or_default();
    let last = rows.last().cloned().unwrap_or_default();
    let half = rows.len() / 2;
    let rss_slope = slope(
        &rows[half.min(rows.len())..]
            .iter()
            .map(|r| (r.minute as f64, r.rss_kib as f64))
            .collect::<Vec<_>>(),
    );
    let fds_slope = slope(
        &rows[half.min(rows.len())..]
            .iter()
            .map(|r| (r.minute as f64, r.fds as f64))
            .collect::<Vec<_>>(),
    );
    let (warnings, errors, top) = log_summary(&log_path);
    let (load1, load5, load15) = load_average();
    let mean_load = rows.iter().map(|r| r.load1).sum::<f64>() / rows.len().max(1) as f64;
    println!();
    println!(
        "soak: start (minute 0) -> first minute -> end (minute {})",
        last.minute
    );
    println!(
        "  RSS          {:.1} -> {:.1} -> {:.1} MiB (peak {:.1} MiB); second half slope {:+.1} KiB/min",
        first.rss_kib as f64 / 1024.0,
        second.rss_kib as f64 / 1024.0,
        last.rss_kib as f64 / 1024.0,
        last.hwm_kib as f64 / 1024.0,
        rss_slope
    );
    println!(
        "  open fds     {} -> {} -> {}; second half slope {:+.2}/min; threads {} -> {}",
        first.fds, second.fds, last.fds, fds_slope, first.threads, last.threads
    );
    println!(
        "  database     {:.1} -> {:.1} MiB (+ WAL {:.1} MiB); {:.1} MiB after shutdown",
        (first.db_bytes + first.wal_bytes) as f64 / 1048576.0,
        last.db_bytes as f64 / 1048576.0,
        last.wal_bytes as f64 / 1048576.0,
        db_after_stop as f64 / 1048576.0
    );
    println!(
        "  probes       {} stored ({:.0}/min); {} incidents, {} of them provider-wide",
        final_probes,
        final_probes as f64 / last.minute.max(1) as f64,
        last.incidents,
        last.provider_incidents
    );
    println!(
        "  page p99     {:.2} ms (first minute) -> {:.2} ms (last minute); whole run p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms over {} requests",
        second.p99_ms,
        last.p99_ms,
        percentile(&all_latencies, 0.5),
        percentile(&all_latencies, 0.99),
        percentile(&all_latencies, 1.0),
        all_latencies.len()
    );
    println!(
        "  load average mean of samples {mean_load:.2}; now {load1:.2} {load5:.2} {load15:.2}"
    );
    println!("  shutdown     SIGTERM sent: {killed}; exit code {exit_code:?} after {stop_ms} ms");
    println!(
        "  server log   {warnings} warnings, {errors} errors ({})",
        log_path.display()
    );
    for (message, count) in &top {
        println!("    {count:>6}  {message}");
    }
    if !bad_total.is_empty() {
        println!("  5xx answers and failed page requests:");
        for (path, count) in &bad_total {
            println!("    {count:>6}  {path}");
        }
    }

    let mut csv = String::from(
        "minute,at,rss_kib,hwm_kib,threads,fds,db_bytes,wal_bytes,probes,failing_sites,incidents,provider_incidents,requests,ok,client_errors,server_errors,failures,p50_ms,p99_ms,max_ms,cpu_percent,load1\n",
    );
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.minute,
            r.at,
            r.rss_kib,
            r.hwm_kib,
            r.threads,
            r.fds,
            r.db_bytes,
            r.wal_bytes,
            r.probes,
            r.failing_sites,
            r.incidents,
            r.provider_incidents,
            r.requests,
            r.ok,
            r.client_errors,
            r.server_errors,
            r.failures,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.cpu_percent,
            r.load1
        );
    }
    let _ = std::fs::write(options.out.join("soak.csv"), csv);
    let json = serde_json::json!({
        "minutes": options.minutes,
        "sites": sites.len(),
        "interval_s": options.interval_s,
        "rate": options.rate,
        "concurrency": options.concurrency,
        "fleet_mix": mix,
        "providers": providers,
        "binary": options.faultline.display().to_string(),
        "rows": rows,
        "rss_slope_kib_per_min_second_half": (rss_slope * 10.0).round() / 10.0,
        "fds_slope_per_min_second_half": (fds_slope * 100.0).round() / 100.0,
        "probes": final_probes,
        "db_bytes_after_shutdown": db_after_stop,
        "page_p50_ms": percentile(&all_latencies, 0.5),
        "page_p99_ms": percentile(&all_latencies, 0.99),
        "page_max_ms": percentile(&all_latencies, 1.0),
        "requests": all_latencies.len(),
        "bad_requests": bad_total,
        "log_warnings": warnings,
        "log_errors": errors,
        "log_top": top,
        "exit_code": exit_code,
        "stop_ms": stop_ms,
    });
    let _ = std::fs::write(
        options.out.join("soak.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    );
    println!(
        "soak: wrote {}/soak.csv and soak.json",
        options.out.display()
    );
    if exit_code != Some(0) {
        eprintln!("soak: faultline serve did not exit 0 after SIGTERM");
        std::process::exit(1);
    }
}
