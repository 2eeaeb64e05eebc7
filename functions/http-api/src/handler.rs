//! The HTTP API: job status for polling (while the socket is down, and for finished jobs).
//!
//! Routes are matched here rather than trusted from the gateway, so the same code serves the
//! explicit routes on AWS and the local stack alike. Every error is JSON
//! (`{"error": {"code", "message"}}`), mapped from [`ApiError`] in one place. CORS is the
//! gateway's job (`CorsConfiguration` in the template): it answers preflights itself.

use jobcast_shared::auth::{AuthError, TokenVerifier};
use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::ports::{InvalidCursor, JobCursor, JobLister, JobReader, StoreError};
use jobcast_shared::protocol::JobSnapshot;
use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt as _, Response};
use serde::Serialize;

/// Page size bounds for `GET /jobs`.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug)]
pub struct Deps<S> {
    pub store: S,
    pub verifier: TokenVerifier,
}

/// Everything a route can answer besides success. Mapped to a status and code only here.
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
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::JobNotFound | ApiError::NoRoute { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Internal(_) => "internal",
        }
    }

    fn into_response(self) -> Response<Body> {
        match &self {
            ApiError::Internal(err) => tracing::error!(error = ?err, "request failed"),
            ApiError::Unauthorized(reason) => tracing::info!(%reason, "unauthorized request"),
            _ => {}
        }
        let body =
            serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } });
        let mut response = json_response(self.status(), &body);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            _ => {}
        }
        response
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let mut response = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Status must be revalidated every time: clients poll with If-None-Match instead.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The list page as clients see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobList {
    jobs: Vec<JobSnapshot>,
    next_cursor: Option<String>,
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    ListJobs,
    GetJob(String),
}

/// Matches a request to a route. The gateway's decoded `{id}` path parameter wins over the
/// path: an id may hold characters (`?`, `/`) that would change the path's meaning. Any stage
/// prefix before `/jobs` is skipped. Unknown paths reach us through the `$default` route.
fn route(request: &Request) -> Result<Route, ApiError> {
    let method = request.method();
    let path = request.uri().path();
    let no_route = || ApiError::NoRoute {
        method: method.clone(),
        path: path.to_owned(),
    };
    let route = match request.path_parameters().first("id") {
        Some(id) => Route::GetJob(id.to_owned()),
        None => {
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let at = segments
                .iter()
                .position(|s| *s == "jobs")
                .ok_or_else(no_route)?;
            match &segments[at + 1..] {
                [] => Route::ListJobs,
                [id] => Route::GetJob((*id).to_owned()),
                _ => return Err(no_route()),
            }
        }
    };
    if method != Method::GET {
        return Err(ApiError::MethodNotAllowed {
            method: method.clone(),
            allow: "GET",
        });
    }
    Ok(route)
}

pub async fn handle<S>(
    deps: &Deps<S>,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error>
where
    S: JobReader + JobLister,
{
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond<S>(deps: &Deps<S>, request: &Request) -> Result<Response<Body>, ApiError>
where
    S: JobReader + JobLister,
{
    let route = route(request)?;
    let user = caller(&deps.verifier, request.headers())?;
    match route {
        Route::ListJobs => list_jobs(deps, &user, request).await,
        Route::GetJob(id) => get_job(deps, &user, &id, request.headers()).await,
    }
}

/// The verified caller: the same rules as the WebSocket authorizer (shared code).
fn caller(verifier: &TokenVerifier, headers: &HeaderMap) -> Result<UserId, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => return Err(ApiError::Unauthorized(AuthError::Missing)),
    };
    verifier
        .verify(token)
        .map(|identity| identity.user)
        .map_err(ApiError::Unauthorized)
}

