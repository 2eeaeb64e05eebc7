//! The handler against in-memory fakes, on the `events/` fixture.

use std::time::Duration;

use super::*;
use jobcast_shared::fakes::{InMemoryObjects, InMemoryStore, ParkedMessages, RecordingPusher};
use jobcast_shared::ids::ChunkIndex;
use jobcast_shared::ids::{ConnectionId, UserId};
use jobcast_shared::job::Job;
use jobcast_shared::pdf::PdfLimits;
use jobcast_shared::pdf::{PdfMetadata, plan_chunks, sample_page_text};
use jobcast_shared::protocol::{JobSnapshot, ServerMessage};
use jobcast_shared::result::{JobResult, Manifest};

type TestDeps = Deps<InMemoryStore, InMemoryObjects, RecordingPusher, ParkedMessages>;

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
    store.subscribe(&job.id, &conn(), &job.owner, u32::MAX).await.expect("subscribe");
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
        // Tiny parts, so every merge in these tests streams through several.
        merge_part_bytes: 64,
    };
    Deps { store, objects, pusher: RecordingPusher::default(), unprocessable: ParkedMessages::default(), settings }
}

fn fixture() -> SqsEvent {
    serde_json::from_str(include_str!("../../../../events/sqs-chunk-batch.json")).expect("fixture parses")
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
            record.body = Some(format!(r#"{{"jobId":"job-alice-1","chunkIndex":{index},"firstPage":{first_page}}}"#));
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
async fn the_fixture_batch_parks_the_malformed_message_and_counts_the_rest() {
    let deps = seeded(6, 2).await;
    let response = handle(&deps, fixture()).await.expect("handled");
    assert!(response.batch_item_failures.is_empty(), "no retry can parse it: {response:?}");
    assert_eq!(deps.unprocessable.parked(), ["not a chunk message"], "kept for an operator, not dropped");
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
async fn a_chunk_the_planner_never_wrote_fails_the_job_at_once_without_retries() {
    let deps = seeded(4, 2).await;
    let response = handle(&deps, chunk_event(&[(7, 15)], 1)).await.expect("handled");
    assert!(response.batch_item_failures.is_empty(), "S3 is consistent: a retry finds it missing too");
    let job = deps.store.job(&job_id()).expect("job");
    assert_eq!(job.stage, Stage::Failed);
    assert_eq!(job.error.as_deref(), Some("chunk 7 could not be processed; please upload again"));
    let messages = pushed(&deps);
    assert!(messages.iter().any(|m| matches!(m, ServerMessage::JobCompleted { error: Some(_), .. })));
    assert!(messages.iter().any(|m| matches!(m, ServerMessage::JobListUpdate { .. })), "the user room hears");

    // Later chunks of the failed job never move it.
    handle(&deps, chunk_event(&[(0, 1)], 1)).await.expect("handled");
    assert_eq!(deps.store.job(&job_id()).map(|j| (j.stage, j.chunks_done)), Some((Stage::Failed, 0)));
}

#[tokio::test]
async fn a_failure_a_retry_could_cure_is_retried_and_fails_the_job_only_on_its_last_delivery() {
    let deps = seeded(4, 2).await;
    deps.objects.fail_reads_of("chunks/");
    let response = handle(&deps, chunk_event(&[(1, 3)], 1)).await.expect("handled");
    assert_eq!(response.batch_item_failures.len(), 1, "retried");
    assert_eq!(deps.store.job(&job_id()).map(|j| j.stage), Some(Stage::Processing), "not yet: retries remain");

    let response = handle(&deps, chunk_event(&[(1, 3)], 3)).await.expect("handled");
    assert_eq!(response.batch_item_failures.len(), 1, "still reported, so it lands in the DLQ");
    let job = deps.store.job(&job_id()).expect("job");
    assert_eq!(job.stage, Stage::Failed);
    assert_eq!(job.error.as_deref(), Some("chunk 1 could not be processed; please upload again"));
}

#[tokio::test]
async fn a_gone_subscriber_is_cleaned_up_by_the_push() {
    let deps = seeded(8, 2).await;
    deps.pusher.mark_gone(&conn());
    handle(&deps, chunk_event(&[(0, 1)], 1)).await.expect("handled");
    assert!(!deps.store.has_connection(&conn()));
    assert_eq!(deps.store.subscription_count(), 0);
}

#[tokio::test]
async fn the_merge_streams_in_parts_and_the_result_reads_back_whole() {
    let deps = seeded(9, 2).await;
    handle(&deps, chunk_event(&all_chunks(9, 2), 1)).await.expect("handled");
    assert!(deps.objects.part_sizes().len() > 4, "parts: {:?}", deps.objects.part_sizes());
    assert!(deps.objects.part_sizes().iter().all(|&size| size < 64 + 4096), "one page at most past a part");
    let result: JobResult =
        serde_json::from_slice(&deps.objects.object(&keys::result_json(&job_id())).expect("result")).expect("json");
    assert_eq!((result.page_count, result.pages.len(), result.word_count), (9, 9, 90));
}

#[tokio::test]
async fn a_poison_chunk_fails_alone_and_a_co_batched_healthy_job_completes() {
    let deps = seeded(4, 2).await;
    // A second job of another user whose chunk 0 is not a PDF at all.
    let poisoned = JobId::parse("job-bob-1").expect("id");
    let mut bob = deps.store.job(&job_id()).expect("job");
    bob.id = poisoned.clone();
    bob.owner = jobcast_shared::ids::UserId::parse("bob").expect("id");
    bob.chunks_total = 1;
    deps.store.insert_job(bob);
    deps.objects.insert(&keys::chunk(&poisoned, ChunkIndex::parse(0).expect("index")), b"%PDF-1.4 garbage".to_vec());

    let mut event = chunk_event(&all_chunks(4, 2), 1);
    let mut poison = event.records[0].clone();
    poison.message_id = Some("poison".into());
    poison.body = Some(r#"{"jobId":"job-bob-1","chunkIndex":0,"firstPage":1}"#.into());
    event.records.insert(1, poison);
    let response = handle(&deps, event).await.expect("handled");

    assert!(response.batch_item_failures.is_empty(), "the same bytes never parse: no retry");
    assert_eq!(deps.store.job(&job_id()).map(|j| j.stage), Some(Stage::Completed));
    let bob = deps.store.job(&poisoned).expect("job");
    assert_eq!(bob.stage, Stage::Failed, "its first delivery failed it");
    let reason = bob.error.unwrap_or_default();
    assert!(reason.starts_with("chunk 0 could not be read: the file is not a readable PDF"), "{reason}");
    assert!(!reason.contains("chunks/"), "no object key reaches the user: {reason}");
}

#[tokio::test]
async fn a_hostile_chunk_ends_with_truncated_pages_not_a_failure() {
    let deps = seeded(2, 2).await;
    let index = ChunkIndex::parse(0).expect("index");
    deps.objects.insert(&keys::chunk(&job_id(), index), pdf::generate::operator_flood(2, 3_000_000));
    handle(&deps, chunk_event(&[(0, 1)], 1)).await.expect("handled");
    assert_eq!(deps.store.job(&job_id()).map(|j| j.stage), Some(Stage::Completed));
    let result: JobResult =
        serde_json::from_slice(&deps.objects.object(&keys::result_json(&job_id())).expect("result")).expect("json");
    assert!(result.pages.iter().all(|p| p.truncated && p.note.is_some()), "{:?}", result.pages);
}
