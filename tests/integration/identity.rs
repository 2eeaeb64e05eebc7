//! Identity on the deployed stack: the HS256 secret comes from Secrets Manager, an identity
//! provider's keys from its JWKS (found through discovery, rotated without a redeploy), and a
//! socket dies with its token.

use std::time::Duration;

use jobcast_shared::auth::dev_jwks;
use jobcast_shared::clock;
use jobcast_shared::ids::UserId;
use jobcast_shared::ports::JobReader as _;
use jobcast_shared::protocol::{ErrorCode, ServerMessage};

use crate::helpers::{Stack, user};

const KEY_A: &[u8] = include_bytes!("../../shared/testdata/rsa-private.pem");
const KEY_B: &[u8] = include_bytes!("../../shared/testdata/rsa2-private.pem");

/// Serialises the tests that rewrite the dev identity provider's JWKS.
static JWKS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn publish(stack: &Stack, keys: &[(&str, &[u8])]) {
    let document = dev_jwks(keys).expect("a JWKS");
    let path = stack.idp_dir.join("jwks.json");
    // Written whole and renamed, so the server never serves half a document.
    let partial = stack.idp_dir.join("jwks.json.partial");
    std::fs::write(&partial, document.to_string()).expect("writing the JWKS");
    std::fs::rename(&partial, &path).expect("publishing the JWKS");
}

async fn connects(stack: &Stack, token: &str) -> bool {
    stack.handshake_refusal(token).await.is_none()
}

/// The authorizer's Deny: API Gateway answers it 403 (a 429 would be the connection limit).
const DENIED: Option<u16> = Some(403);

/// The stack's JWKS cache lives 3 s and refreshes at most once a second (infra/test).
const KEY_PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_rotated_identity_provider_key_takes_over_without_a_redeploy() {
    let _jwks = JWKS.lock().await;
    let stack = Stack::from_env().await;
    let alice = user("idp");
    publish(&stack, &[("rot-a", KEY_A)]);
    let token_a = stack.idp_token(KEY_A, "rot-a", &alice);
    stack.eventually_within(KEY_PATIENCE, "an RS256 token of key A connects", || connects(&stack, &token_a)).await;

    // Rotation: B replaces A at the provider. A new kid makes the authorizer fetch at once.
    publish(&stack, &[("rot-b", KEY_B)]);
    let token_b = stack.idp_token(KEY_B, "rot-b", &alice);
    stack.eventually_within(KEY_PATIENCE, "a token of the new key connects", || connects(&stack, &token_b)).await;
    let fresh_a = stack.idp_token(KEY_A, "rot-a", &alice);
    stack
        .eventually_within(KEY_PATIENCE, "a token of the retired key is refused", || async {
            stack.handshake_refusal(&fresh_a).await == DENIED
        })
        .await;
    // A token signed with the retired key but naming the new key's kid fails on its signature.
    let forged = stack.idp_token(KEY_A, "rot-b", &alice);
    assert_eq!(stack.handshake_refusal(&forged).await, DENIED);
    assert!(connects(&stack, &token_b).await, "the new key keeps working");
}

#[tokio::test]
async fn an_identity_provider_token_for_another_application_is_refused() {
    let _jwks = JWKS.lock().await;
    let stack = Stack::from_env().await;
    let alice = user("idp");
    publish(&stack, &[("aud-k", KEY_A)]);
    let good = stack.idp_token(KEY_A, "aud-k", &alice);
    stack.eventually_within(KEY_PATIENCE, "the provider's token connects", || connects(&stack, &good)).await;

    for (iss, aud) in
        [(stack.jwt_issuer.as_str(), "another-app"), ("https://evil.example", stack.jwt_audience.as_str())]
    {
        let claims = jobcast_shared::auth::DevToken {
            user: &alice,
            now: clock::epoch_seconds(),
            ttl_seconds: 600,
            issuer: Some(iss),
            audience: Some(aud),
        };
        let token = jobcast_shared::auth::mint_rs256(KEY_A, "aud-k", claims).expect("mint");
        assert_eq!(stack.handshake_refusal(&token).await, DENIED, "iss {iss}, aud {aud}");
    }
    // The same rules hold on the HTTP API, which verifies with the same code.
    let response = reqwest::Client::new()
        .get(format!("{}/jobs", stack.http_url))
        .bearer_auth(&good)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::OK, "an identity provider's token works over HTTP too");
}

