//! An agent's results on their way to the central. They are gathered into
//! batches; each batch goes into the spool, with its idempotency key,
//! before anything is sent, and leaves it only once the central has
//! answered for it. A second task sends the spool oldest first, waiting
//! longer after each failure, so a central away for a while gets the
//! backlog in order when it is back, and a batch sent twice is stored
//! once.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use store::ProbeRecord;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::link::{Central, LinkError};
use super::spool::{Spool, SpoolError};
use super::wire::{AgentResult, ResultBatch};

/// Results in one batch at most.
pub const BATCH_RESULTS: usize = 500;
/// How long results are gathered before a smaller batch goes.
pub const GATHER_FOR: Duration = Duration::from_secs(5);
/// How long the agent keeps sending its spool once probing has stopped;
/// what is left waits in the spool for the next start.
const SEND_AT_EXIT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);

type Shared = Arc<Mutex<Spool>>;

/// Gathers `records` into batches for the central until the monitor closes
/// the channel, then sends what it can within a few seconds.
pub async fn run(central: Central, spool: Spool, mut records: mpsc::Receiver<ProbeRecord>) {
    let spool: Shared = Arc::new(Mutex::new(spool));
    let ready = Arc::new(Notify::new());
    let gathering_done = CancellationToken::new();
    let sender = tokio::spawn(send_spool(
        central,
        spool.clone(),
        ready.clone(),
        gathering_done.clone(),
    ));
    ready.notify_one();

    let mut batches = Batches {
        spool: spool.clone(),
        run_id: format!("{:016x}", rand::random::<u64>()),
        sequence: 0,
        ready: ready.clone(),
    };
    let mut gathered: Vec<ProbeRecord> = Vec::with_capacity(BATCH_RESULTS);
    let mut tick = tokio::time::interval(GATHER_FOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            record = records.recv() => match record {
                Some(record) => {
                    gathered.push(record);
                    if gathered.len() >= BATCH_RESULTS {
                        batches.flush(&mut gathered).await;
                    }
                }
                None => break,
            },
            _ = tick.tick() => batches.flush(&mut gathered).await,
        }
    }
    batches.flush(&mut gathered).await;
    gathering_done.cancel();
    ready.notify_one();
    if tokio::time::timeout(SEND_AT_EXIT, sender).await.is_err() {
        let left = spool.lock().unwrap_or_else(PoisonError::into_inner).len();
        tracing::info!(
            spool.batches = left,
            "stopped sending; the spool keeps the rest for the next start"
        );
    }
}

/// How often an agent asks for its assignment: well within the time after
/// which its region's other agents take its share.
const ASSIGNMENT_EVERY: Duration = Duration::from_secs(30);
const ASSIGNMENT_RETRY: Duration = Duration::from_secs(10);

/// Fetches the agent's assignment now and then and publishes each one
/// that differs from the last, until `shutdown`. While the central cannot
/// be reached the last assignment stays in force.
pub async fn fetch_assignments(
    central: Central,
    assignments: tokio::sync::watch::Sender<Option<Arc<super::Assignment>>>,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    loop {
        let wait = match central.assignment().await {
            Ok(assignment) => {
                if failing {
                    tracing::info!("the central answers again");
                    failing = false;
                }
                let changed = assignments
                    .borrow()
                    .as_deref()
                    .is_none_or(|known| *known != assignment);
                if changed {
                    tracing::info!(
                        agent.name = %assignment.agent,
                        agent.region = %assignment.region,
                        agent.sites = assignment.sites.len(),
                        agent.region_agents = assignment.region_agents,
                        "assignment from the central"
                    );
                    assignments.send_replace(Some(Arc::new(assignment)));
                }
                ASSIGNMENT_EVERY
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "cannot fetch the assignment; probing the last one");
                    failing = true;
                }
                ASSIGNMENT_RETRY
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Puts one batch into the spool: its key, then its gzipped JSON.
/// Where gathered results become batches: each with the next key of this
/// run, kept in the spool, and the sender told.
struct Batches {
    spool: Shared,
    run_id: String,
    sequence: u64,
    ready: Arc<Notify>,
}

impl Batches {
    /// Keeps what was gathered as the next batch, if anything was.
    async fn flush(&mut self, gathered: &mut Vec<ProbeRecord>) {
        if gathered.is_empty() {
            return;
        }
        self.sequence += 1;
        keep(
            &self.spool,
            &self.run_id,
            self.sequence,
            std::mem::take(gathered),
        )
        .await;
        self.ready.notify_one();
    }
}

async fn keep(spool: &Shared, run_id: &str, sequence: u64, records: Vec<ProbeRecord>) {
    let key = format!("{run_id}-{sequence}");
    let batch = ResultBatch {
        results: records
            .iter()
            .map(|record| AgentResult::of(record, record.slot_or_start()))
            .collect(),
    };
    let entry = match encode(&key, &batch) {
        Ok(entry) => entry,
        Err(error) => {
            tracing::error!(%error, "cannot encode a batch; its results are lost");
            return;
        }
    };
    let spool = spool.clone();
    let kept = tokio::task::spawn_blocking(move || {
        spool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(&entry)
    })
    .await;
    match kept {
        Ok(Ok(_dropped)) => {}
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot keep a batch in the spool; its results are lost")
        }
        Err(error) => tracing::error!(%error, "the spool's writer failed"),
    }
}

/// A spool entry: the key's length, the key, the gzipped JSON.
fn encode(key: &str, batch: &ResultBatch) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let json = serde_json::to_vec(batch)?;
    let length = u8::try_from(key.len())
        .map_err(|_| std::io::Error::other("an idempotency key longer than 255 bytes"))?;
    let mut entry = vec![length];
    entry.extend_from_slice(key.as_bytes());
    let mut encoder = flate2::write::GzEncoder::new(entry, flate2::Compression::default());
    encoder.write_all(&json)?;
    encoder.finish()
}

