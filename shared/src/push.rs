//! Pushing to WebSocket clients: the Management API adapter and the bounded fan-out.

use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;

use crate::ids::{ConnectionId, JobId, UserId};
use crate::job::{Job, Stage};
use crate::ports::{ConnectionStore, PushError, Pusher, StoreError, SubscriptionStore, Targets, UserRoom};
use crate::protocol::{JobSnapshot, ServerMessage};
use crate::telemetry::{self, label, name};

#[cfg(feature = "aws")]
pub use management::ManagementApiPusher;

#[cfg(feature = "aws")]
mod management {
    use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
    use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
    use aws_sdk_apigatewaymanagement::primitives::Blob;

    use crate::ids::ConnectionId;
    use crate::ports::{PushError, Pusher};

    /// [`Pusher`] over the API Gateway Management API (`POST @connections/{id}`).
    #[derive(Debug, Clone)]
    pub struct ManagementApiPusher {
        client: aws_sdk_apigatewaymanagement::Client,
    }

    impl ManagementApiPusher {
        /// The endpoint is always explicit (see [`crate::config::PushConfig`]).
        pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
            let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk).endpoint_url(endpoint).build();
            ManagementApiPusher { client: aws_sdk_apigatewaymanagement::Client::from_conf(config) }
        }
    }

    impl Pusher for ManagementApiPusher {
        async fn push(&self, connection: &ConnectionId, payload: &[u8]) -> Result<(), PushError> {
            let result = self
                .client
                .post_to_connection()
                .connection_id(connection.as_str())
                .data(Blob::new(payload))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(err) => match err.into_service_error() {
                    PostToConnectionError::GoneException(_) => Err(PushError::Gone),
                    PostToConnectionError::LimitExceededException(_) => Err(PushError::Throttled),
                    other => Err(PushError::Unexpected(anyhow::Error::new(other).context("post_to_connection"))),
                },
            }
        }

        async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
            match self.client.delete_connection().connection_id(connection.as_str()).send().await {
                Ok(_) => Ok(()),
                Err(err) => match err.into_service_error() {
                    DeleteConnectionError::GoneException(_) => Ok(()),
                    DeleteConnectionError::LimitExceededException(_) => Err(PushError::Throttled),
                    other => Err(PushError::Unexpected(anyhow::Error::new(other).context("delete_connection"))),
                },
            }
        }
    }
}

/// What a fan-out achieved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FanOut {
    pub delivered: usize,
    /// Connections that answered 410; their rows should go.
    pub gone: Vec<ConnectionId>,
    /// Pushes that failed for another reason, after retries. The client recovers from its next
    /// snapshot (resubscribe or poll), so these are logged, not retried forever.
    pub failed: usize,
}

/// Tries per connection when API Gateway throttles (`LimitExceededException`).
const PUSH_ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Sends `payload` to every target with at most `concurrency` requests in flight.
pub async fn fan_out<P: Pusher>(pusher: &P, targets: &[ConnectionId], payload: &[u8], concurrency: usize) -> FanOut {
    // A plain loop over FuturesUnordered rather than `stream::iter(..).map(closure)`: closures
    // returning futures trip rustc's "Send is not general enough" inside lambda_http's `run`.
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut pending = targets.iter();
    let mut report = FanOut::default();
    loop {
        while in_flight.len() < concurrency.max(1) {
            let Some(target) = pending.next() else { break };
            in_flight.push(push_one(pusher, target, payload));
        }
        let Some((target, outcome)) = in_flight.next().await else {
            break;
        };
        match outcome {
            Ok(()) => report.delivered += 1,
            Err(PushError::Gone) => report.gone.push(target.clone()),
            Err(err) => {
                tracing::warn!(connection_id = %target, error = %err, "push failed");
                let reason = if matches!(err, PushError::Throttled) { "throttled" } else { "error" };
                telemetry::count_by(name::PUSHES_FAILED, label::REASON, reason, 1);
                report.failed += 1;
            }
        }
    }
    telemetry::count(name::PUSHES_SENT, report.delivered as u64);
    telemetry::count(name::PUSHES_GONE, report.gone.len() as u64);
    telemetry::sample(name::FAN_OUT_SIZE, targets.len());
    report
}

async fn push_one<'a, P: Pusher>(
    pusher: &P,
    target: &'a ConnectionId,
    payload: &[u8],
) -> (&'a ConnectionId, Result<(), PushError>) {
    (target, push_with_retry(pusher, target, payload).await)
}

