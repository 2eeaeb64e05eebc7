//! Everything a route can answer besides success, and its one mapping to status, code and body:
//! `{"error": {"code", "message"}}`. Causes stay in the log; the message never carries them.

use jobcast_shared::auth::AuthError;
use jobcast_shared::ports::StoreError;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Response};

use crate::handler::json_response;

/// Everything a route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid bearer token")]
    Unauthorized(#[source] AuthError),
    /// Someone else's job and a missing job are the same 404.
    #[error("no such job")]
    JobNotFound,
    #[error("no route for {method} {path}")]
    NoRoute { method: Method, path: String },
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: Method, allow: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotReady(String),
    /// A per-user limit: try again after `retry_after_seconds`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_seconds: u64 },
    #[error("internal error")]
    Internal(#[from] StoreError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::JobNotFound | ApiError::NoRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotReady(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::JobNotFound | ApiError::NoRoute { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotReady(_) => "not_ready",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Internal(_) => "internal",
        }
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        match &self {
            ApiError::Internal(err) => tracing::error!(error = ?err, "request failed"),
            ApiError::Unauthorized(reason) => tracing::info!(%reason, "unauthorized request"),
            _ => {}
        }
        let body = serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } });
        let mut response = json_response(self.status(), &body);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::TooManyRequests { retry_after_seconds, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::body_json;

    #[test]
    fn every_error_is_a_json_body_with_its_status_and_code() {
        let cases = [
            (ApiError::Unauthorized(AuthError::Missing), StatusCode::UNAUTHORIZED, "unauthorized"),
            (ApiError::JobNotFound, StatusCode::NOT_FOUND, "not_found"),
            (ApiError::NoRoute { method: Method::GET, path: "/x".into() }, StatusCode::NOT_FOUND, "not_found"),
            (
                ApiError::MethodNotAllowed { method: Method::PUT, allow: "GET" },
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
            ),
            (ApiError::BadRequest("limit".into()), StatusCode::BAD_REQUEST, "bad_request"),
            (ApiError::NotReady("busy".into()), StatusCode::CONFLICT, "not_ready"),
            (ApiError::Internal(StoreError::Corrupt("x".into())), StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        ];
        for (error, status, code) in cases {
            let message = error.to_string();
            let response = error.into_response();
            assert_eq!(response.status(), status, "{code}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
            let body = body_json(&response);
            assert_eq!(
                (body["error"]["code"].as_str(), body["error"]["message"].as_str()),
                (Some(code), Some(&*message))
            );
        }
    }

    #[test]
    fn an_internal_error_does_not_show_its_cause_to_the_caller() {
        let response =
            ApiError::Internal(StoreError::Corrupt("table jobs-prod, key USER#alice".into())).into_response();
        assert_eq!(body_json(&response)["error"]["message"], "internal error");
    }
}
