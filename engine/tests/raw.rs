//! Hand-written raw responses (see `tests/fixtures/raw/README.md`) for
//! providers with few or no captured samples, layering, and DNS-based
//! attribution.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

use engine::{classify, Classification, DnsFacts, KnowledgeBase, Observation, Role};
use std::path::Path;

fn raw(name: &str) -> Classification {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/raw")
        .join(name);
    classify(&Observation::parse(&std::fs::read(path).unwrap()))
}

/// What one hand-written response must classify as.
struct Expect {
    file: &'static str,
    provider: Option<&'static str>,
    software: Option<&'static str>,
    side: Option<&'static str>,
    fault: Option<&'static str>,
    /// Providers that must appear among those seen.
    seen: &'static [&'static str],
}

const fn case(
    file: &'static str,
    provider: Option<&'static str>,
    software: Option<&'static str>,
    side: Option<&'static str>,
    fault: Option<&'static str>,
    seen: &'static [&'static str],
) -> Expect {
    Expect {
        file,
        provider,
        software,
        side,
        fault,
        seen,
    }
}

const CASES: &[Expect] = &[
    case(
        "cloudflare__522__1.http",
        Some("cloudflare"),
        None,
        Some("origin"),
        Some("origin_timeout"),
        &["cloudflare"],
    ),
    case(
        "bunny__403__1.http",
        Some("bunny"),
        None,
        Some("origin"),
        Some("config_error"),
        &["bunny"],
    ),
    case(
        "keycdn__403__1.http",
        Some("keycdn"),
        None,
        Some("policy"),
        Some("blocked"),
        &["keycdn"],
    ),
    case(
        "fly__502__1.http",
        Some("fly"),
        None,
        Some("origin"),
        Some("origin_unreachable"),
        &["fly"],
    ),
    case(
        "vercel__404__1.http",
        Some("vercel"),
        None,
        Some("origin"),
        Some("config_error"),
        &["vercel"],
    ),
    case(
        "vercel__404__2.http",
        Some("vercel"),
        None,
        Some("origin"),
        Some("config_error"),
        &["vercel"],
    ),
    case(
        "vercel__challenge__1.http",
        Some("vercel"),
        None,
        Some("policy"),
        Some("challenge"),
        &["vercel"],
    ),
    case(
        "azure_frontdoor__503__1.http",
        Some("azure-front-door"),
        None,
        Some("unknown"),
        Some("unknown"),
        &["azure-front-door"],
    ),
    case(
        "cloudfront__403__3.http",
        Some("cloudfront"),
        None,
        Some("origin"),
        Some("config_error"),
        &["cloudfront"],
    ),
    // Rule 4: CloudFront relays a page Google wrote; the body decides.
    case(
        "cloudfront_gfe__500__1.http",
        Some("google"),
        None,
        Some("origin"),
        Some("origin_error"),
        &["google", "cloudfront"],
    ),
    case(
        "cloudflare__challenge__header.http",
        Some("cloudflare"),
        None,
        Some("policy"),
        Some("challenge"),
        &["cloudflare"],
    ),
    // Rule 8: Akamai in front, HAProxy wrote the page.
    case(
        "akamai_haproxy__503__1.http",
        None,
        Some("haproxy"),
        Some("origin"),
        Some("origin_error"),
        &["akamai"],
    ),
    // Rule 2: a 5xx behind Cloudflare whose body does not mention Cloudflare.
    case(
        "cloudflare_origin__502__1.http",
        None,
        None,
        Some("origin"),
        Some("origin_error"),
        &["cloudflare"],
    ),
    // Rule 7: an empty 520 (Cloudflare in front of Fly.io, simonw/til#102).
    case(
        "cloudflare_fly__520__1.http",
        Some("cloudflare"),
        None,
        Some("origin"),
        Some("origin_error"),
        &["cloudflare"],
    ),
    case(
        "cloudflare__200__1.http",
        None,
        None,
        None,
        None,
        &["cloudflare"],
    ),
];

