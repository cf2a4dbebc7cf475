//! One request of a probe, over a connection the prober opens itself to an
//! address the SSRF guard checked: TCP, then TLS for `https`, then one
//! HTTP/1.1 exchange (hyper's connection-level client, no pool), then the
//! body, read up to a bound. Connect and TLS are timed where they happen.
//!
//! Redirects, the guard and the total deadline are the prober's; this
//! module only says where a redirect points.

use std::future::Future;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;
use url::Url;

use engine::FailureClass;

use crate::{bounded, elapsed_ms, StepFailure};

/// Opens connections and makes requests with one configuration.
pub(crate) struct Fetcher {
    tls: TlsConnector,
    user_agent: HeaderValue,
    connect_timeout: Duration,
    max_body_bytes: usize,
    /// The local address connections leave from; none: the system's choice.
    source: Option<IpAddr>,
}

/// What one request got: the response head, how the connection went, and
/// either where it redirects or the (bounded) body.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub remote: SocketAddr,
    /// The server's own certificate (DER), over TLS.
    pub certificate: Option<CertificateDer<'static>>,
    /// When the response head arrived.
    pub head_at: Instant,
    /// Where a redirect points; its body is not read.
    pub location: Option<Url>,
    /// The body, decoded, at most the configured bytes, and whether it was cut.
    pub body: Result<(Vec<u8>, bool), StepFailure>,
}

/// Milliseconds the connection's phases took, as far as they got.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Phases {
    pub connect_ms: Option<i64>,
    /// `None` over plain HTTP.
    pub tls_ms: Option<i64>,
}

type Stream = Either<TcpStream, Box<tokio_rustls::client::TlsStream<TcpStream>>>;

struct Connected {
    stream: Stream,
    remote: SocketAddr,
    certificate: Option<CertificateDer<'static>>,
}

impl Fetcher {
    pub(crate) fn new(
        tls: rustls::ClientConfig,
        user_agent: HeaderValue,
        connect_timeout: Duration,
        max_body_bytes: usize,
        source: Option<IpAddr>,
    ) -> Self {
        Self {
            tls: TlsConnector::from(Arc::new(tls)),
            user_agent,
            connect_timeout,
            max_body_bytes,
            source,
        }
    }

