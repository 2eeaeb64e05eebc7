//! SQS-triggered: record a chunk's completion idempotently, then push the job's progress to
//! its subscribers when the whole percent moved (or the job reached the merge).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use jobcast_shared::BoxError;
use jobcast_shared::job::Job;
use jobcast_shared::ports::{
    ChunkRecord, ConnectionStore, JobReader, ProgressRecorder, Pusher, StoreError,
    SubscriptionStore,
};
use jobcast_shared::protocol::{JobSnapshot, ServerMessage};
use jobcast_shared::push::push_to_subscribers;
use jobcast_shared::queue::ChunkMessage;

#[derive(Debug)]
pub struct Deps<S, P> {
    pub store: S,
    pub pusher: P,
    pub push_concurrency: usize,
}

/// Why one message was not processed. Either way it is reported in `batchItemFailures`, so it
/// is retried and, past the queue's `maxReceiveCount`, kept in the DLQ: nothing is dropped.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("message body is not a chunk message: {0}")]
    BadMessage(#[source] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn handle<S, P>(deps: &Deps<S, P>, event: SqsEvent) -> Result<SqsBatchResponse, BoxError>
where
    S: JobReader + ProgressRecorder + SubscriptionStore + ConnectionStore,
    P: Pusher,
{
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        if let Err(err) = process(deps, record).await {
            let id = record.message_id.clone().unwrap_or_default();
            tracing::error!(message_id = %id, error = %err, "chunk message failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

async fn process<S, P>(deps: &Deps<S, P>, record: &SqsMessage) -> Result<(), ChunkError>
where
    S: JobReader + ProgressRecorder + SubscriptionStore + ConnectionStore,
    P: Pusher,
{
    let message = ChunkMessage::parse(record.body.as_deref().unwrap_or_default())
        .map_err(ChunkError::BadMessage)?;
    let span = tracing::info_span!("chunk", job_id = %message.job_id, chunk = %message.chunk_index);
    let _entered = span.enter();
    match deps
        .store
        .record_chunk(&message.job_id, message.chunk_index)
        .await?
    {
        ChunkRecord::Recorded => {}
        ChunkRecord::Duplicate => {
            tracing::info!("duplicate delivery; already counted");
            return Ok(());
        }
        ChunkRecord::NotAccepting => {
            tracing::warn!("job is missing or not processing; chunk ignored");
            return Ok(());
        }
    }
    let Some(job) = deps.store.get_job(&message.job_id).await? else {
        return Ok(());
    };
    if job.chunks_done >= job.chunks_total {
        if let Some(merging) = deps.store.begin_merge(&job.id).await? {
            tracing::info!("last chunk done; merging");
            return push_update(deps, &merging).await;
        }
    }
    // One push per whole percent, however many chunks or workers: bounded at ~60 per job.
    if deps
        .store
        .claim_push(&job.id, job.progress().percent)
        .await?
    {
        push_update(deps, &job).await?;
    }
    Ok(())
}

async fn push_update<S, P>(deps: &Deps<S, P>, job: &Job) -> Result<(), ChunkError>
where
    S: SubscriptionStore + ConnectionStore,
    P: Pusher,
{
    let message = ServerMessage::JobUpdate(JobSnapshot::from(job));
    let report = push_to_subscribers(
        &deps.store,
        &deps.pusher,
        deps.push_concurrency,
        &job.id,
        &message,
    )
    .await?;
    tracing::info!(
        progress = job.progress().percent,
        seq = job.seq,
        delivered = report.delivered,
        gone = report.gone.len(),
        failed = report.failed,
        "pushed job_update"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::{InMemoryStore, RecordingPusher};
    use jobcast_shared::ids::{ConnectionId, JobId, UserId};
    use jobcast_shared::job::Stage;

    fn processing_job(total: u32) -> Job {
        Job {
            id: JobId::parse("job-alice-1").expect("id"),
            owner: UserId::parse("alice").expect("id"),
            stage: Stage::Processing,
            chunks_done: 0,
            chunks_total: total,
            seq: 3,
            file_name: None,
            error: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn conn() -> ConnectionId {
        ConnectionId::parse("K6bBXd4ZIAMCJ5g=").expect("id")
    }

    async fn deps_with_subscriber(job: Job) -> Deps<InMemoryStore, RecordingPusher> {
        let store = InMemoryStore::with_job(job.clone());
        store.connect(&conn(), &job.owner);
        store
            .subscribe(&job.id, &conn(), &job.owner)
            .await
            .expect("subscribe");
        Deps {
            store,
            pusher: RecordingPusher::default(),
            push_concurrency: 4,
        }
    }

    fn fixture() -> SqsEvent {
        serde_json::from_str(include_str!("../../../events/sqs-chunk-batch.json"))
            .expect("fixture parses")
    }

    fn chunk_event(indexes: &[u32]) -> SqsEvent {
        let template = fixture().records.remove(0);
        let mut event = SqsEvent::default();
        event.records = indexes
            .iter()
            .map(|i| {
                let mut record = template.clone();
                record.message_id = Some(format!("msg-{i}"));
                record.body = Some(format!(r#"{{"jobId":"job-alice-1","chunkIndex":{i}}}"#));
                record
            })
            .collect();
        event
    }

    fn updates(deps: &Deps<InMemoryStore, RecordingPusher>) -> Vec<JobSnapshot> {
        deps.pusher
            .sent_to(&conn())
            .into_iter()
            .map(|m| match m {
                ServerMessage::JobUpdate(snapshot) => snapshot,
                other => panic!("unexpected push {other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn the_fixture_batch_reports_only_the_malformed_message_as_failed() {
        let deps = deps_with_subscriber(processing_job(4)).await;
        let response = handle(&deps, fixture()).await.expect("handled");
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["6f1d2d4e-0b1a-4c39-9d2f-000000000003"]);
        let job = deps.store.job(&processing_job(4).id).expect("job");
        assert_eq!(job.chunks_done, 2);
    }

    #[tokio::test]
    async fn a_completed_chunk_pushes_progress_with_the_new_seq() {
        let deps = deps_with_subscriber(processing_job(4)).await;
        handle(&deps, chunk_event(&[0])).await.expect("handled");
        let pushed = updates(&deps);
        assert_eq!(pushed.len(), 1);
        assert_eq!(
            (pushed[0].progress, pushed[0].seq, pushed[0].chunks_done),
            (30, 4, 1)
        );
        assert_eq!(pushed[0].message, "Processed 1/4 chunks");
    }

    #[tokio::test]
    async fn a_duplicate_chunk_delivery_does_not_advance_progress() {
        let deps = deps_with_subscriber(processing_job(4)).await;
        handle(&deps, chunk_event(&[1])).await.expect("handled");
        let response = handle(&deps, chunk_event(&[1, 1])).await.expect("handled");
        assert!(response.batch_item_failures.is_empty());
        let job = deps.store.job(&processing_job(4).id).expect("job");
        assert_eq!((job.chunks_done, job.seq), (1, 4));
        assert_eq!(updates(&deps).len(), 1, "a duplicate pushes nothing");
    }

    #[tokio::test]
    async fn the_last_chunk_moves_the_job_to_merging_exactly_once() {
        let deps = deps_with_subscriber(processing_job(3)).await;
        handle(&deps, chunk_event(&[0, 1, 2, 2, 1]))
            .await
            .expect("handled");
        let job = deps.store.job(&processing_job(3).id).expect("job");
        assert_eq!((job.stage, job.chunks_done), (Stage::Merging, 3));
        let progress: Vec<u8> = updates(&deps).iter().map(|u| u.progress).collect();
        assert_eq!(progress, [35, 55, 75]);
        assert_eq!(updates(&deps).last().map(|u| u.stage), Some(Stage::Merging));
    }

    #[tokio::test]
    async fn pushes_stay_bounded_when_chunks_outnumber_percents() {
        let deps = deps_with_subscriber(processing_job(600)).await;
        let all: Vec<u32> = (0..600).collect();
        handle(&deps, chunk_event(&all)).await.expect("handled");
        let pushed = updates(&deps);
        // 16..=74 while processing (59 raises) plus the merge at 75.
        assert_eq!(pushed.len(), 60);
        assert!(
            pushed
                .windows(2)
                .all(|w| w[0].seq < w[1].seq && w[0].progress < w[1].progress)
        );
    }

    #[tokio::test]
    async fn a_chunk_for_a_failed_or_missing_job_changes_nothing() {
        let mut failed = processing_job(4);
        failed.stage = Stage::Failed;
        failed.error = Some("encrypted".into());
        let deps = deps_with_subscriber(failed).await;
        let response = handle(&deps, chunk_event(&[0])).await.expect("handled");
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(
            deps.store.job(&processing_job(4).id).map(|j| j.chunks_done),
            Some(0)
        );
        assert!(
            updates(&deps).is_empty(),
            "a failed job never shows progress"
        );
    }

    #[tokio::test]
    async fn a_gone_subscriber_is_cleaned_up_by_the_push() {
        let deps = deps_with_subscriber(processing_job(4)).await;
        deps.pusher.mark_gone(&conn());
        handle(&deps, chunk_event(&[0])).await.expect("handled");
        assert!(!deps.store.has_connection(&conn()));
        assert_eq!(deps.store.subscription_count(), 0);
    }
}
