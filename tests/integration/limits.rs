//! Per-user limits on the deployed stack (infra/test deploys MaxConnectionsPerUser=3,
//! MaxSubscriptionsPerConnection=3, MaxJobsInFlight=4, MaxJobsPerMinute=6), the counters
//! behind them, and jobs that expire.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use jobcast_shared::clock;
use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::ports::{Allowance, JobStages as _, StageChange, SubscriptionStore as _, UserLimits as _};
use jobcast_shared::protocol::{ErrorCode, ServerMessage};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Stack, user};

const MAX_CONNECTIONS: usize = 3;
const MAX_SUBSCRIPTIONS: usize = 3;
const MAX_IN_FLIGHT: usize = 4;
const MAX_PER_MINUTE: usize = 6;

#[tokio::test]
async fn a_user_at_the_connection_limit_is_refused_at_connect_until_one_closes() {
    let stack = Stack::from_env().await;
    let alice = user("crowd");
    let mut open = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        open.push(stack.connect(&alice).await);
    }
    // ws-connect answers 429; what the client sees is the gateway's (MiniStack: 403). The same
    // token connects once a slot is free (below), so the refusal is the limit, not the token.
    assert!(stack.handshake_refusal(&stack.token(&alice)).await.is_some(), "one connection too many");
    assert_eq!(stack.connections_of(&alice).await.len(), MAX_CONNECTIONS, "a refused connection leaves no row");
    // Another user is not affected.
    let bob = stack.connect(&user("bob")).await;
    bob.close().await;

    open.pop().expect("a connection").close().await;
    // $disconnect runs after the socket closes: the slot frees a moment later.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        match stack.connect_with_token(&stack.token(&alice)).await {
            Ok(client) => break open.push(client),
            Err(_) => assert!(tokio::time::Instant::now() < deadline, "a closed connection never freed its slot"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stack.connections_of(&alice).await.len(), MAX_CONNECTIONS);
}

#[tokio::test]
async fn a_connection_may_follow_only_so_many_jobs() {
    let stack = Stack::from_env().await;
    let alice = user("follower");
    let mut jobs = Vec::new();
    for _ in 0..=MAX_SUBSCRIPTIONS {
        jobs.push(stack.seed_job(&alice, 2).await);
    }
    let mut client = stack.connect(&alice).await;
    for job in &jobs[..MAX_SUBSCRIPTIONS] {
        assert!(matches!(client.subscribe(&job.id).await, ServerMessage::Subscribed { .. }));
    }
    let extra = &jobs[MAX_SUBSCRIPTIONS].id;
    let refused = client.subscribe(extra).await;
    assert!(
        matches!(&refused, ServerMessage::Error { code: ErrorCode::TooManySubscriptions, job_id: Some(j), .. } if j == extra),
        "{refused:?}"
    );
    assert_eq!(
        stack.store().subscribers(extra).await.expect("read"),
        Default::default(),
        "the refused job is not followed"
    );
    assert!(matches!(client.subscribe(&jobs[0].id).await, ServerMessage::Subscribed { .. }), "resubscribing is free");
    client.send(json!({"action": "unsubscribe_job", "jobId": jobs[0].id})).await;
    assert!(matches!(client.next_message().await.expect("reply"), ServerMessage::Unsubscribed { .. }));
    assert!(matches!(client.subscribe(extra).await, ServerMessage::Subscribed { .. }), "a freed slot is usable");
    assert_eq!(stack.store().subscribers(extra).await.expect("read").live.len(), 1);
}

async fn create(stack: &Stack, owner: &UserId) -> reqwest::Response {
    stack.http_post("/jobs", owner, json!({"fileName": "a.pdf", "sizeBytes": 100})).send().await.expect("request")
}

async fn job_id(response: reqwest::Response) -> JobId {
    let body: serde_json::Value = response.json().await.expect("JSON");
    JobId::parse(body["jobId"].as_str().expect("jobId")).expect("a job id")
}

#[tokio::test]
async fn job_creation_is_limited_in_flight_and_per_minute_with_a_json_429_and_retry_after() {
    let stack = Stack::from_env().await;
    // Start in a fresh minute, so the per-minute window cannot roll over midway.
    let second = clock::epoch_seconds() % 60;
    if second > 40 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let alice = user("creator");
    let mut ids = Vec::new();
    for _ in 0..MAX_IN_FLIGHT {
        let response = create(&stack, &alice).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        ids.push(job_id(response).await);
    }
    let refused = create(&stack, &alice).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "30");
    let body: serde_json::Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "too_many_requests");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("still running")), "{body}");
    assert_eq!(create(&stack, &user("other")).await.status(), StatusCode::CREATED, "others are not affected");

    // Jobs that end give their slots back (any terminal move does, here a failure).
    let store = stack.store();
    for id in ids.drain(..2) {
        store.advance(&id, &StageChange::fail("ended by the test")).await.expect("fail").expect("moved");
    }
    for _ in 0..2 {
        assert_eq!(create(&stack, &alice).await.status(), StatusCode::CREATED);
    }
    // MAX_PER_MINUTE (6) created this minute: the next is over it, whatever slots are free.
    for id in ids.drain(..2) {
        store.advance(&id, &StageChange::fail("ended by the test")).await.expect("fail").expect("moved");
    }
    assert_eq!(MAX_IN_FLIGHT + 2, MAX_PER_MINUTE, "the steps above created exactly the minute's allowance");
    let refused = create(&stack, &alice).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(taken(&stack, &alice, Allowance::JobsInFlight).await, 2, "two jobs are open; refusals hold no slot");
    assert_eq!(
        taken(&stack, &alice, Allowance::JobsPerMinute { window_start: clock::epoch_seconds() / 60 * 60 }).await,
        6,
        "a refused request counts nothing"
    );
}