    /// A TCP connection to `addr`, from the source address when one is set
    /// and of the same family (a v4 source cannot reach a v6 address).
    async fn open(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let Some(source) = self.source.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) else {
            return TcpStream::connect(addr).await;
        };
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(source, 0))?;
        socket.connect(addr).await
    }

    /// GETs `url` from the first of `addresses` that accepts a connection.
    /// `referer` is the page that redirected here, `authorization` the
    /// credentials taken from the watched URL. The phases are noted in
    /// `phases` as they end. The caller bounds the whole call in time.
    pub(crate) async fn get(
        &self,
        url: &Url,
        addresses: &[IpAddr],
        referer: Option<&Url>,
        authorization: Option<&HeaderValue>,
        phases: &mut Phases,
    ) -> Result<Answer, StepFailure> {
        let request = self.request(url, referer, authorization)?;
        let connecting = self.connect(url, addresses, phases);
        let connected = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| StepFailure {
                class: FailureClass::ConnectTimeout,
                detail: format!(
                    "no connection to {} within {} ms",
                    url.host_str().unwrap_or_default(),
                    self.connect_timeout.as_millis()
                ),
            })??;
        let Connected {
            stream,
            remote,
            certificate,
        } = connected;
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| classify(&e, FailureClass::HttpProtocol))?;
        let limit = self.max_body_bytes;
        let exchange = async move {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| classify(&e, FailureClass::HttpProtocol))?;
            let head_at = Instant::now();
            let (head, body) = response.into_parts();
            let location = redirect_target(url, head.status, &head.headers);
            let mut headers = head.headers;
            let body = if location.is_some() {
                Ok((Vec::new(), false))
            } else {
                read_body(body, &mut headers, limit).await
            };
            Ok(Answer {
                status: head.status,
                headers,
                remote,
                certificate,
                head_at,
                location,
                body,
            })
        };
        drive(connection, exchange).await
    }

    fn request(
        &self,
        url: &Url,
        referer: Option<&Url>,
        authorization: Option<&HeaderValue>,
    ) -> Result<Request<Empty<Bytes>>, StepFailure> {
        let invalid = |detail: String| StepFailure {
            class: FailureClass::InvalidUrl,
            detail,
        };
        let host = url
            .host_str()
            .ok_or_else(|| invalid("the URL has no host".to_owned()))?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let mut request = Request::builder()
            .uri(target)
            .header(header::HOST, authority)
            .header(header::USER_AGENT, self.user_agent.clone())
            .header(header::ACCEPT, HeaderValue::from_static("*/*"))
            .header(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"))
            // One request per connection: the server may close after it.
            .header(header::CONNECTION, HeaderValue::from_static("close"));
        if let Some(referer) = referer.and_then(|previous| referer_for(url, previous)) {
            request = request.header(header::REFERER, referer);
        }
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        request
            .body(Empty::new())
            .map_err(|e| invalid(format!("{url}: {e}")))
    }

    async fn connect(
        &self,
        url: &Url,
        addresses: &[IpAddr],
        phases: &mut Phases,
    ) -> Result<Connected, StepFailure> {
        let https = url.scheme() == "https";
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        let started = Instant::now();
        let mut last_error = None;
        let mut connected = None;
        for ip in addresses {
            let addr = SocketAddr::new(*ip, port);
            match self.open(addr).await {
                Ok(stream) => {
                    connected = Some((stream, addr));
                    break;
                }
                Err(error) => last_error = Some((addr, error)),
            }
        }
        let (tcp, remote) = match (connected, last_error) {
            (Some(connected), _) => connected,
            (None, Some((addr, error))) => {
                let class = if error.kind() == std::io::ErrorKind::ConnectionRefused {
                    FailureClass::ConnectRefused
                } else {
                    FailureClass::ConnectError
                };
                return Err(StepFailure {
                    class,
                    detail: bounded(&format!("tcp connect to {addr}: {error}")),
                });
            }
            (None, None) => {
                return Err(StepFailure {
                    class: FailureClass::ConnectError,
                    detail: "no address to connect to".to_owned(),
                })
            }
        };
        // The request goes out in one write; do not let Nagle hold TLS records.
        // Best effort: a socket without it still works, only slower.
        let _ = tcp.set_nodelay(true);
        phases.connect_ms = Some(elapsed_ms(started));
        if !https {
            return Ok(Connected {
                stream: Either::Left(tcp),
                remote,
                certificate: None,
            });
        }
        let name = match url.host() {
            Some(url::Host::Domain(domain)) => ServerName::try_from(domain.to_owned()).ok(),
            Some(url::Host::Ipv4(v4)) => Some(ServerName::from(IpAddr::V4(v4))),
            Some(url::Host::Ipv6(v6)) => Some(ServerName::from(IpAddr::V6(v6))),
            None => None,
        }
        .ok_or_else(|| StepFailure {
            class: FailureClass::InvalidUrl,
            detail: format!("{url}: no name to check a certificate against"),
        })?;
        let tls_started = Instant::now();
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| classify(&e, FailureClass::TlsHandshake))?;
        phases.tls_ms = Some(elapsed_ms(tls_started));
        let certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|certificate| certificate.clone().into_owned());
        Ok(Connected {
            stream: Either::Right(Box::new(tls)),
            remote,
            certificate,
        })
    }
}

/// Builds the prober's TLS configuration: the usual web roots plus `extra`
/// roots. Sessions are not resumed, so every probe measures a full
/// handshake.
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
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Polls the connection and the exchange on it together, in the probe's
/// own task, until the exchange is done. A connection that ends first
/// (closed or failed) wakes the exchange with its error.
async fn drive<C: Future, F: Future>(connection: C, exchange: F) -> F::Output {
    let mut connection = pin!(connection);
    let mut exchange = pin!(exchange);
    let mut open = true;
    std::future::poll_fn(move |cx| {
        if open && connection.as_mut().poll(cx).is_ready() {
            open = false;
        }
        exchange.as_mut().poll(cx)
    })
    .await
}

