//! Any bytes, served as the raw answer of an HTTP server, must come back
//! from a real probe as an `Outcome`, never a panic or a hang: the
//! prober's own HTTP/1.1 exchange, its bounded body read, gzip inflation,
//! redirects (to the same server, to closed ports, to names the loopback
//! DNS server does not know) and the classification of what it read.
//!
//! One runtime, one loopback listener and one loopback DNS server serve
//! every input: each connection accepted gets the current input as its
//! answer, written after the request head and followed by a close.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use engine::FailureClass;
use libfuzzer_sys::fuzz_target;
use probe::guard::GuardPolicy;
use probe::{LiveProber, ProberConfig};
use server::sim::dns::DnsServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Small, so that truncation and inflation past the bound are reached.
const MAX_BODY_BYTES: usize = 2048;
/// The loopback server answers at once; only a stuck reader waits this long.
const TOTAL_TIMEOUT_MS: u64 = 10_000;

struct Harness {
    runtime: Runtime,
    prober: LiveProber,
    url: String,
    answer: Arc<Mutex<Arc<[u8]>>>,
    _dns: DnsServer,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let answer: Arc<Mutex<Arc<[u8]>>> = Arc::new(Mutex::new(Arc::from(&[][..])));
        let (dns, addr) = runtime.block_on(async {
            let dns = DnsServer::start().await.expect("the DNS server");
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a listener");
            let addr = listener.local_addr().expect("its address");
            dns.add_addresses("origin.test", &[addr.ip()]);
            tokio::spawn(serve(listener, answer.clone()));
            (dns, addr)
        });
        let prober = LiveProber::new(ProberConfig {
            nameservers: vec![dns.addr()],
            dns_timeout_ms: 1_000,
            connect_timeout_ms: 1_000,
            total_timeout_ms: TOTAL_TIMEOUT_MS,
            max_body_bytes: MAX_BODY_BYTES,
            guard: GuardPolicy::loopback_only(),
            ..ProberConfig::default()
        })
        .expect("the prober");
        Harness {
            runtime,
            prober,
            url: url_of(addr),
            answer,
            _dns: dns,
        }
    })
}

fn url_of(addr: SocketAddr) -> String {
    format!("http://{addr}/status")
}

async fn serve(listener: TcpListener, answer: Arc<Mutex<Arc<[u8]>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let bytes = answer
            .lock()
            .map(|a| a.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        tokio::spawn(respond(stream, bytes));
    }
}

async fn respond(mut stream: TcpStream, bytes: Arc<[u8]>) {
    // Read the request head first: closing over an unread request would
    // reset the connection before the client reads the answer.
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    *harness.answer.lock().unwrap_or_else(|e| e.into_inner()) = Arc::from(data);
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let outcome = harness
        .runtime
        .block_on(harness.prober.probe_url(&harness.url, now));

    assert_eq!(outcome.started_at, now);
    assert!(
        !matches!(
            outcome.failure,
            Some(FailureClass::ReadTimeout | FailureClass::ConnectTimeout)
        ),
        "the probe waited on a server that had answered and closed: {:?}",
        outcome.detail
    );
    match outcome.status {
        Some(status) => {
            assert!((100..=999).contains(&status), "status {status}");
            // An error status is a failure by its status; an answer below
            // 400 whose body could not be read fails by that instead.
            assert_eq!(
                status >= 400,
                outcome.failure == Some(FailureClass::HttpStatus),
                "{outcome:?}"
            );
            assert!(!outcome.ok || status < 400);
            assert!(outcome.remote_ip.is_some_and(|ip| ip.is_loopback()));
        }
        None => assert!(!outcome.ok),
    }
    assert_eq!(outcome.ok, outcome.failure.is_none(), "{outcome:?}");
    if let Some(detail) = &outcome.detail {
        assert!(
            detail.len() <= 1024 + '…'.len_utf8(),
            "{} bytes",
            detail.len()
        );
    }
    if let Some(confidence) = outcome.confidence {
        assert!((0.0..=1.0).contains(&confidence));
    }
    assert_eq!(outcome.fault.is_some(), outcome.fault_side.is_some());
    if let Some(body) = &outcome.body_gz {
        let page = probe::gunzip(body, MAX_BODY_BYTES as u64 + 1).expect("a stored page inflates");
        assert!(page.len() <= MAX_BODY_BYTES, "{} bytes kept", page.len());
    }
    let facts = outcome.facts.as_deref().expect("facts");
    let facts: serde_json::Value = serde_json::from_str(facts).expect("facts are JSON");
    assert!(facts.is_object());
});
