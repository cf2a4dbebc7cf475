//! One HTTP POST to a webhook endpoint, only where the SSRF guard allows.
//!
//! Names resolve through a prober's guarded resolver, on every new
//! connection, and the client connects only to the addresses it returned;
//! an IP literal is checked before the request. Redirects are never
//! followed (a 3xx is a failure), and no proxy is used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use probe::LiveProber;

/// How long one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes of a receiver's answer read (for the delivery log only).
const MAX_ANSWER_BYTES: usize = 512;

/// What one attempt found.
#[derive(Clone, Debug, PartialEq)]
pub struct PostOutcome {
    pub status: Option<u16>,
    /// A 429 or 503 asked us to wait this long.
    pub retry_after: Option<Duration>,
    /// Why it failed, for the delivery log; `None` on a 2xx.
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl PostOutcome {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

pub struct WebhookClient {
    http: reqwest::Client,
    prober: Arc<LiveProber>,
}

impl WebhookClient {
    /// A client whose every connection goes through `prober`'s guard.
    pub fn new(prober: Arc<LiveProber>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(crate::guarded::GuardedDns(prober.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Faultline-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, prober })
    }

    /// Whether `url` is a target the guard allows at all (scheme, port and
    /// an IP literal's address); names are checked when resolved.
    pub fn check_target(&self, url: &str) -> Result<url::Url, String> {
        check_target(url, self.prober.guard())
    }

    /// Posts `body` with `headers`; every failure is in the outcome.
    pub async fn post(
        &self,
        url: &str,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> PostOutcome {
        let started = Instant::now();
        let elapsed = || i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let target = match self.check_target(url) {
            Ok(target) => target,
            Err(reason) => {
                return PostOutcome {
                    status: None,
                    retry_after: None,
                    error: Some(reason),
                    duration_ms: 0,
                }
            }
        };
        let sent = self
            .http
            .post(target)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                return PostOutcome {
                    status: None,
                    retry_after: None,
                    error: Some(crate::guarded::describe(&error)),
                    duration_ms: elapsed(),
                }
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, now));
        let error = if status.is_success() {
            None
        } else if status.is_redirection() {
            Some(format!("answered {status}; redirects are not followed"))
        } else {
            let answer = response
                .bytes()
                .await
                .map(|bytes| {
                    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER_BYTES)])
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            Some(if answer.is_empty() {
                format!("answered {status}")
            } else {
                format!("answered {status}: {answer}")
            })
        };
        PostOutcome {
            status: Some(status.as_u16()),
            retry_after,
            error,
            duration_ms: elapsed(),
        }
    }
}

/// Checks a webhook URL against `guard`: http or https, a host, an allowed
/// port, and if the host is an address, an allowed one.
pub fn check_target(url: &str, guard: &probe::GuardPolicy) -> Result<url::Url, String> {
    let target = url::Url::parse(url).map_err(|error| format!("not a URL: {error}"))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err("a webhook is an http or https URL".to_owned());
    }
    if !target.username().is_empty() || target.password().is_some() {
        return Err("a webhook URL may not carry a user name or password".to_owned());
    }
    let port = target.port_or_known_default().unwrap_or(0);
    if !guard.allows_port(port) {
        return Err(format!("port {port} is not allowed"));
    }
    match target.host() {
        Some(url::Host::Ipv4(ip)) => guard
            .check(ip.into())
            .map_err(|refusal| format!("refused: {refusal}"))?,
        Some(url::Host::Ipv6(ip)) => guard
            .check(ip.into())
            .map_err(|refusal| format!("refused: {refusal}"))?,
        Some(url::Host::Domain(_)) => {}
        None => return Err("the URL has no host".to_owned()),
    }
    Ok(target)
}

/// Webhooks as `/admin` adds them: checked against the delivery guard,
/// keyed with a new Standard Webhooks secret.
pub struct AdminWebhooks {
    pub guard: probe::GuardPolicy,
}

impl app::admin::WebhookRules for AdminWebhooks {
    fn check(&self, url: &str) -> Result<(), String> {
        check_target(url, &self.guard).map(|_| ())
    }

    fn new_secret(&self) -> String {
        super::sign::new_secret()
    }
}

/// `Retry-After` as seconds or an HTTP date, at most a day.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    const MOST: Duration = Duration::from_secs(24 * 3600);
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MOST));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default().min(MOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_and_bounded() {
        let now = DateTime::parse_from_rfc3339("2025-11-18T11:20:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Tue, 18 Nov 2025 11:21:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("99999999", now),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn targets_are_checked_before_anything_is_sent() {
        let guard = probe::GuardPolicy::default();
        for bad in [
            "ftp://hooks.example/",
            "http://user:pw@hooks.example/",
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.7/hook",
            "not a url",
        ] {
            assert!(check_target(bad, &guard).is_err(), "{bad}");
        }
        assert!(check_target("https://hooks.example/x", &guard).is_ok());
        let tests = probe::GuardPolicy::loopback_only();
        assert!(check_target("http://127.0.0.1:8080/hook", &tests).is_ok());
        assert!(check_target("http://169.254.169.254/", &tests).is_err());
    }
}
