//! SQS-triggered: extract one chunk's text, record its completion idempotently, push progress
//! when the whole percent moved; the worker that completes the last chunk merges the results
//! (`merge.rs`). The SQS batch plumbing lives in `batch.rs`; this file handles one message.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use jobcast_shared::BoxError;
use jobcast_shared::ids::JobId;
use jobcast_shared::job::Stage;
use jobcast_shared::keys;
use jobcast_shared::pdf;
use jobcast_shared::ports::{
    ChunkRecord, ConnectionStore, JobReader, JobStages, ObjectParts, ProgressRecorder, Pusher, StageChange, StoreError,
    SubscriptionStore, Unprocessable, UrlSigner, UserRoom,
};
use jobcast_shared::push::Notifier;
use jobcast_shared::queue::ChunkMessage;
use jobcast_shared::result::ChunkResult;
use jobcast_shared::telemetry::{self, name};

use crate::batch;
pub use crate::error::ChunkError;
pub use crate::settings::Settings;

#[derive(Debug)]
pub struct Deps<S, O, P, U> {
    pub store: S,
    pub objects: O,
    pub pusher: P,
    pub unprocessable: U,
    pub settings: Settings,
}

/// Everything the worker needs of the tables, spelled once.
pub trait WorkerStore:
    JobReader + JobStages + ProgressRecorder + SubscriptionStore + UserRoom + ConnectionStore
{
}
impl<T> WorkerStore for T where
    T: JobReader + JobStages + ProgressRecorder + SubscriptionStore + UserRoom + ConnectionStore
{
}

pub async fn handle<S, O, P, U>(deps: &Deps<S, O, P, U>, event: SqsEvent) -> Result<SqsBatchResponse, BoxError>
where
    S: WorkerStore,
    O: ObjectParts + UrlSigner,
    P: Pusher,
    U: Unprocessable,
{
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let started = std::time::Instant::now();
        if deps.handle_record(record).await.is_err() {
            batch::mark_failed(&mut response, record);
        }
        telemetry::millis(name::CHUNK_DURATION, started.elapsed());
    }
    Ok(response)
}

