//! `GET /jobs/{id}`: the job's snapshot for polling, with an ETag so an unchanged job is a 304.

use jobcast_shared::ids::UserId;
use jobcast_shared::ports::JobReader;
use jobcast_shared::protocol::JobSnapshot;
use jobcast_shared::telemetry::{self, label, name};
use lambda_http::http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

use super::owned_job;
use crate::error::ApiError;
use crate::handler::{Deps, json_response};

/// Sent by the browser client while its socket is down and it polls instead (the fallback).
pub const TRANSPORT_HEADER: &str = "x-jobcast-transport";

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
pub(crate) async fn get_job<S: JobReader, U, P>(
    deps: &Deps<S, U, P>,
    user: &UserId,
    raw_id: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    // Counted before the ownership check: a poll is load whatever it finds.
    let transport = match headers.get(TRANSPORT_HEADER).and_then(|v| v.to_str().ok()) {
        Some(v) if v.eq_ignore_ascii_case("polling") => "polling",
        _ => "direct",
    };
    telemetry::count_by(name::STATUS_POLLS, label::TRANSPORT, transport, 1);
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
    use crate::test_support::{body_json, deps, get, job, send};
    use lambda_http::http::{StatusCode, header};

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
}
