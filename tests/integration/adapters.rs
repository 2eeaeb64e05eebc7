//! The AWS adapters exercised for real against the deployed tables and Management API.

use aws_sdk_dynamodb::types::AttributeValue;
use jobcast_shared::clock;
use jobcast_shared::ids::{ChunkIndex, ConnectionId, JobId};
use jobcast_shared::job::Stage;
use jobcast_shared::ports::{
    ChunkRecord, ConnectionStore as _, JobReader as _, JobWriter as _, ProgressRecorder as _, PushError, Pusher as _,
    Subscribed, SubscriptionStore as _,
};
use jobcast_shared::protocol::ServerMessage;

use crate::helpers::{Stack, connection_row, user};

fn chunk(i: u64) -> ChunkIndex {
    ChunkIndex::parse(i).expect("index")
}

#[tokio::test]
async fn the_dynamo_recorder_counts_each_chunk_once_and_only_while_processing() {
    let stack = Stack::from_env().await;
    let store = stack.store();
    let job = stack.seed_job(&user("alice"), 2).await;

    assert_eq!(store.record_chunk(&job.id, chunk(0)).await.expect("record"), ChunkRecord::Recorded);
    assert_eq!(store.record_chunk(&job.id, chunk(0)).await.expect("record"), ChunkRecord::Duplicate);
    assert_eq!(store.record_chunk(&job.id, chunk(1)).await.expect("record"), ChunkRecord::Recorded);
    // All chunks counted: a third, unplanned chunk is refused rather than overflowing the count.
    assert_eq!(store.record_chunk(&job.id, chunk(2)).await.expect("record"), ChunkRecord::NotAccepting);
    assert_eq!(store.record_chunk(&JobId::generate(), chunk(0)).await.expect("record"), ChunkRecord::NotAccepting);

    let stored = store.get_job(&job.id).await.expect("read").expect("job");
    assert_eq!((stored.chunks_done, stored.seq), (2, job.seq + 2));
    assert!(!store.create_job(&stored).await.expect("write"), "a job id can be taken only once");
}

#[tokio::test]
async fn merge_begins_for_exactly_one_of_many_concurrent_callers() {
    let stack = Stack::from_env().await;
    let store = stack.store();
    let job = stack.seed_job(&user("alice"), 1).await;
    assert!(store.begin_merge(&job.id).await.expect("merge").is_none(), "merge before the chunks are done");
    store.record_chunk(&job.id, chunk(0)).await.expect("record");

    let attempts = (0..8).map(|_| store.begin_merge(&job.id));
    let winners: Vec<_> =
        futures::future::join_all(attempts).await.into_iter().filter_map(|r| r.expect("merge call")).collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(winners[0].stage, Stage::Merging);
    assert_eq!(winners[0].seq, job.seq + 2);
}

#[tokio::test]
async fn a_push_percent_is_claimed_once_and_only_upwards() {
    let stack = Stack::from_env().await;
    let store = stack.store();
    let job = stack.seed_job(&user("alice"), 10).await;
    // A new processing job shows 15 %, which counts as pushed.
    assert!(!store.claim_push(&job.id, 15).await.expect("claim"));
    let claims = futures::future::join_all((0..6).map(|_| store.claim_push(&job.id, 21))).await;
    assert_eq!(claims.into_iter().filter(|c| *c.as_ref().expect("claim")).count(), 1);
    assert!(!store.claim_push(&job.id, 20).await.expect("claim"), "a lower percent after a higher one");
    assert!(!store.claim_push(&JobId::generate(), 50).await.expect("claim"), "a missing job");
}

#[tokio::test]
async fn expired_subscriptions_are_not_pushed_to() {
    let stack = Stack::from_env().await;
    let store = stack.store();
    let alice = user("alice");
    let job = stack.seed_job(&alice, 2).await;
    let live = ConnectionId::parse("liveAAAAAAAAAA=").expect("id");
    store.put_connection(&connection_row(&live, &alice, clock::epoch_seconds() + 3600)).await.expect("connect");
    assert_eq!(store.subscribe(&job.id, &live, &alice, u32::MAX).await.expect("subscribe"), Subscribed::Yes);
    // TTL deletion lags: an expired row can still be read, and must be filtered out.
    stack
        .ddb()
        .put_item()
        .table_name(&stack.tables.subscriptions)
        .item("jobId", AttributeValue::S(job.id.to_string()))
        .item("connectionId", AttributeValue::S("staleAAAAAAAAA=".into()))
        .item("userId", AttributeValue::S(alice.to_string()))
        .item("expiresAt", AttributeValue::N("1000".into()))
        .send()
        .await
        .expect("write");
    assert_eq!(store.subscribers(&job.id).await.expect("read").live, vec![live]);
}

#[tokio::test]
async fn the_management_api_pusher_delivers_to_a_live_socket_and_reports_gone_otherwise() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let mut client = stack.connect(&alice).await;
    let connection = stack.connections_of(&alice).await.pop().expect("connection row");
    let pusher = stack.pusher();

    pusher.push(&connection, &ServerMessage::Pong.to_json()).await.expect("push");
    assert_eq!(client.next_message().await.expect("delivered"), ServerMessage::Pong);

    let unknown = ConnectionId::parse("neverConnected0=").expect("id");
    assert!(matches!(pusher.push(&unknown, b"{}").await, Err(PushError::Gone)));
}
