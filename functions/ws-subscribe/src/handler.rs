//! Client frames: `subscribe_job`, `unsubscribe_job`, `ping`, and `$default` for anything else.
//! Replies go back through the Management API, which works with or without route responses.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use jobcast_shared::BoxError;
use jobcast_shared::auth::{token_expiry_from_authorizer_context, user_from_authorizer_context};
use jobcast_shared::clock;
use jobcast_shared::ids::{ConnectionId, JobId, UserId};
use jobcast_shared::ports::{ConnectionStore, JobReader, PushError, Pusher, StoreError, Subscribed, SubscriptionStore};
use jobcast_shared::protocol::{ClientMessage, ErrorCode, JobSnapshot, MAX_REPORTED_RECONNECTS, ServerMessage};
use jobcast_shared::push::close_expired;
use jobcast_shared::telemetry::{self, label, name};
use serde_json::{Value, json};

#[derive(Debug)]
pub struct Deps<S, P> {
    pub store: S,
    pub pusher: P,
    pub max_subscriptions_per_connection: u32,
}

pub async fn handle<S, P>(deps: &Deps<S, P>, event: ApiGatewayWebsocketProxyRequest) -> Result<Value, BoxError>
where
    S: JobReader + SubscriptionStore + ConnectionStore,
    P: Pusher,
{
    let context = &event.request_context;
    let connection = ConnectionId::parse(context.connection_id.clone().unwrap_or_default())?;
    let fields = &context.authorizer.fields;
    let token_counts = token_expiry_from_authorizer_context(fields).is_some_and(|until| until > clock::epoch_seconds());
    let outcome = match user_from_authorizer_context(fields) {
        None => Ok(ServerMessage::error(ErrorCode::Unauthorized, "connection has no verified user")),
        Some(_) if !token_counts => {
            Ok(ServerMessage::error(ErrorCode::TokenExpired, "the token has expired; reconnect with a fresh one"))
        }
        Some(user) => respond(deps, &connection, &user, event.body.as_deref().unwrap_or_default()).await,
    };
    // A store failure still gets an answer, so the client is not left waiting on a reply.
    let reply = match &outcome {
        Ok(reply) => reply.clone(),
        Err(_) => ServerMessage::error(ErrorCode::Internal, "try again later"),
    };
    match deps.pusher.push(&connection, &reply.to_json()).await {
        Ok(()) | Err(PushError::Gone) => {}
        Err(err) => {
            tracing::warn!(connection_id = %connection, error = %err, "reply not delivered")
        }
    }
    if matches!(&outcome, Ok(ServerMessage::Error { code: ErrorCode::TokenExpired, .. })) {
        // After the reply, so the client learns why the socket closes.
        close_expired(&deps.store, &deps.pusher, &connection).await?;
    }
    outcome?;
    Ok(json!({ "statusCode": 200 }))
}

async fn respond<S, P>(
    deps: &Deps<S, P>,
    connection: &ConnectionId,
    user: &UserId,
    body: &str,
) -> Result<ServerMessage, StoreError>
where
    S: JobReader + SubscriptionStore,
{
    let message = match ClientMessage::parse(body) {
        Ok(message) => message,
        Err(err) => {
            tracing::info!(connection_id = %connection, error = %err, "refused a frame");
            return Ok(ServerMessage::error(err.code(), err.to_string()));
        }
    };
    match message {
        ClientMessage::SubscribeJob { job_id } => subscribe(deps, connection, user, job_id).await,
        ClientMessage::UnsubscribeJob { job_id } => {
            deps.store.unsubscribe(&job_id, connection).await?;
            Ok(ServerMessage::Unsubscribed { job_id })
        }
        ClientMessage::Ping { reconnects } => {
            let reported = reconnects.min(MAX_REPORTED_RECONNECTS);
            telemetry::count(name::CLIENT_RECONNECTS, u64::from(reported));
            Ok(ServerMessage::Pong)
        }
    }
}