async fn push_with_retry<P: Pusher>(pusher: &P, target: &ConnectionId, payload: &[u8]) -> Result<(), PushError> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match pusher.push(target, payload).await {
            Err(PushError::Throttled) if attempt < PUSH_ATTEMPTS => {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Pushes `message` to every subscriber of `job` and deletes the rows of connections that
/// turned out to be gone (a 410 on push is the only reliable sign: `$disconnect` is best effort).
pub async fn push_to_subscribers<S, P>(
    store: &S,
    pusher: &P,
    concurrency: usize,
    job: &JobId,
    message: &ServerMessage,
) -> Result<FanOut, StoreError>
where
    S: SubscriptionStore + ConnectionStore,
    P: Pusher,
{
    let targets = store.subscribers(job).await?;
    deliver(store, pusher, concurrency, &targets, message).await
}

/// Pushes `message` to every live connection of `user` (the user room).
pub async fn push_to_user<S, P>(
    store: &S,
    pusher: &P,
    concurrency: usize,
    user: &UserId,
    message: &ServerMessage,
) -> Result<FanOut, StoreError>
where
    S: UserRoom + ConnectionStore,
    P: Pusher,
{
    let targets = store.connections_of(user).await?;
    deliver(store, pusher, concurrency, &targets, message).await
}

/// Fans `message` out to the live targets, deletes the rows of those that answered 410, then
/// closes those whose token has expired. The live pushes go first: closing is cleanup, and a
/// failure to close is logged, never in the way of a delivery.
async fn deliver<S: ConnectionStore, P: Pusher>(
    store: &S,
    pusher: &P,
    concurrency: usize,
    targets: &Targets,
    message: &ServerMessage,
) -> Result<FanOut, StoreError> {
    let report = fan_out(pusher, &targets.live, &message.to_json(), concurrency).await;
    for gone in &report.gone {
        tracing::info!(connection_id = %gone, "connection gone; deleting its rows");
        store.delete_connection(gone).await.with_context(|| format!("deleting gone connection {gone}"))?;
    }
    for expired in &targets.expired {
        if let Err(err) = close_expired(store, pusher, expired).await {
            tracing::warn!(connection_id = %expired, error = %err, "expired connection's rows not deleted");
        }
    }
    Ok(report)
}

/// Ends a connection whose token has expired: closed at API Gateway, then its rows deleted.
/// If the close fails the rows stay, so the next push (or frame) tries again.
pub async fn close_expired<S: ConnectionStore, P: Pusher>(
    store: &S,
    pusher: &P,
    connection: &ConnectionId,
) -> Result<(), StoreError> {
    match pusher.close(connection).await {
        Ok(()) => {
            tracing::info!(connection_id = %connection, "token expired; connection closed");
            telemetry::count_by(name::CONNECTIONS_CLOSED, label::REASON, "token_expired", 1);
            store.delete_connection(connection).await.with_context(|| format!("deleting expired {connection}"))?;
        }
        Err(err) => tracing::warn!(connection_id = %connection, error = %err, "could not close an expired connection"),
    }
    Ok(())
}

/// Tells clients about jobs: what every function that changes a job calls.
#[derive(Debug)]
pub struct Notifier<'a, S, P> {
    pub store: &'a S,
    pub pusher: &'a P,
    pub concurrency: usize,
}

impl<S, P> Notifier<'_, S, P>
where
    S: SubscriptionStore + UserRoom + ConnectionStore,
    P: Pusher,
{
    /// A job's new state to its subscribers: `job_update`, or `job_completed` once terminal,
    /// which also goes to the owner's room as `job_list_update`. `result_url` is the
    /// (presigned) result link of a completed job.
    pub async fn job_changed(&self, job: &Job, result_url: Option<String>) -> Result<FanOut, StoreError> {
        let message = match job.stage {
            Stage::Completed | Stage::Failed => ServerMessage::completed(job, result_url),
            _ => ServerMessage::JobUpdate(JobSnapshot::from(job)),
        };
        let report = push_to_subscribers(self.store, self.pusher, self.concurrency, &job.id, &message).await?;
        if report.delivered > 0 {
            telemetry::millis_since(name::PUSH_LATENCY, job.updated_at);
        }
        tracing::info!(
            job_id = %job.id,
            stage = %job.stage,
            progress = job.progress().percent,
            seq = job.seq,
            delivered = report.delivered,
            gone = report.gone.len(),
            failed = report.failed,
            "pushed job change"
        );
        if job.stage.is_terminal() {
            self.job_listed(job).await?;
        }
        Ok(report)
    }

    /// [`Notifier::job_changed`] for a change already stored. Best effort: a client that missed
    /// the push recovers the state from its next snapshot, so a failed push must not fail (and
    /// retry, and eventually fail the job for) work that succeeded.
    pub async fn stored_change(&self, job: &Job, result_url: Option<String>) {
        if let Err(err) = self.job_changed(job, result_url).await {
            tracing::warn!(job_id = %job.id, error = %err, "push failed; clients recover from their next snapshot");
        }
    }
}

impl<S, P> Notifier<'_, S, P>
where
    S: UserRoom + ConnectionStore,
    P: Pusher,
{
    /// `job_list_update` to every connection of the job's owner (created, completed, failed).
    pub async fn job_listed(&self, job: &Job) -> Result<FanOut, StoreError> {
        let message = ServerMessage::JobListUpdate { job_id: job.id.clone(), status: job.stage.status() };
        push_to_user(self.store, self.pusher, self.concurrency, &job.owner, &message).await
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::fakes::{InMemoryStore, RecordingPusher};
    use crate::ids::UserId;

    fn conn(s: &str) -> ConnectionId {
        ConnectionId::parse(s).expect("valid id")
    }

    #[tokio::test]
    async fn fan_out_reaches_everyone_and_reports_the_gone() {
        let pusher = RecordingPusher::default();
        pusher.mark_gone(&conn("dead"));
        let targets: Vec<_> = (0..40).map(|i| conn(&format!("c{i}"))).chain([conn("dead")]).collect();
        let report = fan_out(&pusher, &targets, b"{}", 4).await;
        assert_eq!(report.delivered, 40);
        assert_eq!(report.gone, vec![conn("dead")]);
        assert_eq!(report.failed, 0);
        assert!(pusher.max_in_flight() <= 4, "in flight: {}", pusher.max_in_flight());
    }

    #[tokio::test]
    async fn throttled_pushes_are_retried_then_counted_as_failed() {
        let pusher = RecordingPusher::default();
        pusher.throttle(&conn("busy"), 1);
        pusher.throttle(&conn("stuck"), 99);
        let report = fan_out(&pusher, &[conn("busy"), conn("stuck")], b"{}", 2).await;
        assert_eq!(report.delivered, 1);
        assert_eq!(report.failed, 1);
        assert_eq!(pusher.attempts(&conn("stuck")), PUSH_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn a_gone_subscriber_loses_its_connection_and_subscriptions() {
        let store = InMemoryStore::default();
        let pusher = RecordingPusher::default();
        let job = JobId::parse("j1").expect("id");
        let alice = UserId::parse("alice").expect("id");
        store.connect(&conn("live"), &alice);
        store.connect(&conn("dead"), &alice);
        store.subscribe(&job, &conn("live"), &alice, 10).await.expect("subscribe");
        store.subscribe(&job, &conn("dead"), &alice, 10).await.expect("subscribe");
        pusher.mark_gone(&conn("dead"));

        let report = push_to_subscribers(&store, &pusher, 8, &job, &ServerMessage::Pong).await.expect("push");
        assert_eq!(report.delivered, 1);
        assert_eq!(store.subscribers(&job).await.expect("read").live, vec![conn("live")]);
        assert!(!store.has_connection(&conn("dead")));
    }

    #[tokio::test]
    async fn a_subscriber_whose_token_expired_is_not_pushed_to_but_closed() {
        let store = InMemoryStore::default();
        let pusher = RecordingPusher::default();
        let job = JobId::parse("j1").expect("id");
        let alice = UserId::parse("alice").expect("id");
        store.connect(&conn("fresh"), &alice);
        store.connect_until(&conn("stale"), &alice, crate::clock::epoch_seconds() - 1);
        for c in ["fresh", "stale"] {
            store.subscribe(&job, &conn(c), &alice, 10).await.expect("subscribe");
        }
        let report = push_to_subscribers(&store, &pusher, 8, &job, &ServerMessage::Pong).await.expect("push");
        assert_eq!(report.delivered, 1);
        assert!(pusher.sent_to(&conn("stale")).is_empty(), "nothing goes to an expired token");
        assert_eq!(pusher.closed(), vec![conn("stale")]);
        assert!(!store.has_connection(&conn("stale")), "its rows go with it");
        assert_eq!(store.subscribers(&job).await.expect("read").live, vec![conn("fresh")]);
        // The user room skips it the same way.
        store.connect_until(&conn("stale2"), &alice, crate::clock::epoch_seconds() - 1);
        push_to_user(&store, &pusher, 8, &alice, &ServerMessage::Pong).await.expect("push");
        assert!(pusher.sent_to(&conn("stale2")).is_empty());
        assert_eq!(pusher.closed(), vec![conn("stale"), conn("stale2")]);
    }
}