/// Takes user and password out of `url` (they are never sent in the
/// request line, kept in facts or followed to another host) and returns
/// them as a Basic authorization header.
pub(crate) fn take_credentials(url: &mut Url) -> Option<HeaderValue> {
    use base64::Engine;
    use percent_encoding::percent_decode_str;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let user = percent_decode_str(url.username()).decode_utf8().ok()?;
    let password = match url.password() {
        Some(password) => Some(percent_decode_str(password).decode_utf8().ok()?),
        None => None,
    };
    let pair = format!("{user}:{}", password.as_deref().unwrap_or_default());
    // These fail only for URLs that cannot carry credentials, and such a
    // URL has none to remove.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Whether a redirect from `previous` to `next` stays on the same host
/// and port, so credentials may follow it.
pub(crate) fn same_origin_host(previous: &Url, next: &Url) -> bool {
    previous.host_str() == next.host_str()
        && previous.port_or_known_default() == next.port_or_known_default()
}

/// Where a redirect points: the statuses a browser follows, with a
/// `Location` that resolves against `url`. Anything else is the answer.
fn redirect_target(url: &Url, status: StatusCode, headers: &HeaderMap) -> Option<Url> {
    let redirect = matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    if !redirect {
        return None;
    }
    let location = headers.get(header::LOCATION)?.to_str().ok()?;
    url.join(location).ok()
}

/// The page that redirected, without credentials or fragment; none when
/// going from `https` to `http`.
fn referer_for(next: &Url, previous: &Url) -> Option<HeaderValue> {
    if next.scheme() == "http" && previous.scheme() == "https" {
        return None;
    }
    let mut referer = previous.clone();
    // As above: only a URL that cannot carry credentials refuses, and it has none.
    let _ = referer.set_username("");
    let _ = referer.set_password(None);
    referer.set_fragment(None);
    HeaderValue::from_str(referer.as_str()).ok()
}

/// Reads at most `limit` bytes of the body; a gzip body is inflated (at
/// most `limit` bytes) and loses its `content-encoding` and
/// `content-length`, which described the bytes on the wire.
async fn read_body(
    mut body: Incoming,
    headers: &mut HeaderMap,
    limit: usize,
) -> Result<(Vec<u8>, bool), StepFailure> {
    let gzip = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify(&e, FailureClass::HttpProtocol))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let room = limit.saturating_sub(bytes.len());
        bytes.extend_from_slice(&data[..data.len().min(room)]);
        if data.len() > room {
            truncated = true; // the rest is not read
            break;
        }
    }
    if !gzip {
        return Ok((bytes, truncated));
    }
    headers.remove(header::CONTENT_ENCODING);
    headers.remove(header::CONTENT_LENGTH);
    let mut inflated = Vec::new();
    let read = flate2::read::GzDecoder::new(bytes.as_slice())
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut inflated);
    match read {
        // A cut body ends mid-stream: keep what inflated.
        Err(_) if truncated => {}
        Err(error) => {
            return Err(StepFailure {
                class: FailureClass::HttpProtocol,
                detail: bounded(&format!("error decoding response body: {error}")),
            })
        }
        Ok(_) => {}
    }
    if inflated.len() > limit {
        inflated.truncate(limit);
        truncated = true;
    }
    Ok((inflated, truncated))
}

/// Names a failure by what is in its chain: a refused connection, a
/// certificate or handshake failure, else `fallback`.
fn classify(error: &(dyn std::error::Error + 'static), fallback: FailureClass) -> StepFailure {
    let mut class = fallback;
    let mut source = Some(error);
    'chain: while let Some(current) = source {
        // io::Error::source() skips the error it wraps, and TLS streams
        // nest io errors, so unwrap them by hand to reach rustls' error.
        let mut io = current.downcast_ref::<std::io::Error>();
        while let Some(error) = io {
            if error.kind() == std::io::ErrorKind::ConnectionRefused {
                class = FailureClass::ConnectRefused;
                break 'chain;
            }
            let inner = error.get_ref();
            if let Some(tls) = inner.and_then(|e| e.downcast_ref::<rustls::Error>()) {
                class = tls_class(tls);
                break 'chain;
            }
            io = inner.and_then(|e| e.downcast_ref::<std::io::Error>());
        }
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            class = tls_class(tls);
            break;
        }
        source = current.source();
    }
    StepFailure {
        class,
        detail: error_chain(error),
    }
}

fn tls_class(error: &rustls::Error) -> FailureClass {
    match error {
        rustls::Error::InvalidCertificate(_) => FailureClass::TlsCertificate,
        _ => FailureClass::TlsHandshake,
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(current) = source {
        text.push_str(": ");
        text.push_str(&current.to_string());
        source = current.source();
    }
    bounded(&text)
}
