//! The entry: match the route, verify the caller, serve. Route matching comes first, so an
//! unknown path is a 404 whether or not a token came with it.

use jobcast_shared::auth::{AuthError, TokenVerifier};
use jobcast_shared::ids::UserId;
use jobcast_shared::ports::{
    ConnectionStore, JobLister, JobReader, JobWriter, Pusher, UrlSigner, UserLimits, UserRoom,
};
use lambda_http::http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::config::Settings;
use crate::error::ApiError;
use crate::routing;

#[derive(Debug)]
pub struct Deps<S, U, P> {
    pub store: S,
    pub signer: U,
    pub pusher: P,
    pub verifier: TokenVerifier,
    pub settings: Settings,
}

/// Everything the API needs of the tables.
pub trait ApiStore: JobReader + JobLister + JobWriter + UserRoom + ConnectionStore + UserLimits {}
impl<T> ApiStore for T where T: JobReader + JobLister + JobWriter + UserRoom + ConnectionStore + UserLimits {}

pub async fn handle<S, U, P>(deps: &Deps<S, U, P>, request: Request) -> Result<Response<Body>, lambda_http::Error>
where
    S: ApiStore,
    U: UrlSigner,
    P: Pusher,
{
    Ok(respond(deps, &request).await.unwrap_or_else(ApiError::into_response))
}

async fn respond<S, U, P>(deps: &Deps<S, U, P>, request: &Request) -> Result<Response<Body>, ApiError>
where
    S: ApiStore,
    U: UrlSigner,
    P: Pusher,
{
    let route = routing::route(request)?;
    let user = caller(&deps.verifier, request.headers()).await?;
    route.serve(deps, &user, request).await
}

/// The verified caller: the same rules as the WebSocket authorizer (shared code).
async fn caller(verifier: &TokenVerifier, headers: &HeaderMap) -> Result<UserId, ApiError> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => return Err(ApiError::Unauthorized(AuthError::Missing)),
    };
    verifier.verify(token).await.map(|identity| identity.user).map_err(ApiError::Unauthorized)
}

/// Every answer with a body, errors included, has this shape.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let mut response = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Status must be revalidated every time: clients poll with If-None-Match instead.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use crate::test_support::{body_json, deps, get, job, send, token};
    use lambda_http::http::{StatusCode, header};

    #[tokio::test]
    async fn a_missing_or_bad_token_is_a_json_401() {
        let deps = deps([job("j1", "alice", 1)]);
        for request in [
            get("/jobs/j1", None),
            get("/jobs/j1", None).header(header::AUTHORIZATION, "Bearer nope"),
            get("/jobs/j1", None).header(header::AUTHORIZATION, format!("Basic {}", token("alice"))),
        ] {
            let response = send(&deps, request).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(body_json(&response)["error"]["code"], "unauthorized");
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
}
