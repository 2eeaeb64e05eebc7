//! In-memory fakes of every port, for handler unit tests (feature `test-util`).
//! They keep the adapters' semantics (idempotent chunk marks, exactly-once merge, gone
//! connections), but they never stand in for the integration tests against the local AWS.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::clock;
use crate::config::CONNECTION_TTL;
use crate::ids::{ChunkIndex, ConnectionId, JobId, UserId};
use crate::job::{Job, Stage, checkpoint};
use crate::ports::*;
use crate::protocol::ServerMessage;

#[derive(Debug, Default)]
struct State {
    jobs: HashMap<JobId, Job>,
    pushed_percent: HashMap<JobId, u8>,
    chunk_marks: HashSet<(JobId, ChunkIndex)>,
    connections: HashMap<ConnectionId, Connection>,
    subscriptions: BTreeMap<(JobId, ConnectionId), UserId>,
}

/// Every store port over one in-memory state. Counts item writes the way DynamoDB bills them
/// (a transaction's items each count), and the `GetItem` and `Query` requests the adapter would
/// send, so tests can pin the cost of a flow (`docs/COST.md`).
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
    item_writes: AtomicUsize,
    get_items: AtomicUsize,
    queries: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread poisons the lock; the data is still fine for the next assertion.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl InMemoryStore {
    pub fn with_job(job: Job) -> Self {
        let store = Self::default();
        store.insert_job(job);
        store
    }

    /// Stores a job as the adapter would: what it shows now counts as already pushed.
    pub fn insert_job(&self, job: Job) {
        let mut state = lock(&self.state);
        state.pushed_percent.insert(job.id.clone(), job.progress().percent);
        state.jobs.insert(job.id.clone(), job);
    }

    pub fn job(&self, id: &JobId) -> Option<Job> {
        lock(&self.state).jobs.get(id).cloned()
    }

    /// Registers a live connection, as `$connect` would.
    pub fn connect(&self, id: &ConnectionId, user: &UserId) {
        let connection = Connection {
            id: id.clone(),
            user: user.clone(),
            connected_at: clock::epoch_millis(),
            expires_at: clock::expires_in(CONNECTION_TTL),
        };
        lock(&self.state).connections.insert(id.clone(), connection);
    }

    pub fn connection(&self, id: &ConnectionId) -> Option<Connection> {
        lock(&self.state).connections.get(id).cloned()
    }

    pub fn has_connection(&self, id: &ConnectionId) -> bool {
        self.connection(id).is_some()
    }

    /// Item writes made through the ports so far (test set-up helpers do not count).
    pub fn item_writes(&self) -> usize {
        self.item_writes.load(Ordering::SeqCst)
    }

    fn wrote(&self, items: usize) {
        self.item_writes.fetch_add(items, Ordering::SeqCst);
    }

    /// `GetItem` requests made through the ports so far: job reads and chunk-mark reads.
    pub fn get_item_calls(&self) -> usize {
        self.get_items.load(Ordering::SeqCst)
    }

    /// `Query` requests made through the ports so far: a user's jobs, stuck jobs, a user's
    /// connections, a job's subscribers. One per call, as long as the answer stays under
    /// DynamoDB's 1 MB page (the adapter pages past it); its read units depend on the bytes read.
    pub fn query_calls(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    fn got(&self) {
        self.get_items.fetch_add(1, Ordering::SeqCst);
    }

    fn queried(&self) {
        self.queries.fetch_add(1, Ordering::SeqCst);
    }

    pub fn subscription_count(&self) -> usize {
        lock(&self.state).subscriptions.len()
    }
}

impl JobReader for InMemoryStore {
    async fn get_job(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.got();
        Ok(self.job(id))
    }
}

impl JobLister for InMemoryStore {
    async fn list_jobs(&self, owner: &UserId, limit: u32, after: Option<&JobCursor>) -> Result<JobPage, StoreError> {
        self.queried();
        let state = lock(&self.state);
        let mut mine: Vec<&Job> = state.jobs.values().filter(|job| &job.owner == owner).collect();
        mine.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        let jobs: Vec<Job> = mine
            .into_iter()
            .filter(|job| after.is_none_or(|c| (job.created_at, &job.id) < (c.created_at, &c.job_id)))
            .take(limit as usize)
            .cloned()
            .collect();
        let next = (jobs.len() == limit as usize)
            .then(|| jobs.last().map(|last| JobCursor { created_at: last.created_at, job_id: last.id.clone() }))
            .flatten();
        Ok(JobPage { jobs, next })
    }
}

impl JobWriter for InMemoryStore {
    async fn create_job(&self, job: &Job) -> Result<bool, StoreError> {
        if self.job(&job.id).is_some() {
            return Ok(false);
        }
        self.insert_job(job.clone());
        Ok(true)
    }
}

impl JobStages for InMemoryStore {
    async fn advance(&self, job: &JobId, change: &StageChange) -> Result<Option<Job>, StoreError> {
        let mut state = lock(&self.state);
        let Some(stored) = state.jobs.get_mut(job) else {
            return Ok(None);
        };
        if !change.from.contains(&stored.stage) {
            return Ok(None);
        }
        if change.unchanged_since.is_some_and(|since| stored.updated_at >= since) {
            return Ok(None);
        }
        stored.stage = change.to;
        stored.seq += 1;
        stored.updated_at = clock::epoch_millis();
        if let Some(total) = change.chunks_total {
            stored.chunks_total = total;
        }
        if let Some(error) = &change.error {
            stored.error = Some(error.clone());
        }
        let after = stored.clone();
        state.pushed_percent.insert(job.clone(), after.progress().percent);
        self.wrote(1);
        Ok(Some(after))
    }
}

impl StuckJobs for InMemoryStore {
    /// The fake keeps no stage entry time; `updatedAt` stands in for it.
    async fn entered_stage_before(
        &self,
        stage: Stage,
        entered_before: i64,
        limit: u32,
    ) -> Result<Vec<JobId>, StoreError> {
        self.queried();
        let state = lock(&self.state);
        let mut stuck: Vec<&Job> =
            state.jobs.values().filter(|j| j.stage == stage && j.updated_at < entered_before).collect();
        stuck.sort_by_key(|j| j.updated_at);
        Ok(stuck.into_iter().take(limit as usize).map(|j| j.id.clone()).collect())
    }
}

impl ChunkMarks for InMemoryStore {
    async fn chunk_counted(&self, job: &JobId, chunk: ChunkIndex) -> Result<bool, StoreError> {
        self.got();
        Ok(lock(&self.state).chunk_marks.contains(&(job.clone(), chunk)))
    }
}

impl UserRoom for InMemoryStore {
    async fn connections_of(&self, user: &UserId) -> Result<Vec<ConnectionId>, StoreError> {
        self.queried();
        let state = lock(&self.state);
        let mut ids: Vec<ConnectionId> =
            state.connections.values().filter(|c| &c.user == user).map(|c| c.id.clone()).collect();
        ids.sort();
        Ok(ids)
    }
}

impl ConnectionStore for InMemoryStore {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        lock(&self.state).connections.insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.connections.remove(id);
        state.subscriptions.retain(|(_, connection), _| connection != id);
        Ok(())
    }
}