/// The key and the gzipped JSON of a spool entry.
fn decode(entry: &[u8]) -> Option<(String, Vec<u8>)> {
    let (&length, rest) = entry.split_first()?;
    let key = rest.get(..usize::from(length))?;
    let key = std::str::from_utf8(key).ok()?.to_owned();
    Some((key, rest.get(usize::from(length)..)?.to_vec()))
}

async fn oldest(spool: &Shared) -> Result<Option<Vec<u8>>, SpoolError> {
    let spool = spool.clone();
    tokio::task::spawn_blocking(move || {
        spool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .oldest()
    })
    .await
    .unwrap_or(Ok(None))
}

async fn pop(spool: &Shared) {
    let spool = spool.clone();
    let popped = tokio::task::spawn_blocking(move || {
        spool.lock().unwrap_or_else(PoisonError::into_inner).pop()
    })
    .await;
    if let Ok(Err(error)) = popped {
        tracing::error!(%error, "cannot take a sent batch out of the spool; it may be sent again");
    }
}

/// Sends the spool oldest first whenever `ready` is signalled, waiting
/// longer after each transient failure; ends once gathering is done and
/// the spool is empty.
async fn send_spool(
    central: Central,
    spool: Shared,
    ready: Arc<Notify>,
    gathering_done: CancellationToken,
) {
    let mut backoff = FIRST_RETRY;
    loop {
        let entry = match oldest(&spool).await {
            Ok(entry) => entry,
            Err(error) => {
                tracing::error!(%error, "cannot read the spool");
                None
            }
        };
        let Some(entry) = entry else {
            if gathering_done.is_cancelled() {
                return;
            }
            ready.notified().await;
            continue;
        };
        let Some((key, gzipped)) = decode(&entry) else {
            tracing::error!("a spool entry is not a batch; dropped");
            pop(&spool).await;
            continue;
        };
        match central.push(&key, gzipped).await {
            Ok(answer) => {
                backoff = FIRST_RETRY;
                if let Some(first) = answer.refused.first() {
                    tracing::warn!(
                        batch.refused = answer.refused.len(),
                        first.site_id = first.site_id,
                        first.reason = %first.reason,
                        "the central refused some results"
                    );
                }
                tracing::debug!(
                    batch.key = %key,
                    batch.stored = answer.stored,
                    batch.duplicates = answer.duplicates,
                    "batch delivered"
                );
                pop(&spool).await;
            }
            Err(error) if error.is_transient() => {
                let wait = match &error {
                    LinkError::Refused {
                        retry_after: Some(seconds),
                        ..
                    } => Duration::from_secs(*seconds).max(backoff),
                    _ => backoff,
                };
                let waiting = spool.lock().unwrap_or_else(PoisonError::into_inner).len();
                tracing::warn!(
                    %error,
                    spool.batches = waiting,
                    retry_in_s = wait.as_secs(),
                    "cannot deliver results; they wait in the spool"
                );
                if gathering_done.is_cancelled() {
                    return;
                }
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(LAST_RETRY);
            }
            Err(error) => {
                tracing::error!(%error, batch.key = %key, "the central refused a batch for good; dropped");
                pop(&spool).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_entry_carries_its_key_and_batch() {
        let batch = ResultBatch {
            results: vec![AgentResult {
                site_id: 3,
                ..AgentResult::default()
            }],
        };
        let entry = encode("abc-1", &batch).expect("encoded");
        let (key, gzipped) = decode(&entry).expect("decoded");
        assert_eq!(key, "abc-1");
        let json = {
            use std::io::Read as _;
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(&gzipped[..])
                .read_to_end(&mut json)
                .expect("gzip");
            json
        };
        assert_eq!(
            serde_json::from_slice::<ResultBatch>(&json).expect("json"),
            batch
        );
        assert_eq!(decode(&[9, b'a']), None);
    }
}
