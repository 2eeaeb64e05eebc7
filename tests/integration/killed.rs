//! Kill a function mid-job (SIGKILL to its bootstrap process, as an out-of-memory kill or a
//! timeout would end it on AWS: no catch code runs) and the job still ends `failed` with a
//! readable reason, through the backstops. Run apart from the other tests (`infra/test` runs
//! `killed::` alone, with `sweep::`): killing a function's processes would fail theirs too.

use std::time::Duration;

use jobcast_shared::job::{JobStatus, Stage};
use jobcast_shared::pdf::generate;
use jobcast_shared::ports::JobReader as _;
use jobcast_shared::protocol::ServerMessage;

use crate::helpers::{Stack, user};
use crate::pipeline::{start_job, watch_within};
use crate::sweep::sweep;

/// Two receives of 60 s visibility each, then the DLQ and its consumer.
const THROUGH_THE_DLQ: Duration = Duration::from_secs(240);

#[tokio::test]
async fn a_worker_killed_on_every_delivery_fails_its_job_through_the_dead_letter_queue() {
    let stack = Stack::from_env().await;
    let alice = user("killed");
    let mut client = stack.connect(&alice).await;
    // One chunk (the test stack has two pages per chunk) slow enough to be caught running.
    let job = start_job(&stack, &alice, &mut client, "slow.pdf", &generate::operator_flood(2, 3_000_000)).await;
    let killer = stack.keep_killing("ChunkWorker");
    let (_, done) = watch_within(&mut client, &job, THROUGH_THE_DLQ).await;
    let kills = killer.stop().await;
    let ServerMessage::JobCompleted { status: JobStatus::Failed, job: snapshot, .. } = done else {
        panic!("the job did not fail: {done:?}");
    };
    assert!(kills >= 2, "every delivery should have been killed, saw {kills} kills");
    assert_eq!(snapshot.message, "Failed: processing stopped on chunk 0; please upload again");
}

#[tokio::test]
async fn a_planner_killed_mid_run_leaves_a_job_that_the_sweeper_ends() {
    let stack = Stack::from_env().await;
    let alice = user("killed");
    let mut client = stack.connect(&alice).await;
    let killer = stack.keep_killing("JobPlanner");
    let job = start_job(&stack, &alice, &mut client, "big.pdf", &generate::shared_image(100, 3 << 20)).await;
    // Every planner run (and any retry of the S3 event) dies; the job never gets past planning.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let kills = killer.stop().await;
    assert!(kills >= 1, "the planner was never caught running");
    let stuck = stack.store().get_job(&job).await.expect("read").expect("job");
    assert!(matches!(stuck.stage, Stage::Queued | Stage::Analyzing | Stage::Chunked), "{:?}", stuck.stage);

    sweep(&stack, 3).await;
    let (_, done) = watch_within(&mut client, &job, crate::helpers::PATIENCE).await;
    let ServerMessage::JobCompleted { status: JobStatus::Failed, job: snapshot, .. } = done else {
        panic!("the job did not fail: {done:?}");
    };
    assert!(
        [
            "Failed: analyzing the PDF stopped; please upload again",
            "Failed: the upload never arrived; please create the job again"
        ]
        .contains(&snapshot.message.as_str()),
        "{}",
        snapshot.message
    );
}
