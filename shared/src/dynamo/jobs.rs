//! The job ports: reading, listing, creating, moving between stages, finding stuck jobs.

use anyhow::Context as _;
use aws_sdk_dynamodb::types::ReturnValue;

use super::item::{Item, OPEN_STAGE, corrupt, get_n, get_s, job_from_item, job_to_item, n, s};
use super::retry::{is_condition_failure, send_update};
use super::{DynamoStore, JOBS_BY_OPEN_STAGE, JOBS_BY_USER};
use crate::clock;
use crate::ids::{JobId, UserId};
use crate::job::{Job, Stage};
use crate::ports::{
    Allowance, JobCursor, JobLister, JobPage, JobReader, JobStages, JobWriter, StageChange, StoreError, StuckJobs,
    UserLimits,
};

/// The job's TTL (epoch seconds) for a job created at `created_at` (epoch ms).
fn expiry(created_at: i64, retention: std::time::Duration) -> u64 {
    u64::try_from(created_at / 1000).unwrap_or(0) + retention.as_secs()
}

/// Past its TTL, a job reads as missing everywhere: DynamoDB deletes expired items only
/// eventually (within days), and the bucket has deleted the result by then.
fn is_expired(item: &Item, now: u64) -> bool {
    matches!(item.get("expiresAt"), Some(aws_sdk_dynamodb::types::AttributeValue::N(v)) if v.parse::<u64>().is_ok_and(|at| at <= now))
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
        match out.item {
            Some(item) if !is_expired(&item, clock::epoch_seconds()) => job_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }
}

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
        // Expired jobs are left out of the page; the cursor still follows the last item read,
        // so a page may come back short of the limit and still have a next one.
        let now = clock::epoch_seconds();
        let items = out.items();
        let jobs =
            items.iter().filter(|item| !is_expired(item, now)).map(job_from_item).collect::<Result<Vec<_>, _>>()?;
        // DynamoDB may hand back a last key even when nothing follows; a page that came back
        // short of the limit is the end.
        let next = match (out.last_evaluated_key(), items.last()) {
            (Some(_), Some(last)) if items.len() == limit as usize => Some(JobCursor {
                created_at: get_n(last, "createdAt")?,
                job_id: JobId::parse(get_s(last, "jobId")?).map_err(corrupt("jobId"))?,
            }),
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
            .item("expiresAt", n(expiry(job.created_at, self.job_retention)))
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
            Ok(out) => {
                let after = out.attributes.as_ref().map(job_from_item).transpose()?;
                if let Some(job) = after.as_ref().filter(|job| job.stage.is_terminal()) {
                    // Only the caller that made the move gets here, so the slot is given back
                    // once. A failure here must not undo the move: the count's lease heals it.
                    if let Err(err) = self.release(&job.owner, Allowance::JobsInFlight).await {
                        tracing::warn!(job_id = %job.id, error = %err, "in-flight slot not given back");
                    }
                }
                Ok(after)
            }
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context("moving a job to its next stage").into()),
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
