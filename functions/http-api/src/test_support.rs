//! What the route tests share: in-memory deps, tokens, and requests sent the way the runtime
//! delivers them.

use std::collections::HashMap;
use std::time::Duration;

use jobcast_shared::auth::{JwtSettings, TokenVerifier, mint_hs256};
use jobcast_shared::clock::epoch_seconds;
use jobcast_shared::fakes::{InMemoryObjects, InMemoryStore, RecordingPusher};
use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::job::{Job, Stage};
use lambda_http::http::request::Builder;
use lambda_http::http::{Method, header};
use lambda_http::{Body, Request, RequestExt as _, Response};

use crate::config::Settings;
use crate::handler::{Deps, handle};

const SECRET: &[u8] = b"http-api-test-secret-http-api-test-secret";

pub(crate) type TestDeps = Deps<InMemoryStore, InMemoryObjects, RecordingPusher>;

pub(crate) fn deps(jobs: impl IntoIterator<Item = Job>) -> TestDeps {
    let store = InMemoryStore::default();
    for job in jobs {
        store.insert_job(job);
    }
    let jwt = JwtSettings {
        secret_arn: Some("jwt-secret".into()),
        public_key: None,
        jwks: None,
        issuer: None,
        audience: None,
        leeway_seconds: 0,
    };
    let verifier = TokenVerifier::new(&jwt, Some(SECRET), None).expect("valid settings");
    let settings = Settings {
        max_upload_bytes: 1_000_000,
        upload_url_ttl: Duration::from_secs(900),
        result_url_ttl: Duration::from_secs(300),
        push_concurrency: 4,
        job_retention: Duration::from_secs(86_400),
        max_jobs_per_minute: 100,
        max_jobs_in_flight: 100,
    };
    Deps { store, signer: InMemoryObjects::default(), pusher: RecordingPusher::default(), verifier, settings }
}

/// A job half done: 2 of 4 chunks, `seq` 5.
pub(crate) fn job(id: &str, owner: &str, created_at: i64) -> Job {
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

pub(crate) fn token(user: &str) -> String {
    mint_hs256(SECRET, &UserId::parse(user).expect("id"), epoch_seconds(), 600, None, None).expect("mint")
}

pub(crate) fn get(path: &str, user: Option<&str>) -> Builder {
    let builder = lambda_http::http::Request::builder().method(Method::GET).uri(format!("https://api.example{path}"));
    match user {
        Some(user) => builder.header(header::AUTHORIZATION, format!("Bearer {}", token(user))),
        None => builder,
    }
}

/// Sends a request the way lambda_http delivers one: query parameters already decoded.
pub(crate) async fn send(deps: &TestDeps, request: Builder) -> Response<Body> {
    let request: Request = request.body(Body::Empty).expect("request");
    let query: HashMap<String, String> = request
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

pub(crate) fn post(path: &str, user: &str, body: &str) -> (Builder, Body) {
    let builder = lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri(format!("https://api.example{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token(user)));
    (builder, Body::from(body.to_owned()))
}

pub(crate) async fn send_body(deps: &TestDeps, (builder, body): (Builder, Body)) -> Response<Body> {
    handle(deps, builder.body(body).expect("request")).await.expect("handled")
}

pub(crate) fn body_json(response: &Response<Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).expect("JSON body")
}
