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

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::Context as _;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};

use crate::clock;
use crate::config::{CHUNK_MARK_TTL, CONNECTION_TTL, Tables};
use crate::ids::{ChunkIndex, ConnectionId, JobId, UserId};
use crate::job::{Job, Stage, checkpoint};
use crate::ports::*;

type Item = HashMap<String, AttributeValue>;

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

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!("attribute {name} is missing or not a string"))),
    }
}

fn get_n<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => {
            v.parse().map_err(|_| StoreError::Corrupt(format!("attribute {name} is out of range: {v}")))
        }
        _ => Err(StoreError::Corrupt(format!("attribute {name} is missing or not a number"))),
    }
}

fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn corrupt(what: &str) -> impl Fn(crate::ids::InvalidId) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn job_from_item(item: &Item) -> Result<Job, StoreError> {
    Ok(Job {
        id: JobId::parse(get_s(item, "jobId")?).map_err(corrupt("jobId"))?,
        owner: UserId::parse(get_s(item, "userId")?).map_err(corrupt("userId"))?,
        stage: get_s(item, "stage")?.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?,
        chunks_done: get_n(item, "chunksDone")?,
        chunks_total: get_n(item, "chunksTotal")?,
        seq: get_n(item, "seq")?,
        file_name: get_opt_s(item, "fileName"),
        error: get_opt_s(item, "error"),
        created_at: get_n(item, "createdAt")?,
        updated_at: get_n(item, "updatedAt")?,
    })
}

pub(crate) fn job_to_item(job: &Job) -> Item {
    let mut item = Item::from([
        ("jobId".to_owned(), s(job.id.as_str())),
        ("userId".to_owned(), s(job.owner.as_str())),
        ("stage".to_owned(), s(job.stage.as_str())),
        ("chunksDone".to_owned(), n(job.chunks_done)),
        ("chunksTotal".to_owned(), n(job.chunks_total)),
        ("seq".to_owned(), n(job.seq)),
        ("createdAt".to_owned(), n(job.created_at)),
        ("updatedAt".to_owned(), n(job.updated_at)),
        ("pushedProgress".to_owned(), n(job.progress().percent)),
        ("stageSince".to_owned(), n(job.updated_at)),
    ]);
    if !job.stage.is_terminal() {
        item.insert(OPEN_STAGE.to_owned(), s(job.stage.as_str()));
    }
    if let Some(name) = &job.file_name {
        item.insert("fileName".to_owned(), s(name));
    }
    if let Some(error) = &job.error {
        item.insert("error".to_owned(), s(error));
    }
    item
}

/// Present only while a job is not finished, so the `byOpenStage` index holds open jobs only
/// (a sparse index): the sweeper queries it per stage, sorted by `stageSince`, never scanning.
const OPEN_STAGE: &str = "openStage";

/// Index of open jobs by stage and the time they entered it.
pub const JOBS_BY_OPEN_STAGE: &str = "byOpenStage";

/// Tries for a write that loses a race with a transaction on the same item.
const CONFLICT_ATTEMPTS: u32 = 6;

/// 5–10, 10–20, 20–40 … ms: racing workers spread out instead of colliding again.
async fn conflict_backoff(attempt: u32) {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(clock::now_nanos_fraction()) % (base / 2 + 1);
    tokio::time::sleep(std::time::Duration::from_millis(base / 2 + jitter)).await;
}

