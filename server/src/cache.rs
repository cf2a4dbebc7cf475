//! The herd shield: public pages are rendered at most once per few seconds
//! whatever the traffic, which is what keeps Faultline up when everyone
//! arrives at once during an outage.
//!
//! A response to an anonymous `GET` is kept in memory, already compressed,
//! for [`FRESH_FOR`]; after that it is still served for up to
//! [`STALE_FOR`] while one request renders it again in the background
//! (stale-while-revalidate). Concurrent misses for one page wait for a
//! single render. Every cached answer carries an `ETag`, and a matching
//! `If-None-Match` gets `304 Not Modified`.
//!
//! Pages are also keyed by the status snapshot they were rendered from: once
//! the correlator publishes a new one, no page of the old one is served, so
//! a phase change reaches every page at once.
//!
//! Nothing a client sends can make another client get a different page or
//! fill the memory: the key is the path, the query parameters pages read
//! ([`PAGE_PARAMETERS`]; others are dropped) and whether gzip is acceptable
//! as HTTP defines it; the render is asked for exactly that variant; the
//! kept bodies are bounded in bytes; and a client that goes away during a
//! render leaves no lock behind.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::task::TaskTracker;

/// How long a rendered page is served as is.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// How long after that a stale page may still be served while it is
/// rendered again.
pub const STALE_FOR: Duration = Duration::from_secs(60);
/// Largest body kept; bigger answers pass through uncached.
const MAX_CACHED_BODY: usize = 4 * 1024 * 1024;
/// Longest a shared page may take to render. A render that hangs (a bug,
/// a database that stopped answering) then answers 503 and lets go of the
/// page, instead of holding every visitor of it behind it.
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(20);
/// Most pages kept; beyond it the oldest go first.
const MAX_ENTRIES: usize = 4096;
/// Most bytes of bodies kept in all; beyond it the oldest go first.
pub const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;
/// The query parameters pages read; any other, or a value a page would
/// ignore, is not part of a page's key and is not passed to its render.
pub const PAGE_PARAMETERS: &[&str] = &["q", "now", "window", "alerts"];
/// Longest search kept in a key; a longer one is no page's parameter.
const MAX_QUERY_VALUE: usize = 512;

/// The query parameters the API reads; their values are checked by the
/// API itself, which refuses what it cannot read.
pub const API_PARAMETERS: &[&str] = &[
    "q", "window", "provider", "state", "kind", "since", "until", "cursor", "limit",
];

/// Whether the API reads `name=value` (see [`API_PARAMETERS`]).
fn api_parameter(name: &str, value: &str) -> bool {
    API_PARAMETERS.contains(&name) && value.len() <= MAX_QUERY_VALUE
}

/// Whether a page reads `name=value` (see [`PAGE_PARAMETERS`]).
fn page_parameter(name: &str, value: &str) -> bool {
    match name {
        "q" => value.len() <= MAX_QUERY_VALUE,
        "now" => value == "1",
        "window" => app::site::Window::ALL.iter().any(|w| w.key() == value),
        "alerts" => app::subscribe::Outcome::from_key(value).is_some(),
        _ => false,
    }
}
/// Paths never cached: operational endpoints, server functions, admin.
const UNCACHED_PREFIXES: &[&str] = &[
    "/healthz", "/metrics", "/api/", "/admin", "/alerts/", "/agent/",
];
/// Under those, the public API's reads are shared like pages.
const CACHED_API: &[&str] = &["/api/v1/", "/api/openapi.json"];

/// Whether `path` is one of the API's shared reads.
fn api_path(path: &str) -> bool {
    CACHED_API.iter().any(|p| path.starts_with(p))
}

/// The shared cache; cheap to clone.
#[derive(Clone)]
pub struct PageCache {
    inner: Arc<Mutex<Inner>>,
    fresh_for: Duration,
    stale_for: Duration,
    /// Background renders of stale pages.
    refreshes: TaskTracker,
    /// The current snapshot's version.
    version: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// Pages link to the origin each request names: keep them apart.
    by_origin: bool,
    metrics: Option<crate::metrics::Metrics>,
    render_timeout: Duration,
}

impl Default for PageCache {
    fn default() -> Self {
        Self::with_ttl(FRESH_FOR, STALE_FOR)
    }
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Bytes of the kept bodies.
    bytes: usize,
    /// Keys being rendered now, with a lock the waiting misses queue on.
    filling: HashMap<Key, Arc<tokio::sync::Mutex<FillState>>>,
}

