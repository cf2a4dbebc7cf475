//! What agents and the central say to each other, in JSON. Both ends are
//! this binary, but the central reads every batch as untrusted input:
//! unknown fields are refused (a `vantage_id` in a result is an error, not
//! ignored: the vantage is the token's), and each result is checked before
//! it is stored.

use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use engine::{FailureClass, Fault, FaultSide};
use serde::{Deserialize, Serialize};
use store::ProbeRecord;

/// Results in one batch at most; an agent sends more as several.
pub const MAX_RESULTS: usize = 2_000;
/// A batch's JSON once inflated, at most.
pub const MAX_BATCH_JSON: u64 = 32 * 1024 * 1024;
/// How far back a slot may be: a day of spooled results.
pub const OLDEST_SLOT: TimeDelta = TimeDelta::days(1);
/// How far ahead a slot may be: an agent's clock a little fast.
pub const NEWEST_SLOT: TimeDelta = TimeDelta::minutes(5);

const MAX_DETAIL: usize = 2_048;
const MAX_FACTS: usize = 64 * 1024;
const MAX_BODY_GZ: usize = 512 * 1024;
const MAX_EVIDENCE: usize = 32;
const MAX_WORD: usize = 512;
/// No phase of a probe lasts longer than this.
const MAX_MS: i64 = 10 * 60 * 1_000;

/// A batch of results, `POST /agent/v1/results`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultBatch {
    pub results: Vec<AgentResult>,
}

/// One probe of one site for one schedule slot, as an agent found it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentResult {
    pub site_id: i64,
    pub slot: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub ok: bool,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub failure: Option<FailureClass>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub dns_ms: Option<i64>,
    #[serde(default)]
    pub connect_ms: Option<i64>,
    #[serde(default)]
    pub tls_ms: Option<i64>,
    #[serde(default)]
    pub ttfb_ms: Option<i64>,
    #[serde(default)]
    pub total_ms: Option<i64>,
    #[serde(default)]
    pub remote_ip: Option<IpAddr>,
    /// The DNS, TLS and redirect facts (JSON), for failures.
    #[serde(default)]
    pub facts: Option<String>,
    /// The error page, gzipped, in base64.
    #[serde(default)]
    pub body_gz: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub fault_side: Option<FaultSide>,
    #[serde(default)]
    pub fault: Option<Fault>,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The agent's own-network guard distrusted this failure.
    #[serde(default)]
    pub suspect: bool,
}

/// The central's answer to a batch: how many results it stored, how many
/// it had already, and each it refused with why. The same batch sent again
/// under the same idempotency key gets the same answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub stored: usize,
    pub duplicates: usize,
    pub refused: Vec<Refusal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The result's place in the batch.
    pub index: usize,
    pub site_id: i64,
    pub reason: String,
}

impl AgentResult {
    /// The wire form of a probe the agent stored for itself.
    pub fn of(record: &ProbeRecord, slot: DateTime<Utc>) -> Self {
        Self {
            site_id: record.site_id,
            slot,
            started_at: record.started_at,
            ok: record.ok,
            status: record.status.and_then(|status| u16::try_from(status).ok()),
            failure: record.failure,
            detail: record.detail.clone(),
            dns_ms: record.dns_ms,
            connect_ms: record.connect_ms,
            tls_ms: record.tls_ms,
            ttfb_ms: record.ttfb_ms,
            total_ms: record.total_ms,
            remote_ip: record.remote_ip.as_deref().and_then(|ip| ip.parse().ok()),
            facts: record.facts.clone(),
            body_gz: record
                .body_gz
                .as_deref()
                .map(|body| base64::engine::general_purpose::STANDARD.encode(body)),
            provider: record.provider.clone(),
            fault_side: record.fault_side,
            fault: record.fault,
            confidence: record.confidence,
            evidence: record
                .evidence
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default(),
            suspect: record.suspect,
        }
    }