/// Sends an `UpdateItem`, retrying while it conflicts with an ongoing transaction on the item
/// (`TransactionConflictException`, which the SDK does not retry).
async fn send_update(
    request: UpdateItemFluentBuilder,
) -> Result<UpdateItemOutput, aws_sdk_dynamodb::error::SdkError<UpdateItemError>> {
    let mut attempt = 0;
    loop {
        match request.clone().send().await {
            Err(err)
                if err.as_service_error().and_then(|e| e.code()) == Some("TransactionConflictException")
                    && attempt + 1 < CONFLICT_ATTEMPTS =>
            {
                conflict_backoff(attempt).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// True when the SDK error is a failed `ConditionExpression`.
fn is_condition_failure<E>(err: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

impl JobReader for DynamoStore {
    async fn get_job(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.jobs)
            .key("jobId", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .context("reading a job")?;
        out.item.as_ref().map(job_from_item).transpose()
    }
}

/// Index of jobs by owner, newest first.
pub const JOBS_BY_USER: &str = "byUser";

impl JobLister for DynamoStore {
    async fn list_jobs(&self, owner: &UserId, limit: u32, after: Option<&JobCursor>) -> Result<JobPage, StoreError> {
        let start = after.map(|cursor| {
            Item::from([
                ("userId".to_owned(), s(owner.as_str())),
                ("createdAt".to_owned(), n(cursor.created_at)),
                ("jobId".to_owned(), s(cursor.job_id.as_str())),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.tables.jobs)
            .index_name(JOBS_BY_USER)
            .key_condition_expression("userId = :u")
            .expression_attribute_values(":u", s(owner.as_str()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("listing a user's jobs")?;
        let jobs = out.items().iter().map(job_from_item).collect::<Result<Vec<_>, _>>()?;
        // DynamoDB may hand back a last key even when nothing follows; a page that came back
        // short of the limit is the end.
        let next = match (out.last_evaluated_key(), jobs.last()) {
            (Some(_), Some(last)) if jobs.len() == limit as usize => {
                Some(JobCursor { created_at: last.created_at, job_id: last.id.clone() })
            }
            _ => None,
        };
        Ok(JobPage { jobs, next })
    }
}

impl JobWriter for DynamoStore {
    async fn create_job(&self, job: &Job) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.jobs)
            .set_item(Some(job_to_item(job)))
            .condition_expression("attribute_not_exists(jobId)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(anyhow::Error::new(err).context("creating a job").into()),
        }
    }
}

impl JobStages for DynamoStore {
    async fn advance(&self, job: &JobId, change: &StageChange) -> Result<Option<Job>, StoreError> {
        let shown = crate::job::progress(change.to, 0, change.chunks_total.unwrap_or(0), change.error.as_deref());
        let mut set =
            vec!["#stage = :to", "seq = seq + :one", "updatedAt = :now", "pushedProgress = :p", "stageSince = :now"];
        let mut remove = Vec::new();
        let from: Vec<String> = (0..change.from.len()).map(|i| format!(":from{i}")).collect();
        let mut condition = format!("#stage IN ({})", from.join(", "));
        if change.to.is_terminal() {
            remove.push(OPEN_STAGE);
        } else {
            set.push("openStage = :to");
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.jobs)
            .key("jobId", s(job.as_str()))
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":to", s(change.to.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(clock::epoch_millis()))
            .expression_attribute_values(":p", n(shown.percent))
            .return_values(ReturnValue::AllNew);
        for (placeholder, stage) in from.iter().zip(change.from) {
            request = request.expression_attribute_values(placeholder, s(stage.as_str()));
        }
        if let Some(total) = change.chunks_total {
            set.push("chunksTotal = :total");
            request = request.expression_attribute_values(":total", n(total));
        }
        if let Some(error) = &change.error {
            set.push("#error = :error");
            request =
                request.expression_attribute_names("#error", "error").expression_attribute_values(":error", s(error));
        }
        if let Some(since) = change.unchanged_since {
            condition.push_str(" AND updatedAt < :since");
            request = request.expression_attribute_values(":since", n(since));
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        match send_update(request.condition_expression(condition).update_expression(update)).await {
            Ok(out) => out.attributes.as_ref().map(job_from_item).transpose(),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context("moving a job to its next stage").into()),
        }
    }
}

/// Index of connections by user (the user room).
pub const CONNECTIONS_BY_USER: &str = "byUser";

impl UserRoom for DynamoStore {
    async fn connections_of(&self, user: &UserId) -> Result<Vec<ConnectionId>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.connections)
            .index_name(CONNECTIONS_BY_USER)
            .key_condition_expression("userId = :u")
            .filter_expression("expiresAt > :now")
            .expression_attribute_values(":u", s(user.as_str()))
            .expression_attribute_values(":now", n(clock::epoch_seconds()))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.context("listing a user's connections")?;
            out.push(ConnectionId::parse(get_s(&item, "connectionId")?).map_err(corrupt("connectionId"))?);
        }
        Ok(out)
    }
}

impl ConnectionStore for DynamoStore {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.connections)
            .item("connectionId", s(connection.id.as_str()))
            .item("userId", s(connection.user.as_str()))
            .item("connectedAt", n(connection.connected_at))
            .item("expiresAt", n(connection.expires_at))
            .send()
            .await
            .context("writing a connection")?;
        Ok(())
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.connections)
            .key("connectionId", s(id.as_str()))
            .send()
            .await
            .context("deleting a connection")?;
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.subscriptions)
            .index_name(SUBSCRIPTIONS_BY_CONNECTION)
            .key_condition_expression("connectionId = :c")
            .expression_attribute_values(":c", s(id.as_str()))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.context("listing a connection's subscriptions")?;
            let job = get_s(&item, "jobId")?;
            self.client
                .delete_item()
                .table_name(&self.tables.subscriptions)
                .key("jobId", s(job))
                .key("connectionId", s(id.as_str()))
                .send()
                .await
                .context("deleting a subscription")?;
        }
        Ok(())
    }
}