/// Path and query, whether the client takes gzip, and (when no public
/// address is configured, so pages link to the one the request named) that
/// origin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    uri: String,
    gzip: bool,
    origin: String,
}

#[derive(Clone)]
struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    etag: HeaderValue,
    rendered_at: Instant,
    /// The snapshot version current when the render began.
    version: u64,
    refreshing: bool,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let size = self
            .inner
            .lock()
            .map(|inner| inner.entries.len())
            .unwrap_or_default();
        f.debug_struct("PageCache").field("entries", &size).finish()
    }
}

impl PageCache {
    pub fn with_ttl(fresh_for: Duration, stale_for: Duration) -> Self {
        Self {
            inner: Arc::default(),
            fresh_for,
            stale_for,
            refreshes: TaskTracker::new(),
            version: Arc::new(|| 0),
            by_origin: false,
            metrics: None,
            render_timeout: RENDER_TIMEOUT,
        }
    }

    /// Bounds each render by `timeout` (default [`RENDER_TIMEOUT`]).
    pub fn with_render_timeout(mut self, timeout: Duration) -> Self {
        self.render_timeout = timeout;
        self
    }

    /// Counts hits, stale answers and misses in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, outcome: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.cache(outcome);
        }
    }

    /// Keys pages by the origin the request names too: for a server
    /// without a configured public address, whose links follow `Host`.
    pub fn by_origin(mut self) -> Self {
        self.by_origin = true;
        self
    }

    /// Keys pages by the snapshot version `version` reads.
    pub fn with_version(mut self, version: Arc<dyn Fn() -> u64 + Send + Sync>) -> Self {
        self.version = version;
        self
    }

    /// Waits for the background renders under way; the server calls it once
    /// it has stopped taking requests, so none outlives it.
    pub async fn refreshed(&self) {
        self.refreshes.close();
        self.refreshes.wait().await;
    }

    /// The kept page for `key`, if it was rendered from `version`.
    fn get(&self, key: &Key, version: u64) -> Option<Entry> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .entries
            .get(key)
            .filter(|entry| entry.version == version)
            .cloned()
    }

    /// Marks a stale entry as being refreshed; false if someone already is.
    fn claim_refresh(&self, key: &Key) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.entries.get_mut(key) {
            Some(entry) if !entry.refreshing => {
                entry.refreshing = true;
                true
            }
            _ => false,
        }
    }

    fn put(&self, key: Key, entry: Entry) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = inner.entries.remove(&key) {
            inner.bytes -= old.body.len();
        }
        while inner.entries.len() >= MAX_ENTRIES
            || (!inner.entries.is_empty() && inner.bytes + entry.body.len() > MAX_CACHED_BYTES)
        {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.rendered_at)
                .map(|(k, _)| k.clone());
            match oldest.and_then(|oldest| inner.entries.remove(&oldest)) {
                Some(removed) => inner.bytes -= removed.body.len(),
                None => break,
            }
        }
        inner.bytes += entry.body.len();
        inner.entries.insert(key, entry);
    }

    /// Pages kept, their bytes, and renders under way.
    pub fn usage(&self) -> CacheUsage {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        CacheUsage {
            pages: inner.entries.len(),
            bytes: inner.bytes,
            filling: inner.filling.len(),
        }
    }

    fn release_refresh(&self, key: &Key) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = inner.entries.get_mut(key) {
            entry.refreshing = false;
        }
    }

    /// Drops a key's fill lock once nobody waits on it, so the map does
    /// not grow with every URL ever asked for.
    fn forget_fill_lock(&self, key: &Key, lock: &Arc<tokio::sync::Mutex<FillState>>) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // Ours and the map's: no one else is waiting.
        if Arc::strong_count(lock) <= 2 {
            inner.filling.remove(key);
        }
    }

    fn fill_lock(&self, key: &Key) -> Arc<tokio::sync::Mutex<FillState>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.filling.entry(key.clone()).or_default().clone()
    }
}

/// What the cache holds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheUsage {
    pub pages: usize,
    pub bytes: usize,
    /// Keys with a render under way (and their fill locks).
    pub filling: usize,
}

