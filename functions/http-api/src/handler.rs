//! The HTTP API: job status for polling (while the socket is down, and for finished jobs).
//!
//! Routes are matched here rather than trusted from the gateway, so the same code serves the
//! explicit routes on AWS and the local stack alike. Every error is JSON
//! (`{"error": {"code", "message"}}`), mapped from [`ApiError`] in one place. CORS is the
//! gateway's job (`CorsConfiguration` in the template): it answers preflights itself.

use std::time::Duration;

use jobcast_shared::auth::{AuthError, TokenVerifier};
use jobcast_shared::clock;
use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::ports::{
    ConnectionStore, InvalidCursor, JobCursor, JobLister, JobReader, JobWriter, Pusher, StoreError, UrlSigner, UserRoom,
};
use jobcast_shared::protocol::JobSnapshot;
use jobcast_shared::push::Notifier;
use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt as _, Response};
use serde::{Deserialize, Serialize};

/// Page size bounds for `GET /jobs`.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug)]
pub struct Deps<S, U, P> {
    pub store: S,
    pub signer: U,
    pub pusher: P,
    pub verifier: TokenVerifier,
    pub settings: Settings,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest upload `POST /jobs` will sign for.
    pub max_upload_bytes: u64,
    pub upload_url_ttl: Duration,
    pub result_url_ttl: Duration,
    pub push_concurrency: usize,
}

/// Everything the API needs of the tables.
pub trait ApiStore: JobReader + JobLister + JobWriter + UserRoom + ConnectionStore {}
impl<T> ApiStore for T where T: JobReader + JobLister + JobWriter + UserRoom + ConnectionStore {}

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
    #[error("{0}")]
    NotReady(String),
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
            ApiError::Internal(_) => "internal",
        }
    }

    fn into_response(self) -> Response<Body> {
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
            _ => {}
        }
        response
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let mut response = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
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
    CreateJob,
    GetJob(String),
    GetResult(String),
}

/// The resource a path names, before the method is considered.
#[derive(Debug, PartialEq, Eq)]
enum Resource {
    Jobs,
    Job(String),
    Result(String),
}

/// Matches a request to a route. Behind the gateway, its route key and decoded `{id}` decide:
/// an id may hold characters (`?`, `/`) that change a path's meaning. Otherwise the path does,
/// skipping any stage prefix before `/jobs`. Unknown paths arrive through `$default`.
fn route(request: &Request) -> Result<Route, ApiError> {
    let method = request.method();
    let path = request.uri().path();
    let no_route = || ApiError::NoRoute { method: method.clone(), path: path.to_owned() };
    let route_key = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.clone(),
        _ => None,
    };
    let resource = match request.path_parameters().first("id") {
        Some(id) if route_key.as_deref().map_or(path.ends_with("/result"), |k| k.ends_with("/result")) => {
            Resource::Result(id.to_owned())
        }
        Some(id) => Resource::Job(id.to_owned()),
        None => {
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let at = segments.iter().position(|s| *s == "jobs").ok_or_else(no_route)?;
            match &segments[at + 1..] {
                [] => Resource::Jobs,
                [id] => Resource::Job((*id).to_owned()),
                [id, "result"] => Resource::Result((*id).to_owned()),
                _ => return Err(no_route()),
            }
        }
    };
    let not_allowed = |allow| ApiError::MethodNotAllowed { method: method.clone(), allow };
    match (resource, method) {
        (Resource::Jobs, &Method::GET) => Ok(Route::ListJobs),
        (Resource::Jobs, &Method::POST) => Ok(Route::CreateJob),
        (Resource::Jobs, _) => Err(not_allowed("GET, POST")),
        (Resource::Job(id), &Method::GET) => Ok(Route::GetJob(id)),
        (Resource::Result(id), &Method::GET) => Ok(Route::GetResult(id)),
        (Resource::Job(_) | Resource::Result(_), _) => Err(not_allowed("GET")),
    }
}

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
    let route = route(request)?;
    let user = caller(&deps.verifier, request.headers())?;
    match route {
        Route::ListJobs => list_jobs(deps, &user, request).await,
        Route::CreateJob => create_job(deps, &user, request.body()).await,
        Route::GetJob(id) => get_job(deps, &user, &id, request.headers()).await,
        Route::GetResult(id) => get_result(deps, &user, &id).await,
    }
}

