//! DynamoDB adapters for every store port.
//!
//! Tables (see `template.yaml`):
//! - jobs `jobId` → the job; `pushedProgress` is push bookkeeping, never shown to clients.
//! - chunks `jobId` + `chunk` → one small mark per completed chunk, so a redelivered message is
//!   recognised at O(1) cost whatever the job's size (a set on the job item would grow it, and
//!   write cost grows with item size).
//! - jobs carry a TTL `expiresAt` (the result's retention): past it a job reads as missing.
//! - connections `connectionId` → user, token expiry, the set of jobs it follows, TTL `expiresAt`.
//! - subscriptions `jobId` + `connectionId` → user, token expiry, TTL `expiresAt`; index
//!   `byConnection` for cleanup. Pushes query the table itself, consistently, never the
//!   (eventually consistent) index.
//! - limits `limitKey` → one per-user count (`taken`) with its lease `expiresAt` (see `limits`).
//!
//! Layout: `item` maps attributes and the job item, `retry` retries a write that loses a race
//! with a transaction, and one module per group of ports: `jobs`, `progress`, `rooms`, `limits`.

use aws_sdk_dynamodb::Client;

use std::time::Duration;

use crate::config::{DEFAULT_JOB_RETENTION, Tables};

mod item;
mod jobs;
mod limits;
mod progress;
mod retry;
mod rooms;

/// Index of jobs by owner, newest first.
pub const JOBS_BY_USER: &str = "byUser";

/// Index of open jobs by stage and the time they entered it.
pub const JOBS_BY_OPEN_STAGE: &str = "byOpenStage";

/// Index of connections by user (the user room).
pub const CONNECTIONS_BY_USER: &str = "byUser";

/// Index of subscriptions by connection (keys only), for `$disconnect` and 410 cleanup.
pub const SUBSCRIPTIONS_BY_CONNECTION: &str = "byConnection";

/// Every store port over DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
    job_retention: Duration,
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        DynamoStore { client, tables, job_retention: DEFAULT_JOB_RETENTION }
    }

    /// How long a job created through this store lives (see [`DEFAULT_JOB_RETENTION`]).
    pub fn with_job_retention(self, job_retention: Duration) -> Self {
        DynamoStore { job_retention, ..self }
    }
}
