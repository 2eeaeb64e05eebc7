//! Ports: the small capabilities handlers need, each shaped like the IAM actions behind it.
//! AWS adapters live in [`crate::dynamo`] and [`crate::push`]; in-memory fakes in `fakes`.

use std::future::Future;

use std::time::Duration;

use crate::ids::{ChunkIndex, ConnectionId, JobId, UserId};
use crate::job::{Job, Stage};
use crate::queue::ChunkMessage;

/// A failure of a store. Corrupt data is told apart from everything the caller cannot act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a stored item is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A live WebSocket connection of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub user: UserId,
    /// Epoch milliseconds.
    pub connected_at: i64,
    /// TTL, epoch seconds.
    pub expires_at: u64,
    /// Epoch second after which the connection's token no longer counts: frames get
    /// `token_expired`, pushes skip it and it is closed.
    pub token_expires_at: u64,
}

/// The connections a push would go to, split by whether their token still counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub live: Vec<ConnectionId>,
    /// Connections whose token has expired: not pushed to, but closed.
    pub expired: Vec<ConnectionId>,
}

impl Targets {
    /// Sorts a connection into `live` or `expired` by its token's expiry.
    pub fn add(&mut self, connection: ConnectionId, token_expires_at: u64, now: u64) {
        if token_expires_at > now { self.live.push(connection) } else { self.expired.push(connection) }
    }
}

/// What became of a subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// Subscribed now, or already subscribed before.
    Yes,
    /// The connection already follows as many jobs as it may.
    TooMany,
    /// The connection's row is gone (it disconnected meanwhile).
    ConnectionGone,
}

/// The outcome of recording one chunk's completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkRecord {
    /// Counted now, exactly once.
    Recorded,
    /// This chunk was already counted (a redelivery): nothing changed.
    Duplicate,
    /// The job is missing or not processing (failed, say): nothing changed.
    NotAccepting,
}

/// `dynamodb:GetItem` on jobs.
pub trait JobReader: Send + Sync {
    /// A strongly consistent read.
    fn get_job(&self, id: &JobId) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;
}

/// Where a page of a user's job list ends; opaque to clients (see [`JobCursor::encode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor {
    pub created_at: i64,
    pub job_id: JobId,
}

/// A malformed or tampered cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct InvalidCursor;

impl JobCursor {
    /// `<createdAt>.<jobId>`, URL-safe as it stands (job ids are `[A-Za-z0-9_-]`).
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.job_id)
    }

    pub fn decode(raw: &str) -> Result<Self, InvalidCursor> {
        let (created_at, job_id) = raw.split_once('.').ok_or(InvalidCursor)?;
        Ok(JobCursor {
            created_at: created_at.parse().map_err(|_| InvalidCursor)?,
            job_id: JobId::parse(job_id).map_err(|_| InvalidCursor)?,
        })
    }
}

/// One page of a user's jobs, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub next: Option<JobCursor>,
}

/// `dynamodb:Query` on the jobs table's `byUser` index.
pub trait JobLister: Send + Sync {
    /// The owner is always part of the key, so a cursor can never reach another user's jobs.
    fn list_jobs(
        &self,
        owner: &UserId,
        limit: u32,
        after: Option<&JobCursor>,
    ) -> impl Future<Output = Result<JobPage, StoreError>> + Send;
}

/// `dynamodb:PutItem` on jobs.
pub trait JobWriter: Send + Sync {
    /// Writes a new job; `Ok(false)` when the id is taken.
    fn create_job(&self, job: &Job) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// `dynamodb:PutItem` / `DeleteItem` on connections, `Query` + `DeleteItem` on subscriptions,
/// `UpdateItem` on limits (the user's connection allowance).
pub trait ConnectionStore: Send + Sync {
    fn put_connection(&self, connection: &Connection) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the connection and every subscription it holds, and gives its slot in the
    /// user's connection allowance back (only the call that removed the row does). Removing a
    /// missing one is fine.
    fn delete_connection(&self, id: &ConnectionId) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The rooms: which connections watch which job.
pub trait SubscriptionStore: Send + Sync {
    /// Subscribes `connection` to `job` unless it already follows `max_per_connection` other
    /// jobs: the count is checked and raised in one conditional write on the connection's row.
    /// The subscription carries the connection's token expiry, so pushes can skip it.
    fn subscribe(
        &self,
        job: &JobId,
        connection: &ConnectionId,
        user: &UserId,
        max_per_connection: u32,
    ) -> impl Future<Output = Result<Subscribed, StoreError>> + Send;

