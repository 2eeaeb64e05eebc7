//! `$connect` REQUEST authorizer: the JWT in the `token` query parameter decides.
//! Browsers cannot set headers on a WebSocket handshake, hence the query parameter.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use jobcast_shared::auth::{AuthError, CONTEXT_USER_ID, TokenVerifier};
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

/// Allow with `userId` in the context for a valid token; Deny for anything else. Never an error:
/// a refused token is an expected outcome, and an error would surface as a 500, not a 401/403.
pub fn handle(verifier: &TokenVerifier, request: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> AuthorizerResponse {
    // Deny for the whole API when the ARN is missing; a Deny can never widen access.
    let resource = request.method_arn.as_deref().unwrap_or("*");
    let token = request.query_string_parameters.first("token").unwrap_or_default();
    match verifier.verify(token) {
        Ok(identity) => {
            tracing::info!(user_id = %identity.user, "connection allowed");
            let mut response = policy(identity.user.as_str(), Effect::Allow, resource);
            response.context.insert(CONTEXT_USER_ID.to_owned(), identity.user.as_str().into());
            response
        }
        Err(reason) => {
            tracing::info!(%reason, "connection denied");
            let class = match reason {
                AuthError::Missing => "missing",
                AuthError::Expired => "expired",
                _ => "invalid",
            };
            telemetry::count_by(name::CONNECTIONS_REFUSED, label::REASON, class, 1);
            policy("anonymous", Effect::Deny, resource)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::auth::{JwtKey, JwtSettings, mint_hs256};
    use jobcast_shared::clock::epoch_seconds;
    use jobcast_shared::ids::UserId;

    const SECRET: &[u8] = b"handler-test-secret-handler-test-secret";

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(&JwtSettings {
            key: JwtKey::Hs256 { secret: SECRET.to_vec() },
            issuer: None,
            audience: None,
            leeway_seconds: 0,
        })
        .expect("valid settings")
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

    #[test]
    fn a_valid_token_is_allowed_with_the_user_in_the_context() {
        let response = to_json(&handle(&verifier(), &request(Some(&token_for("alice", 600)))));
        assert_eq!(response["principalId"], "alice");
        assert_eq!(response["context"]["userId"], "alice");
        let statement = &response["policyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(statement["Action"], "execute-api:Invoke");
        assert_eq!(statement["Resource"], "arn:aws:execute-api:us-east-1:000000000000:abc123/dev/$connect");
        assert_eq!(response["policyDocument"]["Version"], "2012-10-17");
    }

    #[test]
    fn a_missing_bad_or_foreign_token_is_denied_without_context() {
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
            let response = to_json(&handle(&verifier(), &request(token)));
            assert_eq!(response["policyDocument"]["Statement"][0]["Effect"], "Deny", "{token:?}");
            assert!(response.get("context").is_none(), "{token:?} leaked a context");
        }
    }

    #[test]
    fn an_expired_token_is_denied() {
        let user = UserId::parse("alice").expect("id");
        let expired = mint_hs256(SECRET, &user, epoch_seconds() - 7200, 60, None, None).expect("mint");
        let response = to_json(&handle(&verifier(), &request(Some(&expired))));
        assert_eq!(response["policyDocument"]["Statement"][0]["Effect"], "Deny");
    }
}
