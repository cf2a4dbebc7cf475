//! The single writer: every probe result goes through one task that batches
//! them into transactions, so SQLite sees one writer and few commits.

use engine::Role;
use std::collections::HashMap;
use std::time::Duration;

use store::{ProbeRecord, Store};
use tokio::sync::mpsc;

/// Most probes in one transaction.
pub const MAX_BATCH: usize = 500;
/// How long a probe may wait for companions before its batch is written.
pub const MAX_DELAY: Duration = Duration::from_millis(250);
/// Queue length between the probes and the writer; probes wait when full.
pub const QUEUE: usize = 10_000;

pub fn channel() -> (mpsc::Sender<ProbeRecord>, mpsc::Receiver<ProbeRecord>) {
    mpsc::channel(QUEUE)
}

/// Writes until every sender is dropped, then writes what is left and
/// returns. A failed batch is retried until it is stored, so a busy or
/// briefly unwritable database loses nothing; meanwhile the bounded queue
/// fills and probes wait.
pub async fn run(
    store: Store,
    mut receiver: mpsc::Receiver<ProbeRecord>,
    metrics: crate::metrics::Metrics,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut attribution = Attribution::default();
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + MAX_DELAY;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(record)) => batch.push(record),
                Ok(None) | Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        store_batch(&store, &batch, &mut attribution).await;
        metrics.batch_stored(started.elapsed(), receiver.len());
        batch.clear();
    }
}

/// One batch: the probes in one transaction, then the attribution.
#[tracing::instrument(
    name = "writer.batch",
    skip_all,
    fields(writer.batch_rows = batch.len(), writer.batch_ms)
)]
async fn store_batch(store: &Store, batch: &[ProbeRecord], attribution: &mut Attribution) {
    let started = std::time::Instant::now();
    write_with_retry(store, batch).await;
    attribution.record(store, batch).await;
    tracing::Span::current().record(
        "writer.batch_ms",
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    );
}

/// Keeps the stored attribution in step with what probes show, writing
/// only when a site's providers change or their record is an hour old.
#[derive(Default)]
struct Attribution {
    last: HashMap<i64, Recorded>,
}

/// (provider, role) pairs last stored for a site, and when.
type Recorded = (Vec<(String, Role)>, chrono::DateTime<chrono::Utc>);

impl Attribution {
    async fn record(&mut self, store: &Store, batch: &[ProbeRecord]) {
        for probe in batch.iter().filter(|p| !p.suspect && p.status.is_some()) {
            let key: Vec<(String, Role)> = probe
                .providers
                .iter()
                .map(|(p, r, _)| (p.clone(), *r))
                .collect();
            let fresh = self.last.get(&probe.site_id).is_some_and(|(seen, at)| {
                let known = if probe.ok {
                    *seen == key
                } else {
                    key.iter().all(|k| seen.contains(k))
                };
                known && probe.started_at - *at < chrono::TimeDelta::hours(1)
            });
            if fresh {
                continue;
            }
            // Only a successful answer shows every layer; an error page
            // may hide some, so it adds providers but closes none.
            let result = if probe.ok {
                store
                    .record_attribution(probe.site_id, &probe.providers, probe.started_at)
                    .await
            } else {
                store
                    .add_attribution(probe.site_id, &probe.providers, probe.started_at)
                    .await
            };
            match result {
                Ok(()) if probe.ok => {
                    self.last.insert(probe.site_id, (key, probe.started_at));
                }
                Ok(()) => {}
                Err(error) => {
                    tracing::warn!(%error, site.id = probe.site_id, "cannot record attribution")
                }
            }
        }
    }
}

async fn write_with_retry(store: &Store, batch: &[ProbeRecord]) {
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 1u32;
    loop {
        match store.insert_probes(batch).await {
            Ok(_) => {
                tracing::debug!(writer.attempts = attempt, "stored probe batch");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, writer.attempts = attempt, "storing probes failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                attempt = attempt.saturating_add(1);
            }
        }
    }
}