    /// The stored form of this result from `vantage_id`, or why it is
    /// refused. `now` bounds the slot.
    pub fn into_record(self, vantage_id: i64, now: DateTime<Utc>) -> Result<ProbeRecord, String> {
        if self.slot < now - OLDEST_SLOT || self.slot > now + NEWEST_SLOT {
            return Err(format!(
                "its slot {} is not within the last day (or 5 minutes ahead)",
                self.slot.to_rfc3339()
            ));
        }
        if self.started_at < self.slot - TimeDelta::minutes(1)
            || self.started_at > self.slot + TimeDelta::hours(1)
        {
            return Err("it started more than a minute before or an hour after its slot".into());
        }
        if self
            .status
            .is_some_and(|status| !(100..=599).contains(&status))
        {
            return Err("its HTTP status is not within 100–599".into());
        }
        if self.ok && self.failure.is_some() {
            return Err("it is both ok and failed".into());
        }
        let timings = [
            self.dns_ms,
            self.connect_ms,
            self.tls_ms,
            self.ttfb_ms,
            self.total_ms,
        ];
        if timings
            .into_iter()
            .flatten()
            .any(|ms| !(0..=MAX_MS).contains(&ms))
        {
            return Err("a timing is negative or longer than 10 minutes".into());
        }
        if self
            .confidence
            .is_some_and(|confidence| !(0.0..=1.0).contains(&confidence))
        {
            return Err("its confidence is not within 0–1".into());
        }
        if self.detail.as_ref().is_some_and(|d| d.len() > MAX_DETAIL)
            || self.facts.as_ref().is_some_and(|f| f.len() > MAX_FACTS)
            || self.provider.as_ref().is_some_and(|p| p.len() > MAX_WORD)
            || self.evidence.len() > MAX_EVIDENCE
            || self.evidence.iter().any(|e| e.len() > MAX_WORD)
        {
            return Err("a text in it is longer than a result may carry".into());
        }
        let body_gz = match self.body_gz {
            None => None,
            Some(encoded) if encoded.len() <= MAX_BODY_GZ * 4 / 3 + 4 => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|_| "its page body is not base64".to_owned())?,
            ),
            Some(_) => return Err("its page body is larger than 512 KiB".into()),
        };
        if self
            .facts
            .as_deref()
            .is_some_and(|facts| serde_json::from_str::<serde_json::Value>(facts).is_err())
        {
            return Err("its facts are not JSON".into());
        }
        Ok(ProbeRecord {
            site_id: self.site_id,
            started_at: self.started_at,
            ok: self.ok,
            status: self.status.map(i64::from),
            failure: self.failure,
            detail: self.detail,
            dns_ms: self.dns_ms,
            connect_ms: self.connect_ms,
            tls_ms: self.tls_ms,
            ttfb_ms: self.ttfb_ms,
            total_ms: self.total_ms,
            remote_ip: self.remote_ip.map(|ip| ip.to_string()),
            facts: self.facts,
            body_gz,
            provider: self.provider,
            fault_side: self.fault_side,
            fault: self.fault,
            confidence: self.confidence,
            evidence: (!self.evidence.is_empty())
                .then(|| serde_json::to_string(&self.evidence).unwrap_or_default()),
            suspect: self.suspect,
            vantage_id,
            slot: Some(self.slot),
            // Which providers serve a site is the central's own prober's
            // finding, kept with its attribution history.
            providers: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn a_result_goes_and_comes_back_the_same_with_the_tokens_vantage() {
        let slot = at("2025-11-18T11:20:00Z");
        let record = ProbeRecord {
            site_id: 4,
            started_at: slot + TimeDelta::milliseconds(1_250),
            ok: false,
            status: Some(500),
            failure: Some(FailureClass::HttpStatus),
            detail: Some("HTTP 500".into()),
            total_ms: Some(87),
            remote_ip: Some("127.0.0.1".into()),
            facts: Some("{\"dns\":[]}".into()),
            body_gz: Some(vec![31, 139, 8, 0]),
            provider: Some("cloudflare".into()),
            fault_side: Some(FaultSide::Edge),
            fault: Some(Fault::EdgeError),
            confidence: Some(0.9),
            evidence: Some("[\"cf-ray header\"]".into()),
            slot: Some(slot),
            ..ProbeRecord::default()
        };
        let wire = AgentResult::of(&record, slot);
        let json = serde_json::to_string(&wire).expect("json");
        let back: AgentResult = serde_json::from_str(&json).expect("read back");
        let stored = back
            .into_record(42, slot + TimeDelta::minutes(1))
            .expect("valid");
        assert_eq!(
            stored,
            ProbeRecord {
                vantage_id: 42,
                ..record
            }
        );
    }

    #[test]
    fn a_vantage_in_the_payload_is_an_error_not_ignored() {
        let json = r#"{"results":[{"site_id":1,"slot":"2025-11-18T11:20:00Z",
            "started_at":"2025-11-18T11:20:01Z","ok":true,"vantage_id":7}]}"#;
        let error = serde_json::from_str::<ResultBatch>(json).expect_err("refused");
        assert!(error.to_string().contains("vantage_id"), "{error}");
    }

    #[test]
    fn results_out_of_bounds_are_refused_with_a_reason() {
        let now = at("2025-11-18T11:20:00Z");
        let good = AgentResult {
            site_id: 1,
            slot: now,
            started_at: now,
            ok: true,
            ..AgentResult::default()
        };
        assert!(good.clone().into_record(3, now).is_ok());
        let cases = [
            AgentResult {
                slot: now - TimeDelta::days(2),
                started_at: now - TimeDelta::days(2),
                ..good.clone()
            },
            AgentResult {
                slot: now + TimeDelta::minutes(10),
                started_at: now + TimeDelta::minutes(10),
                ..good.clone()
            },
            AgentResult {
                started_at: now + TimeDelta::hours(2),
                ..good.clone()
            },
            AgentResult {
                status: Some(1_000),
                ..good.clone()
            },
            AgentResult {
                failure: Some(FailureClass::HttpStatus),
                ..good.clone()
            },
            AgentResult {
                total_ms: Some(-5),
                ..good.clone()
            },
            AgentResult {
                confidence: Some(f64::NAN),
                ..good.clone()
            },
            AgentResult {
                detail: Some("x".repeat(MAX_DETAIL + 1)),
                ..good.clone()
            },
            AgentResult {
                body_gz: Some("not base64!".into()),
                ..good.clone()
            },
            AgentResult {
                facts: Some("{not json".into()),
                ..good.clone()
            },
        ];
        for case in cases {
            let shown = format!("{case:?}");
            let reason = case.into_record(3, now).expect_err(&shown);
            assert!(!reason.is_empty());
        }
    }
}