impl SubscriptionStore for InMemoryStore {
    async fn subscribe(&self, job: &JobId, connection: &ConnectionId, user: &UserId) -> Result<(), StoreError> {
        lock(&self.state).subscriptions.insert((job.clone(), connection.clone()), user.clone());
        Ok(())
    }

    async fn unsubscribe(&self, job: &JobId, connection: &ConnectionId) -> Result<(), StoreError> {
        lock(&self.state).subscriptions.remove(&(job.clone(), connection.clone()));
        Ok(())
    }

    async fn subscribers(&self, job: &JobId) -> Result<Vec<ConnectionId>, StoreError> {
        self.queried();
        let state = lock(&self.state);
        Ok(state.subscriptions.keys().filter(|(j, _)| j == job).map(|(_, connection)| connection.clone()).collect())
    }
}

impl ProgressRecorder for InMemoryStore {
    async fn record_chunk(&self, job: &JobId, chunk: ChunkIndex) -> Result<ChunkRecord, StoreError> {
        let mut state = lock(&self.state);
        if state.chunk_marks.contains(&(job.clone(), chunk)) {
            return Ok(ChunkRecord::Duplicate);
        }
        let Some(stored) = state.jobs.get_mut(job) else {
            return Ok(ChunkRecord::NotAccepting);
        };
        if stored.stage != Stage::Processing || stored.chunks_done >= stored.chunks_total {
            return Ok(ChunkRecord::NotAccepting);
        }
        stored.chunks_done += 1;
        stored.seq += 1;
        stored.updated_at = clock::epoch_millis();
        state.chunk_marks.insert((job.clone(), chunk));
        self.wrote(2);
        Ok(ChunkRecord::Recorded)
    }

