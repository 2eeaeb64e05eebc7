//! The progress ports: counting a chunk exactly once, claiming a push, starting the merge, and
//! reading a chunk's mark.

use anyhow::Context as _;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem, Update};

use super::DynamoStore;
use super::item::{job_from_item, n, s};
use super::retry::{is_condition_failure, send_transaction, send_update};
use crate::clock;
use crate::config::CHUNK_MARK_TTL;
use crate::ids::{ChunkIndex, JobId};
use crate::job::{Job, Stage, checkpoint};
use crate::ports::{ChunkMarks, ChunkRecord, ProgressRecorder, StoreError};

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
        // Every chunk of a job updates the same job item, so concurrent workers cancel each
        // other's transactions; the SDK does not retry that, and the queue would only after
        // the visibility timeout, counting towards failing the job.
        let err = match send_transaction(request).await {
            Ok(_) => return Ok(ChunkRecord::Recorded),
            Err(err) => err,
        };
        match err.into_service_error() {
            TransactWriteItemsError::TransactionCanceledException(cancel) => match refusal(&cancel) {
                Some(record) => Ok(record),
                None => Err(anyhow::Error::new(cancel).context("chunk transaction cancelled").into()),
            },
            other => Err(anyhow::Error::new(other).context(format!("recording chunk {chunk} of job {job}")).into()),
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

/// What a failed condition in the chunk transaction answers: the mark (item 0) exists, so the
/// chunk was counted before; or the job (item 1) is not counting chunks.
fn refusal(cancel: &TransactionCanceledException) -> Option<ChunkRecord> {
    let failed =
        |i: usize| cancel.cancellation_reasons().get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
    if failed(0) {
        Some(ChunkRecord::Duplicate)
    } else if failed(1) {
        Some(ChunkRecord::NotAccepting)
    } else {
        None
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
    use aws_sdk_dynamodb::types::CancellationReason;

    use super::*;

    fn cancelled(codes: &[&str]) -> TransactionCanceledException {
        let reasons = codes.iter().map(|code| CancellationReason::builder().code(*code).build()).collect();
        TransactionCanceledException::builder().set_cancellation_reasons(Some(reasons)).build()
    }

    #[test]
    fn a_chunk_already_marked_is_a_duplicate_whatever_the_job_says() {
        assert_eq!(refusal(&cancelled(&["ConditionalCheckFailed", "None"])), Some(ChunkRecord::Duplicate));
        assert_eq!(
            refusal(&cancelled(&["ConditionalCheckFailed", "ConditionalCheckFailed"])),
            Some(ChunkRecord::Duplicate)
        );
    }

    #[test]
    fn a_job_that_is_not_processing_refuses_a_new_chunk() {
        assert_eq!(refusal(&cancelled(&["None", "ConditionalCheckFailed"])), Some(ChunkRecord::NotAccepting));
        assert_eq!(
            refusal(&cancelled(&["TransactionConflict", "ConditionalCheckFailed"])),
            Some(ChunkRecord::NotAccepting)
        );
    }

    #[test]
    fn a_transaction_cancelled_without_a_failed_condition_is_no_answer() {
        assert_eq!(refusal(&cancelled(&["None", "TransactionConflict"])), None);
        assert_eq!(refusal(&cancelled(&["ThrottlingError", "None"])), None);
        assert_eq!(refusal(&cancelled(&[])), None);
    }
}
