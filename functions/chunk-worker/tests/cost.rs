//! The per-job operation counts `docs/COST.md` prices, pinned. One 20-page job runs through the
//! worker's own handler over the in-memory fakes, at the template's chunk size and batch size,
//! with 1, 10 and 1,000 watching connections; every billable call the fakes see is asserted
//! exactly. A change that adds or drops a call fails here: update `docs/COST.md` with the test.
//!
//! The template values the page prices with (memory sizes, arm64, `BatchSize`, `ChunkPages`)
//! are pinned too, read from `template.yaml` itself.
//!
//! The other functions (http-api, the planner, the WebSocket routes) are counted from their code
//! in `docs/COST.md`; this test covers the worker, where the per-chunk and per-watcher work is.
//! It is an integration test of the worker's library, like `examples/cost.rs`: it calls the
//! public `handle` exactly as `main.rs` does, so it pins what ships and not a test-only path.

use std::collections::BTreeMap;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chunk_worker::handler::{Deps, Settings, handle};
use jobcast_shared::config::Env;
use jobcast_shared::fakes::{InMemoryObjects, InMemoryStore, ObjectCalls, ParkedMessages, RecordingPusher};
use jobcast_shared::ids::{ChunkIndex, ConnectionId, JobId, UserId};
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::pdf::{self, PdfMetadata, plan_chunks, sample_page_text};
use jobcast_shared::ports::SubscriptionStore as _;
use jobcast_shared::protocol::ServerMessage;
use jobcast_shared::result::Manifest;

const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The job `docs/COST.md` prices.
const PAGES: u32 = 20;

/// The lines under `header` (an exact line of the template) that are indented deeper than it.
fn section(header: &str) -> String {
    let indent = header.len() - header.trim_start().len();
    let mut lines = TEMPLATE.lines().skip_while(|line| *line != header);
    assert!(lines.next().is_some(), "template.yaml has no line {header:?}");
    lines
        .take_while(|line| line.trim().is_empty() || line.len() - line.trim_start().len() > indent)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of the first `key: value` line in `section`.
fn setting(section: &str, key: &str) -> String {
    let prefix = format!("{key}:");
    section
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key} in {section}"))
}

fn number(section: &str, key: &str) -> usize {
    let value = setting(section, key);
    value.parse().unwrap_or_else(|e| panic!("{key}: {value:?} is not a number: {e}"))
}

/// `ChunkPages`'s default: the production chunk size.
fn chunk_pages() -> u32 {
    let pages = number(&section("  ChunkPages:"), "Default");
    u32::try_from(pages).expect("a small number")
}

/// The chunk queue's `BatchSize`: chunk messages per worker invocation.
fn batch_size() -> usize {
    number(&section("  ChunkWorkerFunction:"), "BatchSize")
}

#[test]
fn the_template_still_has_the_sizes_cost_md_prices() {
    // Memory sets the GB-seconds, the architecture the price per GB-second.
    let globals = section("Globals:");
    assert!(setting(&globals, "Architectures").contains("[arm64]"), "arm64 on AWS");
    assert_eq!(number(&globals, "MemorySize"), 256, "http-api, ws-* functions");
    assert_eq!(number(&section("  JobPlannerFunction:"), "MemorySize"), 1024);
    assert_eq!(number(&section("  ChunkWorkerFunction:"), "MemorySize"), 512);
    assert_eq!(batch_size(), 1);
    assert_eq!(chunk_pages(), 10);
}

/// Every billable call the worker made, as the fakes counted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WorkerCost {
    invocations: usize,
    dynamodb_get_item: usize,
    dynamodb_query: usize,
    /// Items written, a transaction's items each counted.
    dynamodb_item_writes: usize,
    s3: ObjectCalls,
    /// Management API `POST @connections`, all connections together.
    posts: usize,
    /// `SendMessage` to the unprocessable queue.
    parked: usize,
}

type TestDeps = Deps<InMemoryStore, InMemoryObjects, RecordingPusher, ParkedMessages>;

