//! The scheduled sweeper, invoked directly with a scheduled event from the future (the
//! schedule itself is declared in the template and fires every few minutes on its own).
//! Run apart from the other tests (`infra/test` runs `sweep::` alone, last): a sweep from the
//! future fails every open job on the stack.

use jobcast_shared::job::Stage;
use jobcast_shared::ports::JobReader as _;
use jobcast_shared::protocol::ServerMessage;
use serde_json::{Value, json};

use crate::helpers::{Stack, user};

pub async fn sweep(stack: &Stack, hours_ahead: u64) -> Value {
    let time = time_in(hours_ahead);
    // MiniStack does not check signatures; any SigV4-shaped header routes the call.
    let url = format!("{}/2015-03-31/functions/{}/invocations", stack.endpoint(), stack.sweeper_function);
    reqwest::Client::new()
        .post(url)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0",
        )
        .json(&json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": time}))
        .send()
        .await
        .expect("invoking the sweeper")
        .json()
        .await
        .expect("the sweeper's summary")
}

fn time_in(hours: u64) -> String {
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(hours * 3600);
    let secs = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0)).expect("time");
    t.format(&time::format_description::well_known::Rfc3339).expect("format")
}

#[tokio::test]
async fn sweep_fails_stuck_jobs_with_a_readable_reason_and_pushes_it_but_spares_fresh_ones() {
    let stack = Stack::from_env().await;
    let alice = user("sweep");
    // A processing job nobody works on (a killed worker or planner leaves jobs like this).
    let stuck = stack.seed_job(&alice, 2).await;
    let mut client = stack.connect(&alice).await;
    client.subscribe(&stuck.id).await;

    let now = sweep(&stack, 0).await;
    assert_eq!(now["failed"], 0, "nothing is past its deadline yet: {now}");
    assert_eq!(stack.store().get_job(&stuck.id).await.expect("read").map(|j| j.stage), Some(Stage::Processing));

    let later = sweep(&stack, 3).await;
    assert!(later["failed"].as_u64().is_some_and(|n| n >= 1), "{later}");
    let failed = stack.store().get_job(&stuck.id).await.expect("read").expect("job");
    assert_eq!(
        (failed.stage, failed.error.as_deref()),
        (Stage::Failed, Some("processing stopped; please upload again"))
    );
    loop {
        match client.next_message().await.expect("the failure is pushed") {
            ServerMessage::JobCompleted { job, .. } => {
                assert_eq!(job.message, "Failed: processing stopped; please upload again");
                break;
            }
            _ => continue,
        }
    }
    let again = sweep(&stack, 3).await;
    assert_eq!(again["failed"], 0, "a second sweep finds nothing: {again}");
}
