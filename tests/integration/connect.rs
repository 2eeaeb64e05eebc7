//! `$connect` with the JWT authorizer, and `$disconnect` cleanup.

use jobcast_shared::auth::mint_hs256;
use jobcast_shared::clock;
use jobcast_shared::ports::SubscriptionStore as _;
use jobcast_shared::protocol::ServerMessage;

use crate::helpers::{Stack, user};

#[tokio::test]
async fn a_valid_token_connects_and_bad_tokens_are_refused() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    stack.connect(&alice).await.close().await;

    let expired =
        mint_hs256(stack.jwt_secret.as_bytes(), &alice, clock::epoch_seconds() - 7200, 60, None, None).expect("mint");
    let foreign =
        mint_hs256(b"not-the-stack-secret-not-the-stack-secret", &alice, clock::epoch_seconds(), 600, None, None)
            .expect("mint");
    for (label, token) in
        [("empty", ""), ("garbage", "garbage"), ("expired", expired.as_str()), ("wrong key", foreign.as_str())]
    {
        let refused = stack.connect_with_token(token).await;
        let Err(err) = refused else { panic!("{label} token was allowed to connect") };
        let text = err.to_string();
        assert!(text.contains("401") || text.contains("403"), "{label}: unexpected refusal {text}");
    }
    assert!(stack.connections_of(&alice).await.len() <= 1, "a refused handshake left a connection row");
}

#[tokio::test]
async fn a_connection_is_recorded_for_its_user_and_disconnect_removes_its_rows() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 4).await;
    let mut client = stack.connect(&alice).await;
    assert!(matches!(client.subscribe(&job.id).await, ServerMessage::Subscribed { .. }));
    let connections = stack.connections_of(&alice).await;
    assert_eq!(connections.len(), 1);
    assert_eq!(stack.store().subscribers(&job.id).await.expect("read").live, connections);

    client.close().await;
    let store = stack.store();
    stack
        .eventually("the connection and its subscription are gone", || {
            let (stack, store, alice, job) = (&stack, &store, &alice, &job);
            async move {
                stack.connections_of(alice).await.is_empty()
                    && store.subscribers(&job.id).await.expect("read") == Default::default()
            }
        })
        .await;
}
