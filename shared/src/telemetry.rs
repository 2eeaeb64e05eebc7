//! Metrics in CloudWatch Embedded Metric Format (EMF): recorded through the `metrics` facade,
//! written to stdout as one JSON document per label set after every invocation, and turned into
//! CloudWatch metrics by Lambda's log pipeline — no `PutMetricData` call, no extra permission.
//!
//! One namespace per stack (`METRICS_NAMESPACE`, `jobcast/<stack>` in the template); the
//! dimensions are the function and, for some metrics, one low-cardinality label
//! ([`label`]): never a job, user or connection id. Every metric name is written once, in
//! [`name`]; the template's alarms and dashboard and `infra/metrics` use the same strings.
//! Without a recorder (unit tests, benchmarks) recording is a no-op.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use metrics::Unit;
use metrics_cloudwatch_embedded::{Builder, Collector};

/// The metric names.
pub mod name {
    /// `$connect` accepted (ws-connect).
    pub const CONNECTIONS_OPENED: &str = "ConnectionsOpened";
    /// `$disconnect` (ws-disconnect).
    pub const CONNECTIONS_CLOSED: &str = "ConnectionsClosed";
    /// Refused by the authorizer, by [`super::label::REASON`]: `missing`, `invalid`, `expired`.
    pub const CONNECTIONS_REFUSED: &str = "ConnectionsRefused";
    /// `subscribe_job` answered with a snapshot.
    pub const SUBSCRIPTIONS: &str = "Subscriptions";
    /// A per-user limit refused a request, by `Reason` (connections, subscriptions,
    /// jobs_per_minute, jobs_in_flight).
    pub const LIMITS_REACHED: &str = "LimitsReached";
    /// Reconnects the browser client reports (a `ping` field after it reconnected).
    pub const CLIENT_RECONNECTS: &str = "ClientReconnects";
    /// Posts the Management API accepted.
    pub const PUSHES_SENT: &str = "PushesSent";
    /// Posts answered 410: the connection was gone and its rows were deleted.
    pub const PUSHES_GONE: &str = "PushesGone";
    /// Posts that failed after their retries, by reason: `throttled` or `error`.
    pub const PUSHES_FAILED: &str = "PushesFailed";
    /// Connections one change was pushed to.
    pub const FAN_OUT_SIZE: &str = "FanOutSize";
    /// From the stored change of a job to the last subscriber's post accepted.
    pub const PUSH_LATENCY: &str = "PushLatency";
    /// Chunks extracted and counted (duplicates excluded).
    pub const CHUNKS_PROCESSED: &str = "ChunksProcessed";
    /// One chunk message, from receipt to done.
    pub const CHUNK_DURATION: &str = "ChunkDuration";
    pub const PAGES_EXTRACTED: &str = "PagesExtracted";
    /// Pages whose text a budget cut short.
    pub const PAGES_TRUNCATED: &str = "PagesTruncated";
    pub const JOBS_CREATED: &str = "JobsCreated";
    pub const JOBS_COMPLETED: &str = "JobsCompleted";
    /// By [`super::label::REASON`]: `rejected` (the PDF), `processing`, `internal`,
    /// `backstop_dlq`, `backstop_sweeper` (the last two: stuck jobs the backstops ended).
    pub const JOBS_FAILED: &str = "JobsFailed";
    /// From `POST /jobs` to the job's end.
    pub const JOB_DURATION: &str = "JobDuration";
    /// `GET /jobs/{id}`, by [`super::label::TRANSPORT`]: `polling` while the client's socket is
    /// down (it says so in `X-Jobcast-Transport`), `direct` otherwise. The seeds' fallback rate.
    pub const STATUS_POLLS: &str = "StatusPolls";
}

/// The label names (CloudWatch dimensions besides `Function`).
pub mod label {
    pub const REASON: &str = "Reason";
    pub const TRANSPORT: &str = "Transport";
}

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "jobcast";