#[test]
fn hand_written_responses() {
    let mut failures = Vec::new();
    for Expect {
        file,
        provider,
        software,
        side,
        fault,
        seen,
    } in CASES
    {
        let c = raw(file);
        let got_seen: Vec<&str> = c.providers.iter().map(|i| i.provider.as_str()).collect();
        let ok = c.provider.as_ref().map(|p| p.as_str()) == *provider
            && c.server_software.as_deref() == *software
            && c.fault_side.map(|s| s.as_str()) == *side
            && c.fault.map(|f| f.as_str()) == *fault
            && seen.iter().all(|s| got_seen.contains(s))
            && (0.0..=1.0).contains(&c.confidence)
            && (c.fault.is_none() || !c.evidence.is_empty());
        if !ok {
            failures.push(format!("{file}: {c:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn evidence_reads_like_the_signals() {
    let c = raw("cloudflare_fly__520__1.http");
    assert!(
        c.evidence.contains(&"status 520".to_owned()),
        "{:?}",
        c.evidence
    );
    assert!(
        c.evidence.iter().any(|e| e.starts_with("header ")),
        "{:?}",
        c.evidence
    );

    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/error-pages/cloudflare__524__1.html"),
    )
    .unwrap();
    let c = classify(&Observation::from_body(body));
    assert!(
        c.evidence.contains(&"body: \"Error code 524\"".to_owned()),
        "{:?}",
        c.evidence
    );
    assert!(c
        .evidence
        .contains(&"element #cf-host-status.cf-error-source".to_owned()));
}

#[test]
fn classification_serialises_with_the_command_field_names() {
    let v = serde_json::to_value(raw("cloudfront__403__3.http")).unwrap();
    for key in [
        "provider",
        "fault_side",
        "fault",
        "status",
        "confidence",
        "evidence",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["provider"], "cloudfront");
    assert_eq!(v["fault_side"], "origin");
    assert_eq!(v["fault"], "config_error");
    assert_eq!(v["status"], 403);
}

#[test]
fn dns_facts_attribute_providers_by_cname_ip_and_ns() {
    let dns: DnsFacts = serde_json::from_str(
        r#"{"cname": ["www.example.com.cdn.cloudflare.net."],
            "addresses": ["104.16.1.1", "2606:4700::6810:1"],
            "ns": ["ada.ns.cloudflare.com"]}"#,
    )
    .unwrap();
    let a = KnowledgeBase::shared().attribute(&[], Some(&dns));
    let cdn = a
        .providers
        .iter()
        .find(|i| i.provider == "cloudflare" && i.role == Role::Cdn)
        .unwrap();
    assert!(cdn
        .evidence
        .contains(&"cname suffix .cdn.cloudflare.net".to_owned()));
    assert!(cdn.evidence.contains(&"ip 104.16.0.0/13".to_owned()));
    assert!(cdn.evidence.contains(&"ip 2606:4700::/32".to_owned()));
    assert!(a.roles_of("cloudflare").any(|r| r == Role::Dns));

    let dns = DnsFacts {
        cname: vec![
            "shop.example.com.herokudns.com".into(),
            "d111.cloudfront.net".into(),
        ],
        addresses: vec!["151.101.1.1".parse().unwrap()],
        ns: vec![],
    };
    let a = KnowledgeBase::shared().attribute(&[], Some(&dns));
    for p in ["heroku", "cloudfront", "fastly"] {
        assert!(a.has(p), "{p} missing from {a:?}");
    }
    // Label boundary: "notcloudfront.net" is not CloudFront.
    let dns = DnsFacts {
        cname: vec!["notcloudfront.net".into()],
        ..DnsFacts::default()
    };
    assert!(KnowledgeBase::shared()
        .attribute(&[], Some(&dns))
        .providers
        .is_empty());
}

#[test]
fn successful_probe_still_attributes_from_dns() {
    let obs =
        Observation::parse(b"HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\nok").with_dns(DnsFacts {
            cname: vec!["site.netlify.app".into()],
            ..DnsFacts::default()
        });
    let c = classify(&obs);
    assert_eq!(
        (c.fault, c.fault_side, c.provider.clone()),
        (None, None, None)
    );
    assert_eq!(c.server_software.as_deref(), Some("nginx"));
    assert!(c
        .providers
        .iter()
        .any(|i| i.provider == "netlify" && i.role == Role::Host));
}
