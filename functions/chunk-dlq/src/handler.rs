//! A chunk message reaches the dead-letter queue when every delivery failed, including the
//! ones no catch code ran for: an out-of-memory kill or a timeout. The worker's own
//! last-delivery `fail_job` cannot run then, so its job would show its last progress forever.
//! This consumer ends such a job with a reason the user can read. Each step is a conditional
//! stage move, so it races the worker's own failure path and the sweeper safely.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use jobcast_shared::BoxError;
use jobcast_shared::job::Stage;
use jobcast_shared::ports::{
    ChunkMarks, ConnectionStore, JobReader, JobStages, Pusher, StageChange, StoreError, SubscriptionStore,
    Unprocessable, UserRoom,
};
use jobcast_shared::push::Notifier;
use jobcast_shared::queue::ChunkMessage;

#[derive(Debug)]
pub struct Deps<S, P, U> {
    pub store: S,
    pub pusher: P,
    pub unprocessable: U,
    pub push_concurrency: usize,
}

/// Everything the consumer needs of the tables.
pub trait DlqStore: JobReader + JobStages + ChunkMarks + SubscriptionStore + UserRoom + ConnectionStore {}
impl<T> DlqStore for T where T: JobReader + JobStages + ChunkMarks + SubscriptionStore + UserRoom + ConnectionStore {}

/// What became of one dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its job was still open and is failed now.
    Failed,
    /// Its job had ended already, or its chunk was counted and the rest can still finish it.
    Nothing,
    /// Not a chunk message (a hand-sent one): there is no job to end; it is parked in the
    /// unprocessable queue for an operator rather than coming back here again and again.
    Parked,
}

