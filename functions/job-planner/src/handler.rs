//! S3 `ObjectCreated` on `uploads/`: analyze the PDF once, split it into chunk PDFs, enqueue
//! one message per chunk. 5 % analyzing → 10 % chunks calculated → 15 % processing.

use aws_lambda_events::s3::{S3Event, S3EventRecord};
use jobcast_shared::BoxError;
use jobcast_shared::ids::{ChunkIndex, JobId, UserId};
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::pdf::{self, PdfError};
use jobcast_shared::ports::{
    ChunkQueue, ConnectionStore, JobReader, JobStages, ObjectError, ObjectStore, Pusher, StageChange, StoreError,
    SubscriptionStore, UserRoom,
};
use jobcast_shared::push::Notifier;
use jobcast_shared::queue::ChunkMessage;
use jobcast_shared::result::Manifest;
use jobcast_shared::telemetry;

pub use crate::settings::Settings;

#[derive(Debug)]
pub struct Deps<S, O, Q, P> {
    pub store: S,
    pub objects: O,
    pub queue: Q,
    pub pusher: P,
    pub settings: Settings,
}

/// Everything the planner needs of the tables.
pub trait PlannerStore: JobReader + JobStages + SubscriptionStore + UserRoom + ConnectionStore {}
impl<T> PlannerStore for T where T: JobReader + JobStages + SubscriptionStore + UserRoom + ConnectionStore {}

/// Why planning stopped. A rejected upload fails the job with its reason; the rest are
/// infrastructure, logged with their cause and shown to the user as an internal error.
#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error("the upload is missing")]
    Missing,
    #[error(transparent)]
    Rejected(#[from] PdfError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ObjectError> for PlanError {
    fn from(err: ObjectError) -> Self {
        match err {
            ObjectError::NotFound => PlanError::Missing,
            ObjectError::TooLarge { size, max } => PlanError::Rejected(PdfError::TooLarge {
                bytes: usize::try_from(size).unwrap_or(usize::MAX),
                max: usize::try_from(max).unwrap_or(usize::MAX),
            }),
            ObjectError::Unexpected(err) => PlanError::Store(StoreError::Unexpected(err)),
        }
    }
}

impl PlanError {
    /// What the user reads as the job's failure reason; never an internal key or ARN.
    fn user_reason(&self) -> String {
        match self {
            PlanError::Missing | PlanError::Rejected(_) => self.to_string(),
            PlanError::Store(_) => "internal error while planning; please upload again".to_owned(),
        }
    }
}

pub async fn handle<S, O, Q, P>(deps: &Deps<S, O, Q, P>, event: S3Event) -> Result<(), BoxError>
where
    S: PlannerStore,
    O: ObjectStore,
    Q: ChunkQueue,
    P: Pusher,
{
    for record in &event.records {
        let key = decode_key(record);
        let Some((user, job)) = keys::parse_upload(&key) else {
            tracing::warn!(%key, "not an upload key; ignored");
            continue;
        };
        plan_upload(deps, &user, &job).await?;
    }
    Ok(())
}

