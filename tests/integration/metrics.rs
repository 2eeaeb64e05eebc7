//! The functions' metrics on the local stack, read back from their EMF log lines the way
//! CloudWatch extracts them, after a job, a fallback poll, a reported reconnect and a dropped
//! socket. Other tests run meanwhile, so each counter must have moved by at least this test's
//! share. No log line may carry a token or a presigned URL's signature.

use std::collections::HashMap;

use jobcast_shared::pdf::{generate, sample_page_text};
use jobcast_shared::protocol::ServerMessage;
use jobcast_shared::telemetry::{label, name};
use serde_json::{Value, json};

use crate::helpers::{Stack, user};
use crate::pipeline::{start_job, watch_within};

/// A metric and its dimensions, e.g. `("StatusPolls", "Function=http-api,Transport=polling")`.
type Series = (String, String);

#[tokio::test]
async fn a_job_a_fallback_poll_and_a_dropped_socket_move_their_metrics_and_no_log_holds_a_token() {
    let stack = Stack::from_env().await;
    let before = totals(&log_lines(&stack).await);
    let alice = user("metrics");
    let token = stack.token(&alice);
    let mut client = stack.connect(&alice).await;
    let job = start_job(&stack, &alice, &mut client, "metrics.pdf", &generate(4, sample_page_text)).await;
    let (_, done) = watch_within(&mut client, &job, crate::pipeline::SLOW).await;
    assert!(matches!(done, ServerMessage::JobCompleted { .. }), "{done:?}");
    let poll = stack
        .http_get(&format!("/jobs/{job}"), Some(&alice))
        .header("X-Jobcast-Transport", "polling")
        .send()
        .await
        .expect("a fallback poll");
    assert!(poll.status().is_success());
    client.send(json!({"action": "ping", "reconnects": 1})).await;
    // The owner's room hears about the finished job first.
    while client.next_message().await.expect("pong") != ServerMessage::Pong {}
    client.close().await;

    let expected: [(&str, &str, f64); 11] = [
        (name::CONNECTIONS_OPENED, "Function=ws-connect", 1.0),
        (name::CONNECTIONS_CLOSED, "Function=ws-disconnect", 1.0),
        (name::SUBSCRIPTIONS, "Function=ws-subscribe", 1.0),
        (name::CLIENT_RECONNECTS, "Function=ws-subscribe", 1.0),
        (name::JOBS_CREATED, "Function=http-api", 1.0),
        (name::JOBS_COMPLETED, "Function=chunk-worker", 1.0),
        // Four pages in chunks of two (the test stack's ChunkPages).
        (name::CHUNKS_PROCESSED, "Function=chunk-worker", 2.0),
        (name::PAGES_EXTRACTED, "Function=chunk-worker", 4.0),
        (name::PUSHES_SENT, "Function=chunk-worker", 1.0),
        (name::STATUS_POLLS, &format!("Function=http-api,{}=polling", label::TRANSPORT), 1.0),
        (name::PUSH_LATENCY, "Function=chunk-worker", 1.0),
    ];
    stack
        .eventually_within(std::time::Duration::from_secs(60), "every metric moved", || {
            let (stack, before, expected) = (&stack, &before, &expected);
            async move {
                let after = totals(&log_lines(stack).await);
                expected.iter().all(|(metric, dims, at_least)| {
                    let key = ((*metric).to_owned(), (*dims).to_owned());
                    after.get(&key).copied().unwrap_or(0.0) - before.get(&key).copied().unwrap_or(0.0) >= *at_least
                })
            }
        })
        .await;
    let lines = log_lines(&stack).await;
    assert!(!lines.iter().any(|l| l.contains(&token)), "a log line holds the token");
    assert!(!lines.iter().any(|l| l.contains("X-Amz-Signature")), "a log line holds a presigned URL");
    let worker_lines: Vec<&String> = lines.iter().filter(|l| l.contains(job.as_str())).collect();
    assert!(!worker_lines.is_empty(), "the job's work is logged with its id");
}

/// Every counter summed, and every distribution's sample count, per [`Series`].
fn totals(lines: &[String]) -> HashMap<Series, f64> {
    let mut totals = HashMap::new();
    for doc in lines.iter().filter(|l| l.contains("\"_aws\"")).filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        let Some(directives) = doc["_aws"]["CloudWatchMetrics"].as_array() else { continue };
        for directive in directives {
            let dims: Vec<String> = directive["Dimensions"][0]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
                .map(|d| format!("{d}={}", doc[d].as_str().unwrap_or_default()))
                .collect();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let Some(metric) = metric["Name"].as_str() else { continue };
                let value = match &doc[metric] {
                    Value::Array(samples) => samples.len() as f64,
                    other => other.as_f64().unwrap_or(0.0),
                };
                *totals.entry((metric.to_owned(), dims.join(","))).or_insert(0.0) += value;
            }
        }
    }
    totals
}

/// Every Lambda log line of the stack, through the CloudWatch Logs API (JSON protocol; the
/// local stack routes on the signature's service and does not check it).
async fn log_lines(stack: &Stack) -> Vec<String> {
    let groups = logs_call(stack, "DescribeLogGroups", json!({"logGroupNamePrefix": "/aws/lambda/"})).await;
    let mut lines = Vec::new();
    for group in groups["logGroups"].as_array().into_iter().flatten() {
        let mut request = json!({"logGroupName": group["logGroupName"]});
        loop {
            let page = logs_call(stack, "FilterLogEvents", request.clone()).await;
            lines.extend(
                page["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["message"].as_str())
                    .map(str::to_owned),
            );
            match page["nextToken"].as_str() {
                Some(next) if !next.is_empty() => request["nextToken"] = json!(next),
                _ => break,
            }
        }
    }
    lines
}

async fn logs_call(stack: &Stack, action: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(stack.endpoint())
        .header("x-amz-target", format!("Logs_20140328.{action}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("a CloudWatch Logs call")
        .json()
        .await
        .expect("a CloudWatch Logs answer")
}
