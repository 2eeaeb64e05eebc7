//! The job ports: reading, listing, creating, moving between stages, finding stuck jobs.

use anyhow::Context as _;
use aws_sdk_dynamodb::types::ReturnValue;

use super::item::{Item, OPEN_STAGE, corrupt, get_s, job_from_item, job_to_item, n, s};
use super::retry::{is_condition_failure, send_update};
use super::{DynamoStore, JOBS_BY_OPEN_STAGE, JOBS_BY_USER};
use crate::clock;
use crate::ids::{JobId, UserId};
use crate::job::{Job, Stage};
use crate::ports::{
    JobCursor, JobLister, JobPage, JobReader, JobStages, JobWriter, StageChange, StoreError, StuckJobs,
};

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
