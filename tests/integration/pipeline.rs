//! The whole pipeline: POST /jobs → presigned PUT → planner → chunk workers → merge → result,
//! watched live over the WebSocket.

use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::job::{JobStatus, Stage};
use jobcast_shared::pdf::{self, sample_page_text};
use jobcast_shared::protocol::ServerMessage;
use jobcast_shared::result::JobResult;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::helpers::{Client, Stack, user};

const LIBTASN1: &[u8] = include_bytes!("../fixtures/libtasn1-manual.pdf");
const MIME_SPEC: &[u8] = include_bytes!("../fixtures/shared-mime-info-spec.pdf");
const ENCRYPTED: &[u8] = include_bytes!("../fixtures/encrypted.pdf");

/// Creates a job for `bytes`, subscribes `client` to it, then uploads through the presigned URL.
pub async fn start_job(stack: &Stack, owner: &UserId, client: &mut Client, name: &str, bytes: &[u8]) -> JobId {
    let response = stack
        .http_post("/jobs", owner, json!({"fileName": name, "sizeBytes": bytes.len()}))
        .send()
        .await
        .expect("POST /jobs");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("json");
    let job_id = JobId::parse(created["jobId"].as_str().expect("jobId")).expect("valid id");
    // The user room hears about the new job on the already-open socket (earlier jobs' list
    // updates may still be arriving).
    loop {
        match client.next_message().await.expect("list update") {
            ServerMessage::JobListUpdate { job_id: id, status } if id == job_id => {
                assert_eq!(status, JobStatus::Pending);
                break;
            }
            ServerMessage::JobListUpdate { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(matches!(client.subscribe(&job_id).await, ServerMessage::Subscribed { .. }));

    let upload = reqwest::Client::new()
        .put(created["uploadUrl"].as_str().expect("uploadUrl"))
        .header(CONTENT_TYPE, "application/pdf")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PUT upload");
    assert!(upload.status().is_success(), "upload refused: {}", upload.status());
    job_id
}

/// How long a job that needs the queue's redeliveries may take to end: two deliveries of a
/// 60 s visibility timeout, and the backstop.
pub const SLOW: std::time::Duration = std::time::Duration::from_secs(150);

/// Every progress push up to the terminal one: `(progress, stage, seq)`s and the final message.
pub async fn watch(client: &mut Client, job: &JobId) -> (Vec<(u8, Stage, u64)>, ServerMessage) {
    watch_within(client, job, crate::helpers::PATIENCE).await
}

pub async fn watch_within(
    client: &mut Client,
    job: &JobId,
    patience: std::time::Duration,
) -> (Vec<(u8, Stage, u64)>, ServerMessage) {
    let mut steps = Vec::new();
    loop {
        match client.next_message_within(patience).await.expect("a push") {
            ServerMessage::JobUpdate(update) if &update.job_id == job => {
                steps.push((update.progress, update.stage, update.seq));
            }
            done @ ServerMessage::JobCompleted { .. } => return (steps, done),
            ServerMessage::JobListUpdate { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Applies the client's seq rule (drop anything not newer than the last applied) to the pushes
/// in arrival order, then checks what a progress bar would show.
fn assert_checkpoints_in_order(steps: &[(u8, Stage, u64)]) {
    assert!(steps.len() <= 70, "{} pushes", steps.len());
    let mut applied: Vec<(u8, Stage, u64)> = Vec::new();
    for step in steps {
        if applied.last().is_none_or(|last| step.2 > last.2) {
            applied.push(*step);
        }
    }
    let percents: Vec<u8> = applied.iter().map(|s| s.0).collect();
    assert_eq!(percents[..3], [5, 10, 15], "{steps:?}");
    assert_eq!(applied.last().map(|s| (s.0, s.1)), Some((75, Stage::Merging)), "{steps:?}");
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "the bar would move backwards: {steps:?}");
    // Every step the planner and the merge make is pushed exactly once.
    for checkpoint in [5, 10, 15, 75] {
        assert_eq!(steps.iter().filter(|s| s.0 == checkpoint).count(), 1, "{checkpoint}: {steps:?}");
    }
}

pub async fn fetch_result(stack: &Stack, owner: &UserId, job: &JobId) -> (JobResult, String) {
    let links: Value = stack
        .http_get(&format!("/jobs/{job}/result"), Some(owner))
        .send()
        .await
        .expect("result links")
        .json()
        .await
        .expect("json");
    let result = reqwest::get(links["resultUrl"].as_str().expect("resultUrl"))
        .await
        .expect("GET result.json")
        .json()
        .await
        .expect("a job result");
    let text = reqwest::get(links["textUrl"].as_str().expect("textUrl"))
        .await
        .expect("GET result.txt")
        .text()
        .await
        .expect("text");
    (result, text)
}

#[tokio::test]
async fn a_generated_64_page_pdf_goes_from_upload_to_result_live() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let mut client = stack.connect(&alice).await;
    let bytes = pdf::generate(64, sample_page_text);
    let job = start_job(&stack, &alice, &mut client, "sample.pdf", &bytes).await;

    let (steps, done) = watch(&mut client, &job).await;
    assert_checkpoints_in_order(&steps);
    let ServerMessage::JobCompleted { status, result_url, seq, .. } = done else { unreachable!() };
    assert_eq!(status, JobStatus::Completed);
    assert!(result_url.is_some());
    assert!(seq > steps.last().map_or(0, |s| s.2));

    let (result, text) = fetch_result(&stack, &alice, &job).await;
    assert_eq!((result.page_count, result.pages.len()), (64, 64));
    for (i, page) in result.pages.iter().enumerate() {
        let n = u32::try_from(i).expect("small") + 1;
        assert_eq!((page.number, page.text.trim()), (n, sample_page_text(n).as_str()));
    }
    assert_eq!(result.file_name.as_deref(), Some("sample.pdf"));
    assert!(text.contains(&sample_page_text(64)));
}

#[tokio::test]
async fn real_world_pdfs_complete_with_the_text_their_pages_hold() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let mut client = stack.connect(&alice).await;
    for (name, bytes, pages, phrases) in [
        ("libtasn1.pdf", LIBTASN1, 36, ["Libtasn1", "Abstract Syntax Notation One"]),
        ("mime.pdf", MIME_SPEC, 17, ["Shared MIME-info Database", "Introduction"]),
    ] {
        let job = start_job(&stack, &alice, &mut client, name, bytes).await;
        let (steps, done) = watch(&mut client, &job).await;
        assert_checkpoints_in_order(&steps);
        assert!(matches!(done, ServerMessage::JobCompleted { status: JobStatus::Completed, .. }), "{name}: {done:?}");
        let (result, text) = fetch_result(&stack, &alice, &job).await;
        assert_eq!(result.page_count, pages, "{name}");
        for phrase in phrases {
            assert!(result.pages[0].text.contains(phrase), "{name} page 1 lacks {phrase:?}");
        }
        assert!(result.word_count > 1000, "{name}: only {} words", result.word_count);
        assert_eq!(text.split('\u{c}').count(), pages as usize, "{name}: one text block per page");
    }
}

#[tokio::test]
async fn corrupt_encrypted_and_empty_pdfs_fail_with_distinct_reasons() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let mut client = stack.connect(&alice).await;
    let mut reasons = Vec::new();
    let cases: [(&str, Vec<u8>); 3] = [
        ("corrupt.pdf", LIBTASN1[..20_000].to_vec()),
        ("encrypted.pdf", ENCRYPTED.to_vec()),
        ("empty.pdf", pdf::generate(0, sample_page_text)),
    ];
    for (name, bytes) in cases {
        let job = start_job(&stack, &alice, &mut client, name, &bytes).await;
        let (steps, done) = watch(&mut client, &job).await;
        assert_eq!(steps.first().map(|s| s.0), Some(5), "{name}");
        let ServerMessage::JobCompleted { status: JobStatus::Failed, error: Some(reason), .. } = done else {
            panic!("{name} did not fail: {done:?}");
        };
        let polled: Value = stack
            .http_get(&format!("/jobs/{job}"), Some(&alice))
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("json");
        assert_eq!(polled["status"], "failed");
        assert_eq!(polled["message"], format!("Failed: {reason}"));
        let not_ready = stack.http_get(&format!("/jobs/{job}/result"), Some(&alice)).send().await.expect("result");
        assert_eq!(not_ready.status(), StatusCode::CONFLICT);
        reasons.push(reason);
    }
    reasons.sort();
    reasons.dedup();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
}

#[tokio::test]
async fn bad_job_requests_are_refused_and_the_upload_url_is_bound_to_its_pdf() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    for body in [json!({"fileName": "a.pdf"}), json!({"fileName": "a.pdf", "sizeBytes": 60_000_000})] {
        let response = stack.http_post("/jobs", &alice, body.clone()).send().await.expect("POST");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let created: Value = stack
        .http_post("/jobs", &alice, json!({"fileName": "a.pdf", "sizeBytes": 1000}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let url = created["uploadUrl"].as_str().expect("url");
    let wrong_type = reqwest::Client::new()
        .put(url)
        .header(CONTENT_TYPE, "text/plain")
        .body(vec![b'x'; 1000])
        .send()
        .await
        .expect("PUT");
    assert_eq!(wrong_type.status(), StatusCode::FORBIDDEN, "a text upload was accepted");
    let wrong_size = reqwest::Client::new()
        .put(url)
        .header(CONTENT_TYPE, "application/pdf")
        .body(vec![b'x'; 999])
        .send()
        .await
        .expect("PUT");
    assert_eq!(wrong_size.status(), StatusCode::FORBIDDEN, "an upload of another size was accepted");
}

#[tokio::test]
async fn a_chunk_whose_pdf_is_missing_fails_the_job_at_once() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 3).await;
    let mut client = stack.connect(&alice).await;
    client.subscribe(&job.id).await;
    // Chunk 7 has no PDF, and no retry would find one: the first delivery fails the job.
    stack.send_chunks(&job.id, &[7]).await;
    let (_, done) = watch_within(&mut client, &job.id, crate::helpers::PATIENCE).await;
    let ServerMessage::JobCompleted { status: JobStatus::Failed, error: Some(reason), .. } = done else {
        panic!("the job did not fail: {done:?}");
    };
    assert_eq!(reason, "chunk 7 could not be processed; please upload again");

    // The failed job never shows progress again.
    stack.send_chunks(&job.id, &[0, 1]).await;
    stack.drain_chunk_queue().await;
    let polled: Value = stack
        .http_get(&format!("/jobs/{}", job.id), Some(&alice))
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!((polled["status"].as_str(), polled["chunksDone"].as_u64()), (Some("failed"), Some(0)));
}
