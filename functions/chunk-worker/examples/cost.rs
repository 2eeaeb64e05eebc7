//! P6: Management API posts and DynamoDB item writes for one job with one subscriber, counted
//! (not estimated) by running the worker's handler over in-memory fakes, as the chunk count
//! grows. `cargo run -p chunk-worker --example cost -- 10 100 1000 10000` prints JSON lines.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chunk_worker::handler::{Deps, Settings, handle};
use jobcast_shared::fakes::{InMemoryObjects, InMemoryStore, ParkedMessages, RecordingPusher};
use jobcast_shared::ids::{ChunkIndex, ConnectionId, JobId, UserId};
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::pdf::{self, PdfLimits, PdfMetadata, plan_chunks, sample_page_text};
use jobcast_shared::ports::SubscriptionStore as _;
use jobcast_shared::result::Manifest;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), jobcast_shared::BoxError> {
    let counts: Vec<u32> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    // Every chunk shares one tiny PDF: the count, not the extraction, is what is measured.
    let page = pdf::generate(1, sample_page_text);
    for chunks in counts {
        let job_id = JobId::parse("cost-job")?;
        let owner = UserId::parse("alice")?;
        let connection = ConnectionId::parse("watcher=")?;
        let plan = plan_chunks(chunks, 1);
        let store = InMemoryStore::with_job(Job {
            id: job_id.clone(),
            owner: owner.clone(),
            stage: Stage::Processing,
            chunks_done: 0,
            chunks_total: chunks,
            seq: 3,
            file_name: None,
            error: None,
            created_at: 0,
            updated_at: 0,
        });
        store.connect(&connection, &owner);
        store.subscribe(&job_id, &connection, &owner, u32::MAX).await?;
        let objects = InMemoryObjects::default();
        let manifest = Manifest { page_count: chunks, metadata: PdfMetadata::default(), chunks: plan.clone() };
        objects.insert(&keys::manifest(&job_id), serde_json::to_vec(&manifest)?);
        for chunk in &plan {
            objects.insert(&keys::chunk(&job_id, ChunkIndex::parse(u64::from(chunk.index))?), page.clone());
        }
        let settings = Settings {
            push_concurrency: 16,
            limits: PdfLimits::default(),
            max_receive_count: 3,
            result_url_ttl: Duration::from_secs(60),
            merge_part_bytes: 8 << 20,
        };
        let deps = Deps {
            store,
            objects,
            pusher: RecordingPusher::default(),
            unprocessable: ParkedMessages::default(),
            settings,
        };
        // One message per invocation, as the event source mapping delivers them (BatchSize 1).
        for batch in plan.chunks(1) {
            let mut event = SqsEvent::default();
            event.records = batch
                .iter()
                .map(|c| {
                    let mut record = SqsMessage::default();
                    record.message_id = Some(format!("m{}", c.index));
                    record.body = Some(format!(
                        r#"{{"jobId":"cost-job","chunkIndex":{},"firstPage":{}}}"#,
                        c.index, c.first_page
                    ));
                    record
                })
                .collect();
            handle(&deps, event).await?;
        }
        let job = deps.store.job(&job_id).ok_or("job vanished")?;
        let posts = deps.pusher.sent_to(&connection).len();
        let writes = deps.store.item_writes();
        println!(
            "{}",
            serde_json::json!({
                "chunks": chunks,
                "stage": job.stage.as_str(),
                "posts": posts,
                "dynamodb_item_writes": writes,
                "writes_per_chunk": writes as f64 / f64::from(chunks),
            })
        );
    }
    Ok(())
}