pub async fn handle<S: DlqStore, P: Pusher, U: Unprocessable>(
    deps: &Deps<S, P, U>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, BoxError> {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        match dead_letter(deps, record).await {
            Ok(outcome) => tracing::info!(message_id = ?record.message_id, ?outcome, "dead letter handled"),
            // The store failed: leave the message for another try rather than lose the job.
            // After the DLQ's own maxReceiveCount it is parked, and the sweeper ends the job.
            Err(err) => {
                tracing::error!(message_id = ?record.message_id, error = ?err, "dead letter not handled; retried");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
    }
    Ok(response)
}

async fn dead_letter<S: DlqStore, P: Pusher, U: Unprocessable>(
    deps: &Deps<S, P, U>,
    record: &SqsMessage,
) -> Result<Outcome, StoreError> {
    let body = record.body.as_deref().unwrap_or_default();
    let Ok(message) = ChunkMessage::parse(body) else {
        tracing::warn!(message_id = ?record.message_id, "dead letter is not a chunk message; parked");
        deps.unprocessable.park(body).await?;
        return Ok(Outcome::Parked);
    };
    let Some(job) = deps.store.get_job(&message.job_id).await? else {
        return Ok(Outcome::Nothing);
    };
    let reason = match job.stage {
        Stage::Processing => {
            if deps.store.chunk_counted(&job.id, message.chunk_index).await? {
                // Counted before its delivery died: the job can still complete without it, and
                // the sweeper ends it if it never does.
                return Ok(Outcome::Nothing);
            }
            format!("processing stopped on chunk {}; please upload again", message.chunk_index)
        }
        Stage::Merging => "merging the results stopped; please upload again".to_owned(),
        _ => return Ok(Outcome::Nothing),
    };
    let change = StageChange { from: &[Stage::Processing, Stage::Merging], ..StageChange::fail(reason) };
    let Some(failed) = deps.store.advance(&job.id, &change).await? else {
        return Ok(Outcome::Nothing);
    };
    tracing::warn!(job_id = %failed.id, error = ?failed.error, "job failed by the dead-letter backstop");
    jobcast_shared::telemetry::job_failed(&failed, "backstop_dlq");
    let notifier = Notifier { store: &deps.store, pusher: &deps.pusher, concurrency: deps.push_concurrency };
    notifier.stored_change(&failed, None).await;
    Ok(Outcome::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::{InMemoryStore, ParkedMessages, RecordingPusher};
    use jobcast_shared::ids::{ChunkIndex, ConnectionId, JobId, UserId};
    use jobcast_shared::job::Job;
    use jobcast_shared::ports::ProgressRecorder as _;
    use jobcast_shared::protocol::ServerMessage;

    fn job(stage: Stage) -> Job {
        Job {
            id: JobId::parse("job-alice-1").expect("id"),
            owner: UserId::parse("alice").expect("id"),
            stage,
            chunks_done: 0,
            chunks_total: 3,
            seq: 4,
            file_name: None,
            error: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    async fn deps(stage: Stage) -> Deps<InMemoryStore, RecordingPusher, ParkedMessages> {
        let store = InMemoryStore::with_job(job(stage));
        let conn = ConnectionId::parse("c1").expect("id");
        store.connect(&conn, &job(stage).owner);
        store.subscribe(&job(stage).id, &conn, &job(stage).owner, u32::MAX).await.expect("subscribe");
        Deps {
            store,
            pusher: RecordingPusher::default(),
            unprocessable: ParkedMessages::default(),
            push_concurrency: 4,
        }
    }

    fn dead_letters(bodies: &[&str]) -> SqsEvent {
        let mut event: SqsEvent =
            serde_json::from_str(include_str!("../../../events/sqs-chunk-batch.json")).expect("fixture");
        let template = event.records.remove(0);
        event.records = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let mut record = template.clone();
                record.message_id = Some(format!("dead-{i}"));
                record.body = Some((*body).to_owned());
                record
            })
            .collect();
        event
    }

    const CHUNK_1: &str = r#"{"jobId":"job-alice-1","chunkIndex":1,"firstPage":3}"#;

    #[tokio::test]
    async fn a_dead_chunk_of_a_processing_job_fails_it_with_a_readable_reason_and_pushes_it() {
        let deps = deps(Stage::Processing).await;
        let response = handle(&deps, dead_letters(&[CHUNK_1])).await.expect("handled");
        assert!(response.batch_item_failures.is_empty());
        let failed = deps.store.job(&job(Stage::Processing).id).expect("job");
        assert_eq!(failed.stage, Stage::Failed);
        assert_eq!(failed.error.as_deref(), Some("processing stopped on chunk 1; please upload again"));
        let pushed = deps.pusher.sent_to(&ConnectionId::parse("c1").expect("id"));
        assert!(pushed.iter().any(|m| matches!(m, ServerMessage::JobCompleted { job, .. }
            if job.message == "Failed: processing stopped on chunk 1; please upload again")));
    }

    #[tokio::test]
    async fn a_dead_letter_during_the_merge_fails_the_job_as_a_merge() {
        let deps = deps(Stage::Merging).await;
        handle(&deps, dead_letters(&[CHUNK_1])).await.expect("handled");
        let failed = deps.store.job(&job(Stage::Merging).id).expect("job");
        assert_eq!(failed.error.as_deref(), Some("merging the results stopped; please upload again"));
    }

    #[tokio::test]
    async fn finished_jobs_and_counted_chunks_change_nothing_and_foreign_messages_are_parked() {
        for stage in [Stage::Completed, Stage::Failed] {
            let deps = deps(stage).await;
            handle(&deps, dead_letters(&[CHUNK_1])).await.expect("handled");
            assert_eq!(deps.store.job(&job(stage).id).map(|j| (j.stage, j.seq)), Some((stage, 4)));
            assert!(deps.pusher.sent().is_empty());
        }
        let deps = deps(Stage::Processing).await;
        deps.store.record_chunk(&job(Stage::Processing).id, ChunkIndex::parse(1).expect("index")).await.expect("count");
        let response =
            handle(&deps, dead_letters(&[CHUNK_1, "not json", r#"{"jobId":"nobody","chunkIndex":0,"firstPage":1}"#]))
                .await
                .expect("handled");
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        assert_eq!(deps.unprocessable.parked(), ["not json"], "the message that is not a chunk is parked");
        assert_eq!(deps.store.job(&job(Stage::Processing).id).map(|j| j.stage), Some(Stage::Processing));
    }
}