/// The body of `POST /jobs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewJob {
    file_name: String,
    size_bytes: u64,
    /// Optional, but when present it must be exactly `application/pdf` (`null` included).
    #[serde(default, deserialize_with = "present")]
    content_type: Option<serde_json::Value>,
}

/// The answer to `POST /jobs`: where and how to upload the PDF.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedJob {
    job_id: JobId,
    upload_url: String,
    upload_method: &'static str,
    upload_headers: std::collections::BTreeMap<&'static str, &'static str>,
    expires_in_seconds: u64,
    job: JobSnapshot,
}

const PDF: &str = "application/pdf";

/// Tells an absent field (`None`) from one that is present, even as `null` (`Some(Null)`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}
const MAX_FILE_NAME_CHARS: usize = 255;

fn parse_new_job(body: &Body, max_upload_bytes: u64) -> Result<NewJob, ApiError> {
    let bad = |message: String| ApiError::BadRequest(message);
    let new: NewJob = serde_json::from_slice(body.as_ref())
        .map_err(|e| bad(format!("body must be JSON {{\"fileName\", \"sizeBytes\"}}: {e}")))?;
    let name_chars = new.file_name.chars().count();
    if name_chars == 0 || name_chars > MAX_FILE_NAME_CHARS || new.file_name.chars().any(char::is_control) {
        return Err(bad(format!("fileName must be 1 to {MAX_FILE_NAME_CHARS} printable characters")));
    }
    if new.content_type.as_ref().is_some_and(|t| !t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(PDF))) {
        return Err(bad("contentType must be application/pdf".into()));
    }
    if new.size_bytes == 0 || new.size_bytes > max_upload_bytes {
        return Err(bad(format!("sizeBytes must be from 1 to {max_upload_bytes}")));
    }
    Ok(new)
}

#[tracing::instrument(skip_all, fields(user_id = %user))]
async fn create_job<S, U, P>(deps: &Deps<S, U, P>, user: &UserId, body: &Body) -> Result<Response<Body>, ApiError>
where
    S: ApiStore,
    U: UrlSigner,
    P: Pusher,
{
    let new = parse_new_job(body, deps.settings.max_upload_bytes)?;
    let now = clock::epoch_millis();
    let job = Job {
        id: JobId::generate(),
        owner: user.clone(),
        stage: Stage::Queued,
        chunks_done: 0,
        chunks_total: 0,
        seq: 1,
        file_name: Some(new.file_name),
        error: None,
        created_at: now,
        updated_at: now,
    };
    if !deps.store.create_job(&job).await? {
        return Err(ApiError::Internal(StoreError::Corrupt("a fresh job id was taken".into())));
    }
    let ttl = deps.settings.upload_url_ttl;
    // Signed for this key, type and exact length: the upload cannot be swapped for another.
    let upload_url = deps.signer.presign_put(&keys::upload(user, &job.id), PDF, new.size_bytes, ttl).await?;
    let notifier = Notifier { store: &deps.store, pusher: &deps.pusher, concurrency: deps.settings.push_concurrency };
    if let Err(err) = notifier.job_listed(&job).await {
        tracing::warn!(error = %err, "job_list_update not pushed");
    }
    tracing::info!(job_id = %job.id, size = new.size_bytes, "job created");
    let created = CreatedJob {
        job_id: job.id.clone(),
        upload_url,
        upload_method: "PUT",
        upload_headers: [("Content-Type", PDF)].into(),
        expires_in_seconds: ttl.as_secs(),
        job: JobSnapshot::from(&job),
    };
    Ok(json_response(StatusCode::CREATED, &created))
}

