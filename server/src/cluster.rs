//! Several centrals on one PostgreSQL database, one leader. Every central
//! serves pages, the API and the agents' endpoints; the one holding the
//! store's lease also does the work that must happen once: probing,
//! correlating, alerting, reading providers' status pages. The leader
//! shares each judgement's snapshot through the store and the others read
//! it from there, so every central's pages say the same. When the leader
//! dies, its lock goes with its connection and the next central to ask
//! takes over. On SQLite the one server always leads.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use engine::correlate::Snapshot;
use engine::VantageState;
use store::{Lease, Store};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often a leader checks that it still holds the lease, and a
/// follower asks for it.
const LEASE_EVERY: Duration = Duration::from_secs(5);
/// How often a follower looks for a newer shared snapshot.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// The most a shared snapshot may inflate to: it is read like any input.
const SHARED_SNAPSHOT_MAX: u64 = 512 << 20;

/// What a leader's work publishes for the pages and `/metrics`.
#[derive(Default)]
pub struct Leading {
    pub status: Option<watch::Receiver<Arc<Snapshot>>>,
    pub vantage: Option<watch::Receiver<VantageState>>,
}

/// Why this central could not take up the lead.
#[derive(Debug, thiserror::Error)]
pub enum LeadError {
    #[error("cannot ask the database who leads: {0}")]
    Ask(#[from] store::StoreError),
    /// The leader's work did not start; the caller's own error inside.
    #[error(transparent)]
    Duties(Box<dyn std::error::Error + Send + Sync>),
}

/// Starts the leader's work on the tracker, to stop with the token.
pub type Duties =
    Box<dyn FnMut(&TaskTracker, &CancellationToken) -> Result<Leading, LeadError> + Send + Sync>;

/// Where every central's pages read "now", whichever central judged it.
#[derive(Clone)]
pub struct Published {
    pub status: watch::Sender<Arc<Snapshot>>,
    pub vantage: watch::Sender<VantageState>,
    /// Whether this central leads, for `/healthz`.
    pub leading: watch::Sender<bool>,
}

impl Default for Published {
    fn default() -> Self {
        Self {
            status: watch::channel(Arc::new(Snapshot::default())).0,
            vantage: watch::channel(VantageState::default()).0,
            leading: watch::channel(false).0,
        }
    }
}

pub struct Cluster {
    store: Store,
    published: Published,
    duties: Duties,
    /// Whether this central asks to lead at all: one that does not probe
    /// only serves pages.
    contends: bool,
}

/// The leader's work, running.
pub struct Term {
    lease: Lease,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Cluster {
    pub fn new(store: Store, published: Published, duties: Duties, contends: bool) -> Self {
        Self {
            store,
            published,
            duties,
            contends,
        }
    }

    /// Tries once to lead and, if this central does, starts its work: at
    /// start-up, so that a server alone on its database (always on SQLite)
    /// starts as before, and a failure to start is a start-up error.
    pub async fn lead_if_free(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Term>, LeadError> {
        if !self.contends && self.store.is_shared() {
            return Ok(None);
        }
        match self.store.try_lead().await? {
            Some(lease) => self.start(lease, shutdown).await.map(Some),
            None => Ok(None),
        }
    }

    /// Leads while the lease holds, follows the leader otherwise, until
    /// `shutdown`.
    pub async fn run(mut self, mut term: Option<Term>, shutdown: CancellationToken) {
        loop {
            if let Some(running) = term.take() {
                if !self.lead(running, &shutdown).await {
                    return;
                }
            }
            let Some(lease) = self.follow(&shutdown).await else {
                return;
            };
            match self.start(lease, &shutdown).await {
                Ok(running) => term = Some(running),
                Err(error) => {
                    // Let another central lead; ask again later.
                    tracing::error!(%error, "cannot start the leader's work; letting another central lead");
                    tokio::select! {
                        () = tokio::time::sleep(LEASE_EVERY) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Starts the leader's work under `lease`, with its snapshots passed
    /// on to the pages and shared with the other centrals.
    async fn start(
        &mut self,
        lease: Lease,
        shutdown: &CancellationToken,
    ) -> Result<Term, LeadError> {
        let tasks = TaskTracker::new();
        let stop = shutdown.child_token();
        let leading = match (self.duties)(&tasks, &stop) {
            Ok(leading) => leading,
            Err(error) => {
                stop.cancel();
                tasks.close();
                tasks.wait().await;
                lease.release().await;
                return Err(error);
            }
        };
        // Versions go on from the last leader's, so they only grow.
        let base = match self.store.is_shared() {
            true => self
                .store
                .shared_snapshot_version()
                .await
                .ok()
                .flatten()
                .and_then(|version| u64::try_from(version).ok())
                .unwrap_or(0),
            false => 0,
        };
        tasks.spawn(pass_on(
            self.store.clone(),
            leading,
            self.published.clone(),
            base,
            stop.clone(),
        ));
        self.published.leading.send_replace(true);
        if self.store.is_shared() {
            tracing::info!("this central leads: it probes, judges and alerts for all");
        }
        Ok(Term { lease, tasks, stop })
    }

    /// Leads until the lease is lost (true: follow now) or `shutdown`
    /// (false).
    async fn lead(&mut self, mut term: Term, shutdown: &CancellationToken) -> bool {
        let lost = loop {
            tokio::select! {
                () = tokio::time::sleep(LEASE_EVERY) => {
                    if !term.lease.holds().await {
                        break true;
                    }
                }
                () = shutdown.cancelled() => break false,
            }
        };
        if lost {
            tracing::warn!("this central lost the lead (its database connection broke); it stops probing and follows");
        }
        term.stop.cancel();
        term.tasks.close();
        term.tasks.wait().await;
        self.published.leading.send_replace(false);
        // Released only once the work has stopped, so two never overlap
        // on our side.
        term.lease.release().await;
        lost
    }

    /// Follows the leader's shared snapshot until this central takes the
    /// lease (returned) or `shutdown` (none).
    async fn follow(&mut self, shutdown: &CancellationToken) -> Option<Lease> {
        let mut known: Option<i64> = None;
        let mut next_ask = tokio::time::Instant::now();
        loop {
            if self.store.is_shared() {
                known = self.read_shared(known).await;
            }
            if self.contends && tokio::time::Instant::now() >= next_ask {
                next_ask = tokio::time::Instant::now() + LEASE_EVERY;
                match self.store.try_lead().await {
                    Ok(Some(lease)) => {
                        tracing::info!("the leader is gone: this central takes over");
                        return Some(lease);
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "cannot ask the database who leads"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(FOLLOW_EVERY) => {}
                () = shutdown.cancelled() => return None,
            }
        }
    }

    /// Publishes the shared snapshot if it is newer than `known`; returns
    /// the version now shown. A snapshot that does not read is logged and
    /// the last good one kept.
    async fn read_shared(&self, known: Option<i64>) -> Option<i64> {
        let version = match self.store.shared_snapshot_version().await {
            Ok(version) => version,
            Err(error) => {
                tracing::warn!(%error, "cannot read the shared snapshot's version");
                return known;
            }
        };
        if version.is_none() || version == known {
            return known;
        }
        let shared = match self.store.shared_snapshot().await {
            Ok(Some(shared)) => shared,
            Ok(None) => return known,
            Err(error) => {
                tracing::warn!(%error, "cannot read the shared snapshot");
                return known;
            }
        };
        let body = shared.body;
        let decoded = tokio::task::spawn_blocking(move || decode(&body)).await;
        match decoded {
            Ok(Ok(snapshot)) => {
                self.published.vantage.send_replace(snapshot.vantage);
                self.published.status.send_replace(Arc::new(snapshot));
                Some(shared.version)
            }
            Ok(Err(error)) => {
                tracing::warn!(version = shared.version, %error, "the shared snapshot does not read; the last good one stays");
                // Not asked again until a newer one comes.
                Some(shared.version)
            }
            Err(error) => {
                tracing::warn!(%error, "reading the shared snapshot failed");
                known
            }
        }
    }
}

/// Passes the leader's snapshots and vantage on to the pages, and shares
/// each snapshot through the store when other centrals may read it.
async fn pass_on(
    store: Store,
    leading: Leading,
    published: Published,
    base: u64,
    stop: CancellationToken,
) {
    let Leading { status, vantage } = leading;
    let (Some(mut status), mut vantage) = (status, vantage) else {
        return;
    };
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
                let latest = status.borrow_and_update().clone();
                let latest = if base == 0 {
                    latest
                } else {
                    let mut renumbered = (*latest).clone();
                    renumbered.version += base;
                    Arc::new(renumbered)
                };
                published.status.send_replace(latest.clone());
                if store.is_shared() {
                    share(&store, latest).await;
                }
            }
            Some(changed) = async {
                match &mut vantage {
                    Some(vantage) => Some(vantage.changed().await),
                    None => None,
                }
            } => {
                if changed.is_err() {
                    vantage = None;
                    continue;
                }
                if let Some(vantage) = &mut vantage {
                    published.vantage.send_replace(*vantage.borrow_and_update());
                }
            }
            () = stop.cancelled() => return,
        }
    }
}

/// Stores `snapshot` for the other centrals, gzipped JSON.
async fn share(store: &Store, snapshot: Arc<Snapshot>) {
    let version = i64::try_from(snapshot.version).unwrap_or(i64::MAX);
    let encoded = tokio::task::spawn_blocking(move || encode(&snapshot)).await;
    let body = match encoded {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot encode the snapshot to share");
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "encoding the snapshot to share failed");
            return;
        }
    };
    if let Err(error) = store
        .share_snapshot(version, chrono::Utc::now(), &body)
        .await
    {
        tracing::warn!(%error, "cannot share the snapshot; the other centrals show the last one");
    }
}

fn encode(snapshot: &Snapshot) -> std::io::Result<Vec<u8>> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    serde_json::to_writer(&mut gzip, snapshot)?;
    gzip.finish()
}

/// Why a shared snapshot does not read.
#[derive(Debug, thiserror::Error)]
pub enum SharedSnapshotError {
    #[error("it does not inflate: {0}")]
    Inflate(#[from] std::io::Error),
    #[error("it inflates past {SHARED_SNAPSHOT_MAX} bytes")]
    TooLarge,
    #[error("it is not a snapshot: {0}")]
    Json(#[from] serde_json::Error),
}

fn decode(body: &[u8]) -> Result<Snapshot, SharedSnapshotError> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(SHARED_SNAPSHOT_MAX + 1)
        .read_to_end(&mut json)?;
    if json.len() as u64 > SHARED_SNAPSHOT_MAX {
        return Err(SharedSnapshotError::TooLarge);
    }
    Ok(serde_json::from_slice(&json)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_snapshot_reads_back_and_a_bad_one_is_refused() {
        let snapshot = Snapshot {
            version: 12,
            vantage: VantageState::Offline,
            ..Snapshot::default()
        };
        let body = encode(&snapshot).expect("encodes");
        assert_eq!(decode(&body).expect("decodes"), snapshot);
        assert!(matches!(
            decode(b"not gzip"),
            Err(SharedSnapshotError::Inflate(_))
        ));
        let not_json = {
            let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gzip, b"{\"version\":").expect("writes");
            gzip.finish().expect("finishes")
        };
        assert!(matches!(
            decode(&not_json),
            Err(SharedSnapshotError::Json(_))
        ));
    }
}
