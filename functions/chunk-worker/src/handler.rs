//! SQS-triggered: extract one chunk's text, record its completion idempotently, push progress
//! when the whole percent moved; the worker that completes the last chunk merges the results.

use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use jobcast_shared::BoxError;
use jobcast_shared::ids::{ChunkIndex, JobId};
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::pdf::{self, PdfError, PdfLimits};
use jobcast_shared::ports::{
    ChunkRecord, ConnectionStore, JobReader, JobStages, ObjectError, ObjectStore, ProgressRecorder, Pusher,
    StageChange, StoreError, SubscriptionStore, UrlSigner, UserRoom,
};
use jobcast_shared::push::Notifier;
use jobcast_shared::queue::ChunkMessage;
use jobcast_shared::result::{ChunkResult, Manifest, MergeError, merge};

#[derive(Debug, Clone)]
pub struct Settings {
    pub push_concurrency: usize,
    pub limits: PdfLimits,
    /// The queue's `maxReceiveCount`: the delivery that reaches it is the last before the DLQ.
    pub max_receive_count: u32,
    pub result_url_ttl: Duration,
}

#[derive(Debug)]
pub struct Deps<S, O, P> {
    pub store: S,
    pub objects: O,
    pub pusher: P,
    pub settings: Settings,
}

/// Why one message was not processed. It is reported in `batchItemFailures`, so it is retried
/// and, past the queue's `maxReceiveCount`, kept in the DLQ: nothing is dropped.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("message body is not a chunk message: {0}")]
    BadMessage(#[source] serde_json::Error),
    #[error("chunk {index} is unreadable: {source}")]
    Object {
        index: ChunkIndex,
        #[source]
        source: ObjectError,
    },
    #[error("chunk {index} is not a readable PDF: {source}")]
    Pdf {
        index: ChunkIndex,
        #[source]
        source: PdfError,
    },
    #[error("merge failed: {0}")]
    Merge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<MergeError> for ChunkError {
    fn from(err: MergeError) -> Self {
        ChunkError::Merge(err.to_string())
    }
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

pub async fn handle<S, O, P>(deps: &Deps<S, O, P>, event: SqsEvent) -> Result<SqsBatchResponse, BoxError>
where
    S: WorkerStore,
    O: ObjectStore + UrlSigner,
    P: Pusher,
{
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let message = ChunkMessage::parse(record.body.as_deref().unwrap_or_default());
        let outcome = match &message {
            Ok(message) => process(deps, message).await,
            Err(err) => Err(ChunkError::BadMessage(clone_json_error(err))),
        };
        let Err(err) = outcome else { continue };
        let id = record.message_id.clone().unwrap_or_default();
        tracing::error!(message_id = %id, error = %err, "chunk message failed");
        if let Ok(message) = &message {
            if is_last_delivery(record, deps.settings.max_receive_count) {
                fail_job(deps, &message.job_id, &format!("chunk {} failed: {err}", message.chunk_index)).await;
            }
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

fn clone_json_error(err: &serde_json::Error) -> serde_json::Error {
    serde::de::Error::custom(err.to_string())
}

fn is_last_delivery(record: &SqsMessage, max_receive_count: u32) -> bool {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n >= max_receive_count)
}

/// The job failed for good: no later progress can show (the chunk counter and the merge are
/// conditioned on the stage), and the owner hears about it.
async fn fail_job<S, O, P>(deps: &Deps<S, O, P>, job: &JobId, reason: &str)
where
    S: WorkerStore,
    P: Pusher,
{
    match deps.store.advance(job, &StageChange::fail(reason)).await {
        Ok(Some(failed)) => notify(deps, &failed, None).await,
        Ok(None) => {}
        Err(err) => tracing::error!(error = %err, "could not mark the job failed"),
    }
}

/// Pushes a committed change. Best effort: the state is already stored, and a client that missed
/// the push recovers it from its next snapshot, so a push failure must not fail (and retry, and
/// eventually fail the job for) work that succeeded.
async fn notify<S, O, P>(deps: &Deps<S, O, P>, job: &Job, result_url: Option<String>)
where
    S: WorkerStore,
    P: Pusher,
{
    let notifier = Notifier { store: &deps.store, pusher: &deps.pusher, concurrency: deps.settings.push_concurrency };
    if let Err(err) = notifier.job_changed(job, result_url).await {
        tracing::warn!(error = %err, "push failed; clients recover from their next snapshot");
    }
}

#[tracing::instrument(skip_all, fields(job_id = %message.job_id, chunk = %message.chunk_index))]
async fn process<S, O, P>(deps: &Deps<S, O, P>, message: &ChunkMessage) -> Result<(), ChunkError>
where
    S: WorkerStore,
    O: ObjectStore + UrlSigner,
    P: Pusher,
{
    let Some(job) = deps.store.get_job(&message.job_id).await? else {
        tracing::warn!("no such job; chunk ignored");
        return Ok(());
    };
    match job.stage {
        Stage::Processing => {}
        // A redelivery after the count reached the end: make sure the merge finishes.
        Stage::Merging => return finish_merge(deps, &job).await,
        _ => {
            tracing::info!(stage = %job.stage, "job is not processing; chunk ignored");
            return Ok(());
        }
    }

    extract(deps, message).await?;
    match deps.store.record_chunk(&message.job_id, message.chunk_index).await? {
        ChunkRecord::Recorded => {}
        ChunkRecord::Duplicate => {
            // Counted by an earlier delivery that may have died before starting the merge;
            // without this the last chunk's redeliveries would leave the job at 74 % for good.
            tracing::info!("duplicate delivery; already counted");
            let Some(job) = deps.store.get_job(&message.job_id).await? else {
                return Ok(());
            };
            if job.stage == Stage::Processing && job.chunks_done >= job.chunks_total {
                if let Some(merging) = deps.store.begin_merge(&job.id).await? {
                    notify(deps, &merging, None).await;
                    return finish_merge(deps, &merging).await;
                }
            }
            return Ok(());
        }
        ChunkRecord::NotAccepting => return Ok(()),
    }

    let Some(job) = deps.store.get_job(&message.job_id).await? else {
        return Ok(());
    };
    if job.chunks_done >= job.chunks_total {
        if let Some(merging) = deps.store.begin_merge(&job.id).await? {
            notify(deps, &merging, None).await;
            return finish_merge(deps, &merging).await;
        }
        return Ok(());
    }
    // One push per whole percent, however many chunks or workers: bounded at ~60 per job.
    if deps.store.claim_push(&job.id, job.progress().percent).await? {
        notify(deps, &job, None).await;
    }
    Ok(())
}

/// Reads the chunk PDF the planner wrote and stores its pages' text.
async fn extract<S, O, P>(deps: &Deps<S, O, P>, message: &ChunkMessage) -> Result<(), ChunkError>
where
    O: ObjectStore,
{
    let index = message.chunk_index;
    let limits = &deps.settings.limits;
    let bytes = deps
        .objects
        .get(&keys::chunk(&message.job_id, index), limits.max_bytes as u64)
        .await
        .map_err(|source| ChunkError::Object { index, source })?;
    let pages =
        pdf::extract_pages(&bytes, message.first_page, limits).map_err(|source| ChunkError::Pdf { index, source })?;
    let result = ChunkResult { chunk_index: index.get(), pages };
    let body = serde_json::to_vec(&result).map_err(|e| StoreError::Unexpected(e.into()))?;
    deps.objects.put(&keys::chunk_result(&message.job_id, index), body, "application/json").await?;
    Ok(())
}

/// Combines the chunk results into `result.json` and `result.txt`, then completes the job.
/// Safe to repeat: the files are rewritten identically and only one caller completes the job.
async fn finish_merge<S, O, P>(deps: &Deps<S, O, P>, job: &Job) -> Result<(), ChunkError>
where
    S: WorkerStore,
    O: ObjectStore + UrlSigner,
    P: Pusher,
{
    let read = |key: String| async move {
        let bytes = deps.objects.get(&key, u64::MAX).await.map_err(|e| ChunkError::Merge(format!("{key}: {e}")))?;
        Ok::<_, ChunkError>(bytes)
    };
    let manifest: Manifest = serde_json::from_slice(&read(keys::manifest(&job.id)).await?)
        .map_err(|e| ChunkError::Merge(format!("manifest: {e}")))?;
    let mut chunks = Vec::with_capacity(manifest.chunks.len());
    for plan in &manifest.chunks {
        let index = ChunkIndex::parse(u64::from(plan.index)).map_err(|e| ChunkError::Merge(e.to_string()))?;
        let bytes = read(keys::chunk_result(&job.id, index)).await?;
        chunks.push(serde_json::from_slice(&bytes).map_err(|e| ChunkError::Merge(format!("chunk {index}: {e}")))?);
    }
    let result = merge(&job.id, job.file_name.clone(), &manifest, chunks)?;
    let json = serde_json::to_vec(&result).map_err(|e| StoreError::Unexpected(e.into()))?;
    deps.objects.put(&keys::result_text(&job.id), result.text().into_bytes(), "text/plain; charset=utf-8").await?;
    deps.objects.put(&keys::result_json(&job.id), json, "application/json").await?;

    let done = deps.store.advance(&job.id, &StageChange::to(&[Stage::Merging], Stage::Completed)).await?;
    if let Some(done) = done {
        let url = deps.objects.presign_get(&keys::result_json(&job.id), deps.settings.result_url_ttl).await?;
        tracing::info!(pages = result.page_count, words = result.word_count, "job completed");
        notify(deps, &done, Some(url)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::{InMemoryObjects, InMemoryStore, RecordingPusher};
    use jobcast_shared::ids::{ConnectionId, UserId};
    use jobcast_shared::pdf::{PdfMetadata, plan_chunks, sample_page_text};
    use jobcast_shared::protocol::{JobSnapshot, ServerMessage};
    use jobcast_shared::result::JobResult;

    type TestDeps = Deps<InMemoryStore, InMemoryObjects, RecordingPusher>;

    fn job_id() -> JobId {
        JobId::parse("job-alice-1").expect("id")
    }

    fn conn() -> ConnectionId {
        ConnectionId::parse("K6bBXd4ZIAMCJ5g=").expect("id")
    }

    /// A processing job of `pages` pages in chunks of `chunk_pages`, with its manifest and chunk
    /// PDFs in the bucket and one subscribed connection.
    async fn seeded(pages: u32, chunk_pages: u32) -> TestDeps {
        let plan = plan_chunks(pages, chunk_pages);
        let job = Job {
            id: job_id(),
            owner: UserId::parse("alice").expect("id"),
            stage: Stage::Processing,
            chunks_done: 0,
            chunks_total: u32::try_from(plan.len()).expect("small"),
            seq: 3,
            file_name: Some("sample.pdf".into()),
            error: None,
            created_at: 0,
            updated_at: 0,
        };
        let store = InMemoryStore::with_job(job.clone());
        store.connect(&conn(), &job.owner);
        store.subscribe(&job.id, &conn(), &job.owner).await.expect("subscribe");
        let objects = InMemoryObjects::default();
        let manifest = Manifest { page_count: pages, metadata: PdfMetadata::default(), chunks: plan.clone() };
        objects.insert(&keys::manifest(&job.id), serde_json::to_vec(&manifest).expect("json"));
        for chunk in &plan {
            let bytes =
                pdf::generate(chunk.last_page - chunk.first_page + 1, |n| sample_page_text(chunk.first_page + n - 1));
            let index = ChunkIndex::parse(u64::from(chunk.index)).expect("index");
            objects.insert(&keys::chunk(&job.id, index), bytes);
        }
        let settings = Settings {
            push_concurrency: 4,
            limits: PdfLimits::default(),
            max_receive_count: 3,
            result_url_ttl: Duration::from_secs(60),
        };
        Deps { store, objects, pusher: RecordingPusher::default(), settings }
    }

    fn fixture() -> SqsEvent {
        serde_json::from_str(include_str!("../../../events/sqs-chunk-batch.json")).expect("fixture parses")
    }

    /// One record per `(chunk index, first page)`, delivered for the `receive_count`-th time.
    fn chunk_event(chunks: &[(u32, u32)], receive_count: u32) -> SqsEvent {
        let template = fixture().records.remove(0);
        let mut event = SqsEvent::default();
        event.records = chunks
            .iter()
            .map(|(index, first_page)| {
                let mut record = template.clone();
                record.message_id = Some(format!("msg-{index}"));
                record.body =
                    Some(format!(r#"{{"jobId":"job-alice-1","chunkIndex":{index},"firstPage":{first_page}}}"#));
                record.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
                record
            })
            .collect();
        event
    }

    /// All chunks of a plan, as (index, first page).
    fn all_chunks(pages: u32, chunk_pages: u32) -> Vec<(u32, u32)> {
        plan_chunks(pages, chunk_pages).iter().map(|c| (c.index, c.first_page)).collect()
    }

    fn pushed(deps: &TestDeps) -> Vec<ServerMessage> {
        deps.pusher.sent_to(&conn())
    }

    fn updates(deps: &TestDeps) -> Vec<JobSnapshot> {
        pushed(deps)
            .into_iter()
            .filter_map(|m| match m {
                ServerMessage::JobUpdate(snapshot) => Some(snapshot),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn the_fixture_batch_reports_only_the_malformed_message_as_failed() {
        let deps = seeded(6, 2).await;
        let response = handle(&deps, fixture()).await.expect("handled");
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["6f1d2d4e-0b1a-4c39-9d2f-000000000003"]);
        assert_eq!(deps.store.job(&job_id()).map(|j| j.chunks_done), Some(2));
    }

    #[tokio::test]
    async fn a_completed_chunk_stores_its_text_and_pushes_progress_with_the_new_seq() {
        let deps = seeded(8, 2).await;
        handle(&deps, chunk_event(&[(1, 3)], 1)).await.expect("handled");
        let pushed = updates(&deps);
        assert_eq!(pushed.len(), 1);
        assert_eq!((pushed[0].progress, pushed[0].seq, pushed[0].chunks_done), (30, 4, 1));
        assert_eq!(pushed[0].message, "Processed 1/4 chunks");
        let index = ChunkIndex::parse(1).expect("index");
        let stored: ChunkResult =
            serde_json::from_slice(&deps.objects.object(&keys::chunk_result(&job_id(), index)).expect("stored"))
                .expect("json");
        let numbers: Vec<u32> = stored.pages.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [3, 4]);
        assert_eq!(stored.pages[0].text.trim(), sample_page_text(3));
    }

    #[tokio::test]
    async fn a_duplicate_chunk_delivery_does_not_advance_progress() {
        let deps = seeded(8, 2).await;
        handle(&deps, chunk_event(&[(1, 3)], 1)).await.expect("handled");
        let response = handle(&deps, chunk_event(&[(1, 3), (1, 3)], 2)).await.expect("handled");
        assert!(response.batch_item_failures.is_empty());
        let job = deps.store.job(&job_id()).expect("job");
        assert_eq!((job.chunks_done, job.seq), (1, 4));
        assert_eq!(updates(&deps).len(), 1, "a duplicate pushes nothing");
    }

    #[tokio::test]
    async fn the_last_chunk_merges_once_and_completes_with_the_whole_text() {
        let deps = seeded(7, 3).await;
        let mut chunks = all_chunks(7, 3);
        chunks.extend(all_chunks(7, 3));
        handle(&deps, chunk_event(&chunks, 1)).await.expect("handled");

        let job = deps.store.job(&job_id()).expect("job");
        assert_eq!((job.stage, job.chunks_done), (Stage::Completed, 3));
        let progress: Vec<u8> = updates(&deps).iter().map(|u| u.progress).collect();
        assert_eq!(progress, [35, 55, 75]);
        let completed: Vec<_> =
            pushed(&deps).into_iter().filter(|m| matches!(m, ServerMessage::JobCompleted { .. })).collect();
        assert_eq!(completed.len(), 1, "job_completed once");
        assert!(matches!(&completed[0], ServerMessage::JobCompleted { result_url: Some(url), seq, .. }
            if url.contains("result.json") && *seq == job.seq));

        let result: JobResult =
            serde_json::from_slice(&deps.objects.object(&keys::result_json(&job_id())).expect("result")).expect("json");
        assert_eq!(result.page_count, 7);
        let texts: Vec<String> = result.pages.iter().map(|p| p.text.trim().to_owned()).collect();
        let expected: Vec<String> = (1..=7).map(sample_page_text).collect();
        assert_eq!(texts, expected);
        let text = String::from_utf8(deps.objects.object(&keys::result_text(&job_id())).expect("txt")).expect("utf8");
        assert!(text.contains(&sample_page_text(7)));
    }

    #[tokio::test]
    async fn a_redelivered_last_chunk_finishes_a_merge_that_never_started() {
        // The worker that counted the last chunk died before starting the merge: every chunk
        // is counted, the job is still processing, and only a redelivery remains.
        let deps = seeded(4, 2).await;
        handle(&deps, chunk_event(&[(0, 1)], 1)).await.expect("handled");
        deps.store.record_chunk(&job_id(), ChunkIndex::parse(1).expect("index")).await.expect("count");
        let index = ChunkIndex::parse(1).expect("index");
        let result = ChunkResult {
            chunk_index: 1,
            pages: pdf::extract_pages(
                &deps.objects.object(&keys::chunk(&job_id(), index)).expect("chunk"),
                3,
                &PdfLimits::default(),
            )
            .expect("text"),
        };
        deps.objects.insert(&keys::chunk_result(&job_id(), index), serde_json::to_vec(&result).expect("json"));
        assert_eq!(deps.store.job(&job_id()).map(|j| (j.stage, j.chunks_done)), Some((Stage::Processing, 2)));

        handle(&deps, chunk_event(&[(1, 3)], 2)).await.expect("handled");
        let job = deps.store.job(&job_id()).expect("job");
        assert_eq!((job.stage, job.chunks_done), (Stage::Completed, 2));
        assert!(deps.objects.object(&keys::result_json(&job_id())).is_some());
    }

    #[tokio::test]
    async fn pushes_and_writes_per_chunk_stay_bounded_as_chunks_grow() {
        let mut per_chunk_writes = Vec::new();
        for chunks in [10u32, 600] {
            let deps = seeded(chunks, 1).await;
            handle(&deps, chunk_event(&all_chunks(chunks, 1), 1)).await.expect("handled");
            assert_eq!(deps.store.job(&job_id()).map(|j| j.stage), Some(Stage::Completed));
            let posts = pushed(&deps).len();
            assert!(posts <= 62, "{chunks} chunks made {posts} posts");
            // 2 item writes per chunk (mark + counter), plus at most one per percent and the
            // merge and completion moves.
            let writes = deps.store.item_writes();
            assert!(writes <= 2 * chunks as usize + 62, "{chunks} chunks made {writes} item writes");
            per_chunk_writes.push(writes as f64 / f64::from(chunks));
        }
        assert!(per_chunk_writes[1] <= per_chunk_writes[0], "write cost per chunk grew: {per_chunk_writes:?}");
    }

    #[tokio::test]
    async fn a_chunk_for_a_failed_or_missing_job_changes_nothing() {
        let deps = seeded(8, 2).await;
        deps.store.advance(&job_id(), &StageChange::fail("encrypted")).await.expect("fail");
        let response = handle(&deps, chunk_event(&[(0, 1)], 1)).await.expect("handled");
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(deps.store.job(&job_id()).map(|j| j.chunks_done), Some(0));
        assert!(pushed(&deps).is_empty(), "a failed job never shows progress");
    }

    #[tokio::test]
    async fn a_chunk_that_keeps_failing_fails_the_job_on_its_last_delivery() {
        let deps = seeded(4, 2).await;
        let missing = chunk_event(&[(7, 15)], 1);
        let response = handle(&deps, missing).await.expect("handled");
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(deps.store.job(&job_id()).map(|j| j.stage), Some(Stage::Processing), "not yet: retries remain");

        let response = handle(&deps, chunk_event(&[(7, 15)], 3)).await.expect("handled");
        assert_eq!(response.batch_item_failures.len(), 1, "still reported, so it lands in the DLQ");
        let job = deps.store.job(&job_id()).expect("job");
        assert_eq!(job.stage, Stage::Failed);
        assert!(job.error.as_deref().is_some_and(|e| e.contains("chunk 7")), "{:?}", job.error);
        let messages = pushed(&deps);
        assert!(messages.iter().any(|m| matches!(m, ServerMessage::JobCompleted { error: Some(_), .. })));
        assert!(messages.iter().any(|m| matches!(m, ServerMessage::JobListUpdate { .. })), "the user room hears");

        // Later chunks of the failed job never move it.
        handle(&deps, chunk_event(&[(0, 1)], 1)).await.expect("handled");
        assert_eq!(deps.store.job(&job_id()).map(|j| (j.stage, j.chunks_done)), Some((Stage::Failed, 0)));
    }

    #[tokio::test]
    async fn a_gone_subscriber_is_cleaned_up_by_the_push() {
        let deps = seeded(8, 2).await;
        deps.pusher.mark_gone(&conn());
        handle(&deps, chunk_event(&[(0, 1)], 1)).await.expect("handled");
        assert!(!deps.store.has_connection(&conn()));
        assert_eq!(deps.store.subscription_count(), 0);
    }
}
