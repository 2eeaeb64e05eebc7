//! DynamoDB adapters for every store port.
//!
//! Tables (see `template.yaml`):
//! - jobs `jobId` → the job; `pushedProgress` is push bookkeeping, never shown to clients.
//! - chunks `jobId` + `chunk` → one small mark per completed chunk, so a redelivered message is
//!   recognised at O(1) cost whatever the job's size (a set on the job item would grow it, and
//!   write cost grows with item size).
//! - connections `connectionId` → user, TTL `expiresAt`.
//! - subscriptions `jobId` + `connectionId` → user, TTL `expiresAt`; index `byConnection` for
//!   cleanup. Pushes query the table itself, consistently, never the (eventually consistent) index.
//!
//! Layout: `item` maps attributes and the job item, `retry` retries a write that loses a race
//! with a transaction, and one module per group of ports: `jobs`, `progress`, `rooms`.

use aws_sdk_dynamodb::Client;

use crate::config::Tables;

mod item;
mod jobs;
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
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        DynamoStore { client, tables }
    }
}
