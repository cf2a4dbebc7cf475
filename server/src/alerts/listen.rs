//! `faultline alerts listen`: a webhook receiver for trying alerts out. It
//! answers 204 to every POST and describes each alert in one line, with
//! whether its signature checks out against the secrets it was given.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Largest body read.
const MAX_BODY: usize = 1024 * 1024;

/// Serves on `listener` until `shutdown`, telling `say` about each alert.
pub async fn listen(
    listener: tokio::net::TcpListener,
    secrets: Vec<String>,
    say: Arc<dyn Fn(String) + Send + Sync>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let secrets = Arc::new(secrets);
    let app = axum::Router::new()
        .fallback(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let line = describe(&headers, &body, &secrets);
                say(line);
                async { axum::http::StatusCode::NO_CONTENT }
            },
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// "msg_12_3 provider.confirmed: Cloudflare (CDN) outage confirmed …
/// https://…/incident/7 (signature ok)".
pub fn describe(headers: &axum::http::HeaderMap, body: &[u8], secrets: &[String]) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let signed = match secrets {
        [] => "signature not checked: no --secret given",
        secrets => {
            let (signature, timestamp) = (header("webhook-signature"), header("webhook-timestamp"));
            if secrets
                .iter()
                .any(|secret| super::sign::verify(secret, &signature, &id, &timestamp, body))
            {
                "signature ok"
            } else {
                "SIGNATURE DOES NOT MATCH"
            }
        }
    };
    let alert: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    let kind = text(&alert["type"]);
    let headline = text(&alert["data"]["headline"]);
    let link = text(&alert["data"]["incident"]["permalink"]);
    if kind.is_empty() {
        format!(
            "{id} ({} bytes, not a Standard Webhooks alert; {signed})",
            body.len()
        )
    } else {
        format!("{id} {kind}: {headline} {link} ({signed})")
    }
}

/// The address a listener would bind, checked: loopback only, since it is
/// for trying alerts out.
pub fn check_address(addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not a loopback address; the listener is for trying alerts out locally"
        ))
    }
}