/// Event keys are URL-encoded the way HTML forms are (`+` for a space).
fn decode_key(record: &S3EventRecord) -> String {
    let raw = record.s3.object.key.as_deref().unwrap_or_default().as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn notify<S, O, Q, P>(deps: &Deps<S, O, Q, P>, job: &Job)
where
    S: PlannerStore,
    P: Pusher,
{
    let notifier = Notifier { store: &deps.store, pusher: &deps.pusher, concurrency: deps.settings.push_concurrency };
    notifier.stored_change(job, None).await;
}

#[tracing::instrument(skip(deps), fields(user_id = %user, job_id = %job_id))]
async fn plan_upload<S, O, Q, P>(deps: &Deps<S, O, Q, P>, user: &UserId, job_id: &JobId) -> Result<(), BoxError>
where
    S: PlannerStore,
    O: ObjectStore,
    Q: ChunkQueue,
    P: Pusher,
{
    let owned = deps.store.get_job(job_id).await?.is_some_and(|job| job.is_owned_by(user));
    if !owned {
        tracing::warn!("upload does not match a job of this user; ignored");
        return Ok(());
    }
    // Exactly one planner gets past this, however often S3 delivers the event.
    let Some(job) = deps.store.advance(job_id, &StageChange::to(&[Stage::Queued], Stage::Analyzing)).await? else {
        tracing::info!("job is past queued; duplicate event ignored");
        return Ok(());
    };
    notify(deps, &job).await;

    match plan(deps, &job).await {
        Ok(()) => Ok(()),
        Err(err @ PlanError::Store(_)) => {
            // A retry would find the job past queued and skip it: fail it visibly instead.
            tracing::error!(error = ?err, "planning failed");
            fail(deps, job_id, &err.user_reason(), "internal").await?;
            Err(err.into())
        }
        Err(rejected) => {
            tracing::info!(reason = %rejected, "upload rejected");
            fail(deps, job_id, &rejected.user_reason(), "rejected").await
        }
    }
}

/// `class` is the failure's metric label (`rejected` for the PDF, `internal` for the rest).
async fn fail<S, O, Q, P>(
    deps: &Deps<S, O, Q, P>,
    job_id: &JobId,
    reason: &str,
    class: &'static str,
) -> Result<(), BoxError>
where
    S: PlannerStore,
    P: Pusher,
{
    if let Some(failed) = deps.store.advance(job_id, &StageChange::fail(reason)).await? {
        telemetry::job_failed(&failed, class);
        notify(deps, &failed).await;
    }
    Ok(())
}

async fn plan<S, O, Q, P>(deps: &Deps<S, O, Q, P>, job: &Job) -> Result<(), PlanError>
where
    S: PlannerStore,
    O: ObjectStore,
    Q: ChunkQueue,
    P: Pusher,
{
    let limits = &deps.settings.limits;
    let bytes = deps.objects.get(&keys::upload(&job.owner, &job.id), limits.max_bytes as u64).await?;
    let analyzed = pdf::analyze(&bytes, limits)?;
    // The parsed document owns copies of what it needs: the upload's bytes can go now.
    drop(bytes);
    let plan = pdf::plan_chunks(analyzed.page_count, deps.settings.chunk_pages);
    let total = u32::try_from(plan.len()).unwrap_or(u32::MAX);
    tracing::info!(pages = analyzed.page_count, chunks = total, "planned");

    let chunked = StageChange { chunks_total: Some(total), ..StageChange::to(&[Stage::Analyzing], Stage::Chunked) };
    let Some(job) = deps.store.advance(&job.id, &chunked).await? else {
        return Ok(());
    };
    notify(deps, &job).await;

    // The one parse of the upload produces every chunk, written one at a time so the planner
    // holds the upload plus one chunk; workers never read the whole file.
    let mut messages = Vec::with_capacity(plan.len());
    for chunk in &plan {
        let part = analyzed.chunk_pdf(chunk, limits)?;
        let index = ChunkIndex::parse(u64::from(chunk.index)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        deps.objects.put(&keys::chunk(&job.id, index), part, "application/pdf").await?;
        messages.push(ChunkMessage { job_id: job.id.clone(), chunk_index: index, first_page: chunk.first_page });
    }
    let manifest = Manifest { page_count: analyzed.page_count, metadata: analyzed.metadata.clone(), chunks: plan };
    let manifest = serde_json::to_vec(&manifest).map_err(|e| StoreError::Unexpected(e.into()))?;
    deps.objects.put(&keys::manifest(&job.id), manifest, "application/json").await?;

    // Processing before enqueueing: a worker ignores chunks of a job that is not processing.
    let Some(job) = deps.store.advance(&job.id, &StageChange::to(&[Stage::Chunked], Stage::Processing)).await? else {
        return Ok(());
    };
    deps.queue.enqueue(&messages).await?;
    notify(deps, &job).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::{InMemoryObjects, InMemoryStore, RecordingPusher, RecordingQueue};
    use jobcast_shared::ids::ConnectionId;
    use jobcast_shared::pdf::sample_page_text;
    use jobcast_shared::protocol::ServerMessage;

    type TestDeps = Deps<InMemoryStore, InMemoryObjects, RecordingQueue, RecordingPusher>;

    const ENCRYPTED: &[u8] = include_bytes!("../../../tests/fixtures/encrypted.pdf");

    fn alice() -> UserId {
        UserId::parse("alice").expect("id")
    }

    fn job_id() -> JobId {
        JobId::parse("job-alice-1").expect("id")
    }

    fn conn() -> ConnectionId {
        ConnectionId::parse("K6bBXd4ZIAMCJ5g=").expect("id")
    }

    /// A queued job of alice's with `upload` at its upload key and alice watching it.
    async fn deps_with_upload(upload: Option<Vec<u8>>) -> TestDeps {
        let job = Job {
            id: job_id(),
            owner: alice(),
            stage: Stage::Queued,
            chunks_done: 0,
            chunks_total: 0,
            seq: 1,
            file_name: Some("upload.pdf".into()),
            error: None,
            created_at: 0,
            updated_at: 0,
        };
        let store = InMemoryStore::with_job(job);
        store.connect(&conn(), &alice());
        store.subscribe(&job_id(), &conn(), &alice(), u32::MAX).await.expect("subscribe");
        let objects = InMemoryObjects::default();
        if let Some(bytes) = upload {
            objects.insert(&keys::upload(&alice(), &job_id()), bytes);
        }
        let settings =
            Settings { chunk_pages: 10, limits: jobcast_shared::pdf::PdfLimits::default(), push_concurrency: 4 };
        Deps { store, objects, queue: RecordingQueue::default(), pusher: RecordingPusher::default(), settings }
    }

    fn event_for(key: &str) -> S3Event {
        let mut event: S3Event = serde_json::from_str(include_str!("../../../events/s3-upload.json")).expect("fixture");
        event.records[0].s3.object.key = Some(key.to_owned());
        event
    }

    fn fixture() -> S3Event {
        serde_json::from_str(include_str!("../../../events/s3-upload.json")).expect("fixture")
    }

    #[tokio::test]
    async fn an_upload_is_split_once_into_chunks_and_enqueued_in_checkpoint_order() {
        let deps = deps_with_upload(Some(pdf::generate(23, sample_page_text))).await;
        handle(&deps, fixture()).await.expect("planned");

        let sent = deps.queue.sent();
        let firsts: Vec<u32> = sent.iter().map(|m| m.first_page).collect();
        assert_eq!(firsts, [1, 11, 21]);
        for message in &sent {
            assert!(deps.objects.object(&keys::chunk(&job_id(), message.chunk_index)).is_some());
        }
        let manifest: Manifest =
            serde_json::from_slice(&deps.objects.object(&keys::manifest(&job_id())).expect("manifest")).expect("json");
        assert_eq!((manifest.page_count, manifest.chunks.len()), (23, 3));

        let job = deps.store.job(&job_id()).expect("job");
        assert_eq!((job.stage, job.chunks_total, job.chunks_done), (Stage::Processing, 3, 0));
        let steps: Vec<(u8, String, u64)> = deps
            .pusher
            .sent_to(&conn())
            .into_iter()
            .filter_map(|m| match m {
                ServerMessage::JobUpdate(s) => Some((s.progress, s.message, s.seq)),
                _ => None,
            })
            .collect();
        let percents: Vec<u8> = steps.iter().map(|s| s.0).collect();
        assert_eq!(percents, [5, 10, 15]);
        assert_eq!(steps[0].1, "Job started, analyzing PDF");
        assert_eq!(steps[1].1, "Chunks calculated");
        assert!(steps.windows(2).all(|w| w[0].2 < w[1].2), "seq must grow: {steps:?}");
    }

    #[tokio::test]
    async fn a_second_event_for_the_same_upload_plans_nothing_more() {
        let deps = deps_with_upload(Some(pdf::generate(5, sample_page_text))).await;
        handle(&deps, fixture()).await.expect("planned");
        handle(&deps, fixture()).await.expect("ignored");
        assert_eq!(deps.queue.sent().len(), 1);
    }

    #[tokio::test]
    async fn broken_uploads_fail_the_job_with_distinct_readable_reasons() {
        let cases: Vec<(Option<Vec<u8>>, &str)> = vec![
            (Some(b"%PDF-1.4 this is not really a pdf".to_vec()), "not a readable PDF"),
            (Some(ENCRYPTED.to_vec()), "encrypted"),
            (Some(pdf::generate(0, sample_page_text)), "no pages"),
            (Some(Vec::new()), "empty"),
            (None, "missing"),
        ];
        let mut reasons = Vec::new();
        for (upload, expected) in cases {
            let deps = deps_with_upload(upload).await;
            handle(&deps, fixture()).await.expect("handled without an error");
            let job = deps.store.job(&job_id()).expect("job");
            assert_eq!(job.stage, Stage::Failed, "{expected}");
            let reason = job.error.clone().unwrap_or_default();
            assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
            assert!(deps.queue.sent().is_empty());
            let pushed = deps.pusher.sent_to(&conn());
            assert!(pushed.iter().any(|m| matches!(m, ServerMessage::JobCompleted { error: Some(_), .. })));
            reasons.push(reason);
        }
        reasons.dedup();
        assert_eq!(reasons.len(), 5);
    }

    #[tokio::test]
    async fn an_oversized_upload_is_refused_before_it_is_parsed() {
        let mut deps = deps_with_upload(Some(pdf::generate(3, sample_page_text))).await;
        deps.settings.limits.max_bytes = 100;
        handle(&deps, fixture()).await.expect("handled");
        let job = deps.store.job(&job_id()).expect("job");
        assert!(job.error.as_deref().is_some_and(|e| e.contains("limit")), "{:?}", job.error);
    }

    #[tokio::test]
    async fn an_upload_that_matches_no_job_of_that_user_is_ignored() {
        let deps = deps_with_upload(Some(pdf::generate(3, sample_page_text))).await;
        for key in ["uploads/bob/job-alice-1.pdf", "uploads/alice/no-such-job.pdf", "elsewhere/alice/job-alice-1.pdf"] {
            handle(&deps, event_for(key)).await.expect("ignored");
        }
        assert_eq!(deps.store.job(&job_id()).map(|j| j.stage), Some(Stage::Queued));
        assert!(deps.pusher.sent().is_empty());
    }

    #[test]
    fn event_keys_are_form_decoded() {
        let mut record = fixture().records.remove(0);
        for (raw, decoded) in
            [("uploads/a%7Cb/j%2D1.pdf", "uploads/a|b/j-1.pdf"), ("a+b", "a b"), ("bad%zz%", "bad%zz%")]
        {
            record.s3.object.key = Some(raw.to_owned());
            assert_eq!(decode_key(&record), decoded);
        }
    }
}