impl<S, O, P, U> Deps<S, O, P, U>
where
    S: WorkerStore,
    O: ObjectParts + UrlSigner,
    P: Pusher,
    U: Unprocessable,
{
    /// One message, parsed once. `Err` (logged already) means "deliver it again"; everything else is settled: a
    /// body that is not a chunk message is parked for an operator, a failure no retry can
    /// cure fails the job now, and a retryable one fails it on its last delivery.
    async fn handle_record(&self, record: &SqsMessage) -> Result<(), ChunkError> {
        let body = record.body.as_deref().unwrap_or_default();
        let message = match ChunkMessage::parse(body) {
            Ok(message) => message,
            Err(err) => {
                if let Err(park) = self.unprocessable.park(body).await {
                    let park = ChunkError::from(park);
                    batch::log_failure(record, &park);
                    return Err(park);
                }
                tracing::warn!(message_id = ?record.message_id, error = %err, "not a chunk message; parked");
                return Ok(());
            }
        };
        self.settle(record, &message).await
    }

    /// Processes a parsed message and decides what its failure means. Every line logged here
    /// and below carries the job id and the chunk.
    #[tracing::instrument(skip_all, fields(job_id = %message.job_id, chunk = %message.chunk_index))]
    async fn settle(&self, record: &SqsMessage, message: &ChunkMessage) -> Result<(), ChunkError> {
        let Err(err) = self.process(message).await else {
            return Ok(());
        };
        batch::log_failure(record, &err);
        let reason = err.user_reason(message.chunk_index);
        if err.is_retryable() {
            // Reported even on its last delivery, so the message is kept in the DLQ; the
            // consumer there finds its job ended already.
            if batch::is_last_delivery(record, self.settings.max_receive_count) {
                self.fail_job(&message.job_id, &reason).await?;
            }
            return Err(err);
        }
        self.fail_job(&message.job_id, &reason).await?;
        Ok(())
    }

    /// The job failed for good: no later progress can show (the chunk counter and the merge
    /// are conditioned on the stage), and the owner hears about it. A store failure here is
    /// returned, so the message is delivered again rather than leaving the job open.
    async fn fail_job(&self, job: &JobId, reason: &str) -> Result<(), StoreError> {
        if let Some(failed) = self.store.advance(job, &StageChange::fail(reason)).await? {
            telemetry::job_failed(&failed, "processing");
            self.notifier().stored_change(&failed, None).await;
        }
        Ok(())
    }

    async fn process(&self, message: &ChunkMessage) -> Result<(), ChunkError> {
        let Some(job) = self.store.get_job(&message.job_id).await? else {
            tracing::warn!("no such job; chunk ignored");
            return Ok(());
        };
        match job.stage {
            Stage::Processing => {}
            // A redelivery after the count reached the end: make sure the merge finishes.
            Stage::Merging => return self.finish_merge(&job).await,
            _ => {
                tracing::info!(stage = %job.stage, "job is not processing; chunk ignored");
                return Ok(());
            }
        }

        self.extract(message).await?;
        let recorded = self.store.record_chunk(&message.job_id, message.chunk_index).await?;
        match recorded {
            ChunkRecord::NotAccepting => return Ok(()),
            ChunkRecord::Recorded => telemetry::count(name::CHUNKS_PROCESSED, 1),
            ChunkRecord::Duplicate => {}
        }
        let Some(job) = self.store.get_job(&message.job_id).await? else {
            return Ok(());
        };
        if job.stage == Stage::Processing && job.chunks_done >= job.chunks_total {
            // Also on a duplicate: the delivery that counted the last chunk may have died
            // before starting the merge, and without this its redeliveries would leave the
            // job at 74 %.
            return self.start_merge(&job).await;
        }
        if recorded == ChunkRecord::Duplicate {
            tracing::info!("duplicate delivery; already counted");
            return Ok(());
        }
        // One push per whole percent, however many chunks or workers: bounded at ~60 per job.
        if self.store.claim_push(&job.id, job.progress().percent).await? {
            self.notifier().stored_change(&job, None).await;
        }
        Ok(())
    }

    /// Reads the chunk PDF the planner wrote and stores its pages' text.
    async fn extract(&self, message: &ChunkMessage) -> Result<(), ChunkError> {
        let index = message.chunk_index;
        let limits = &self.settings.limits;
        let bytes = self
            .objects
            .get(&keys::chunk(&message.job_id, index), limits.max_chunk_bytes as u64)
            .await
            .map_err(|source| ChunkError::Object { index, source })?;
        let pages = pdf::extract_pages(&bytes, message.first_page, limits)
            .map_err(|source| ChunkError::Pdf { index, source })?;
        drop(bytes);
        let truncated = pages.iter().filter(|p| p.truncated).count();
        telemetry::count(name::PAGES_EXTRACTED, pages.len() as u64);
        telemetry::count(name::PAGES_TRUNCATED, truncated as u64);
        if truncated > 0 {
            tracing::info!(truncated, "pages cut short by their budgets");
        }
        let result = ChunkResult { chunk_index: index.get(), pages };
        let body = serde_json::to_vec(&result).map_err(|e| StoreError::Unexpected(e.into()))?;
        self.objects.put(&keys::chunk_result(&message.job_id, index), body, "application/json").await?;
        Ok(())
    }
}

impl<S: WorkerStore, O, P: Pusher, U> Deps<S, O, P, U> {
    pub(crate) fn notifier(&self) -> Notifier<'_, S, P> {
        Notifier { store: &self.store, pusher: &self.pusher, concurrency: self.settings.push_concurrency }
    }
}

#[cfg(test)]
mod tests;
