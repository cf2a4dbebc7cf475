//! A webhook receiver on loopback for simulations: records what arrives,
//! when on the virtual clock, and answers 204.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SimClock};

/// Most requests kept; a simulation that sends more is broken anyway.
const MAX_KEPT: usize = 100_000;
/// Largest body read.
const MAX_BODY: usize = 1024 * 1024;

/// One alert a simulation's receiver got, by webhook or by mail.
#[derive(Clone, Debug)]
pub struct Received {
    /// The subscription's name: a webhook's path, a mail's recipient.
    pub name: String,
    /// The message's id, the same on a redelivery.
    pub id: String,
    pub event: engine::AlertEvent,
    /// The incident's database id, for an alert about one.
    pub incident: Option<i64>,
    pub at: DateTime<Utc>,
    pub channel: engine::AlertChannel,
}

/// What arrived, in order, each message once (a redelivery of the same
/// id is left out).
pub fn once_each(got: &[Received]) -> Vec<Received> {
    let mut seen = std::collections::HashSet::new();
    got.iter()
        .filter(|r| seen.insert(r.id.clone()))
        .cloned()
        .collect()
}

#[derive(Clone)]
pub struct WebhookReceiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    stop: CancellationToken,
}

impl WebhookReceiver {
    pub async fn start(clock: SimClock) -> std::io::Result<Self> {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let kept = got.clone();
        let app = axum::Router::new()
            .fallback(
                move |uri: axum::http::Uri,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let kept = kept.clone();
                    let clock = clock.clone();
                    async move {
                        let body: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        let received = Received {
                            name: uri.path().trim_matches('/').to_owned(),
                            id: headers
                                .get("webhook-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned(),
                            event: engine::AlertEvent::from(
                                body["type"].as_str().unwrap_or_default(),
                            ),
                            incident: body["data"]["incident"]["id"].as_i64(),
                            at: clock.now(),
                            channel: engine::AlertChannel::Webhook,
                        };
                        let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                        if kept.len() < MAX_KEPT {
                            kept.push(received);
                        }
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            )
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the simulation's webhook receiver stopped");
            }
        });
        Ok(Self { addr, got, stop })
    }

    /// The URL a subscription named `name` posts to.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// What arrived, in order, each message once (a redelivery of the same
    /// `webhook-id` is left out).
    pub fn received(&self) -> Vec<Received> {
        once_each(&self.got.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}
