//! `$connect`, after the authorizer allowed it: remember who this connection belongs to.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use jobcast_shared::BoxError;
use jobcast_shared::auth::user_from_authorizer_context;
use jobcast_shared::clock;
use jobcast_shared::config::CONNECTION_TTL;
use jobcast_shared::ids::ConnectionId;
use jobcast_shared::ports::{Connection, ConnectionStore};
use serde_json::{Value, json};

pub async fn handle<S: ConnectionStore>(store: &S, event: ApiGatewayWebsocketProxyRequest) -> Result<Value, BoxError> {
    let context = &event.request_context;
    let id = ConnectionId::parse(context.connection_id.clone().unwrap_or_default())?;
    // Only reachable without a user if the route was deployed without the authorizer.
    let Some(user) = user_from_authorizer_context(&context.authorizer.fields) else {
        tracing::error!(connection_id = %id, "no userId in the authorizer context; refusing");
        return Ok(json!({ "statusCode": 401 }));
    };
    let connected_at = if context.connected_at > 0 { context.connected_at } else { clock::epoch_millis() };
    store
        .put_connection(&Connection {
            id: id.clone(),
            user: user.clone(),
            connected_at,
            expires_at: clock::expires_in(CONNECTION_TTL),
        })
        .await?;
    tracing::info!(connection_id = %id, user_id = %user, "connected");
    jobcast_shared::telemetry::count(jobcast_shared::telemetry::name::CONNECTIONS_OPENED, 1);
    Ok(json!({ "statusCode": 200 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::InMemoryStore;

    fn event() -> ApiGatewayWebsocketProxyRequest {
        serde_json::from_str(include_str!("../../../events/connect.json")).expect("fixture parses")
    }

    #[tokio::test]
    async fn a_connection_row_records_the_user_with_a_ttl_in_epoch_seconds() {
        let store = InMemoryStore::default();
        let response = handle(&store, event()).await.expect("handled");
        assert_eq!(response["statusCode"], 200);
        let row = store.connection(&ConnectionId::parse("K6bBXd4ZIAMCJ5g=").expect("id")).expect("row written");
        assert_eq!(row.user.as_str(), "alice");
        assert_eq!(row.connected_at, 1_795_312_800_000);
        let ttl = row.expires_at.saturating_sub(clock::epoch_seconds());
        assert!((2 * 3600..=3 * 3600).contains(&ttl), "ttl {ttl}s is not seconds past the 2 h limit");
    }

    #[tokio::test]
    async fn a_connect_without_an_authorizer_context_is_refused_and_writes_nothing() {
        let store = InMemoryStore::default();
        let mut event = event();
        event.request_context.authorizer.fields.clear();
        let response = handle(&store, event).await.expect("handled");
        assert_eq!(response["statusCode"], 401);
        assert!(!store.has_connection(&ConnectionId::parse("K6bBXd4ZIAMCJ5g=").expect("id")));
    }
}
