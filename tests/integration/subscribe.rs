//! `subscribe_job`, `unsubscribe_job`, `ping` and `$default`, with room isolation.

use jobcast_shared::ids::JobId;
use jobcast_shared::protocol::{ErrorCode, ServerMessage};
use serde_json::json;

use crate::helpers::{Stack, user};

#[tokio::test]
async fn subscribing_to_an_own_job_returns_its_snapshot() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 4).await;
    let mut client = stack.connect(&alice).await;
    let reply = client.subscribe(&job.id).await;
    let ServerMessage::Subscribed { job_id, job: snapshot } = reply else {
        panic!("expected subscribed, got {reply:?}");
    };
    assert_eq!(job_id, job.id);
    assert_eq!(snapshot.seq, job.seq);
    assert_eq!((snapshot.progress, snapshot.message.as_str()), (15, "Processing chunks"));
    assert_eq!((snapshot.chunks_done, snapshot.chunks_total), (0, 4));
}

#[tokio::test]
async fn another_users_job_and_a_missing_job_both_answer_not_found() {
    let stack = Stack::from_env().await;
    let (alice, mallory) = (user("alice"), user("mallory"));
    let job = stack.seed_job(&alice, 4).await;
    let mut client = stack.connect(&mallory).await;

    let foreign = client.subscribe(&job.id).await;
    let missing = client.subscribe(&JobId::generate()).await;
    for reply in [&foreign, &missing] {
        assert!(
            matches!(reply, ServerMessage::Error { code: ErrorCode::NotFound, message, .. } if message == "no such job"),
            "{reply:?}"
        );
    }
    // Mallory's socket must not receive Alice's progress. Alice's own socket is the witness:
    // once it has the update, the fan-out that would have leaked has happened.
    let mut witness = stack.connect(&alice).await;
    witness.subscribe(&job.id).await;
    stack.send_chunks(&job.id, &[0]).await;
    assert!(matches!(witness.next_message().await.expect("the update"), ServerMessage::JobUpdate(_)));
    client.send(json!({"action": "ping"})).await;
    assert_eq!(client.next_message().await.expect("pong"), ServerMessage::Pong, "a foreign update leaked");
}

#[tokio::test]
async fn bad_frames_get_error_events_and_the_socket_stays_usable() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let mut client = stack.connect(&alice).await;
    let cases = [
        ("{not json", ErrorCode::MalformedMessage),
        (r#"{"action":"drop_tables"}"#, ErrorCode::UnknownAction),
        (r#"{"action":"subscribe_job"}"#, ErrorCode::InvalidMessage),
        (r#"{"action":"subscribe_job","jobId":"../etc/passwd"}"#, ErrorCode::InvalidMessage),
    ];
    for (frame, expected) in cases {
        client.send_text(frame).await;
        let reply = client.next_message().await.expect("an error event");
        assert!(matches!(reply, ServerMessage::Error { code, .. } if code == expected), "{frame}: {reply:?}");
    }
    client.send(json!({"action": "ping"})).await;
    assert_eq!(client.next_message().await.expect("pong"), ServerMessage::Pong);
}

#[tokio::test]
async fn unsubscribing_stops_the_updates() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 4).await;
    let mut client = stack.connect(&alice).await;
    client.subscribe(&job.id).await;
    client.send(json!({"action": "unsubscribe_job", "jobId": job.id})).await;
    assert_eq!(client.next_message().await.expect("reply"), ServerMessage::Unsubscribed { job_id: job.id.clone() });

    let mut witness = stack.connect(&alice).await;
    witness.subscribe(&job.id).await;
    stack.send_chunks(&job.id, &[0]).await;
    assert!(matches!(witness.next_message().await.expect("the update"), ServerMessage::JobUpdate(_)));
    client.send(json!({"action": "ping"})).await;
    assert_eq!(client.next_message().await.expect("pong"), ServerMessage::Pong, "an update arrived after unsubscribe");
}
