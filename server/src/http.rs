//! HTTP wiring: the Leptos app, its server functions, static assets and
//! the operational endpoints, on one axum router.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use leptos::config::{Env, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::knowledge::Knowledge;
use crate::pages::PageContext;

/// Largest request body accepted: a pasted 1 MiB watchlist, form-encoded.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What every handler may need: one shared copy, so a clone (the router
/// makes several per request, cached answers included) is one reference
/// count. Reads go through `Deref`; the builder methods below change a
/// state not yet shared.
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    /// Copies the parts first if the state is already shared.
    fn deref_mut(&mut self) -> &mut AppParts {
        Arc::make_mut(&mut self.0)
    }
}

/// The parts of [`AppState`].
#[derive(Clone, Debug)]
pub struct AppParts {
    pub leptos: LeptosOptions,
    pub store: store::Store,
    pub knowledge: Arc<Knowledge>,
    /// Public pages, shared between clients for a few seconds.
    pub cache: crate::cache::PageCache,
    /// Answers of the error-page explainer, kept for their links.
    pub explanations: app::explain::Explanations,
    /// Checks of sites not on the watchlist; none unless given.
    pub on_demand: Option<app::ondemand::OnDemand>,
    /// The configured public address, for permalinks and cookies.
    pub public_origin: app::PublicOrigin,
    /// The snapshot every page's figures come from.
    pub status: app::status::Status,
    /// Incidents' share cards already drawn.
    pub cards: crate::card::Cards,
    /// Whose forwarded headers are believed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// The links in alert mails (confirm, manage, unsubscribe).
    pub alert_links: crate::alerts::links::LinkState,
    /// "Get alerts" by email on the public pages; none unless this server
    /// sends email.
    pub alert_offer: Option<app::subscribe::AlertOffer>,
    /// Each client's budget of API requests.
    pub api_limits: crate::api::ApiLimits,
    /// What this process counts, for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The hash of the token `/metrics` asks for on this listener; none:
    /// not served here.
    pub metrics_token: Option<[u8; 32]>,
    /// The own-network guard's state, for `/metrics`.
    pub vantage: Option<tokio::sync::watch::Receiver<engine::VantageState>>,
    /// Whether this central leads (probes, judges, alerts), for `/healthz`.
    pub leading: tokio::sync::watch::Receiver<bool>,
}

impl FromRef<AppState> for crate::metrics::MetricsState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            metrics: state.metrics.clone(),
            status: state.status.clone(),
            vantage: state.vantage.clone(),
            store: state.store.clone(),
            token_sha256: state.metrics_token,
        }
    }
}

impl FromRef<AppState> for crate::alerts::links::LinkState {
    fn from_ref(state: &AppState) -> Self {
        state.alert_links.clone()
    }
}

impl FromRef<AppState> for Arc<Knowledge> {
    fn from_ref(state: &AppState) -> Self {
        state.knowledge.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl FromRef<AppState> for crate::export::ExportState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            store: state.store.clone(),
            public_origin: state.public_origin.clone(),
            knowledge: state.knowledge.clone(),
            status: state.status.clone(),
        }
    }
}

impl FromRef<AppState> for crate::card::Cards {
    fn from_ref(state: &AppState) -> Self {
        state.cards.clone()
    }
}

impl AppState {
    pub fn new(config: &Config, store: store::Store) -> Self {
        let leptos = LeptosOptions::builder()
            .output_name(Arc::<str>::from("faultline"))
            .site_root(Arc::<str>::from(
                config.site_root.to_string_lossy().as_ref(),
            ))
            .site_pkg_dir(Arc::<str>::from("pkg"))
            .site_addr(config.listen)
            // Production mode: no live-reload socket in the page.
            .env(Env::PROD)
            .build();
        let metrics = crate::metrics::Metrics::new();
        Self(Arc::new(AppParts {
            leptos,
            metrics_token: None,
            vantage: None,
            leading: tokio::sync::watch::channel(false).1,
            alert_links: crate::alerts::links::LinkState::off(store.clone(), config.alerts.guard()),
            alert_offer: None,
            api_limits: crate::api::ApiLimits::per_minute(config.api.requests_per_minute),
            store,
            knowledge: Knowledge::builtin(),
            // Without a public address, links follow each request's Host.
            cache: if config.public_url.is_some() {
                crate::cache::PageCache::default()
            } else {
                crate::cache::PageCache::default().by_origin()
            }
            .with_metrics(metrics.clone()),
            metrics,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            explanations: app::explain::Explanations::default(),
            on_demand: None,
            public_origin: app::PublicOrigin::new(config.public_url.as_ref().map(url::Url::as_str)),
            status: app::status::Status::fixed(engine::correlate::Snapshot::default()),
            cards: crate::card::Cards::default(),
        }))
    }

    /// Shows `status`'s snapshots, and keys cached pages by their version.
    pub fn with_status(mut self, status: app::status::Status) -> Self {
        let versions = status.clone();
        self.cache = self
            .cache
            .clone()
            .with_version(Arc::new(move || versions.version()));
        self.status = status;
        self
    }