/// A key's fill lock, let go of when dropped: on the way out of a render,
/// and as well when the client went away and its request was dropped.
/// What the render of a key last left for those waiting on it: when it
/// ran out of time, if it did.
type FillState = Option<Instant>;

struct Filling {
    cache: PageCache,
    key: Key,
    lock: Arc<tokio::sync::Mutex<FillState>>,
}

impl Drop for Filling {
    fn drop(&mut self) {
        self.cache.forget_fill_lock(&self.key, &self.lock);
    }
}

/// The middleware: serves from the cache, or renders through `next` and
/// keeps the answer when it may be shared.
pub async fn serve_cached(
    State(cache): State<PageCache>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = cache_key(&request, cache.by_origin) else {
        return next.run(request).await;
    };
    let request = for_variant(request, &key);
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let version = (cache.version)();
    if let Some(entry) = cache.get(&key, version) {
        let age = entry.rendered_at.elapsed();
        if age < cache.fresh_for + cache.stale_for {
            if age >= cache.fresh_for && cache.claim_refresh(&key) {
                refresh_in_background(cache.clone(), key.clone(), &request, next, version);
            }
            cache.count(if age < cache.fresh_for {
                "hit"
            } else {
                "stale"
            });
            return answer(&entry, if_none_match.as_ref(), age);
        }
    }
    // A miss: one render per page, the other requests wait for it.
    let filling = Filling {
        cache: cache.clone(),
        key: key.clone(),
        lock: cache.fill_lock(&key),
    };
    let mut turn = filling.lock.lock().await;
    if let Some(entry) = cache.get(&key, version) {
        let age = entry.rendered_at.elapsed();
        if age < cache.fresh_for {
            cache.count("hit");
            return answer(&entry, if_none_match.as_ref(), age);
        }
    }
    // The render before ours ran out of time a moment ago: ours would
    // most likely too, so the queue behind it is answered at once.
    if turn.is_some_and(|failed| failed.elapsed() < TOO_SLOW_RETRY) {
        return too_slow();
    }
    cache.count("miss");
    let response = match render(next, request, version, cache.render_timeout).await {
        Rendered::Cacheable(entry) => {
            cache.put(key.clone(), entry.clone());
            answer(&entry, if_none_match.as_ref(), Duration::ZERO)
        }
        Rendered::Private(response) => response,
        Rendered::TooSlow => {
            *turn = Some(Instant::now());
            too_slow()
        }
    };
    drop(turn);
    drop(filling);
    response
}

/// The request as the key's variant: only the page parameters in its
/// query, and `Accept-Encoding` exactly `gzip` or absent, so what is
/// rendered is what the key says.
fn for_variant(mut request: Request, key: &Key) -> Request {
    if let Ok(uri) = key.uri.parse() {
        *request.uri_mut() = uri;
    }
    let headers = request.headers_mut();
    headers.remove(header::ACCEPT_ENCODING);
    if key.gzip {
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    }
    request
}

/// Whether `Accept-Encoding` values accept gzip (RFC 9110, 12.5.3): codings
/// are case-insensitive, `x-gzip` is gzip, `*` covers it unless gzip is
/// named, and `q=0` refuses.
pub fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let mut gzip: Option<f32> = None;
    let mut any: Option<f32> = None;
    for coding in values.into_iter().flat_map(|value| value.split(',')) {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut weight = 1.0_f32;
        for parameter in parts {
            if let Some((k, v)) = parameter.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    weight = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(gzip.unwrap_or(0.0).max(weight)),
            "*" => any = Some(weight),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|weight| weight > 0.0)
}

/// Renders a stale page again off the request path. The request is
/// rebuilt from its method, URI and the headers that select a variant,
/// because the original is answered from the cache at once.
fn refresh_in_background(cache: PageCache, key: Key, request: &Request, next: Next, version: u64) {
    let mut fresh = Request::new(Body::empty());
    *fresh.method_mut() = Method::GET;
    *fresh.uri_mut() = request.uri().clone();
    // Already the key's variant: see `for_variant`.
    for name in [
        header::ACCEPT_ENCODING,
        header::ACCEPT,
        header::HOST,
        header::HeaderName::from_static("x-forwarded-proto"),
    ] {
        if let Some(value) = request.headers().get(&name) {
            fresh.headers_mut().insert(name, value.clone());
        }
    }
    cache.refreshes.clone().spawn(async move {
        match render(next, fresh, version, cache.render_timeout).await {
            Rendered::Cacheable(entry) => cache.put(key, entry),
            Rendered::Private(_) | Rendered::TooSlow => cache.release_refresh(&key),
        }
    });
}

