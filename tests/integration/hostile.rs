//! The hostile corpus, generated here (nothing large is committed): every upload ends
//! `completed` or `failed` with a readable reason, in bounded time. The test stack runs with
//! `MaxPages=120` and `MaxUploadBytes=4194304`, so the limits are hit exactly.

use std::time::Instant;

use jobcast_shared::job::JobStatus;
use jobcast_shared::pdf::{generate, sample_page_text};
use jobcast_shared::protocol::ServerMessage;

use crate::helpers::{Stack, user};
use crate::pipeline::{SLOW, fetch_result, start_job, watch_within};

const MAX_PAGES: u32 = 120;
const MAX_UPLOAD_BYTES: usize = 4 << 20;

/// Uploads `bytes` and waits for the job to end: its status, its reason if it failed, and
/// how long it took (printed for the record; not asserted beyond the patience).
async fn run(stack: &Stack, name: &str, bytes: &[u8]) -> (JobStatus, Option<String>, jobcast_shared::ids::JobId) {
    let alice = user("hostile");
    let mut client = stack.connect(&alice).await;
    let started = Instant::now();
    let job = start_job(stack, &alice, &mut client, name, bytes).await;
    let (_, done) = watch_within(&mut client, &job, SLOW).await;
    let ServerMessage::JobCompleted { status, error, .. } = done else { unreachable!() };
    eprintln!(
        "hostile {name}: {} bytes ended {status:?} in {:.1} s ({error:?})",
        bytes.len(),
        started.elapsed().as_secs_f64()
    );
    (status, error, job)
}

#[tokio::test]
async fn an_operator_flood_completes_with_pages_that_say_their_text_was_cut() {
    let stack = Stack::from_env().await;
    let (status, error, job) = run(&stack, "flood.pdf", &generate::operator_flood(10, 10_000_000)).await;
    assert_eq!(status, JobStatus::Completed, "{error:?}");
    let (result, _) = fetch_result(&stack, &user_of(&stack, &job).await, &job).await;
    assert_eq!(result.page_count, 10);
    assert!(result.pages.iter().all(|p| p.truncated && p.note.is_some()), "{:?}", result.pages[0]);
    assert!(result.pages[0].text.contains("flood starts here"));
}

#[tokio::test]
async fn a_flate_bomb_page_says_its_text_was_skipped_and_the_rest_is_read() {
    let stack = Stack::from_env().await;
    let (status, error, job) = run(&stack, "bomb.pdf", &generate::flate_bomb(4, 300 << 20)).await;
    assert_eq!(status, JobStatus::Completed, "{error:?}");
    let (result, _) = fetch_result(&stack, &user_of(&stack, &job).await, &job).await;
    assert!(result.pages[0].note.as_deref().is_some_and(|n| n.contains("skipped")), "{:?}", result.pages[0].note);
    assert_eq!(result.pages[3].text.trim(), sample_page_text(4));
}

#[tokio::test]
async fn one_image_shared_by_exactly_max_pages_pages_completes() {
    let stack = Stack::from_env().await;
    let bytes = generate::shared_image(MAX_PAGES, 3 << 20);
    assert!(bytes.len() < MAX_UPLOAD_BYTES);
    let (status, error, job) = run(&stack, "image.pdf", &bytes).await;
    assert_eq!(status, JobStatus::Completed, "{error:?}");
    let (result, _) = fetch_result(&stack, &user_of(&stack, &job).await, &job).await;
    assert_eq!(result.page_count, MAX_PAGES);
    assert_eq!(result.pages[119].text.trim(), sample_page_text(MAX_PAGES));
}

#[tokio::test]
async fn limits_are_exact_and_what_passes_them_fails_with_the_limit_named() {
    let stack = Stack::from_env().await;
    let (status, error, _) = run(&stack, "exact.pdf", &generate::exactly(MAX_UPLOAD_BYTES, 3)).await;
    assert_eq!(status, JobStatus::Completed, "a file of exactly MaxUploadBytes: {error:?}");
    let (status, error, _) = run(&stack, "pages.pdf", &generate(MAX_PAGES + 1, sample_page_text)).await;
    assert_eq!((status, error.as_deref()), (JobStatus::Failed, Some("the PDF has 121 pages; the limit is 120")));
    let (status, error, _) = run(&stack, "objstm.pdf", &generate::object_stream_flood(20, 8 << 20)).await;
    assert_eq!((status, error.as_deref()), (JobStatus::Failed, Some("the PDF's compressed data inflates past 128 MB")));
}

#[tokio::test]
async fn deep_nesting_and_a_page_tree_loop_end_in_a_result() {
    let stack = Stack::from_env().await;
    for (name, bytes) in [("deep.pdf", generate::deep_nesting(100_000)), ("loop.pdf", generate::page_tree_loop())] {
        let (status, error, _) = run(&stack, name, &bytes).await;
        assert!(status == JobStatus::Completed || error.is_some(), "{name}: {status:?}");
    }
}

/// The owner of a job (each test's user is unique, so read it back from the store).
async fn user_of(stack: &Stack, job: &jobcast_shared::ids::JobId) -> jobcast_shared::ids::UserId {
    use jobcast_shared::ports::JobReader as _;
    stack.store().get_job(job).await.expect("read").expect("job").owner
}