    async fn claim_push(&self, job: &JobId, percent: u8) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        // As the adapter's `attribute_exists(jobId)`: a missing job claims nothing.
        if !state.jobs.contains_key(job) {
            return Ok(false);
        }
        let pushed = state.pushed_percent.entry(job.clone()).or_insert(0);
        if *pushed >= percent {
            return Ok(false);
        }
        *pushed = percent;
        self.wrote(1);
        Ok(true)
    }

    async fn begin_merge(&self, job: &JobId) -> Result<Option<Job>, StoreError> {
        let mut state = lock(&self.state);
        let Some(stored) = state.jobs.get_mut(job) else {
            return Ok(None);
        };
        if stored.stage != Stage::Processing || stored.chunks_done < stored.chunks_total {
            return Ok(None);
        }
        stored.stage = Stage::Merging;
        stored.seq += 1;
        stored.updated_at = clock::epoch_millis();
        let merged = stored.clone();
        self.wrote(1);
        state.pushed_percent.insert(job.clone(), checkpoint::MERGING);
        Ok(Some(merged))
    }
}

#[derive(Debug, Default)]
struct PushState {
    sent: Vec<(ConnectionId, Vec<u8>)>,
    gone: HashSet<ConnectionId>,
    throttled: HashMap<ConnectionId, usize>,
    attempts: HashMap<ConnectionId, usize>,
}

/// A [`Pusher`] that records what it was asked to send, with scriptable 410s and throttling.
#[derive(Debug, Default)]
pub struct RecordingPusher {
    state: Mutex<PushState>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl RecordingPusher {
    pub fn mark_gone(&self, connection: &ConnectionId) {
        lock(&self.state).gone.insert(connection.clone());
    }

    /// The next `times` pushes to `connection` are throttled.
    pub fn throttle(&self, connection: &ConnectionId, times: usize) {
        lock(&self.state).throttled.insert(connection.clone(), times);
    }

    pub fn attempts(&self, connection: &ConnectionId) -> usize {
        lock(&self.state).attempts.get(connection).copied().unwrap_or(0)
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Every delivered message, decoded, in delivery order.
    pub fn sent(&self) -> Vec<(ConnectionId, ServerMessage)> {
        lock(&self.state)
            .sent
            .iter()
            .map(|(connection, bytes)| {
                let message = serde_json::from_slice(bytes)
                    .unwrap_or_else(|e| panic!("pushed bytes are not a server message: {e}"));
                (connection.clone(), message)
            })
            .collect()
    }

    /// The messages delivered to one connection.
    pub fn sent_to(&self, connection: &ConnectionId) -> Vec<ServerMessage> {
        self.sent().into_iter().filter(|(c, _)| c == connection).map(|(_, m)| m).collect()
    }
}

impl Pusher for RecordingPusher {
    async fn push(&self, connection: &ConnectionId, payload: &[u8]) -> Result<(), PushError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Let other pushes of the same fan-out start, so the concurrency bound is observable.
        tokio::task::yield_now().await;
        let outcome = {
            let mut state = lock(&self.state);
            *state.attempts.entry(connection.clone()).or_default() += 1;
            if state.gone.contains(connection) {
                Err(PushError::Gone)
            } else if let Some(left @ 1..) = state.throttled.get_mut(connection) {
                *left -= 1;
                Err(PushError::Throttled)
            } else {
                state.sent.push((connection.clone(), payload.to_vec()));
                Ok(())
            }
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}

/// An in-memory bucket: [`ObjectStore`] and [`UrlSigner`] (URLs are `memory://` placeholders).
#[derive(Debug, Default)]
pub struct InMemoryObjects {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    calls: Mutex<ObjectCalls>,
    /// Sizes of every part uploaded, for tests that check memory stays one part deep.
    parts: Mutex<Vec<usize>>,
    /// Reads of keys under this prefix fail as S3 would on a transient error.
    failing_prefix: Mutex<Option<String>>,
}

/// The requests [`InMemoryObjects`] received through the ports, named by the S3 operation each
/// stands for (set-up helpers such as `insert` do not count). Presigning sends no request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ObjectCalls {
    /// [`ObjectStore::get`]: the S3 adapter sends a `HeadObject` and then a `GetObject` for each.
    pub gets: usize,
    /// `PutObject`.
    pub puts: usize,
    /// `CreateMultipartUpload`.
    pub uploads_started: usize,
    /// `UploadPart`.
    pub parts: usize,
    /// `CompleteMultipartUpload`.
    pub uploads_completed: usize,
    /// `AbortMultipartUpload`.
    pub uploads_aborted: usize,
}

/// A multipart upload in progress in [`InMemoryObjects`].
#[derive(Debug)]
pub struct MemoryUpload {
    key: String,
    body: Vec<u8>,
}

impl InMemoryObjects {
    pub fn insert(&self, key: &str, body: Vec<u8>) {
        lock(&self.objects).insert(key.to_owned(), body);
    }

    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.objects).get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }

    /// From now on, every read of a key under `prefix` fails with an unexpected (retryable) error.
    pub fn fail_reads_of(&self, prefix: &str) {
        *lock(&self.failing_prefix) = Some(prefix.to_owned());
    }

    /// The size of every part uploaded so far, in order.
    pub fn part_sizes(&self) -> Vec<usize> {
        lock(&self.parts).clone()
    }

    /// The requests received so far.
    pub fn calls(&self) -> ObjectCalls {
        *lock(&self.calls)
    }

    fn called(&self, count: impl FnOnce(&mut ObjectCalls) -> &mut usize) {
        *count(&mut lock(&self.calls)) += 1;
    }
}

impl ObjectParts for InMemoryObjects {
    type Upload = MemoryUpload;

    async fn begin_upload(&self, key: &str, _content_type: &str) -> Result<MemoryUpload, StoreError> {
        self.called(|c| &mut c.uploads_started);
        Ok(MemoryUpload { key: key.to_owned(), body: Vec::new() })
    }

    async fn upload_part(&self, upload: &mut MemoryUpload, body: Vec<u8>) -> Result<(), StoreError> {
        self.called(|c| &mut c.parts);
        lock(&self.parts).push(body.len());
        upload.body.extend(body);
        Ok(())
    }

    async fn complete_upload(&self, upload: MemoryUpload) -> Result<(), StoreError> {
        self.called(|c| &mut c.uploads_completed);
        self.insert(&upload.key, upload.body);
        Ok(())
    }

    async fn abort_upload(&self, _upload: MemoryUpload) {
        self.called(|c| &mut c.uploads_aborted);
    }
}

impl ObjectStore for InMemoryObjects {
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, ObjectError> {
        self.called(|c| &mut c.gets);
        if lock(&self.failing_prefix).as_deref().is_some_and(|prefix| key.starts_with(prefix)) {
            return Err(ObjectError::Unexpected(anyhow::anyhow!("injected: S3 is unavailable")));
        }
        let body = self.object(key).ok_or(ObjectError::NotFound)?;
        let size = body.len() as u64;
        if size > max_bytes {
            return Err(ObjectError::TooLarge { size, max: max_bytes });
        }
        Ok(body)
    }

    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), StoreError> {
        self.called(|c| &mut c.puts);
        self.insert(key, body);
        Ok(())
    }
}

impl UrlSigner for InMemoryObjects {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: std::time::Duration,
    ) -> Result<String, StoreError> {
        Ok(format!("memory://put/{key}?type={content_type}&length={content_length}&ttl={}", ttl.as_secs()))
    }

    async fn presign_get(&self, key: &str, ttl: std::time::Duration) -> Result<String, StoreError> {
        Ok(format!("memory://get/{key}?ttl={}", ttl.as_secs()))
    }
}

/// A [`ChunkQueue`] that records what was enqueued.
#[derive(Debug, Default)]
pub struct RecordingQueue {
    sent: Mutex<Vec<crate::queue::ChunkMessage>>,
}

impl RecordingQueue {
    pub fn sent(&self) -> Vec<crate::queue::ChunkMessage> {
        lock(&self.sent).clone()
    }
}

impl ChunkQueue for RecordingQueue {
    async fn enqueue(&self, messages: &[crate::queue::ChunkMessage]) -> Result<(), StoreError> {
        lock(&self.sent).extend_from_slice(messages);
        Ok(())
    }
}

/// An [`Unprocessable`] queue that records what was parked.
#[derive(Debug, Default)]
pub struct ParkedMessages {
    parked: Mutex<Vec<String>>,
}

impl ParkedMessages {
    pub fn parked(&self) -> Vec<String> {
        lock(&self.parked).clone()
    }
}

impl Unprocessable for ParkedMessages {
    async fn park(&self, body: &str) -> Result<(), StoreError> {
        lock(&self.parked).push(body.to_owned());
        Ok(())
    }
}