/// A 20-page job in processing, as the planner leaves it (manifest and chunk PDFs written),
/// watched by connections of its owner, each subscribed to it.
struct Scenario {
    deps: TestDeps,
    job_id: JobId,
    /// One chunk message per chunk, first delivery.
    records: Vec<SqsMessage>,
    invocations: usize,
    /// The store's counts after set-up: the subscriptions are ws-subscribe's work, priced in
    /// `docs/COST.md` from its code.
    baseline: (usize, usize, usize),
}

impl Scenario {
    async fn new(watchers: usize) -> Self {
        let job_id = JobId::parse("0f6c2d1e9a8b4c7d8e9f0a1b2c3d4e5f").expect("id");
        let owner = UserId::parse("alice").expect("id");
        let plan = plan_chunks(PAGES, chunk_pages());
        let store = InMemoryStore::with_job(Job {
            id: job_id.clone(),
            owner: owner.clone(),
            stage: Stage::Processing,
            chunks_done: 0,
            chunks_total: u32::try_from(plan.len()).expect("small"),
            seq: 4,
            file_name: Some("report.pdf".into()),
            error: None,
            created_at: 0,
            updated_at: 0,
        });
        for i in 0..watchers {
            let connection = ConnectionId::parse(format!("watcher{i:04}AAAAA=")).expect("id");
            store.connect(&connection, &owner);
            store.subscribe(&job_id, &connection, &owner, u32::MAX).await.expect("subscribe");
        }
        let baseline = (store.get_item_calls(), store.query_calls(), store.item_writes());

        let objects = InMemoryObjects::default();
        let manifest = Manifest { page_count: PAGES, metadata: PdfMetadata::default(), chunks: plan.clone() };
        objects.insert(&keys::manifest(&job_id), serde_json::to_vec(&manifest).expect("json"));
        for chunk in &plan {
            let bytes =
                pdf::generate(chunk.last_page - chunk.first_page + 1, |n| sample_page_text(chunk.first_page + n - 1));
            objects.insert(&keys::chunk(&job_id, ChunkIndex::parse(u64::from(chunk.index)).expect("index")), bytes);
        }
        // Production settings: what Settings::from_env defaults to (16 posts in flight, 8 MiB parts).
        let env = Env::from_pairs([("WS_MANAGEMENT_ENDPOINT", "https://abc.execute-api.us-east-1.amazonaws.com/prod")]);
        let settings = Settings::from_env(&env).expect("settings");
        let deps = Deps {
            store,
            objects,
            pusher: RecordingPusher::default(),
            unprocessable: ParkedMessages::default(),
            settings,
        };

        let fixture: SqsEvent =
            serde_json::from_str(include_str!("../../../events/sqs-chunk-batch.json")).expect("fixture parses");
        let records = plan
            .iter()
            .map(|chunk| {
                let mut record = fixture.records[0].clone();
                record.message_id = Some(format!("chunk-{}", chunk.index));
                record.body = Some(format!(
                    r#"{{"jobId":"{job_id}","chunkIndex":{},"firstPage":{}}}"#,
                    chunk.index, chunk.first_page
                ));
                record
            })
            .collect();
        Scenario { deps, job_id, records, invocations: 0, baseline }
    }

    /// Delivers `records` as the event source mapping does: `BatchSize` to an invocation.
    async fn deliver(&mut self, records: &[SqsMessage]) {
        for batch in records.chunks(batch_size()) {
            let mut event = SqsEvent::default();
            event.records = batch.to_vec();
            let response = handle(&self.deps, event).await.expect("handled");
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
            self.invocations += 1;
        }
    }

    async fn deliver_all(&mut self) {
        let records = self.records.clone();
        self.deliver(&records).await;
    }

    fn stage(&self) -> Option<Stage> {
        self.deps.store.job(&self.job_id).map(|job| job.stage)
    }

    fn cost(&self) -> WorkerCost {
        let store = &self.deps.store;
        WorkerCost {
            invocations: self.invocations,
            dynamodb_get_item: store.get_item_calls() - self.baseline.0,
            dynamodb_query: store.query_calls() - self.baseline.1,
            dynamodb_item_writes: store.item_writes() - self.baseline.2,
            s3: self.deps.objects.calls(),
            posts: self.deps.pusher.sent().len(),
            parked: self.deps.unprocessable.parked().len(),
        }
    }

