//! The HTTP status API: auth, snapshots, ETag/304, pagination, isolation, CORS.

use jobcast_shared::ids::JobId;
use jobcast_shared::ports::JobReader as _;
use reqwest::StatusCode;
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, ETAG, IF_NONE_MATCH, ORIGIN};
use serde_json::Value;

use crate::helpers::{Stack, user};

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn requests_without_a_valid_token_get_a_json_401() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 2).await;
    let path = format!("/jobs/{}", job.id);
    for request in [
        stack.http_get(&path, None),
        stack.http_get(&path, None).bearer_auth("not-a-token"),
        stack.http_get("/jobs", None).bearer_auth(stack.token(&alice) + "x"),
    ] {
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(json(response).await["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn an_own_job_is_served_and_an_unchanged_one_is_a_304() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    let job = stack.seed_job(&alice, 4).await;
    let path = format!("/jobs/{}", job.id);

    let response = stack.http_get(&path, Some(&alice)).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()[ETAG].to_str().expect("ascii").to_owned();
    assert_eq!(etag, format!("\"{}\"", job.seq));
    assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
    let body = json(response).await;
    assert_eq!(body["jobId"], job.id.as_str());
    assert_eq!((body["progress"].as_u64(), body["seq"].as_u64()), (Some(15), Some(job.seq)));

    let unchanged = stack.http_get(&path, Some(&alice)).header(IF_NONE_MATCH, &etag).send().await.expect("request");
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert!(unchanged.bytes().await.expect("body").is_empty());

    // Progress moves the seq, so the old ETag no longer matches.
    stack.send_chunks(&job.id, &[0]).await;
    let store = stack.store();
    stack
        .eventually("the chunk is counted", || {
            let (store, id) = (&store, &job.id);
            async move { store.get_job(id).await.expect("read").is_some_and(|j| j.chunks_done == 1) }
        })
        .await;
    let changed = stack.http_get(&path, Some(&alice)).header(IF_NONE_MATCH, &etag).send().await.expect("request");
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(json(changed).await["chunksDone"], 1);
}

#[tokio::test]
async fn another_users_job_and_a_missing_job_are_the_same_404() {
    let stack = Stack::from_env().await;
    let (alice, bob) = (user("alice"), user("bob"));
    let job = stack.seed_job(&alice, 2).await;
    let foreign = stack.http_get(&format!("/jobs/{}", job.id), Some(&bob)).send().await.expect("request");
    let missing = stack.http_get(&format!("/jobs/{}", JobId::generate()), Some(&bob)).send().await.expect("request");
    assert_eq!((foreign.status(), missing.status()), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(json(foreign).await, json(missing).await);
}

#[tokio::test]
async fn pagination_walks_all_of_a_users_jobs_exactly_once_newest_first() {
    let stack = Stack::from_env().await;
    let (alice, bob) = (user("alice"), user("bob"));
    let mut expected = Vec::new();
    for i in 0..7 {
        expected.push(stack.seed_job_created_at(&alice, 1, 1_795_000_000_000 + i).await.id);
    }
    stack.seed_job(&bob, 1).await;
    expected.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/jobs?limit=3&cursor={c}"),
            None => "/jobs?limit=3".to_owned(),
        };
        let response = stack.http_get(&path, Some(&alice)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let page = json(response).await;
        let jobs = page["jobs"].as_array().expect("jobs");
        assert!(jobs.len() <= 3);
        seen.extend(jobs.iter().map(|j| j["jobId"].as_str().expect("id").to_owned()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn bad_list_parameters_are_json_400s() {
    let stack = Stack::from_env().await;
    let alice = user("alice");
    for query in ["limit=0", "limit=1000", "cursor=forged"] {
        let response = stack.http_get(&format!("/jobs?{query}"), Some(&alice)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(json(response).await["error"]["code"], "bad_request");
    }
}

#[tokio::test]
async fn the_demo_origin_passes_cors_preflight() {
    let stack = Stack::from_env().await;
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/jobs", stack.http_url))
        .header(ORIGIN, "http://localhost:8080")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization,if-none-match")
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:8080");
}