enum Rendered {
    Cacheable(Entry),
    Private(Response),
    /// It ran out of time.
    TooSlow,
}

/// Renders through `next`, within `timeout`.
async fn render(next: Next, request: Request, version: u64, timeout: Duration) -> Rendered {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(timeout, render_unbounded(next, request, version)).await {
        Ok(rendered) => rendered,
        Err(_) => {
            tracing::error!(http.path = %path, timeout_s = timeout.as_secs(), "a page took too long to render");
            Rendered::TooSlow
        }
    }
}

/// How long after a render ran out of time the visitors queued behind it
/// are answered [`too_slow`] at once; what its `Retry-After` says.
const TOO_SLOW_RETRY: Duration = Duration::from_secs(5);

fn too_slow() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "This page took too long to prepare. Please try again in a few seconds.",
    )
        .into_response()
}

async fn render_unbounded(next: Next, request: Request, version: u64) -> Rendered {
    let response = next.run(request).await;
    if !shareable(&response) {
        return Rendered::Private(response);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_CACHED_BODY).await {
        Ok(body) => {
            let mut headers = parts.headers;
            let etag = etag_of(&body);
            headers.remove(header::CONTENT_LENGTH);
            Rendered::Cacheable(Entry {
                status: parts.status,
                headers,
                body,
                etag,
                rendered_at: Instant::now(),
                version,
                refreshing: false,
            })
        }
        Err(error) => {
            tracing::warn!(%error, "a page too large to cache could not be read");
            Rendered::Private((StatusCode::INTERNAL_SERVER_ERROR, "page too large").into_response())
        }
    }
}

fn answer(entry: &Entry, if_none_match: Option<&HeaderValue>, age: Duration) -> Response {
    let not_modified = if_none_match.is_some_and(|tags| {
        tags.to_str()
            .map(|tags| {
                tags.split(',')
                    .any(|t| t.trim() == entry.etag.to_str().unwrap_or(""))
            })
            .unwrap_or(false)
    });
    let mut response = if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        // A browser merges a 304's headers into the page it kept: the
        // page's own policy must come with it, or another would replace it.
        if let Some(policy) = entry.headers.get(header::CONTENT_SECURITY_POLICY) {
            r.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, policy.clone());
        }
        r
    } else {
        let mut r = Response::new(Body::from(entry.body.clone()));
        *r.status_mut() = entry.status;
        *r.headers_mut() = entry.headers.clone();
        r
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, entry.etag.clone());
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=5, stale-while-revalidate=60"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(age) = HeaderValue::from_str(&age.as_secs().to_string()) {
        headers.insert(header::AGE, age);
    }
    response
}

/// The key for a request that may be answered from the cache, if it may.
fn cache_key(request: &Request, by_origin: bool) -> Option<Key> {
    if request.method() != Method::GET {
        return None;
    }
    let path = request.uri().path();
    let api = api_path(path);
    if !api && UNCACHED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    let headers = request.headers();
    // Anything personal bypasses the shared cache.
    if headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE) {
        return None;
    }
    let gzip = accepts_gzip(
        headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    // Only the parameters pages read, in a fixed order, each once.
    let mut kept: Vec<(String, String)> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .filter(|(name, value)| {
                if api {
                    api_parameter(name, value)
                } else {
                    page_parameter(name, value)
                }
            })
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
    kept.sort();
    kept.dedup_by(|a, b| a.0 == b.0);
    let uri = if kept.is_empty() {
        path.to_owned()
    } else {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        format!("{path}?{query}")
    };
    let origin = if by_origin {
        app::origin::origin_of(headers)
    } else {
        String::new()
    };
    Some(Key { uri, gzip, origin })
}

/// Only a complete, public success may be shared between clients.
fn shareable(response: &Response) -> bool {
    let headers = response.headers();
    let private = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store") || v.contains("private"));
    response.status() == StatusCode::OK && !private && !headers.contains_key(header::SET_COOKIE)
}