async fn list_jobs<S: JobLister>(
    deps: &Deps<S>,
    user: &UserId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let query = request.query_string_parameters();
    let limit = match query.first("limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit must be an integer from 1 to {MAX_PAGE_SIZE}"
                ))
            })?,
    };
    let cursor = query
        .first("cursor")
        .map(JobCursor::decode)
        .transpose()
        .map_err(|InvalidCursor| {
            ApiError::BadRequest("cursor is not one this API returned".into())
        })?;
    let page = deps.store.list_jobs(user, limit, cursor.as_ref()).await?;
    let body = JobList {
        jobs: page.jobs.iter().map(JobSnapshot::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// The ETag of a job's state: `seq` grows with every change, so it names the state exactly.
fn etag(snapshot: &JobSnapshot) -> String {
    format!("\"{}\"", snapshot.seq)
}

fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[tracing::instrument(skip(deps, headers), fields(job_id = %raw_id))]
async fn get_job<S: JobReader>(
    deps: &Deps<S>,
    user: &UserId,
    raw_id: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    // An id that cannot exist is simply not found: no hint about what ids look like.
    let id = JobId::parse(raw_id).map_err(|_| ApiError::JobNotFound)?;
    let job = deps
        .store
        .get_job(&id)
        .await?
        .filter(|job| job.is_owned_by(user))
        .ok_or(ApiError::JobNotFound)?;
    let snapshot = JobSnapshot::from(&job);
    let tag = etag(&snapshot);
    let mut response = if matches_etag(headers, &tag) {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    } else {
        json_response(StatusCode::OK, &snapshot)
    };
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::auth::{JwtKey, JwtSettings, mint_hs256};
    use jobcast_shared::clock::epoch_seconds;
    use jobcast_shared::fakes::InMemoryStore;
    use jobcast_shared::job::{Job, Stage};

    const SECRET: &[u8] = b"http-api-test-secret-http-api-test-secret";

    fn deps(jobs: impl IntoIterator<Item = Job>) -> Deps<InMemoryStore> {
        let store = InMemoryStore::default();
        for job in jobs {
            store.insert_job(job);
        }
        let verifier = TokenVerifier::new(&JwtSettings {
            key: JwtKey::Hs256 {
                secret: SECRET.to_vec(),
            },
            issuer: None,
            audience: None,
            leeway_seconds: 0,
        })
        .expect("valid settings");
        Deps { store, verifier }
    }

    fn job(id: &str, owner: &str, created_at: i64) -> Job {
        Job {
            id: JobId::parse(id).expect("id"),
            owner: UserId::parse(owner).expect("id"),
            stage: Stage::Processing,
            chunks_done: 2,
            chunks_total: 4,
            seq: 5,
            file_name: None,
            error: None,
            created_at,
            updated_at: created_at,
        }
    }

    fn token(user: &str) -> String {
        mint_hs256(
            SECRET,
            &UserId::parse(user).expect("id"),
            epoch_seconds(),
            600,
            None,
            None,
        )
        .expect("mint")
    }

    fn get(path: &str, user: Option<&str>) -> lambda_http::http::request::Builder {
        let builder = lambda_http::http::Request::builder()
            .method(Method::GET)
            .uri(format!("https://api.example{path}"));
        match user {
            Some(user) => builder.header(header::AUTHORIZATION, format!("Bearer {}", token(user))),
            None => builder,
        }
    }

    /// Sends a request the way lambda_http delivers one: query parameters already decoded.
    async fn send(
        deps: &Deps<InMemoryStore>,
        request: lambda_http::http::request::Builder,
    ) -> Response<Body> {
        let request: Request = request.body(Body::Empty).expect("request");
        let query: std::collections::HashMap<String, String> = request
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace("%2F", "/")))
            .collect();
        let request = request.with_query_string_parameters(query);
        handle(deps, request).await.expect("handled")
    }

    fn body_json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).expect("JSON body")
    }

    #[tokio::test]
    async fn a_missing_or_bad_token_is_a_json_401() {
        let deps = deps([job("j1", "alice", 1)]);
        for request in [
            get("/jobs/j1", None),
            get("/jobs/j1", None).header(header::AUTHORIZATION, "Bearer nope"),
            get("/jobs/j1", None)
                .header(header::AUTHORIZATION, format!("Basic {}", token("alice"))),
        ] {
            let response = send(&deps, request).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(body_json(&response)["error"]["code"], "unauthorized");
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
    }

    #[tokio::test]
    async fn an_own_job_is_served_with_an_etag_and_no_cache() {
        let deps = deps([job("j1", "alice", 1)]);
        let response = send(&deps, get("/jobs/j1", Some("alice"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::ETAG], "\"5\"");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        let body = body_json(&response);
        assert_eq!(
            (
                body["jobId"].as_str(),
                body["progress"].as_u64(),
                body["seq"].as_u64()
            ),
            (Some("j1"), Some(45), Some(5))
        );
    }

    #[tokio::test]
    async fn a_matching_if_none_match_gets_304_without_a_body() {
        let deps = deps([job("j1", "alice", 1)]);
        for tag in ["\"5\"", "W/\"5\"", "\"3\", \"5\""] {
            let response = send(
                &deps,
                get("/jobs/j1", Some("alice")).header(header::IF_NONE_MATCH, tag),
            )
            .await;
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
            assert!(response.body().is_empty());
            assert_eq!(response.headers()[header::ETAG], "\"5\"");
        }
        let stale = send(
            &deps,
            get("/jobs/j1", Some("alice")).header(header::IF_NONE_MATCH, "\"4\""),
        )
        .await;
        assert_eq!(stale.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_foreign_job_a_missing_job_and_an_impossible_id_are_the_same_404() {
        let deps = deps([job("j1", "alice", 1)]);
        let mut bodies = Vec::new();
        for path in ["/jobs/j1", "/jobs/nope", "/jobs/..%2Fx"] {
            let response = send(&deps, get(path, Some("bob"))).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            bodies.push(body_json(&response));
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    }

    #[tokio::test]
    async fn the_list_walks_every_own_job_once_newest_first() {
        let mut jobs: Vec<Job> = (0..7)
            .map(|i| job(&format!("a{i}"), "alice", 100 + i))
            .collect();
        jobs.push(job("b0", "bob", 105));
        let deps = deps(jobs);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/jobs?limit=3&cursor={c}"),
                None => "/jobs?limit=3".to_owned(),
            };
            let body = body_json(&send(&deps, get(&path, Some("alice"))).await);
            seen.extend(
                body["jobs"]
                    .as_array()
                    .expect("jobs")
                    .iter()
                    .map(|j| j["jobId"].as_str().map(str::to_owned)),
            );
            match body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let expected: Vec<_> = (0..7).rev().map(|i| Some(format!("a{i}"))).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn bad_list_parameters_are_400s() {
        let deps = deps([]);
        for query in [
            "limit=0",
            "limit=101",
            "limit=ten",
            "cursor=garbage",
            "cursor=1.a%2Fb",
        ] {
            let response = send(&deps, get(&format!("/jobs?{query}"), Some("alice"))).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(body_json(&response)["error"]["code"], "bad_request");
        }
    }

    #[tokio::test]
    async fn unknown_routes_are_json_404s_and_wrong_methods_405s() {
        let deps = deps([]);
        for (method, path, status) in [
            (Method::GET, "/", StatusCode::NOT_FOUND),
            (Method::GET, "/jobs/j1/x/y", StatusCode::NOT_FOUND),
            (Method::DELETE, "/jobs/j1", StatusCode::METHOD_NOT_ALLOWED),
            (Method::TRACE, "/jobs", StatusCode::METHOD_NOT_ALLOWED),
        ] {
            let request = lambda_http::http::Request::builder()
                .method(method.clone())
                .uri(format!("https://api.example{path}"));
            let response = send(&deps, request).await;
            assert_eq!(response.status(), status, "{method} {path}");
            assert!(body_json(&response)["error"]["code"].is_string());
            if status == StatusCode::METHOD_NOT_ALLOWED {
                assert_eq!(response.headers()[header::ALLOW], "GET");
            }
        }
    }

    fn routed(method: Method, path: &str, id: Option<&str>) -> Result<Route, ApiError> {
        let request: Request = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://api.example{path}"))
            .body(Body::Empty)
            .expect("request");
        let params: std::collections::HashMap<String, String> = id
            .map(|id| ("id".to_owned(), id.to_owned()))
            .into_iter()
            .collect();
        route(&request.with_path_parameters(params))
    }

    #[test]
    fn routes_tolerate_a_stage_prefix_and_prefer_the_gateways_path_parameter() {
        assert_eq!(
            routed(Method::GET, "/dev/jobs/j1", None).ok(),
            Some(Route::GetJob("j1".into()))
        );
        assert_eq!(
            routed(Method::GET, "/jobs/", None).ok(),
            Some(Route::ListJobs)
        );
        // A decoded `?` in the id must not turn the request into a list.
        assert_eq!(
            routed(Method::GET, "/jobs/", Some("?x")).ok(),
            Some(Route::GetJob("?x".into()))
        );
        assert!(matches!(
            routed(Method::POST, "/jobs/j1", None),
            Err(ApiError::MethodNotAllowed { .. })
        ));
    }
}