    /// Lets visitors check sites that are not on the watchlist.
    pub fn with_on_demand(mut self, prober: Arc<dyn app::ondemand::OnDemandProber>) -> Self {
        self.on_demand = Some(app::ondemand::OnDemand::new(prober));
        self
    }

    /// Serves the links of alert mails, signed by `signer`; webhooks added
    /// from them deliver within `guard`, and `wake` tells the dispatcher
    /// when a page queued something.
    pub fn with_alert_links(
        mut self,
        signer: crate::alerts::token::Signer,
        guard: probe::GuardPolicy,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        self.alert_links = crate::alerts::links::LinkState::new(
            self.store.clone(),
            Some(signer),
            guard,
            wake.clone(),
        );
        self.alert_offer = Some(app::subscribe::AlertOffer::new().with_wake(wake));
        self
    }

    /// Counts in `metrics` (the monitor's and the dispatcher's too), and
    /// reports `vantage` on `/metrics`, served here to scrapes that bring
    /// the token hashed as `token_sha256`.
    pub fn with_metrics(
        mut self,
        metrics: crate::metrics::Metrics,
        vantage: Option<tokio::sync::watch::Receiver<engine::VantageState>>,
        token_sha256: Option<[u8; 32]>,
    ) -> Self {
        self.cache = self.cache.clone().with_metrics(metrics.clone());
        self.metrics = metrics;
        self.vantage = vantage;
        self.metrics_token = token_sha256;
        self
    }

    /// Says on `/healthz` whether this central leads.
    pub fn with_leading(mut self, leading: tokio::sync::watch::Receiver<bool>) -> Self {
        self.leading = leading;
        self
    }

    /// Reports this knowledge base (the one the probes use) on `/healthz`.
    pub fn with_knowledge(mut self, knowledge: Arc<Knowledge>) -> Self {
        self.knowledge = knowledge;
        self
    }
}

/// The pages' context for `state`.
fn page_context(state: &AppState) -> PageContext {
    PageContext {
        store: state.store.clone(),
        knowledge: state.knowledge.clone(),
        explanations: state.explanations.clone(),
        admin: admin_auth(state),
        public_origin: state.public_origin.clone(),
        live: app::live::LiveMemo::default(),
        status: state.status.clone(),
        on_demand: state.on_demand.clone(),
        alert_offer: state.alert_offer.clone(),
    }
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    // Shared: every route's service holds it, and is cloned per request.
    let pages = Arc::new(page_context(&state));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(metrics_route(&state))
        .merge(crate::export::routes())
        .merge(crate::alerts::links::routes())
        .merge(crate::alerts::manage::routes())
        .merge(crate::agents::routes().with_state(
            crate::agents::AgentState::new(state.store.clone()).with_metrics(state.metrics.clone()),
        ))
        .merge(crate::api::routes().with_state(crate::api::ApiState::new(
            state.store.clone(),
            state.status.clone(),
            state.public_origin.clone(),
            pages.clone(),
            &state.api_limits,
            Arc::new(crate::alerts::webhook::AdminWebhooks {
                guard: state.alert_links.guard.clone(),
            }),
        )))
        .merge(
            crate::widget::routes().with_state(crate::widget::WidgetState {
                store: state.store.clone(),
                status: state.status.clone(),
                public_origin: state.public_origin.clone(),
                pages: pages.clone(),
            }),
        )
        .route("/incidents/{id}/card.png", get(crate::card::incident_card))
        .leptos_routes_with_context(&state, routes, move || pages.provide(), {
            let options = state.leptos.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        // Admin pages need a session; server functions check their own.
        .layer(axum::middleware::from_fn_with_state(
            (state.store.clone(), state.public_origin.is_https()),
            admin_gate_layer,
        ))
        // Valid HTML from the framework's output; before compression.
        .layer(axum::middleware::from_fn(crate::tidy::tidy_pages))
        .layer(CompressionLayer::new())
        // No form or server-function call needs more; larger bodies are
        // refused with 413 before they are read into memory.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        // Outside compression, so pages are cached compressed.
        .layer(axum::middleware::from_fn_with_state(
            state.cache.clone(),
            crate::cache::serve_cached,
        ))
        // The API's budgets and cross-origin reads, cached answers too.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new((state.api_limits.clone(), state.store.clone())),
            crate::api::edge,
        ))
        // On every answer, cached or not.
        .layer(axum::middleware::from_fn(crate::tidy::security_headers))
        // First of all: what a client says about proxies it came through
        // counts only from a trusted proxy.
        .layer(axum::middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            forwarded_only_from_trusted_proxies,
        ))
        // A bug that panics while answering costs that request a 500, not
        // the connection; inside the trace layer, so the 500 is logged.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response),
        )
        .with_state(state)
}

/// The answer to a request whose handler panicked: a generic 500, and the
/// panic's message in the log.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic.message = message, "a request's handler panicked");
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side. It has been logged; please try again.",
    )
        .into_response()
}

/// One span per request. The path only: a query may carry whatever a
/// visitor typed, a URL with its credentials included.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::info_span!(
        "http.request",
        http.method = %request.method(),
        http.path = request.uri().path(),
    )
}