    /// What each connection received, in order.
    fn received(&self) -> BTreeMap<ConnectionId, Vec<String>> {
        let mut received: BTreeMap<ConnectionId, Vec<String>> = BTreeMap::new();
        for (connection, message) in self.deps.pusher.sent() {
            let shape = match message {
                ServerMessage::JobUpdate(snapshot) => format!("job_update {}", snapshot.progress),
                ServerMessage::JobCompleted { .. } => "job_completed".to_owned(),
                ServerMessage::JobListUpdate { .. } => "job_list_update".to_owned(),
                other => format!("unexpected {other:?}"),
            };
            received.entry(connection).or_default().push(shape);
        }
        received
    }
}

/// What `docs/COST.md`'s worker rows say, for `watchers` connections.
fn expected(watchers: usize) -> WorkerCost {
    WorkerCost {
        // 2 chunks of 10 pages, one message per invocation.
        invocations: 2,
        // Each chunk reads the job before and after counting itself.
        dynamodb_get_item: 4,
        // The subscribers once per push (45 %, 75 %, completed) and the owner's connections
        // once (job_list_update): per push, never per watcher.
        dynamodb_query: 4,
        // Per chunk the mark and the counter (one transaction, 2 items); chunk 0 claims the
        // 45 % push; chunk 1 moves the job to merging, then to completed, and gives the owner's
        // in-flight slot back (limits table).
        dynamodb_item_writes: 8,
        s3: ObjectCalls {
            // Each chunk's PDF; then the merge reads the manifest and both chunk results.
            gets: 5,
            // Each chunk's result; result.txt and result.json, each under one 8 MiB part.
            puts: 4,
            ..ObjectCalls::default()
        },
        // Each watcher: job_update 45 %, job_update 75 %, job_completed, job_list_update.
        posts: 4 * watchers,
        parked: 0,
    }
}

#[tokio::test]
async fn a_20_page_job_costs_the_worker_what_cost_md_says_for_1_10_and_1000_watchers() {
    assert_eq!(plan_chunks(PAGES, chunk_pages()).len(), 2, "20 pages in chunks of 10");
    for watchers in [1, 10, 1000] {
        let mut job = Scenario::new(watchers).await;
        job.deliver_all().await;
        assert_eq!(job.stage(), Some(Stage::Completed));
        assert_eq!(job.cost(), expected(watchers), "{watchers} watchers");
        let received = job.received();
        assert_eq!(received.len(), watchers, "every watcher hears");
        for shape in received.values() {
            assert_eq!(shape, &["job_update 45", "job_update 75", "job_completed", "job_list_update"]);
        }
    }
}

#[tokio::test]
async fn a_redelivered_chunk_costs_an_invocation_its_extraction_and_two_reads_but_no_write_or_post() {
    // SQS delivers at least once; COST.md prices none, and says what each one adds.
    let mut job = Scenario::new(1).await;
    let first = job.records[0].clone();
    job.deliver(std::slice::from_ref(&first)).await;
    let before = job.cost();
    let mut again = first;
    again.attributes.insert("ApproximateReceiveCount".into(), "2".into());
    job.deliver(std::slice::from_ref(&again)).await;
    let after = job.cost();
    let s3 = ObjectCalls { gets: before.s3.gets + 1, puts: before.s3.puts + 1, ..before.s3 };
    assert_eq!(
        after,
        WorkerCost {
            invocations: before.invocations + 1,
            dynamodb_get_item: before.dynamodb_get_item + 2,
            s3,
            ..before
        },
        "the fake bills the refused transaction nothing; DynamoDB bills its attempt"
    );

    // Once the job has ended, a late copy costs one read.
    job.deliver_all().await;
    assert_eq!(job.stage(), Some(Stage::Completed));
    let done = job.cost();
    let late = job.records[1].clone();
    job.deliver(std::slice::from_ref(&late)).await;
    assert_eq!(
        job.cost(),
        WorkerCost { invocations: done.invocations + 1, dynamodb_get_item: done.dynamodb_get_item + 1, ..done }
    );
}