impl SubscriptionStore for DynamoStore {
    async fn subscribe(&self, job: &JobId, connection: &ConnectionId, user: &UserId) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.subscriptions)
            .item("jobId", s(job.as_str()))
            .item("connectionId", s(connection.as_str()))
            .item("userId", s(user.as_str()))
            .item("expiresAt", n(clock::expires_in(CONNECTION_TTL)))
            .send()
            .await
            .context("writing a subscription")?;
        Ok(())
    }

    async fn unsubscribe(&self, job: &JobId, connection: &ConnectionId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.subscriptions)
            .key("jobId", s(job.as_str()))
            .key("connectionId", s(connection.as_str()))
            .send()
            .await
            .context("deleting a subscription")?;
        Ok(())
    }

    async fn subscribers(&self, job: &JobId) -> Result<Vec<ConnectionId>, StoreError> {
        // Expired rows stay readable until DynamoDB's TTL sweep deletes them: filter them out.
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.subscriptions)
            .key_condition_expression("jobId = :j")
            .filter_expression("expiresAt > :now")
            .expression_attribute_values(":j", s(job.as_str()))
            .expression_attribute_values(":now", n(clock::epoch_seconds()))
            .projection_expression("connectionId")
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.context("listing a job's subscribers")?;
            out.push(ConnectionId::parse(get_s(&item, "connectionId")?).map_err(corrupt("connectionId"))?);
        }
        Ok(out)
    }
}

impl ProgressRecorder for DynamoStore {
    async fn record_chunk(&self, job: &JobId, chunk: ChunkIndex) -> Result<ChunkRecord, StoreError> {
        // One transaction: the mark makes a redelivery a no-op, the counter moves only with it.
        // Two small items whatever the job's size, so the cost per chunk is constant.
        let mark = Put::builder()
            .table_name(&self.tables.chunks)
            .item("jobId", s(job.as_str()))
            .item("chunk", n(chunk.get()))
            .item("expiresAt", n(clock::expires_in(CHUNK_MARK_TTL)))
            .condition_expression("attribute_not_exists(jobId)")
            .build()
            .context("building the chunk mark")?;
        let count = Update::builder()
            .table_name(&self.tables.jobs)
            .key("jobId", s(job.as_str()))
            .update_expression("SET chunksDone = chunksDone + :one, seq = seq + :one, updatedAt = :now")
            .condition_expression("#stage = :processing AND chunksDone < chunksTotal")
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(clock::epoch_millis()))
            .expression_attribute_values(":processing", s(Stage::Processing.as_str()))
            .build()
            .context("building the chunk count")?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(mark).build())
            .transact_items(TransactWriteItem::builder().update(count).build());
        let mut attempt = 0;
        loop {
            let err = match request.clone().send().await {
                Ok(_) => return Ok(ChunkRecord::Recorded),
                Err(err) => err,
            };
            let cancel = match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancel) => cancel,
                other => {
                    return Err(anyhow::Error::new(other)
                        .context(format!("recording chunk {chunk} of job {job}"))
                        .into());
                }
            };
            let reason = |i: usize| cancel.cancellation_reasons().get(i).and_then(|r| r.code());
            if reason(0) == Some("ConditionalCheckFailed") {
                return Ok(ChunkRecord::Duplicate);
            }
            if reason(1) == Some("ConditionalCheckFailed") {
                return Ok(ChunkRecord::NotAccepting);
            }
            // Every chunk of a job updates the same job item, so concurrent workers cancel each
            // other's transactions; the SDK does not retry that, and the queue would only after
            // the visibility timeout, counting towards failing the job.
            let conflict = (0..2).any(|i| reason(i) == Some("TransactionConflict"));
            if !conflict || attempt + 1 >= CONFLICT_ATTEMPTS {
                return Err(anyhow::Error::new(cancel).context("chunk transaction cancelled").into());
            }
            conflict_backoff(attempt).await;
            attempt += 1;
        }
    }

    async fn claim_push(&self, job: &JobId, percent: u8) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.jobs)
            .key("jobId", s(job.as_str()))
            .update_expression("SET pushedProgress = :p")
            .condition_expression("attribute_exists(jobId) AND pushedProgress < :p")
            .expression_attribute_values(":p", n(percent));
        match send_update(request).await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(anyhow::Error::new(err).context("claiming a push").into()),
        }
    }

    async fn begin_merge(&self, job: &JobId) -> Result<Option<Job>, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.jobs)
            .key("jobId", s(job.as_str()))
            .update_expression(
                "SET #stage = :merging, openStage = :merging, seq = seq + :one, updatedAt = :now, stageSince = :now, \
                 pushedProgress = :p",
            )
            .condition_expression("#stage = :processing AND chunksDone = chunksTotal")
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":merging", s(Stage::Merging.as_str()))
            .expression_attribute_values(":processing", s(Stage::Processing.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(clock::epoch_millis()))
            .expression_attribute_values(":p", n(checkpoint::MERGING))
            .return_values(ReturnValue::AllNew);
        match send_update(request).await {
            Ok(out) => out
                .attributes
                .as_ref()
                .map(job_from_item)
                .transpose()?
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt("merge returned no attributes".into())),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context("starting the merge").into()),
        }
    }
}