#[tracing::instrument(skip(deps), fields(job_id = %job_id))]
async fn subscribe<S, P>(
    deps: &Deps<S, P>,
    connection: &ConnectionId,
    user: &UserId,
    job_id: JobId,
) -> Result<ServerMessage, StoreError>
where
    S: JobReader + SubscriptionStore,
{
    let Some(job) = deps.store.get_job(&job_id).await?.filter(|job| job.is_owned_by(user)) else {
        // Someone else's job and a missing job answer alike, so ids cannot be probed.
        return Ok(ServerMessage::not_found(job_id));
    };
    if job.stage.is_terminal() {
        // Nothing more will be pushed for it: the snapshot is all, and no slot is taken.
        telemetry::count(name::SUBSCRIPTIONS, 1);
        return Ok(ServerMessage::Subscribed { job_id, job: JobSnapshot::from(&job) });
    }
    match deps.store.subscribe(&job_id, connection, user, deps.max_subscriptions_per_connection).await? {
        Subscribed::Yes => {}
        Subscribed::TooMany => {
            telemetry::count_by(name::LIMITS_REACHED, label::REASON, "subscriptions", 1);
            let max = deps.max_subscriptions_per_connection;
            return Ok(ServerMessage::Error {
                code: ErrorCode::TooManySubscriptions,
                message: format!("a connection may follow {max} jobs at once; unsubscribe from one first"),
                job_id: Some(job_id),
            });
        }
        Subscribed::ConnectionGone => {
            return Ok(ServerMessage::error(ErrorCode::Unauthorized, "the connection is closing"));
        }
    }
    // Read again *after* subscribing: a change committed before this read is in the snapshot,
    // one committed after it is pushed to us. Either way nothing falls in between.
    let Some(job) = deps.store.get_job(&job_id).await? else {
        return Ok(ServerMessage::not_found(job_id));
    };
    telemetry::count(name::SUBSCRIPTIONS, 1);
    Ok(ServerMessage::Subscribed { job_id, job: JobSnapshot::from(&job) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::{InMemoryStore, RecordingPusher};
    use jobcast_shared::job::{Job, Stage};

    const CONNECTION: &str = "K6bBXd4ZIAMCJ5g=";

    fn job(id: &str, owner: &str) -> Job {
        Job {
            id: JobId::parse(id).expect("id"),
            owner: UserId::parse(owner).expect("id"),
            stage: Stage::Processing,
            chunks_done: 1,
            chunks_total: 4,
            seq: 7,
            file_name: Some("report.pdf".into()),
            error: None,
            created_at: 1_795_312_800_000,
            updated_at: 1_795_312_860_000,
        }
    }

    fn deps(jobs: &[Job]) -> Deps<InMemoryStore, RecordingPusher> {
        let store = InMemoryStore::default();
        for job in jobs {
            store.insert_job(job.clone());
        }
        // $connect wrote the connection's row.
        store.connect(&connection(), &UserId::parse("alice").expect("id"));
        Deps { store, pusher: RecordingPusher::default(), max_subscriptions_per_connection: 2 }
    }

    /// The subscribe fixture with another body.
    fn frame(body: &str) -> ApiGatewayWebsocketProxyRequest {
        let mut event: ApiGatewayWebsocketProxyRequest =
            serde_json::from_str(include_str!("../../../events/subscribe-job.json")).expect("fixture");
        event.body = Some(body.to_owned());
        event
    }

    fn connection() -> ConnectionId {
        ConnectionId::parse(CONNECTION).expect("id")
    }

    async fn reply_to(
        deps: &Deps<InMemoryStore, RecordingPusher>,
        event: ApiGatewayWebsocketProxyRequest,
    ) -> ServerMessage {
        handle(deps, event).await.expect("handled");
        let mut sent = deps.pusher.sent_to(&connection());
        assert_eq!(sent.len(), 1, "exactly one reply per frame");
        sent.remove(0)
    }

    #[tokio::test]
    async fn subscribing_to_an_own_job_answers_with_its_snapshot() {
        let deps = deps(&[job("job-alice-1", "alice")]);
        let event = serde_json::from_str(include_str!("../../../events/subscribe-job.json")).expect("fixture");
        let reply = reply_to(&deps, event).await;
        let ServerMessage::Subscribed { job_id, job: snapshot } = reply else {
            panic!("expected subscribed, got {reply:?}");
        };
        assert_eq!(job_id.as_str(), "job-alice-1");
        assert_eq!((snapshot.progress, snapshot.seq, snapshot.chunks_done), (30, 7, 1));
        assert_eq!(deps.store.subscribers(&job_id).await.expect("read").live, vec![connection()]);
    }

    #[tokio::test]
    async fn a_foreign_job_and_a_missing_job_get_the_same_not_found() {
        let deps = deps(&[job("job-bob-1", "bob")]);
        let foreign = reply_to(&deps, frame(r#"{"action":"subscribe_job","jobId":"job-bob-1"}"#)).await;
        let deps_missing = self::deps(&[]);
        let missing = reply_to(&deps_missing, frame(r#"{"action":"subscribe_job","jobId":"job-bob-1"}"#)).await;
        assert_eq!(foreign, missing);
        assert!(matches!(foreign, ServerMessage::Error { code: ErrorCode::NotFound, .. }));
        assert_eq!(deps.store.subscription_count(), 0, "no subscription to a foreign job");
    }

    #[tokio::test]
    async fn identity_comes_from_the_authorizer_not_the_message() {
        let deps = deps(&[job("job-bob-1", "bob")]);
        let reply =
            reply_to(&deps, frame(r#"{"action":"subscribe_job","jobId":"job-bob-1","userId":"bob","sub":"bob"}"#))
                .await;
        assert!(matches!(reply, ServerMessage::Error { code: ErrorCode::NotFound, .. }));
    }

    #[tokio::test]
    async fn unsubscribe_removes_the_subscription_and_ping_gets_pong() {
        let deps = deps(&[job("job-alice-1", "alice")]);
        reply_to(&deps, frame(r#"{"action":"subscribe_job","jobId":"job-alice-1"}"#)).await;
        handle(&deps, frame(r#"{"action":"unsubscribe_job","jobId":"job-alice-1"}"#)).await.expect("handled");
        handle(&deps, frame(r#"{"action":"ping"}"#)).await.expect("handled");
        let sent = deps.pusher.sent_to(&connection());
        assert!(matches!(&sent[1], ServerMessage::Unsubscribed { job_id } if job_id.as_str() == "job-alice-1"));
        assert_eq!(sent[2], ServerMessage::Pong);
        assert_eq!(deps.store.subscription_count(), 0);
    }

    #[tokio::test]
    async fn malformed_and_unknown_frames_get_an_error_event_and_change_nothing() {
        let cases = [
            ("{not json", ErrorCode::MalformedMessage),
            ("", ErrorCode::MalformedMessage),
            (r#"{"action":"drop_tables"}"#, ErrorCode::UnknownAction),
            (r#"{"action":"subscribe_job"}"#, ErrorCode::InvalidMessage),
            (r#"{"action":"subscribe_job","jobId":"../../x"}"#, ErrorCode::InvalidMessage),
        ];
        for (body, expected) in cases {
            let deps = deps(&[job("job-alice-1", "alice")]);
            let reply = reply_to(&deps, frame(body)).await;
            assert!(matches!(reply, ServerMessage::Error { code, .. } if code == expected), "{body:?} gave {reply:?}");
            assert_eq!(deps.store.subscription_count(), 0);
        }
    }

    #[tokio::test]
    async fn a_frame_after_the_token_expired_gets_token_expired_and_the_socket_is_closed() {
        let deps = deps(&[job("job-alice-1", "alice")]);
        let mut event = frame(r#"{"action":"subscribe_job","jobId":"job-alice-1"}"#);
        let past = jobcast_shared::clock::epoch_seconds() - 1;
        event.request_context.authorizer.fields.insert("tokenExpiresAt".into(), past.into());
        let reply = reply_to(&deps, event).await;
        assert!(matches!(reply, ServerMessage::Error { code: ErrorCode::TokenExpired, .. }), "{reply:?}");
        assert_eq!(deps.store.subscription_count(), 0, "nothing subscribed on an expired token");
        assert_eq!(deps.pusher.closed(), vec![connection()]);
        assert!(!deps.store.has_connection(&connection()), "the connection's rows are gone");
    }

    #[tokio::test]
    async fn a_connection_may_follow_only_so_many_jobs_and_resubscribing_is_free() {
        let jobs: Vec<Job> = (1..=3).map(|i| job(&format!("job-alice-{i}"), "alice")).collect();
        let deps = deps(&jobs);
        let subscribe = |i: u32| frame(&format!(r#"{{"action":"subscribe_job","jobId":"job-alice-{i}"}}"#));
        for i in [1, 2, 1, 2] {
            handle(&deps, subscribe(i)).await.expect("handled");
        }
        handle(&deps, subscribe(3)).await.expect("handled");
        let sent = deps.pusher.sent_to(&connection());
        assert!(sent[..4].iter().all(|m| matches!(m, ServerMessage::Subscribed { .. })), "{sent:?}");
        assert!(
            matches!(&sent[4], ServerMessage::Error { code: ErrorCode::TooManySubscriptions, job_id: Some(j), .. } if j.as_str() == "job-alice-3"),
            "{:?}",
            sent[4]
        );
        assert_eq!(deps.store.subscription_count(), 2);
        // Unsubscribing frees a slot.
        handle(&deps, frame(r#"{"action":"unsubscribe_job","jobId":"job-alice-1"}"#)).await.expect("handled");
        handle(&deps, subscribe(3)).await.expect("handled");
        assert!(matches!(deps.pusher.sent_to(&connection()).last(), Some(ServerMessage::Subscribed { .. })));
    }

    #[tokio::test]
    async fn a_finished_job_answers_its_snapshot_without_taking_a_subscription_slot() {
        let mut done = job("job-alice-done", "alice");
        done.stage = Stage::Completed;
        done.chunks_done = 4;
        let deps = deps(&[done]);
        for _ in 0..3 {
            let reply = reply_to_last(&deps, frame(r#"{"action":"subscribe_job","jobId":"job-alice-done"}"#)).await;
            assert!(matches!(&reply, ServerMessage::Subscribed { job, .. } if job.progress == 100), "{reply:?}");
        }
        assert_eq!(deps.store.subscription_count(), 0, "a finished job is not followed");
    }

    async fn reply_to_last(
        deps: &Deps<InMemoryStore, RecordingPusher>,
        event: ApiGatewayWebsocketProxyRequest,
    ) -> ServerMessage {
        handle(deps, event).await.expect("handled");
        deps.pusher.sent_to(&connection()).pop().expect("a reply")
    }

    #[tokio::test]
    async fn a_frame_without_a_verified_user_is_refused() {
        let deps = deps(&[job("job-alice-1", "alice")]);
        let mut event = frame(r#"{"action":"subscribe_job","jobId":"job-alice-1"}"#);
        event.request_context.authorizer.fields.clear();
        let reply = reply_to(&deps, event).await;
        assert!(matches!(reply, ServerMessage::Error { code: ErrorCode::Unauthorized, .. }));
        assert_eq!(deps.store.subscription_count(), 0);
    }
}
