//! [`InMemoryStore`]: every store port over one in-memory state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::lock;
use crate::clock;
use crate::config::CONNECTION_TTL;
use crate::ids::{ChunkIndex, ConnectionId, JobId, UserId};
use crate::job::{Job, Stage, checkpoint};
use crate::ports::*;

#[derive(Debug, Default)]
struct State {
    jobs: HashMap<JobId, Job>,
    pushed_percent: HashMap<JobId, u8>,
    chunk_marks: HashSet<(JobId, ChunkIndex)>,
    connections: HashMap<ConnectionId, Connection>,
    /// Subscription → (user, the connection's token expiry).
    subscriptions: BTreeMap<(JobId, ConnectionId), (UserId, u64)>,
    /// Per-user counts by limits-table key (leases are not modelled: nothing here crashes).
    limits: HashMap<String, u32>,
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

    /// Registers a live connection with an hour-long token, as `$connect` would.
    pub fn connect(&self, id: &ConnectionId, user: &UserId) {
        self.connect_until(id, user, clock::epoch_seconds() + 3600);
    }

    /// Registers a live connection whose token counts until `token_expires_at`.
    pub fn connect_until(&self, id: &ConnectionId, user: &UserId, token_expires_at: u64) {
        let connection = Connection {
            id: id.clone(),
            user: user.clone(),
            connected_at: clock::epoch_millis(),
            expires_at: clock::expires_in(CONNECTION_TTL),
            token_expires_at,
        };
        lock(&self.state).connections.insert(id.clone(), connection);
    }

    /// How many units of `user`'s `allowance` are taken.
    pub fn taken(&self, user: &UserId, allowance: Allowance) -> u32 {
        lock(&self.state).limits.get(&allowance.key(user)).copied().unwrap_or(0)
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
        let Some(after) = self.move_stage(job, change) else {
            return Ok(None);
        };
        self.wrote(1);
        if after.stage.is_terminal() {
            self.release(&after.owner, Allowance::JobsInFlight).await?;
        }
        Ok(Some(after))
    }
}

impl InMemoryStore {
    fn move_stage(&self, job: &JobId, change: &StageChange) -> Option<Job> {
        let mut state = lock(&self.state);
        let stored = state.jobs.get_mut(job)?;
        if !change.from.contains(&stored.stage) {
            return None;
        }
        if change.unchanged_since.is_some_and(|since| stored.updated_at >= since) {
            return None;
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
        Some(after)
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
    async fn connections_of(&self, user: &UserId) -> Result<Targets, StoreError> {
        self.queried();
        let state = lock(&self.state);
        let mut mine: Vec<&Connection> = state.connections.values().filter(|c| &c.user == user).collect();
        mine.sort_by(|a, b| a.id.cmp(&b.id));
        let now = clock::epoch_seconds();
        let mut targets = Targets::default();
        for connection in mine {
            targets.add(connection.id.clone(), connection.token_expires_at, now);
        }
        Ok(targets)
    }
}

impl UserLimits for InMemoryStore {
    async fn acquire(&self, user: &UserId, allowance: Allowance, max: u32) -> Result<bool, StoreError> {
        // One conditional UpdateItem, billed whether or not its condition holds.
        self.wrote(1);
        let mut state = lock(&self.state);
        let taken = state.limits.entry(allowance.key(user)).or_default();
        if *taken >= max {
            return Ok(false);
        }
        *taken += 1;
        Ok(true)
    }

    async fn release(&self, user: &UserId, allowance: Allowance) -> Result<(), StoreError> {
        self.wrote(1);
        let mut state = lock(&self.state);
        if let Some(taken) = state.limits.get_mut(&allowance.key(user)) {
            *taken = taken.saturating_sub(1);
        }
        Ok(())
    }
}

impl ConnectionStore for InMemoryStore {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        lock(&self.state).connections.insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<(), StoreError> {
        let removed = {
            let mut state = lock(&self.state);
            state.subscriptions.retain(|(_, connection), _| connection != id);
            state.connections.remove(id)
        };
        if let Some(removed) = removed {
            self.release(&removed.user, Allowance::Connections).await?;
        }
        Ok(())
    }
}

impl SubscriptionStore for InMemoryStore {
    async fn subscribe(
        &self,
        job: &JobId,
        connection: &ConnectionId,
        user: &UserId,
        max_per_connection: u32,
    ) -> Result<Subscribed, StoreError> {
        let mut state = lock(&self.state);
        let Some(token_expires_at) = state.connections.get(connection).map(|c| c.token_expires_at) else {
            return Ok(Subscribed::ConnectionGone);
        };
        let key = (job.clone(), connection.clone());
        let following = state.subscriptions.keys().filter(|(_, c)| c == connection).count();
        if !state.subscriptions.contains_key(&key) && following >= max_per_connection as usize {
            return Ok(Subscribed::TooMany);
        }
        state.subscriptions.insert(key, (user.clone(), token_expires_at));
        Ok(Subscribed::Yes)
    }

    async fn unsubscribe(&self, job: &JobId, connection: &ConnectionId) -> Result<(), StoreError> {
        lock(&self.state).subscriptions.remove(&(job.clone(), connection.clone()));
        Ok(())
    }

    async fn subscribers(&self, job: &JobId) -> Result<Targets, StoreError> {
        self.queried();
        let state = lock(&self.state);
        let now = clock::epoch_seconds();
        let mut targets = Targets::default();
        for ((_, connection), (_, token_expires_at)) in state.subscriptions.iter().filter(|((j, _), _)| j == job) {
            targets.add(connection.clone(), *token_expires_at, now);
        }
        Ok(targets)
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
