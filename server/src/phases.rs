//! Connect and TLS phase times of a probe, which the HTTP client does not
//! report: three moments are marked from inside the connection's setup,
//! in the task that makes the probe.
//!
//! - the request starts: DNS was already done by the prober, and the
//!   connector takes the checked address without a second lookup;
//! - rustls asks its session store for a key-exchange hint while it builds
//!   the ClientHello, which it does as soon as TCP is connected;
//! - the connector hands back the connection: TCP (and TLS) are done.
//!
//! Only the first connection of a probe is timed; redirects count in the
//! total and first-byte times.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use rustls::client::ClientSessionStore;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::NamedGroup;

tokio::task_local! {
    static MOMENTS: Arc<Mutex<Moments>>;
}

#[derive(Clone, Copy, Debug, Default)]
struct Moments {
    started: Option<Instant>,
    tcp_done: Option<Instant>,
    connected: Option<Instant>,
}

/// Milliseconds spent in each phase of the first connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseTimes {
    pub connect_ms: Option<i64>,
    pub tls_ms: Option<i64>,
}

/// Runs `future` (one probe's request) with its connection timed.
pub async fn timed<F: Future>(future: F) -> (F::Output, PhaseTimes) {
    let moments = Arc::new(Mutex::new(Moments {
        started: Some(Instant::now()),
        ..Moments::default()
    }));
    let output = MOMENTS.scope(moments.clone(), future).await;
    let m = moments.lock().map(|m| *m).unwrap_or_default();
    let ms = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
        (Some(from), Some(to)) if to >= from => {
            Some(i64::try_from(to.duration_since(from).as_millis()).unwrap_or(i64::MAX))
        }
        _ => None,
    };
    let times = match m.tcp_done {
        // TLS: TCP ended when the ClientHello was built.
        Some(tcp_done) => PhaseTimes {
            connect_ms: ms(m.started, Some(tcp_done)),
            tls_ms: ms(Some(tcp_done), m.connected),
        },
        None => PhaseTimes {
            connect_ms: ms(m.started, m.connected),
            tls_ms: None,
        },
    };
    (output, times)
}

fn mark(which: impl FnOnce(&mut Moments) -> &mut Option<Instant>) {
    let now = Instant::now();
    let _ = MOMENTS.try_with(|moments| {
        if let Ok(mut moments) = moments.lock() {
            which(&mut moments).get_or_insert(now);
        }
    });
}

/// A tower layer around the HTTP client's connector that marks when it
/// hands back a connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct MarkConnected;

impl<S> tower::Layer<S> for MarkConnected {
    type Service = MarkConnectedService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MarkConnectedService { inner }
    }
}

#[derive(Clone, Debug)]
pub struct MarkConnectedService<S> {
    inner: S,
}

impl<S, R> tower::Service<R> for MarkConnectedService<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        Box::pin(async move {
            let result = connecting.await;
            if result.is_ok() {
                mark(|m| &mut m.connected);
            }
            result
        })
    }
}

/// rustls's session cache, marking when TCP is done (see the module docs).
#[derive(Debug)]
pub struct MarkingSessionStore {
    inner: Arc<dyn ClientSessionStore>,
}

impl MarkingSessionStore {
    pub fn new(inner: Arc<dyn ClientSessionStore>) -> Self {
        Self { inner }
    }
}

impl ClientSessionStore for MarkingSessionStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        mark(|m| &mut m.tcp_done);
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

/// Builds the TLS configuration the prober's client uses: the usual web
/// roots plus `extra` roots, and the marking session store. Sessions are
/// not resumed: every probe measures a full handshake.
pub fn tls_config(
    extra: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in extra {
        roots.add(certificate.clone())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::store(Arc::new(MarkingSessionStore::new(
        Arc::new(rustls::client::ClientSessionMemoryCache::new(0)),
    )))
    .tls12_resumption(rustls::client::Tls12Resumption::Disabled);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
