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
/// Most pages kept; beyond it the oldest go first.
const MAX_ENTRIES: usize = 4096;
/// Paths never cached: operational endpoints, server functions, admin.
const UNCACHED_PREFIXES: &[&str] = &["/healthz", "/api/", "/admin"];

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
}

impl Default for PageCache {
    fn default() -> Self {
        Self::with_ttl(FRESH_FOR, STALE_FOR)
    }
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keys being rendered now, with a lock the waiting misses queue on.
    filling: HashMap<Key, Arc<tokio::sync::Mutex<()>>>,
}

/// Path and query, and whether the client takes gzip.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    uri: String,
    gzip: bool,
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
        }
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
        if inner.entries.len() >= MAX_ENTRIES && !inner.entries.contains_key(&key) {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.rendered_at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                inner.entries.remove(&oldest);
            }
        }
        inner.entries.insert(key, entry);
    }

    fn release_refresh(&self, key: &Key) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = inner.entries.get_mut(key) {
            entry.refreshing = false;
        }
    }

    /// Drops a key's fill lock once nobody waits on it, so the map does
    /// not grow with every URL ever asked for.
    fn forget_fill_lock(&self, key: &Key, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // Ours and the map's: no one else is waiting.
        if Arc::strong_count(lock) <= 2 {
            inner.filling.remove(key);
        }
    }

    fn fill_lock(&self, key: &Key) -> Arc<tokio::sync::Mutex<()>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.filling.entry(key.clone()).or_default().clone()
    }
}

/// The middleware: serves from the cache, or renders through `next` and
/// keeps the answer when it may be shared.
pub async fn serve_cached(
    State(cache): State<PageCache>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = cache_key(&request) else {
        return next.run(request).await;
    };
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let version = (cache.version)();
    if let Some(entry) = cache.get(&key, version) {
        let age = entry.rendered_at.elapsed();
        if age < cache.fresh_for + cache.stale_for {
            if age >= cache.fresh_for && cache.claim_refresh(&key) {
                refresh_in_background(cache.clone(), key.clone(), &request, next, version);
            }
            return answer(&entry, if_none_match.as_ref(), age);
        }
    }
    // A miss: one render per page, the other requests wait for it.
    let lock = cache.fill_lock(&key);
    let _filling = lock.lock().await;
    if let Some(entry) = cache.get(&key, version) {
        let age = entry.rendered_at.elapsed();
        if age < cache.fresh_for {
            return answer(&entry, if_none_match.as_ref(), age);
        }
    }
    let response = match render(next, request, version).await {
        Rendered::Cacheable(entry) => {
            cache.put(key.clone(), entry.clone());
            answer(&entry, if_none_match.as_ref(), Duration::ZERO)
        }
        Rendered::Private(response) => response,
    };
    drop(_filling);
    cache.forget_fill_lock(&key, &lock);
    response
}

/// Renders a stale page again off the request path. The request is
/// rebuilt from its method, URI and the headers that select a variant,
/// because the original is answered from the cache at once.
fn refresh_in_background(cache: PageCache, key: Key, request: &Request, next: Next, version: u64) {
    let mut fresh = Request::new(Body::empty());
    *fresh.method_mut() = Method::GET;
    *fresh.uri_mut() = request.uri().clone();
    for name in [header::ACCEPT_ENCODING, header::ACCEPT, header::HOST] {
        if let Some(value) = request.headers().get(&name) {
            fresh.headers_mut().insert(name, value.clone());
        }
    }
    cache.refreshes.clone().spawn(async move {
        match render(next, fresh, version).await {
            Rendered::Cacheable(entry) => cache.put(key, entry),
            Rendered::Private(_) => cache.release_refresh(&key),
        }
    });
}

enum Rendered {
    Cacheable(Entry),
    Private(Response),
}

async fn render(next: Next, request: Request, version: u64) -> Rendered {
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
fn cache_key(request: &Request) -> Option<Key> {
    if request.method() != Method::GET {
        return None;
    }
    let path = request.uri().path();
    if UNCACHED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    let headers = request.headers();
    // Anything personal bypasses the shared cache.
    if headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE) {
        return None;
    }
    let gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|c| c.trim().starts_with("gzip")));
    let uri = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.to_owned(), ToString::to_string);
    Some(Key { uri, gzip })
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