    fn unsubscribe(
        &self,
        job: &JobId,
        connection: &ConnectionId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The job's subscribers (rows past their TTL left out), read consistently so that a
    /// subscription written before a change is always seen by the push of that change.
    fn subscribers(&self, job: &JobId) -> impl Future<Output = Result<Targets, StoreError>> + Send;
}

/// A per-user allowance, counted in one item per user (and window) of the limits table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Open WebSocket connections.
    Connections,
    /// Jobs created and not yet completed or failed.
    JobsInFlight,
    /// Jobs created in the minute starting at this epoch second.
    JobsPerMinute { window_start: u64 },
}

impl Allowance {
    /// How long a count lives without being raised again. Past it, everything it counted has
    /// ended (a connection lives at most 2 h, a job is ended by the sweeper well within a day,
    /// a window is over), so a count left high by a crashed caller heals by starting over.
    pub fn lease(self) -> Duration {
        match self {
            Allowance::Connections => crate::config::CONNECTION_TTL,
            Allowance::JobsInFlight => Duration::from_secs(24 * 3600),
            Allowance::JobsPerMinute { .. } => Duration::from_secs(120),
        }
    }

    /// The limits-table key of `user`'s count.
    pub fn key(self, user: &UserId) -> String {
        match self {
            Allowance::Connections => format!("{user}#connections"),
            Allowance::JobsInFlight => format!("{user}#in-flight"),
            Allowance::JobsPerMinute { window_start } => format!("{user}#jobs#{window_start}"),
        }
    }
}

/// `dynamodb:UpdateItem` on limits: per-user allowances, each a conditional `ADD` with a bound.
pub trait UserLimits: Send + Sync {
    /// Takes one unit of `user`'s `allowance` if fewer than `max` are taken; `false` if not.
    fn acquire(
        &self,
        user: &UserId,
        allowance: Allowance,
        max: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives one unit back (never below zero).
    fn release(&self, user: &UserId, allowance: Allowance) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Progress bookkeeping for chunk workers; every method is safe under concurrency and retries.
pub trait ProgressRecorder: Send + Sync {
    /// Counts `chunk` as done for a processing job, atomically and at most once.
    fn record_chunk(
        &self,
        job: &JobId,
        chunk: ChunkIndex,
    ) -> impl Future<Output = Result<ChunkRecord, StoreError>> + Send;

    /// Raises the job's "last pushed percent" to `percent`. `true` for exactly one caller per
    /// raise, so however many workers see a percent, one of them pushes it.
    fn claim_push(&self, job: &JobId, percent: u8) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Moves a job whose chunks are all done from processing to merging. `Some(job)` for exactly
    /// one caller, even when two workers finish the last chunks together.
    fn begin_merge(&self, job: &JobId) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;
}

/// `dynamodb:GetItem` on chunk marks: whether a chunk was counted.
pub trait ChunkMarks: Send + Sync {
    fn chunk_counted(&self, job: &JobId, chunk: ChunkIndex) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A move of a job from one of `from` to `to`, made only if the job is still in one of `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageChange {
    pub from: &'static [Stage],
    pub to: Stage,
    /// Set with the move to [`Stage::Chunked`].
    pub chunks_total: Option<u32>,
    /// Set with the move to [`Stage::Failed`].
    pub error: Option<String>,
    /// Made only if the job has not changed since (epoch ms): a backstop never fails a job
    /// that moved while it was deciding.
    pub unchanged_since: Option<i64>,
}

impl StageChange {
    pub fn to(from: &'static [Stage], to: Stage) -> Self {
        StageChange { from, to, chunks_total: None, error: None, unchanged_since: None }
    }

    /// Fails a job from any stage that is not already terminal.
    pub fn fail(reason: impl Into<String>) -> Self {
        StageChange {
            from: &[Stage::Queued, Stage::Analyzing, Stage::Chunked, Stage::Processing, Stage::Merging],
            to: Stage::Failed,
            chunks_total: None,
            error: Some(reason.into()),
            unchanged_since: None,
        }
    }

    /// Fails a job still in `stage` that has not changed since `idle_since` (epoch ms).
    pub fn fail_stuck(stage: Stage, idle_since: i64, reason: impl Into<String>) -> Self {
        let from: &'static [Stage] = match stage {
            Stage::Queued => &[Stage::Queued],
            Stage::Analyzing => &[Stage::Analyzing],
            Stage::Chunked => &[Stage::Chunked],
            Stage::Processing => &[Stage::Processing],
            Stage::Merging => &[Stage::Merging],
            Stage::Completed | Stage::Failed => &[],
        };
        StageChange { from, unchanged_since: Some(idle_since), ..StageChange::fail(reason) }
    }
}

/// `dynamodb:Query` on the jobs table's sparse `byOpenStage` index (only jobs that are not
/// finished are in it): the sweeper's way to find stuck jobs without a scan.
pub trait StuckJobs: Send + Sync {
    /// Jobs that entered `stage` before `entered_before` (epoch ms), oldest first, at most `limit`.
    fn entered_stage_before(
        &self,
        stage: Stage,
        entered_before: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<JobId>, StoreError>> + Send;
}

/// `dynamodb:UpdateItem` on jobs: conditional stage moves.
pub trait JobStages: Send + Sync {
    /// `Some(job after)` when the move happened, `None` when the job was not in `from` (or is
    /// missing): of two racing callers, exactly one gets `Some`. Bumps `seq`. A move to a
    /// terminal stage gives the owner's in-flight slot back (`UpdateItem` on limits).
    fn advance(
        &self,
        job: &JobId,
        change: &StageChange,
    ) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;
}

/// `dynamodb:Query` on the connections table's `byUser` index: the user room.
pub trait UserRoom: Send + Sync {
    /// The user's connections (rows past their TTL left out).
    fn connections_of(&self, user: &UserId) -> impl Future<Output = Result<Targets, StoreError>> + Send;
}

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("no such object")]
    NotFound,
    #[error("object is {size} bytes, over the {max}-byte limit")]
    TooLarge { size: u64, max: u64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// `s3:GetObject` / `s3:PutObject` on the jobcast bucket.
pub trait ObjectStore: Send + Sync {
    /// The object's bytes, refused without downloading when larger than `max_bytes`.
    fn get(&self, key: &str, max_bytes: u64) -> impl Future<Output = Result<Vec<u8>, ObjectError>> + Send;

    fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// `s3:PutObject` in parts (multipart upload), for objects too large to hold in memory at once.
/// Use it through [`crate::objects::StreamingObject`], which buffers one part at a time.
pub trait ObjectParts: ObjectStore {
    /// An upload in progress.
    type Upload: Send;

    fn begin_upload(
        &self,
        key: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<Self::Upload, StoreError>> + Send;

    /// Appends one part. Every part but the last must be at least 5 MiB on S3.
    fn upload_part(
        &self,
        upload: &mut Self::Upload,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn complete_upload(&self, upload: Self::Upload) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Discards the parts uploaded so far. Best effort: the bucket's lifecycle rule removes
    /// incomplete uploads that an abort missed.
    fn abort_upload(&self, upload: Self::Upload) -> impl Future<Output = ()> + Send;
}

/// Presigned URLs, signed with the function's own credentials (which must allow the action).
pub trait UrlSigner: Send + Sync {
    /// A PUT bound to this content type and exact length.
    fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    fn presign_get(&self, key: &str, ttl: Duration) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// `sqs:SendMessage` on the chunk queue.
pub trait ChunkQueue: Send + Sync {
    /// Enqueues every message (batched), or fails naming how many were refused.
    fn enqueue(&self, messages: &[ChunkMessage]) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// `sqs:SendMessage` on the unprocessable queue: where a message that no retry can ever
/// process (it is not a chunk message at all) is kept for an operator, instead of being
/// retried until it reaches the DLQ or dropped.
pub trait Unprocessable: Send + Sync {
    fn park(&self, body: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why a push did not arrive.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The connection is gone (410): its rows should be deleted.
    #[error("connection is gone")]
    Gone,
    /// Throttled by API Gateway (`LimitExceededException`): worth a retry after a pause.
    #[error("throttled")]
    Throttled,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// `execute-api:ManageConnections` (POST and DELETE `@connections/{id}`).
pub trait Pusher: Send + Sync {
    fn push(&self, connection: &ConnectionId, payload: &[u8]) -> impl Future<Output = Result<(), PushError>> + Send;

    /// Closes the connection from the server side. Closing one already gone is fine.
    fn close(&self, connection: &ConnectionId) -> impl Future<Output = Result<(), PushError>> + Send;
}