/// A strong validator from the body's bytes.
fn etag_of(body: &[u8]) -> HeaderValue {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let tag = format!("\"{:016x}-{:x}\"", hasher.finish(), body.len());
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    /// A page that counts its renders and says which one this is.
    fn app(cache: PageCache, renders: Arc<AtomicUsize>) -> axum::Router {
        let counted = move || {
            let renders = renders.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let n = renders.fetch_add(1, Ordering::SeqCst) + 1;
                format!("<html>render {n}</html>")
            }
        };
        axum::Router::new()
            .route("/", axum::routing::get(counted.clone()))
            .route(
                "/personal",
                axum::routing::get(|| async { ([(header::SET_COOKIE, "a=b")], "mine") }),
            )
            .layer(axum::middleware::from_fn_with_state(cache, serve_cached))
    }

    async fn get(
        app: axum::Router,
        uri: &'static str,
        etag: Option<String>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::get(uri).body(Body::empty()).unwrap();
        if let Some(etag) = etag {
            request
                .headers_mut()
                .insert(header::IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
        }
        let response = app.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn a_crowd_of_misses_renders_once_and_etags_revalidate() {
        let renders = Arc::new(AtomicUsize::new(0));
        let app = app(PageCache::default(), renders.clone());
        let crowd: Vec<_> = (0..50).map(|_| get(app.clone(), "/", None)).collect();
        let answers = futures_join_all(crowd).await;
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert!(answers
            .iter()
            .all(|(status, _, body)| *status == StatusCode::OK && body == "<html>render 1</html>"));
        let etag = answers[0]
            .1
            .get(header::ETAG)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let (status, headers, body) = get(app.clone(), "/", Some(etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert!(headers
            .get(header::CACHE_CONTROL)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("max-age=5"));
        // Another query is another page.
        get(app.clone(), "/?q=x", None).await;
        assert_eq!(renders.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_stale_page_is_served_while_it_is_rendered_again() {
        let renders = Arc::new(AtomicUsize::new(0));
        let cache = PageCache::with_ttl(Duration::from_millis(100), Duration::from_secs(60));
        let app = app(cache, renders.clone());
        assert_eq!(get(app.clone(), "/", None).await.2, "<html>render 1</html>");
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Stale: answered at once with the old page, a render starts behind it.
        assert_eq!(get(app.clone(), "/", None).await.2, "<html>render 1</html>");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(get(app.clone(), "/", None).await.2, "<html>render 2</html>");
        assert_eq!(renders.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn gzip_is_accepted_as_http_defines_it() {
        for (header, wanted) in [
            ("gzip", true),
            ("GZIP", true),
            ("x-gzip", true),
            ("br, Gzip;q=0.5", true),
            ("gzip;q=0", false),
            ("gzip; q=0.000", false),
            ("identity", false),
            ("*", true),
            ("*;q=0", false),
            ("gzip;q=0, *", false),
            ("", false),
            ("deflate, br", false),
        ] {
            assert_eq!(accepts_gzip([header]), wanted, "{header:?}");
        }
        assert!(accepts_gzip(["br", "gzip"]));
    }

    #[tokio::test]
    async fn unknown_parameters_and_values_are_not_other_pages() {
        let renders = Arc::new(AtomicUsize::new(0));
        let cache = PageCache::default();
        let app = app(cache.clone(), renders.clone());
        for n in 0..2_000 {
            let uri = match n % 3 {
                0 => format!("/?utm_source={n}"),
                1 => format!("/?window={n}x"),
                _ => format!("/?now={n}&cb={n}"),
            };
            let request = Request::get(uri.as_str()).body(Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert_eq!(cache.usage().pages, 1);
        // A value a page reads is a page of its own.
        get(app.clone(), "/?window=7d", None).await;
        get(app.clone(), "/?window=7d&junk=1", None).await;
        assert_eq!(renders.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_render_that_hangs_answers_503_and_lets_go_of_the_page() {
        let cache = PageCache::default().with_render_timeout(Duration::from_millis(200));
        let renders = Arc::new(AtomicUsize::new(0));
        let counted = renders.clone();
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || {
                    let renders = counted.clone();
                    async move {
                        renders.fetch_add(1, Ordering::SeqCst);
                        std::future::pending::<()>().await;
                        "never"
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                cache.clone(),
                serve_cached,
            ));
        // Two visitors of the page: neither waits for ever, and the second,
        // queued behind the first's render, is answered when it runs out
        // of time rather than trying again.
        let first = tokio::spawn(get(app.clone(), "/", None));
        let second = tokio::spawn(get(app.clone(), "/", None));
        for visitor in [first, second] {
            let (status, headers, body) = tokio::time::timeout(Duration::from_secs(5), visitor)
                .await
                .expect("answered within the bound")
                .unwrap();
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(headers[header::RETRY_AFTER], "5");
            assert!(body.contains("took too long"), "{body}");
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1, "one render tried");
        assert_eq!(cache.usage().filling, 0);
        assert_eq!(cache.usage().pages, 0, "nothing kept of it");
    }

    #[tokio::test]
    async fn a_client_gone_during_a_render_leaves_no_lock() {
        let renders = Arc::new(AtomicUsize::new(0));
        let cache = PageCache::default();
        let app = app(cache.clone(), renders.clone());
        // The render takes 50 ms; the client leaves after 10.
        let request = Request::get("/").body(Body::empty()).unwrap();
        let gone =
            tokio::time::timeout(Duration::from_millis(10), app.clone().oneshot(request)).await;
        assert!(gone.is_err(), "the render was expected to take longer");
        assert_eq!(cache.usage().filling, 0);
        assert_eq!(get(app.clone(), "/", None).await.0, StatusCode::OK);
        assert_eq!(cache.usage().filling, 0);
    }

    #[tokio::test]
    async fn compressed_and_plain_answers_never_mix() {
        let page = "<html>".to_owned() + &"a plain page ".repeat(200) + "</html>";
        let body = page.clone();
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || async move { axum::response::Html(body) }),
            )
            .layer(tower_http::compression::CompressionLayer::new())
            .layer(axum::middleware::from_fn_with_state(
                PageCache::default(),
                serve_cached,
            ));
        let ask = |encoding: Option<&'static str>| {
            let app = app.clone();
            async move {
                let mut request = Request::get("/").body(Body::empty()).unwrap();
                if let Some(encoding) = encoding {
                    request
                        .headers_mut()
                        .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(encoding));
                }
                let response = app.oneshot(request).await.unwrap();
                let gzip = response.headers().get(header::CONTENT_ENCODING).is_some();
                let vary = response.headers().get(header::VARY).cloned();
                let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .unwrap();
                (gzip, vary, body)
            }
        };
        // Compressed variants first, under every spelling a client may use.
        for encoding in ["GZIP", "x-gzip", "gzip;q=1, br"] {
            let (gzip, vary, _) = ask(Some(encoding)).await;
            assert!(gzip, "{encoding}");
            assert_eq!(vary.unwrap(), "accept-encoding");
        }
        for encoding in [None, Some("identity"), Some("gzip;q=0")] {
            let (gzip, vary, body) = ask(encoding).await;
            assert!(!gzip, "{encoding:?}");
            assert_eq!(body, page.as_bytes(), "{encoding:?}");
            assert_eq!(vary.unwrap(), "accept-encoding");
        }
    }

    #[test]
    fn kept_bodies_stay_within_their_byte_bound() {
        let cache = PageCache::default();
        let body = Bytes::from(vec![b'x'; 9 * 1024 * 1024]);
        for n in 0..20 {
            let key = Key {
                uri: format!("/page/{n}"),
                gzip: false,
                origin: String::new(),
            };
            cache.put(
                key,
                Entry {
                    status: StatusCode::OK,
                    headers: HeaderMap::new(),
                    body: body.clone(),
                    etag: etag_of(b"x"),
                    rendered_at: Instant::now(),
                    version: 0,
                    refreshing: false,
                },
            );
            let usage = cache.usage();
            assert!(usage.bytes <= MAX_CACHED_BYTES, "{usage:?}");
        }
        assert_eq!(cache.usage().pages, MAX_CACHED_BYTES / body.len());
    }

    #[tokio::test]
    async fn personal_answers_and_posts_are_never_shared() {
        let renders = Arc::new(AtomicUsize::new(0));
        let app = app(PageCache::default(), renders);
        let (_, headers, _) = get(app.clone(), "/personal", None).await;
        assert!(headers.get(header::ETAG).is_none());
        let request = Request::post("/").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(response.headers().get(header::ETAG).is_none());
    }

    async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }
}