#[tokio::test]
async fn the_hs256_secret_is_read_from_secrets_manager_and_is_in_no_function_environment() {
    let stack = Stack::from_env().await;
    let listing: serde_json::Value = reqwest::get(format!("{}/2015-03-31/functions/", stack.endpoint()))
        .await
        .expect("listing functions")
        .json()
        .await
        .expect("JSON");
    let functions = listing["Functions"].as_array().expect("functions");
    let authorizer = functions
        .iter()
        .find(|f| f["FunctionName"].as_str().is_some_and(|n| n.contains("WsAuthorizer")))
        .expect("the authorizer is deployed");
    let variables = &authorizer["Environment"]["Variables"];
    assert!(variables["JWT_SECRET_ARN"].as_str().is_some_and(|arn| !arn.is_empty()), "{variables}");
    for function in functions {
        let text = function["Environment"].to_string();
        assert!(!text.contains(&stack.jwt_secret), "{} carries the secret in plaintext", function["FunctionName"]);
    }
    // Every HS256 token of this suite verifies against that secret; one more for the record.
    assert!(connects(&stack, &stack.token(&user("hs"))).await);
}

/// Long enough to connect and subscribe on a busy local stack; the stack's leeway is 1 s.
const SHORT_TTL: u64 = 8;

async fn wait_until_expired(token_ttl_from: u64) {
    let expired_at = token_ttl_from + SHORT_TTL + 1;
    let now = clock::epoch_seconds();
    tokio::time::sleep(Duration::from_secs(expired_at.saturating_sub(now) + 1)).await;
}

#[tokio::test]
async fn a_frame_after_the_token_expired_gets_token_expired_and_the_socket_is_closed() {
    let stack = Stack::from_env().await;
    let alice = user("short");
    let job = stack.seed_job(&alice, 2).await;
    let minted_at = clock::epoch_seconds();
    let mut client = stack.connect_with_token(&stack.token_for(&alice, SHORT_TTL)).await.expect("connects");
    assert!(matches!(client.subscribe(&job.id).await, ServerMessage::Subscribed { .. }));

    wait_until_expired(minted_at).await;
    let reply = client.subscribe(&job.id).await;
    assert!(matches!(reply, ServerMessage::Error { code: ErrorCode::TokenExpired, .. }), "{reply:?}");
    let after = client.next_message().await;
    assert!(after.as_ref().is_err_and(|e| e.to_string().contains("closed")), "the server closes the socket: {after:?}");
    stack
        .eventually("the expired connection's rows are gone", || async {
            stack.connections_of(&alice).await.is_empty()
        })
        .await;
}

#[tokio::test]
async fn pushes_skip_a_connection_whose_token_expired_and_close_it() {
    let stack = Stack::from_env().await;
    let alice = user("short");
    let job = stack.seed_job(&alice, 2).await;
    let minted_at = clock::epoch_seconds();
    let mut expiring = stack.connect_with_token(&stack.token_for(&alice, SHORT_TTL)).await.expect("connects");
    let mut witness = stack.connect(&alice).await;
    assert!(matches!(expiring.subscribe(&job.id).await, ServerMessage::Subscribed { .. }));
    assert!(matches!(witness.subscribe(&job.id).await, ServerMessage::Subscribed { .. }));

    wait_until_expired(minted_at).await;
    stack.send_chunks(&job.id, &[0]).await;
    let update = witness.next_message().await.expect("the witness gets the update");
    assert!(matches!(update, ServerMessage::JobUpdate(_)), "{update:?}");
    let nothing = expiring.next_message_within(Duration::from_secs(5)).await;
    assert!(
        nothing.as_ref().is_err_and(|e| e.to_string().contains("closed")),
        "the expired socket gets nothing and is closed: {nothing:?}"
    );
    assert_eq!(stack.connections_of(&alice).await.len(), 1, "only the witness is left");
    assert!(stack.store().get_job(&job.id).await.expect("read").is_some());
}

#[tokio::test]
async fn a_token_past_its_expiry_cannot_open_a_socket() {
    let stack = Stack::from_env().await;
    let token = jobcast_shared::auth::mint_hs256(
        stack.jwt_secret.as_bytes(),
        &UserId::parse("late").expect("id"),
        clock::epoch_seconds() - 120,
        60,
        Some(&stack.jwt_issuer),
        Some(&stack.jwt_audience),
    )
    .expect("mint");
    assert_eq!(stack.handshake_refusal(&token).await, DENIED);
}