/// A user's count, read straight from the limits table.
async fn taken(stack: &Stack, owner: &UserId, allowance: Allowance) -> u64 {
    let item = stack
        .ddb()
        .get_item()
        .table_name(&stack.tables.limits)
        .key("limitKey", AttributeValue::S(allowance.key(owner)))
        .consistent_read(true)
        .send()
        .await
        .expect("reading a count")
        .item
        .unwrap_or_default();
    item.get("taken").and_then(|v| v.as_n().ok()).map_or(0, |n| n.parse().expect("a count"))
}

#[tokio::test]
async fn concurrent_acquires_never_pass_the_bound_and_a_lapsed_lease_starts_over() {
    let stack = Stack::from_env().await;
    let store = stack.store();
    let carol = user("racer");
    let tries = (0..20).map(|_| store.acquire(&carol, Allowance::Connections, 5));
    let granted = futures::future::join_all(tries).await.into_iter().map(|r| r.expect("acquire")).filter(|g| *g);
    assert_eq!(granted.count(), 5, "exactly the bound, however the writes interleave");
    for _ in 0..7 {
        store.release(&carol, Allowance::Connections).await.expect("release");
    }
    let again = futures::future::join_all((0..6).map(|_| store.acquire(&carol, Allowance::Connections, 5))).await;
    assert_eq!(again.into_iter().filter(|r| matches!(r, Ok(true))).count(), 5, "releases never go below zero");

    // A count whose lease ran out (its holders are long gone) starts over.
    stack
        .ddb()
        .update_item()
        .table_name(&stack.tables.limits)
        .key("limitKey", AttributeValue::S(Allowance::Connections.key(&carol)))
        .update_expression("SET expiresAt = :past")
        .expression_attribute_values(":past", AttributeValue::N((clock::epoch_seconds() - 1).to_string()))
        .send()
        .await
        .expect("ageing the count");
    assert!(store.acquire(&carol, Allowance::Connections, 5).await.expect("acquire"));
    assert!(store.acquire(&carol, Allowance::Connections, 1).await.is_ok_and(|granted| !granted), "it counts from 1");
}

#[tokio::test]
async fn an_expired_job_is_not_found_everywhere() {
    let stack = Stack::from_env().await;
    let alice = user("retention");
    let created = create(&stack, &alice).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = job_id(created).await;
    let item = stack
        .ddb()
        .get_item()
        .table_name(&stack.tables.jobs)
        .key("jobId", AttributeValue::S(id.to_string()))
        .send()
        .await
        .expect("read")
        .item
        .expect("the job");
    let ttl: u64 = item["expiresAt"].as_n().expect("a TTL").parse().expect("seconds");
    let thirty_days = clock::epoch_seconds() + 30 * 86_400;
    assert!(ttl.abs_diff(thirty_days) < 120, "the job lives as long as its result: {ttl} vs {thirty_days}");

    let mut client = stack.connect(&alice).await;
    assert!(matches!(client.subscribe(&id).await, ServerMessage::Subscribed { .. }));
    // DynamoDB deletes expired items only eventually: the functions must not wait for it.
    stack
        .ddb()
        .update_item()
        .table_name(&stack.tables.jobs)
        .key("jobId", AttributeValue::S(id.to_string()))
        .update_expression("SET expiresAt = :past")
        .expression_attribute_values(":past", AttributeValue::N((clock::epoch_seconds() - 1).to_string()))
        .send()
        .await
        .expect("expiring the job");
    let status = stack.http_get(&format!("/jobs/{id}"), Some(&alice)).send().await.expect("request");
    assert_eq!(status.status(), StatusCode::NOT_FOUND);
    let result = stack.http_get(&format!("/jobs/{id}/result"), Some(&alice)).send().await.expect("request");
    assert_eq!(result.status(), StatusCode::NOT_FOUND);
    let list: serde_json::Value =
        stack.http_get("/jobs", Some(&alice)).send().await.expect("request").json().await.expect("JSON");
    assert_eq!(list["jobs"].as_array().map(Vec::len), Some(0), "{list}");
    let reply = client.subscribe(&id).await;
    assert!(matches!(reply, ServerMessage::Error { code: ErrorCode::NotFound, .. }), "{reply:?}");
}
