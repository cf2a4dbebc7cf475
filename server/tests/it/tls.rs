//! TLS faults against real TLS servers on loopback, with a test CA.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use probe::guard::GuardPolicy;
use probe::{LiveProber, ProberConfig};
use rcgen::{CertificateParams, DnType, IsCa, Issuer, KeyPair};
use server::sim::dns::DnsServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn test_ca() -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Faultline Test CA");
    let key = KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    TestCa {
        pem: certificate.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A TLS server for `host` answering every request with 200, signed by
/// `ca` (or self-signed), valid or already expired.
async fn tls_server(host: &str, ca: Option<&TestCa>, expired: bool) -> SocketAddr {
    // Err: another test installed it first, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut params = CertificateParams::new(vec![host.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, host);
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let certificate = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                // The probe under test may hang up at any point; what it
                // saw is what the test checks, not this server's errors.
                let mut buffer = [0u8; 4096];
                let _ = tls.read(&mut buffer).await;
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

async fn probe(host: &str, addr: SocketAddr, ca: &TestCa) -> probe::Outcome {
    let dns = DnsServer::start().await.unwrap();
    dns.add_addresses(host, &[addr.ip()]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let prober = LiveProber::new(ProberConfig {
        nameservers: vec![dns.addr()],
        total_timeout_ms: 2_000,
        guard: GuardPolicy::loopback_only(),
        ca_file: Some(ca_file),
        ..ProberConfig::default()
    })
    .unwrap();
    prober
        .probe_url(&format!("https://{host}:{}/", addr.port()), Utc::now())
        .await
}

#[tokio::test]
async fn a_certificate_from_a_trusted_ca_passes_and_its_issuer_is_recorded() {
    let ca = test_ca();
    let addr = tls_server("good.test", Some(&ca), false).await;
    let record = probe("good.test", addr, &ca).await;
    assert!(record.ok, "{record:?}");
    let facts: serde_json::Value = serde_json::from_str(record.facts.as_deref().unwrap()).unwrap();
    assert!(
        facts["tls"]["issuer"]
            .as_str()
            .unwrap()
            .contains("Faultline Test CA"),
        "{facts}"
    );
    assert!(facts["tls"]["not_after"].as_i64().unwrap() > Utc::now().timestamp());
    // Each phase of the connection is timed on its own.
    assert!(record.dns_ms.is_some(), "{record:?}");
    assert!(record.connect_ms.is_some(), "{record:?}");
    assert!(record.tls_ms.is_some(), "{record:?}");
    let phases = record.dns_ms.unwrap() + record.connect_ms.unwrap() + record.tls_ms.unwrap();
    assert!(phases <= record.ttfb_ms.unwrap(), "{record:?}");
}

#[tokio::test]
async fn untrusted_expired_and_misnamed_certificates_are_tls_certificate_faults() {
    let ca = test_ca();
    let self_signed = tls_server("selfsigned.test", None, false).await;
    let expired = tls_server("expired.test", Some(&ca), true).await;
    let misnamed = tls_server("other.test", Some(&ca), false).await;
    for (host, addr) in [
        ("selfsigned.test", self_signed),
        ("expired.test", expired),
        ("misnamed.test", misnamed),
    ] {
        let record = probe(host, addr, &ca).await;
        assert_eq!(
            record.failure.map(|w| w.as_str()),
            Some("tls_certificate"),
            "{host}: {:?}",
            record.detail
        );
    }
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_a_handshake_fault() {
    let ca = test_ca();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            // As above: the client's view is what is tested.
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nplain http here\n")
                .await;
        }
    });
    let record = probe("plain.test", addr, &ca).await;
    assert_eq!(
        record.failure.map(|w| w.as_str()),
        Some("tls_handshake"),
        "{:?}",
        record.detail
    );
}
