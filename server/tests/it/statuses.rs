//! The status-page poller against a real HTTP server on loopback: a real
//! provider document is stored once, a conditional request that finds it
//! unchanged stores nothing, and a broken, oversized or redirected answer
//! is recorded as the source's error while everything read before stays.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use server::statuses::{SourceSetting, StatusPoller, StatusSettings};

/// What the fake status page answers next.
#[derive(Clone)]
pub(crate) enum Answer {
    Document(Vec<u8>),
    Redirect,
    Failing(StatusCode),
}

pub(crate) async fn status_page(
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Mutex<Vec<Option<String>>>>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/api/v2/incidents.json",
        axum::routing::get(move |headers: HeaderMap| {
            let answer = answer.lock().unwrap().clone();
            let condition = headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            seen.lock().unwrap().push(condition.clone());
            async move {
                match answer {
                    Answer::Redirect => (
                        StatusCode::FOUND,
                        [("location", "http://169.254.169.254/latest/meta-data/")],
                    )
                        .into_response(),
                    Answer::Failing(status) => status.into_response(),
                    Answer::Document(body) => {
                        let etag = format!("\"{}\"", body.len());
                        if condition.as_deref() == Some(etag.as_str()) {
                            return Response::builder()
                                .status(StatusCode::NOT_MODIFIED)
                                .header("etag", etag)
                                .body(axum::body::Body::empty())
                                .unwrap();
                        }
                        Response::builder()
                            .header("etag", etag)
                            .header("content-type", "application/json")
                            .body(axum::body::Body::from(body))
                            .unwrap()
                    }
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://127.0.0.1:{port}/api/v2/incidents.json")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn the_poller_stores_each_statement_once_and_keeps_them_through_bad_answers() {
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statements/tests/fixtures/statuspage/cloudflare-incidents.json"
    ))
    .unwrap();
    let answer = Arc::new(Mutex::new(Answer::Document(real.clone())));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = status_page(answer.clone(), seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::open(&dir.path().join("faultline.db"))
        .await
        .unwrap();
    let prober = probe::LiveProber::new(probe::ProberConfig {
        guard: probe::GuardPolicy::loopback_only(),
        ..probe::ProberConfig::default()
    })
    .unwrap();
    let poller = StatusPoller::new(
        store.clone(),
        Arc::new(server::clock::SystemClock),
        Arc::new(prober),
        None,
        StatusSettings {
            sources: vec![SourceSetting {
                provider: "cloudflare".to_owned(),
                url: url.clone(),
                format: engine::vocab::StatusFormat::Statuspage,
            }],
            ..StatusSettings::default()
        },
    )
    .unwrap();

    let first = poller.round(at("2025-11-18T12:00:00Z")).await;
    assert_eq!(
        (first.polled, first.failed, first.new_updates),
        (1, 0, 6),
        "{first:?}"
    );
    let stored = store
        .statements_of_provider("cloudflare", 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);

    // Unchanged: a conditional request, answered 304, stores nothing.
    let second = poller.round(at("2025-11-18T12:05:00Z")).await;
    assert_eq!((second.unchanged, second.failed), (1, 0), "{second:?}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap().as_deref(),
        Some(format!("\"{}\"", real.len()).as_str())
    );

    // A document cut short, one too large, and a redirect towards a
    // metadata address: each is refused with its reason, and what was read
    // before stays.
    let mut huge = b"{\"incidents\": [".to_vec();
    huge.resize(9 * 1024 * 1024, b' ');
    for (bad, says) in [
        (
            Answer::Document(real[..real.len() / 2].to_vec()),
            "not a Statuspage document",
        ),
        (Answer::Document(huge), "larger than"),
        (Answer::Redirect, "redirected to"),
    ] {
        *answer.lock().unwrap() = bad;
        let round = poller.round(at("2025-11-18T12:10:00Z")).await;
        assert_eq!(round.failed, 1, "{says}");
        let source = store.status_source(&url).await.unwrap().unwrap();
        let error = source.error.unwrap_or_default();
        assert!(error.contains(says), "{says}: {error}");
        assert_eq!(source.ok_at, Some(at("2025-11-18T12:05:00Z")));
        let kept = store
            .statements_of_provider("cloudflare", 10)
            .await
            .unwrap();
        assert_eq!(kept, stored, "{says}");
    }

    // A source the guard refuses is never asked.
    let refused = StatusPoller::new(
        store.clone(),
        Arc::new(server::clock::SystemClock),
        Arc::new(probe::LiveProber::new(probe::ProberConfig::default()).unwrap()),
        None,
        StatusSettings {
            sources: vec![SourceSetting {
                provider: "cloudflare".to_owned(),
                url: url.clone(),
                format: engine::vocab::StatusFormat::Statuspage,
            }],
            ..StatusSettings::default()
        },
    )
    .unwrap();
    let asked = seen.lock().unwrap().len();
    let round = refused.round(at("2025-11-18T12:15:00Z")).await;
    assert_eq!(round.failed, 1);
    assert_eq!(
        seen.lock().unwrap().len(),
        asked,
        "a refused URL is never requested"
    );
}