/// This process's metrics: installed once per cold start, flushed after every invocation.
#[derive(Clone, Copy)]
pub struct Metrics(&'static Collector);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Installs the EMF recorder for `function` (a fixed name such as `chunk-worker`, so the
/// dimension stays the same across deploys). Fails only if a recorder is already installed.
/// The namespace is `METRICS_NAMESPACE`, or [`DEFAULT_NAMESPACE`].
pub fn init(env: &crate::config::Env, function: &'static str) -> Result<Metrics, crate::BoxError> {
    let namespace = env.optional("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let collector = Builder::new().cloudwatch_namespace(namespace).with_dimension("Function", function).init()?;
    describe();
    Ok(Metrics(collector))
}

fn describe() {
    for name in [name::PUSH_LATENCY, name::CHUNK_DURATION, name::JOB_DURATION] {
        metrics::describe_histogram!(name, Unit::Milliseconds, "");
    }
}

impl Metrics {
    /// Runs one invocation and writes what it recorded, whatever its outcome.
    pub async fn around<T>(self, invocation: impl Future<Output = T>) -> T {
        let outcome = invocation.await;
        self.flush();
        outcome
    }

    pub fn flush(self) {
        if let Err(err) = self.write_to(std::io::stdout().lock()) {
            tracing::warn!(error = %err, "metrics could not be written");
        }
    }

    /// Writes the EMF documents of everything recorded since the last write, and resets it.
    pub fn write_to(self, writer: impl std::io::Write) -> std::io::Result<()> {
        // Only a complete flush empties the backend's buffers; after a failed one the allowance
        // stays used up (samples are dropped) rather than letting a full buffer block.
        self.0.flush(writer)?;
        samples().clear();
        Ok(())
    }
}

pub fn count(name: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(name).increment(n);
    }
}

pub fn count_by(name: &'static str, label: &'static str, value: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(name, label => value).increment(n);
    }
}

/// Samples of one distribution kept between two flushes. The EMF backend holds at most 100
/// (EMF's limit per value array) in a bounded channel and *blocks* the recording thread on the
/// 101st, which would hang an invocation that records more (a sweep failing hundreds of jobs).
/// Past this many, samples are dropped until the next flush.
pub const MAX_SAMPLES_PER_FLUSH: u32 = 100;

fn samples() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, u32>> {
    static SAMPLES: Mutex<BTreeMap<&'static str, u32>> = Mutex::new(BTreeMap::new());
    SAMPLES.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn record(name: &'static str, value: f64) {
    let admitted = {
        let mut samples = samples();
        let taken = samples.entry(name).or_insert(0);
        *taken += 1;
        *taken <= MAX_SAMPLES_PER_FLUSH
    };
    if admitted {
        metrics::histogram!(name).record(value);
    }
}

pub fn millis(name: &'static str, elapsed: Duration) {
    record(name, elapsed.as_secs_f64() * 1000.0);
}

/// Milliseconds since `epoch_millis` (a job's `createdAt` / `updatedAt`), zero if in the future.
pub fn millis_since(name: &'static str, epoch_millis: i64) {
    let elapsed = crate::clock::epoch_millis().saturating_sub(epoch_millis).max(0);
    record(name, elapsed as f64);
}

/// A job ended as completed. Call it only after the conditional stage move that ended the job
/// succeeded, so each job counts once however many workers or backstops race.
pub fn job_completed(job: &crate::job::Job) {
    count(name::JOBS_COMPLETED, 1);
    millis_since(name::JOB_DURATION, job.created_at);
}

/// A job ended as failed, by reason class (see [`name::JOBS_FAILED`]); counted like
/// [`job_completed`].
pub fn job_failed(job: &crate::job::Job, reason: &'static str) {
    count_by(name::JOBS_FAILED, label::REASON, reason, 1);
    millis_since(name::JOB_DURATION, job.created_at);
}

pub fn sample(name: &'static str, value: usize) {
    record(name, value as f64);
}
