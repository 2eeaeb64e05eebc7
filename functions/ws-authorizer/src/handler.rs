//! `$connect` REQUEST authorizer: the JWT in the `token` query parameter decides.
//! Browsers cannot set headers on a WebSocket handshake, hence the query parameter.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use jobcast_shared::auth::{CONTEXT_TOKEN_EXPIRES_AT, CONTEXT_USER_ID, TokenVerifier};
use jobcast_shared::telemetry::{self, label, name};
use serde::Serialize;

/// The IAM-policy response API Gateway expects from a REQUEST authorizer.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    pub principal_id: String,
    pub policy_document: PolicyDocument,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub action: &'static str,
    pub effect: Effect,
    pub resource: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

fn policy(principal: &str, effect: Effect, resource: &str) -> AuthorizerResponse {
    AuthorizerResponse {
        principal_id: principal.to_owned(),
        policy_document: PolicyDocument {
            version: "2012-10-17",
            statement: vec![Statement { action: "execute-api:Invoke", effect, resource: resource.to_owned() }],
        },
        context: serde_json::Map::new(),
    }
}

/// Allow with `userId` and `tokenExpiresAt` in the context for a valid token; Deny for
/// anything else. Never an error: a refused token is an expected outcome, and an error would
/// surface as a 500, not a 401/403.
pub async fn handle(
    verifier: &TokenVerifier,
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> AuthorizerResponse {
    // Deny for the whole API when the ARN is missing; a Deny can never widen access.
    let resource = request.method_arn.as_deref().unwrap_or("*");
    let token = request.query_string_parameters.first("token").unwrap_or_default();
    match verifier.verify(token).await {
        Ok(identity) => {
            tracing::info!(user_id = %identity.user, "connection allowed");
            let mut response = policy(identity.user.as_str(), Effect::Allow, resource);
            response.context.insert(CONTEXT_USER_ID.to_owned(), identity.user.as_str().into());
            // The connection lives as long as the token would still be accepted here.
            let until = identity.expires_at.saturating_add(verifier.leeway_seconds());
            response.context.insert(CONTEXT_TOKEN_EXPIRES_AT.to_owned(), until.into());
            response
        }
        Err(reason) => {
            tracing::info!(%reason, "connection denied");
            telemetry::count_by(name::CONNECTIONS_REFUSED, label::REASON, reason.class(), 1);
            policy("anonymous", Effect::Deny, resource)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::auth::{JwtSettings, mint_hs256};
    use jobcast_shared::clock::epoch_seconds;
    use jobcast_shared::ids::UserId;

    const SECRET: &[u8] = b"handler-test-secret-handler-test-secret";

    fn verifier() -> TokenVerifier {
        let settings = JwtSettings {
            secret_arn: Some("jwt-secret".into()),
            public_key: None,
            jwks: None,
            issuer: None,
            audience: None,
            leeway_seconds: 5,
        };
        TokenVerifier::new(&settings, Some(SECRET), None).expect("valid settings")
    }

    /// The fixture, with the token placeholder replaced.
    fn request(token: Option<&str>) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        let raw = include_str!("../../../events/authorizer-request.json");
        let mut value: serde_json::Value = serde_json::from_str(raw).expect("fixture is JSON");
        match token {
            Some(token) => value["queryStringParameters"]["token"] = token.into(),
            None => {
                value["queryStringParameters"].as_object_mut().map(|q| q.remove("token"));
            }
        }
        serde_json::from_value(value).expect("fixture is an authorizer request")
    }

    fn token_for(user: &str, ttl: u64) -> String {
        let user = UserId::parse(user).expect("valid id");
        mint_hs256(SECRET, &user, epoch_seconds(), ttl, None, None).expect("mint")
    }

    fn to_json(response: &AuthorizerResponse) -> serde_json::Value {
        serde_json::to_value(response).expect("serializes")
    }

    #[tokio::test]
    async fn a_valid_token_is_allowed_with_the_user_and_its_expiry_in_the_context() {
        let response = to_json(&handle(&verifier(), &request(Some(&token_for("alice", 600)))).await);
        assert_eq!(response["principalId"], "alice");
        assert_eq!(response["context"]["userId"], "alice");
        // exp plus the 5 s leeway the verifier grants.
        let until = response["context"]["tokenExpiresAt"].as_u64().expect("a number");
        let expected = epoch_seconds() + 600 + 5;
        assert!(until.abs_diff(expected) <= 2, "{until} vs {expected}");
        let statement = &response["policyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(statement["Action"], "execute-api:Invoke");
        assert_eq!(statement["Resource"], "arn:aws:execute-api:us-east-1:000000000000:abc123/dev/$connect");
        assert_eq!(response["policyDocument"]["Version"], "2012-10-17");
    }

    #[tokio::test]
    async fn a_missing_bad_or_foreign_token_is_denied_without_context() {
        let wrong_key = mint_hs256(
            b"some-other-secret-some-other-secret!!",
            &UserId::parse("alice").expect("id"),
            epoch_seconds(),
            600,
            None,
            None,
        )
        .expect("mint");
        for token in [None, Some(""), Some("garbage"), Some(wrong_key.as_str())] {
            let response = to_json(&handle(&verifier(), &request(token)).await);
            assert_eq!(response["policyDocument"]["Statement"][0]["Effect"], "Deny", "{token:?}");
            assert!(response.get("context").is_none(), "{token:?} leaked a context");
        }
    }

    #[tokio::test]
    async fn an_expired_token_is_denied() {
        let user = UserId::parse("alice").expect("id");
        let expired = mint_hs256(SECRET, &user, epoch_seconds() - 7200, 60, None, None).expect("mint");
        let response = to_json(&handle(&verifier(), &request(Some(&expired))).await);
        assert_eq!(response["policyDocument"]["Statement"][0]["Effect"], "Deny");
    }
}