/// The answer to `GET /jobs/{id}/result`: short-lived links to the result files.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultLinks {
    job_id: JobId,
    result_url: String,
    text_url: String,
    expires_in_seconds: u64,
}

async fn get_result<S, U, P>(deps: &Deps<S, U, P>, user: &UserId, raw_id: &str) -> Result<Response<Body>, ApiError>
where
    S: ApiStore,
    U: UrlSigner,
{
    let job = owned_job(&deps.store, user, raw_id).await?;
    match job.stage {
        Stage::Completed => {}
        Stage::Failed => {
            return Err(ApiError::NotReady(format!("the job failed: {}", job.error.unwrap_or_default())));
        }
        _ => {
            return Err(ApiError::NotReady(format!("the job is {}; its result is not ready", job.stage)));
        }
    }
    let ttl = deps.settings.result_url_ttl;
    let links = ResultLinks {
        result_url: deps.signer.presign_get(&keys::result_json(&job.id), ttl).await?,
        text_url: deps.signer.presign_get(&keys::result_text(&job.id), ttl).await?,
        job_id: job.id,
        expires_in_seconds: ttl.as_secs(),
    };
    Ok(json_response(StatusCode::OK, &links))
}

/// The caller's job; someone else's job and a missing one are the same 404.
async fn owned_job<S: JobReader>(store: &S, user: &UserId, raw_id: &str) -> Result<Job, ApiError> {
    // An id that cannot exist is simply not found: no hint about what ids look like.
    let id = JobId::parse(raw_id).map_err(|_| ApiError::JobNotFound)?;
    store.get_job(&id).await?.filter(|job| job.is_owned_by(user)).ok_or(ApiError::JobNotFound)
}

/// The verified caller: the same rules as the WebSocket authorizer (shared code).
fn caller(verifier: &TokenVerifier, headers: &HeaderMap) -> Result<UserId, ApiError> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => return Err(ApiError::Unauthorized(AuthError::Missing)),
    };
    verifier.verify(token).map(|identity| identity.user).map_err(ApiError::Unauthorized)
}