impl StuckJobs for DynamoStore {
    async fn entered_stage_before(
        &self,
        stage: Stage,
        entered_before: i64,
        limit: u32,
    ) -> Result<Vec<JobId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.jobs)
            .index_name(JOBS_BY_OPEN_STAGE)
            .key_condition_expression("openStage = :s AND stageSince < :before")
            .expression_attribute_values(":s", s(stage.as_str()))
            .expression_attribute_values(":before", n(entered_before))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .context("querying jobs stuck in a stage")?;
        out.items().iter().map(|item| JobId::parse(get_s(item, "jobId")?).map_err(corrupt("jobId"))).collect()
    }
}

impl ChunkMarks for DynamoStore {
    async fn chunk_counted(&self, job: &JobId, chunk: ChunkIndex) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.chunks)
            .key("jobId", s(job.as_str()))
            .key("chunk", n(chunk.get()))
            .consistent_read(true)
            .send()
            .await
            .context("reading a chunk mark")?;
        Ok(out.item.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_survives_the_round_trip_through_an_item() {
        let job = Job {
            id: JobId::parse("j1").expect("id"),
            owner: UserId::parse("alice").expect("id"),
            stage: Stage::Processing,
            chunks_done: 3,
            chunks_total: 7,
            seq: 12,
            file_name: Some("report.pdf".into()),
            error: None,
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_500,
        };
        let item = job_to_item(&job);
        assert_eq!(job_from_item(&item).expect("parses"), job);
        assert_eq!(item.get("pushedProgress"), Some(&n(job.progress().percent)));
    }

    #[test]
    fn a_corrupt_item_is_an_error_not_a_panic() {
        let mut item = job_to_item(&Job {
            id: JobId::parse("j1").expect("id"),
            owner: UserId::parse("alice").expect("id"),
            stage: Stage::Queued,
            chunks_done: 0,
            chunks_total: 0,
            seq: 0,
            file_name: None,
            error: None,
            created_at: 0,
            updated_at: 0,
        });
        item.insert("stage".into(), s("exploded"));
        assert!(matches!(job_from_item(&item), Err(StoreError::Corrupt(_))));
        item.insert("stage".into(), s("queued"));
        item.insert("seq".into(), n(-1));
        assert!(matches!(job_from_item(&item), Err(StoreError::Corrupt(_))));
        item.remove("userId");
        assert!(matches!(job_from_item(&item), Err(StoreError::Corrupt(_))));
    }
}
