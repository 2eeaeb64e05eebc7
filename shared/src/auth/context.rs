//! What the WebSocket authorizer hands every route of a connection.

use std::collections::HashMap;

use crate::ids::UserId;

/// The context keys the WebSocket authorizer sets. API Gateway hands the context to every
/// route of the connection as `requestContext.authorizer.<key>`.
pub const CONTEXT_USER_ID: &str = "userId";
/// Epoch second after which the connection's token no longer counts (its `exp` plus the
/// leeway the authorizer allowed).
pub const CONTEXT_TOKEN_EXPIRES_AT: &str = "tokenExpiresAt";

/// The caller of a WebSocket route, from the authorizer context API Gateway attached to it.
/// Identity never comes from a message body.
pub fn user_from_authorizer_context(fields: &HashMap<String, serde_json::Value>) -> Option<UserId> {
    fields.get(CONTEXT_USER_ID).and_then(|v| v.as_str()).and_then(|raw| UserId::parse(raw).ok())
}

/// When the connection's token stops counting. API Gateway may hand a context number back
/// as a string, so both are read.
pub fn token_expiry_from_authorizer_context(fields: &HashMap<String, serde_json::Value>) -> Option<u64> {
    match fields.get(CONTEXT_TOKEN_EXPIRES_AT)? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