async fn list_jobs<S: JobLister, U, P>(
    deps: &Deps<S, U, P>,
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
            .ok_or_else(|| ApiError::BadRequest(format!("limit must be an integer from 1 to {MAX_PAGE_SIZE}")))?,
    };
    let cursor = query
        .first("cursor")
        .map(JobCursor::decode)
        .transpose()
        .map_err(|InvalidCursor| ApiError::BadRequest("cursor is not one this API returned".into()))?;
    let page = deps.store.list_jobs(user, limit, cursor.as_ref()).await?;
    let body =
        JobList { jobs: page.jobs.iter().map(JobSnapshot::from).collect(), next_cursor: page.next.map(|c| c.encode()) };
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
async fn get_job<S: JobReader, U, P>(
    deps: &Deps<S, U, P>,
    user: &UserId,
    raw_id: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let job = owned_job(&deps.store, user, raw_id).await?;
    let snapshot = JobSnapshot::from(&job);
    let tag = etag(&snapshot);
    let mut response = if matches_etag(headers, &tag) {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
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
    use jobcast_shared::fakes::{InMemoryObjects, InMemoryStore, RecordingPusher};
    use jobcast_shared::ids::ConnectionId;
    use jobcast_shared::protocol::ServerMessage;

    const SECRET: &[u8] = b"http-api-test-secret-http-api-test-secret";

    type TestDeps = Deps<InMemoryStore, InMemoryObjects, RecordingPusher>;

    fn deps(jobs: impl IntoIterator<Item = Job>) -> TestDeps {
        let store = InMemoryStore::default();
        for job in jobs {
            store.insert_job(job);
        }
        let verifier = TokenVerifier::new(&JwtSettings {
            key: JwtKey::Hs256 { secret: SECRET.to_vec() },
            issuer: None,
            audience: None,
            leeway_seconds: 0,
        })
        .expect("valid settings");
        let settings = Settings {
            max_upload_bytes: 1_000_000,
            upload_url_ttl: Duration::from_secs(900),
            result_url_ttl: Duration::from_secs(300),
            push_concurrency: 4,
        };
        Deps { store, signer: InMemoryObjects::default(), pusher: RecordingPusher::default(), verifier, settings }
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
        mint_hs256(SECRET, &UserId::parse(user).expect("id"), epoch_seconds(), 600, None, None).expect("mint")
    }

    fn get(path: &str, user: Option<&str>) -> lambda_http::http::request::Builder {
        let builder =
            lambda_http::http::Request::builder().method(Method::GET).uri(format!("https://api.example{path}"));
        match user {
            Some(user) => builder.header(header::AUTHORIZATION, format!("Bearer {}", token(user))),
            None => builder,
        }
    }

    /// Sends a request the way lambda_http delivers one: query parameters already decoded.
    async fn send(deps: &TestDeps, request: lambda_http::http::request::Builder) -> Response<Body> {
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
            get("/jobs/j1", None).header(header::AUTHORIZATION, format!("Basic {}", token("alice"))),
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
            (body["jobId"].as_str(), body["progress"].as_u64(), body["seq"].as_u64()),
            (Some("j1"), Some(45), Some(5))
        );
    }

    #[tokio::test]
    async fn a_matching_if_none_match_gets_304_without_a_body() {
        let deps = deps([job("j1", "alice", 1)]);
        for tag in ["\"5\"", "W/\"5\"", "\"3\", \"5\""] {
            let response = send(&deps, get("/jobs/j1", Some("alice")).header(header::IF_NONE_MATCH, tag)).await;
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
            assert!(response.body().is_empty());
            assert_eq!(response.headers()[header::ETAG], "\"5\"");
        }
        let stale = send(&deps, get("/jobs/j1", Some("alice")).header(header::IF_NONE_MATCH, "\"4\"")).await;
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
        let mut jobs: Vec<Job> = (0..7).map(|i| job(&format!("a{i}"), "alice", 100 + i)).collect();
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
            seen.extend(body["jobs"].as_array().expect("jobs").iter().map(|j| j["jobId"].as_str().map(str::to_owned)));
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
        for query in ["limit=0", "limit=101", "limit=ten", "cursor=garbage", "cursor=1.a%2Fb"] {
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
            let request =
                lambda_http::http::Request::builder().method(method.clone()).uri(format!("https://api.example{path}"));
            let response = send(&deps, request).await;
            assert_eq!(response.status(), status, "{method} {path}");
            assert!(body_json(&response)["error"]["code"].is_string());
            if status == StatusCode::METHOD_NOT_ALLOWED {
                let allow = response.headers()[header::ALLOW].to_str().expect("ascii");
                assert!(allow.starts_with("GET"), "{allow}");
            }
        }
    }

    fn routed(method: Method, path: &str, id: Option<&str>) -> Result<Route, ApiError> {
        let request: Request = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://api.example{path}"))
            .body(Body::Empty)
            .expect("request");
        let params: std::collections::HashMap<String, String> =
            id.map(|id| ("id".to_owned(), id.to_owned())).into_iter().collect();
        route(&request.with_path_parameters(params))
    }

    #[test]
    fn routes_tolerate_a_stage_prefix_and_prefer_the_gateways_path_parameter() {
        assert_eq!(routed(Method::GET, "/dev/jobs/j1", None).ok(), Some(Route::GetJob("j1".into())));
        assert_eq!(routed(Method::GET, "/jobs/", None).ok(), Some(Route::ListJobs));
        // A decoded `?` in the id must not turn the request into a list.
        assert_eq!(routed(Method::GET, "/jobs/", Some("?x")).ok(), Some(Route::GetJob("?x".into())));
        assert!(matches!(routed(Method::POST, "/jobs/j1", None), Err(ApiError::MethodNotAllowed { .. })));
    }

    fn post(path: &str, user: &str, body: &str) -> (lambda_http::http::request::Builder, Body) {
        let builder = lambda_http::http::Request::builder()
            .method(Method::POST)
            .uri(format!("https://api.example{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", token(user)));
        (builder, Body::from(body.to_owned()))
    }

    async fn send_body(
        deps: &TestDeps,
        (builder, body): (lambda_http::http::request::Builder, Body),
    ) -> Response<Body> {
        handle(deps, builder.body(body).expect("request")).await.expect("handled")
    }

    #[tokio::test]
    async fn creating_a_job_returns_an_upload_url_bound_to_the_pdf_and_tells_the_user_room() {
        let deps = deps([]);
        let watcher = ConnectionId::parse("watcher=").expect("id");
        deps.store.connect(&watcher, &UserId::parse("alice").expect("id"));
        let response = send_body(&deps, post("/jobs", "alice", r#"{"fileName":"report.pdf","sizeBytes":1234}"#)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body = body_json(&response);
        let job_id = body["jobId"].as_str().expect("id").to_owned();
        let url = body["uploadUrl"].as_str().expect("url");
        assert!(url.contains(&format!("uploads/alice/{job_id}.pdf")), "{url}");
        assert!(url.contains("type=application/pdf") && url.contains("length=1234"), "{url}");
        assert_eq!(body["uploadHeaders"]["Content-Type"], "application/pdf");
        assert_eq!((body["job"]["status"].as_str(), body["job"]["progress"].as_u64()), (Some("pending"), Some(0)));
        let stored = deps.store.job(&JobId::parse(job_id.as_str()).expect("id")).expect("stored");
        assert_eq!((stored.owner.as_str(), stored.file_name.as_deref()), ("alice", Some("report.pdf")));
        assert!(matches!(deps.pusher.sent_to(&watcher).as_slice(), [ServerMessage::JobListUpdate { .. }]));
    }

    #[tokio::test]
    async fn bad_job_requests_are_400s_and_create_nothing() {
        let deps = deps([]);
        for body in [
            "not json",
            r#"{"fileName":"a.pdf"}"#,
            r#"{"fileName":"a.pdf","sizeBytes":0}"#,
            r#"{"fileName":"a.pdf","sizeBytes":1000001}"#,
            r#"{"fileName":"","sizeBytes":10}"#,
            r#"{"fileName":"a\u0000.pdf","sizeBytes":10}"#,
            r#"{"fileName":"a.pdf","sizeBytes":10,"contentType":"image/png"}"#,
            r#"{"fileName":"a.pdf","sizeBytes":10,"contentType":null}"#,
            r#"{"fileName":"a.pdf","sizeBytes":10,"userId":"bob"}"#,
        ] {
            let response = send_body(&deps, post("/jobs", "alice", body)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body_json(&response)["error"]["code"], "bad_request");
        }
        let list = body_json(&send(&deps, get("/jobs", Some("alice"))).await);
        assert_eq!(list["jobs"].as_array().map(Vec::len), Some(0));
    }

    #[tokio::test]
    async fn the_result_is_linked_only_for_a_completed_own_job() {
        let mut done = job("done", "alice", 1);
        done.stage = Stage::Completed;
        let mut failed = job("failed", "alice", 2);
        failed.stage = Stage::Failed;
        failed.error = Some("the PDF is encrypted with a password".into());
        let deps = deps([done, failed, job("busy", "alice", 3)]);

        let response = send(&deps, get("/jobs/done/result", Some("alice"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = body_json(&response);
        assert!(body["resultUrl"].as_str().is_some_and(|u| u.contains("results/done/result.json")));
        assert!(body["textUrl"].as_str().is_some_and(|u| u.contains("results/done/result.txt")));

        for (path, status) in [
            ("/jobs/busy/result", StatusCode::CONFLICT),
            ("/jobs/failed/result", StatusCode::CONFLICT),
            ("/jobs/missing/result", StatusCode::NOT_FOUND),
        ] {
            assert_eq!(send(&deps, get(path, Some("alice"))).await.status(), status, "{path}");
        }
        assert_eq!(send(&deps, get("/jobs/done/result", Some("bob"))).await.status(), StatusCode::NOT_FOUND);
    }
}