fn log_response<B>(
    response: &axum::http::Response<B>,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    tracing::debug!(
        http.status = response.status().as_u16(),
        http.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        "answered"
    );
}

/// The admin pages' shared state: the watchlist rules and the knowledge
/// base's status come from this crate.
fn admin_auth(state: &AppState) -> app::admin::AdminAuth {
    let knowledge = state.knowledge.clone();
    app::admin::AdminAuth::new(
        Arc::new(crate::watchlist::Rules),
        Arc::new(move || {
            let status = knowledge.status();
            app::admin::KnowledgeState {
                source: status.source,
                providers: status.providers,
                loaded_at: status.loaded_at,
                last_error: status.last_error,
                failed_loads: status.failed_loads,
            }
        }),
        state.public_origin.is_https(),
    )
    .with_webhooks(Arc::new(crate::alerts::webhook::AdminWebhooks {
        guard: state.alert_links.guard.clone(),
    }))
}

/// Sends requests for admin pages without a valid session to the sign-in
/// page, and keeps every admin answer out of shared caches.
async fn admin_gate_layer(
    State((store, https)): State<(store::Store, bool)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let is_admin_page = (path == "/admin" || path.starts_with("/admin/")) && path != "/admin/login";
    let is_admin = is_admin_page || path == "/admin/login" || path.starts_with("/api/admin");
    if is_admin_page {
        match app::admin::session::admin_for(&store, request.headers(), https).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return axum::response::Redirect::to("/admin/login").into_response();
            }
            Err(error) => {
                tracing::error!(%error, "cannot check an admin session");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        }
    }
    let mut response = next.run(request).await;
    if is_admin {
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    response
}

/// Serves until `shutdown` is cancelled, then lets open requests and the
/// page renders they started finish.
/// Drops `Forwarded` and `X-Forwarded-*` from a request whose peer is not
/// a trusted proxy, so no client can claim another scheme, host or address;
/// behind a trusted proxy, the client address the limits key on is the one
/// its `X-Forwarded-For` names.
async fn forwarded_only_from_trusted_proxies(
    State(trusted): State<Arc<Vec<ipnet::IpNet>>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let trusted_ip = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    let believed = peer.is_some_and(|ip| trusted_ip(&ip));
    if believed {
        // The client is the nearest address that is not one of our own
        // proxies, reading the chain from our side.
        let client = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|hop| hop.trim().parse::<std::net::IpAddr>().ok())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .find(|ip| !trusted_ip(ip));
        if let Some(client) = client {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                    client, 0,
                )));
        }
    } else {
        let headers = request.headers_mut();
        for name in [
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-forwarded-port",
            "x-real-ip",
        ] {
            headers.remove(name);
        }
    }
    next.run(request).await
}

pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let cache = state.cache.clone();
    // Client addresses feed the per-client rate limits.
    let service = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    cache.refreshed().await;
    served
}

/// `/metrics` on this listener when a token guards it; otherwise nothing
/// here (it may have a listener of its own).
fn metrics_route(state: &AppState) -> Router<AppState> {
    if state.metrics_token.is_some() {
        Router::new().route("/metrics", get(crate::metrics::scrape))
    } else {
        Router::new()
    }
}

/// A router with `/metrics` alone, for a listener of its own.
pub fn metrics_router(state: crate::metrics::MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::scrape))
        .with_state(state)
}

/// Liveness and readiness: the process answers and the database reads.
/// Providers' status pages that fail are reported, not a reason to be
/// unready: probing goes on without them.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let read = async {
        let summary = state.store.site_summary().await?;
        let sources = state.store.status_sources().await?;
        Ok::<_, store::StoreError>((summary, sources))
    };
    match read.await {
        Ok((summary, sources)) => (
            StatusCode::OK,
            // Counts only: where the knowledge base lives, which status
            // page fails and why are for administrators (`/admin`).
            Json(json!({
                "status": "ok",
                "sites": summary.watched,
                "leads": *state.leading.borrow(),
                "status_pages": {
                    "polled": sources.len(),
                    "failing": sources.iter().filter(|s| s.error.is_some()).count(),
                },
            })),
        ),
        Err(error) => {
            tracing::error!(%error, "health check cannot read the database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database" })),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_handler_that_panics_costs_its_request_a_500_and_nothing_else() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    let secret = "postgres://user:pass@db/faultline";
                    panic!("lost the way to {secret}");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .route("/fine", get(|| async { "fine" }))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
        let ask = |uri: &'static str| {
            let app = app.clone();
            async move {
                let response = app
                    .oneshot(
                        axum::http::Request::get(uri)
                            .body(axum::body::Body::empty())
                            .expect("request"),
                    )
                    .await
                    .expect("an answer, not a dropped connection");
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                    .await
                    .expect("body");
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let (status, body) = ask("/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("went wrong on our side"), "{body}");
        assert!(
            !body.contains("postgres"),
            "the panic's words stay in the log"
        );
        assert_eq!(ask("/fine").await, (StatusCode::OK, "fine".to_owned()));
    }
}
