//! Backstop 2 of 3 on the local stack: a chunk message that reached the DLQ (its deliveries
//! died without running any catch code: an out-of-memory kill, a timeout) ends its job.

use jobcast_shared::job::{JobStatus, Stage};
use jobcast_shared::ports::JobReader as _;
use jobcast_shared::protocol::ServerMessage;
use serde_json::json;

use crate::helpers::{PATIENCE, Stack, user};
use crate::pipeline::watch_within;

#[tokio::test]
async fn a_dead_chunk_of_an_open_job_fails_it_with_a_readable_reason_and_pushes_it() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 3).await;
    let mut client = stack.connect(&alice).await;
    client.subscribe(&job.id).await;

    stack.send_dead_letter(&json!({"jobId": job.id, "chunkIndex": 1, "firstPage": 2}).to_string()).await;
    let (_, done) = watch_within(&mut client, &job.id, PATIENCE).await;
    let ServerMessage::JobCompleted { status: JobStatus::Failed, job: snapshot, .. } = done else {
        panic!("the job did not fail: {done:?}");
    };
    assert_eq!(snapshot.message, "Failed: processing stopped on chunk 1; please upload again");
    let stored = stack.store().get_job(&job.id).await.expect("read").expect("job");
    assert_eq!(stored.stage, Stage::Failed);
}

#[tokio::test]
async fn a_dead_letter_that_is_not_a_chunk_message_is_parked_not_lost() {
    let stack = Stack::from_env().await;
    let marker = format!("dead but not a chunk {}", uuid::Uuid::new_v4());
    stack.send_dead_letter(&marker).await;
    stack.await_parked(&marker).await;
}
