//! `GET /jobs`: the caller's jobs, newest first, a page at a time.

use jobcast_shared::ids::UserId;
use jobcast_shared::ports::{InvalidCursor, JobCursor, JobLister};
use jobcast_shared::protocol::JobSnapshot;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt as _, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::handler::{Deps, json_response};

/// Page size bounds for `GET /jobs`.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// The list page as clients see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobList {
    jobs: Vec<JobSnapshot>,
    next_cursor: Option<String>,
}

pub(crate) async fn list_jobs<S: JobLister, U, P>(
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

#[cfg(test)]
mod tests {
    use crate::test_support::{body_json, deps, get, job, send};
    use jobcast_shared::job::Job;
    use lambda_http::http::StatusCode;

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
}
