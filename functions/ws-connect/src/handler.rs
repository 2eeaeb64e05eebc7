//! `$connect`, after the authorizer allowed it: count the connection against its user's
//! allowance and remember who it belongs to and until when its token counts.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use jobcast_shared::BoxError;
use jobcast_shared::auth::{token_expiry_from_authorizer_context, user_from_authorizer_context};
use jobcast_shared::clock;
use jobcast_shared::config::CONNECTION_TTL;
use jobcast_shared::ids::ConnectionId;
use jobcast_shared::ports::{Allowance, Connection, ConnectionStore, UserLimits};
use jobcast_shared::telemetry::{self, label, name};
use serde_json::{Value, json};

pub async fn handle<S>(
    store: &S,
    max_connections_per_user: u32,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<Value, BoxError>
where
    S: ConnectionStore + UserLimits,
{
    let context = &event.request_context;
    let id = ConnectionId::parse(context.connection_id.clone().unwrap_or_default())?;
    // Only reachable without these if the route was deployed without the authorizer.
    let fields = &context.authorizer.fields;
    let (Some(user), Some(token_expires_at)) =
        (user_from_authorizer_context(fields), token_expiry_from_authorizer_context(fields))
    else {
        tracing::error!(connection_id = %id, "no userId or tokenExpiresAt in the authorizer context; refusing");
        return Ok(json!({ "statusCode": 401 }));
    };
    if !store.acquire(&user, Allowance::Connections, max_connections_per_user).await? {
        // Refusing the handshake is all $connect can do; the client falls back to polling.
        tracing::info!(connection_id = %id, user_id = %user, max = max_connections_per_user, "too many connections");
        telemetry::count_by(name::LIMITS_REACHED, label::REASON, "connections", 1);
        return Ok(json!({ "statusCode": 429 }));
    }
    let connected_at = if context.connected_at > 0 { context.connected_at } else { clock::epoch_millis() };
    let connection = Connection {
        id: id.clone(),
        user: user.clone(),
        connected_at,
        expires_at: clock::expires_in(CONNECTION_TTL),
        token_expires_at,
    };
    if let Err(err) = store.put_connection(&connection).await {
        store.release(&user, Allowance::Connections).await?;
        return Err(err.into());
    }
    tracing::info!(connection_id = %id, user_id = %user, "connected");
    telemetry::count(name::CONNECTIONS_OPENED, 1);
    Ok(json!({ "statusCode": 200 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::InMemoryStore;
    use jobcast_shared::ids::UserId;

    fn event() -> ApiGatewayWebsocketProxyRequest {
        serde_json::from_str(include_str!("../../../events/connect.json")).expect("fixture parses")
    }

    fn connection_id() -> ConnectionId {
        ConnectionId::parse("K6bBXd4ZIAMCJ5g=").expect("id")
    }

    #[tokio::test]
    async fn a_connection_row_records_the_user_token_expiry_and_a_ttl_in_epoch_seconds() {
        let store = InMemoryStore::default();
        let response = handle(&store, 5, event()).await.expect("handled");
        assert_eq!(response["statusCode"], 200);
        let row = store.connection(&connection_id()).expect("row written");
        assert_eq!(row.user.as_str(), "alice");
        assert_eq!(row.connected_at, 1_795_312_800_000);
        assert_eq!(row.token_expires_at, 4_102_444_800);
        let ttl = row.expires_at.saturating_sub(clock::epoch_seconds());
        assert!((2 * 3600..=3 * 3600).contains(&ttl), "ttl {ttl}s is not seconds past the 2 h limit");
        assert_eq!(store.taken(&UserId::parse("alice").expect("id"), Allowance::Connections), 1);
    }

    #[tokio::test]
    async fn a_connect_without_an_authorizer_context_is_refused_and_writes_nothing() {
        for field in ["userId", "tokenExpiresAt"] {
            let store = InMemoryStore::default();
            let mut event = event();
            event.request_context.authorizer.fields.remove(field);
            let response = handle(&store, 5, event).await.expect("handled");
            assert_eq!(response["statusCode"], 401, "without {field}");
            assert!(!store.has_connection(&connection_id()));
        }
    }

    #[tokio::test]
    async fn a_user_at_the_connection_limit_is_refused_until_one_closes() {
        let store = InMemoryStore::default();
        let alice = UserId::parse("alice").expect("id");
        let open = ConnectionId::parse("open-1").expect("id");
        let mut first = event();
        first.request_context.connection_id = Some(open.to_string());
        assert_eq!(handle(&store, 1, first).await.expect("handled")["statusCode"], 200);

        let response = handle(&store, 1, event()).await.expect("handled");
        assert_eq!(response["statusCode"], 429);
        assert!(!store.has_connection(&connection_id()), "a refused connection leaves no row");
        assert_eq!(store.taken(&alice, Allowance::Connections), 1);

        store.delete_connection(&open).await.expect("disconnect");
        store.delete_connection(&open).await.expect("a second disconnect gives nothing back twice");
        assert_eq!(store.taken(&alice, Allowance::Connections), 0);
        assert_eq!(handle(&store, 1, event()).await.expect("handled")["statusCode"], 200);
    }
}
