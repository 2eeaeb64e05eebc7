//! `$disconnect`: forget the connection and its subscriptions. API Gateway sends this on a
//! best-effort basis, so TTLs and 410-on-push cleanup cover the cases it misses.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use jobcast_shared::BoxError;
use jobcast_shared::ids::ConnectionId;
use jobcast_shared::ports::ConnectionStore;
use serde_json::{Value, json};

pub async fn handle<S: ConnectionStore>(store: &S, event: ApiGatewayWebsocketProxyRequest) -> Result<Value, BoxError> {
    let id = ConnectionId::parse(event.request_context.connection_id.clone().unwrap_or_default())?;
    store.delete_connection(&id).await?;
    tracing::info!(
        connection_id = %id,
        status = event.request_context.disconnect_status_code,
        "disconnected"
    );
    jobcast_shared::telemetry::count(jobcast_shared::telemetry::name::CONNECTIONS_CLOSED, 1);
    Ok(json!({ "statusCode": 200 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::InMemoryStore;
    use jobcast_shared::ids::{JobId, UserId};
    use jobcast_shared::ports::SubscriptionStore;

    #[tokio::test]
    async fn disconnect_removes_the_connection_and_only_its_subscriptions() {
        let store = InMemoryStore::default();
        let alice = UserId::parse("alice").expect("id");
        let gone = ConnectionId::parse("K6bBXd4ZIAMCJ5g=").expect("id");
        let other = ConnectionId::parse("other=").expect("id");
        let job = JobId::parse("job-alice-1").expect("id");
        store.connect(&gone, &alice);
        store.connect(&other, &alice);
        store.subscribe(&job, &gone, &alice, u32::MAX).await.expect("subscribe");
        store.subscribe(&job, &other, &alice, u32::MAX).await.expect("subscribe");

        let event = serde_json::from_str(include_str!("../../../events/disconnect.json")).expect("fixture");
        let response = handle(&store, event).await.expect("handled");

        assert_eq!(response["statusCode"], 200);
        assert!(!store.has_connection(&gone));
        assert!(store.has_connection(&other));
        assert_eq!(store.subscribers(&job).await.expect("read").live, vec![other]);
    }

    #[tokio::test]
    async fn a_second_disconnect_for_the_same_connection_is_harmless() {
        let store = InMemoryStore::default();
        for _ in 0..2 {
            let event = serde_json::from_str(include_str!("../../../events/disconnect.json")).expect("fixture");
            assert!(handle(&store, event).await.is_ok());
        }
    }
}
