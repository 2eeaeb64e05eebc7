//! SQS chunk messages → idempotent progress in DynamoDB → `job_update` on the socket.

use aws_sdk_dynamodb::types::AttributeValue;
use jobcast_shared::clock;
use jobcast_shared::config::CONNECTION_TTL;
use jobcast_shared::ids::ConnectionId;
use jobcast_shared::job::{JobStatus, Stage};
use jobcast_shared::ports::{Connection, ConnectionStore as _, JobReader as _, SubscriptionStore as _};
use jobcast_shared::protocol::{JobSnapshot, ServerMessage};
use serde_json::json;

use crate::helpers::{Client, Stack, user};

async fn next_update(client: &mut Client) -> JobSnapshot {
    match client.next_message().await.expect("a job_update") {
        ServerMessage::JobUpdate(snapshot) => snapshot,
        other => panic!("expected job_update, got {other:?}"),
    }
}

#[tokio::test]
async fn a_chunk_message_pushes_job_update_with_the_right_progress_and_seq() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 4).await;
    let mut client = stack.connect(&alice).await;
    client.subscribe(&job.id).await;

    stack.send_chunks(&job.id, &[2]).await;
    let update = next_update(&mut client).await;
    assert_eq!(update.job_id, job.id);
    assert_eq!((update.progress, update.message.as_str()), (30, "Processed 1/4 chunks"));
    assert_eq!((update.chunks_done, update.chunks_total, update.seq), (1, 4, job.seq + 1));
    assert_eq!(update.stage, Stage::Processing);
}

#[tokio::test]
async fn the_same_message_delivered_twice_leaves_progress_unchanged() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 4).await;
    let mut client = stack.connect(&alice).await;
    client.subscribe(&job.id).await;

    stack.send_chunks(&job.id, &[1]).await;
    let first = next_update(&mut client).await;
    stack.send_chunks(&job.id, &[1, 1]).await;
    stack.drain_chunk_queue().await;

    let stored = stack.store().get_job(&job.id).await.expect("read").expect("job");
    assert_eq!((stored.chunks_done, stored.seq), (1, first.seq));
    client.send(json!({"action": "ping"})).await;
    assert_eq!(client.next_message().await.expect("pong"), ServerMessage::Pong, "a duplicate was pushed");
}

#[tokio::test]
async fn concurrent_and_duplicated_chunks_count_exactly_and_merge_runs_once() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let total = 12;
    let job = stack.seed_job(&alice, total).await;
    let mut client = stack.connect(&alice).await;
    client.subscribe(&job.id).await;

    // Every chunk twice, in batches, so several invocations run at once.
    let indexes: Vec<u32> = (0..total).chain(0..total).collect();
    stack.send_chunks(&job.id, &indexes).await;

    let mut updates = Vec::new();
    let completed = loop {
        match client.next_message().await.expect("a push") {
            ServerMessage::JobUpdate(update) => updates.push(update),
            completed @ ServerMessage::JobCompleted { .. } => break completed,
            other => panic!("unexpected {other:?}"),
        }
    };
    stack.drain_chunk_queue().await;

    let stored = stack.store().get_job(&job.id).await.expect("read").expect("job");
    assert_eq!((stored.stage, stored.chunks_done), (Stage::Completed, total));
    assert!(matches!(completed, ServerMessage::JobCompleted { seq, result_url: Some(_), .. } if seq == stored.seq));
    let merging = updates.iter().filter(|u| u.stage == Stage::Merging).count();
    assert_eq!(merging, 1, "merge started more than once");
    // Pushes may race each other, but the client-side seq rule must be able to order them:
    // never two different states with the same seq.
    let mut seqs: Vec<u64> = updates.iter().map(|u| u.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), updates.len(), "two pushes shared a seq: {updates:?}");
    assert!(updates.len() <= 13, "more pushes than whole-percent steps: {}", updates.len());
    // The owner's room hears about the finished job, once.
    assert_eq!(
        client.next_message().await.expect("list update"),
        ServerMessage::JobListUpdate { job_id: job.id.clone(), status: JobStatus::Completed }
    );
    client.send(json!({"action": "ping"})).await;
    assert_eq!(client.next_message().await.expect("pong"), ServerMessage::Pong, "a second job_completed arrived");
}

#[tokio::test]
async fn a_push_to_a_closed_connection_deletes_that_connections_rows() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 4).await;
    let store = stack.store();

    // A connection whose $disconnect never arrived: its rows exist, the socket does not.
    let ghost = ConnectionId::parse("ghostAAAAAAAAA=").expect("id");
    store
        .put_connection(&Connection {
            id: ghost.clone(),
            user: alice.clone(),
            connected_at: clock::epoch_millis(),
            expires_at: clock::expires_in(CONNECTION_TTL),
            token_expires_at: clock::epoch_seconds() + 3600,
        })
        .await
        .expect("write connection");
    store.subscribe(&job.id, &ghost, &alice, u32::MAX).await.expect("write subscription");
    let mut live = stack.connect(&alice).await;
    live.subscribe(&job.id).await;

    stack.send_chunks(&job.id, &[0]).await;
    next_update(&mut live).await;
    stack
        .eventually("the ghost's rows are deleted", || {
            let (store, job, ghost) = (&store, &job, &ghost);
            async move { !store.subscribers(&job.id).await.expect("read").live.contains(ghost) }
        })
        .await;
    let row = stack
        .ddb()
        .get_item()
        .table_name(&stack.tables.connections)
        .key("connectionId", AttributeValue::S(ghost.to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("read");
    assert!(row.item().is_none(), "the gone connection's row survived");
    assert_eq!(stack.connections_of(&alice).await.len(), 1, "the live connection must stay");
}

#[tokio::test]
async fn a_malformed_chunk_message_is_parked_at_once_for_an_operator() {
    let stack = Stack::from_env().await;
    let marker = format!("not a chunk message {}", uuid::Uuid::new_v4());
    stack.send_raw(&marker).await;
    // Within PATIENCE, far less than one visibility timeout: it was never retried.
    stack.await_parked(&marker).await;
}
