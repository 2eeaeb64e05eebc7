//! `POST /jobs`: a queued job and a presigned upload for its PDF.

use std::collections::BTreeMap;

use jobcast_shared::clock;
use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::ports::{Allowance, Pusher, StoreError, UrlSigner};
use jobcast_shared::protocol::JobSnapshot;
use jobcast_shared::push::Notifier;
use jobcast_shared::telemetry::{self, label, name};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::handler::{ApiStore, Deps, json_response};

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
    upload_headers: BTreeMap<&'static str, &'static str>,
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
pub(crate) async fn create_job<S, U, P>(
    deps: &Deps<S, U, P>,
    user: &UserId,
    body: &Body,
) -> Result<Response<Body>, ApiError>
where
    S: ApiStore,
    U: UrlSigner,
    P: Pusher,
{
    let new = parse_new_job(body, deps.settings.max_upload_bytes)?;
    take_allowances(deps, user).await?;
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
    let created = deps.store.create_job(&job).await;
    if !matches!(created, Ok(true)) {
        // The job never existed, so it will never end and give its slot back.
        give_back(deps, user).await;
        created?;
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
    telemetry::count(name::JOBS_CREATED, 1);
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

/// How long a user at the in-flight limit is asked to wait: about as long as a job takes.
const IN_FLIGHT_RETRY_AFTER_SECONDS: u64 = 30;

/// One in-flight slot and one unit of this minute's job allowance, or a 429 saying when to
/// come back. Both are conditional counter writes, so concurrent requests cannot overshoot.
async fn take_allowances<S: ApiStore, U, P>(deps: &Deps<S, U, P>, user: &UserId) -> Result<(), ApiError> {
    let settings = &deps.settings;
    if !deps.store.acquire(user, Allowance::JobsInFlight, settings.max_jobs_in_flight).await? {
        telemetry::count_by(name::LIMITS_REACHED, label::REASON, "jobs_in_flight", 1);
        return Err(ApiError::TooManyRequests {
            message: format!("{} jobs are still running; wait for one to finish", settings.max_jobs_in_flight),
            retry_after_seconds: IN_FLIGHT_RETRY_AFTER_SECONDS,
        });
    }
    let now = clock::epoch_seconds();
    let window_start = now - now % 60;
    let this_minute = deps.store.acquire(user, Allowance::JobsPerMinute { window_start }, settings.max_jobs_per_minute);
    let granted = this_minute.await;
    if !matches!(granted, Ok(true)) {
        give_back(deps, user).await;
        granted?;
        telemetry::count_by(name::LIMITS_REACHED, label::REASON, "jobs_per_minute", 1);
        return Err(ApiError::TooManyRequests {
            message: format!("at most {} jobs per minute", settings.max_jobs_per_minute),
            retry_after_seconds: (window_start + 60 - now).max(1),
        });
    }
    Ok(())
}

/// Gives back the in-flight slot of a job that was never created. A failure is logged, not
/// answered: the caller already has the error that matters, and the count's lease heals.
async fn give_back<S: ApiStore, U, P>(deps: &Deps<S, U, P>, user: &UserId) {
    if let Err(err) = deps.store.release(user, Allowance::JobsInFlight).await {
        tracing::warn!(error = %err, "in-flight slot not given back");
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{body_json, deps, get, post, send, send_body};
    use jobcast_shared::ids::{ConnectionId, JobId, UserId};
    use jobcast_shared::ports::{Allowance, JobStages as _, StageChange};
    use jobcast_shared::protocol::ServerMessage;
    use lambda_http::http::StatusCode;

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
        let alice = UserId::parse("alice").expect("id");
        assert_eq!(deps.store.taken(&alice, Allowance::JobsInFlight), 0, "a refused body takes no slot");
    }

    const NEW_JOB: &str = r#"{"fileName":"report.pdf","sizeBytes":1234}"#;

    #[tokio::test]
    async fn a_user_at_the_in_flight_limit_gets_429_with_retry_after_until_a_job_ends() {
        let mut deps = deps([]);
        deps.settings.max_jobs_in_flight = 2;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let response = send_body(&deps, post("/jobs", "alice", NEW_JOB)).await;
            assert_eq!(response.status(), StatusCode::CREATED);
            ids.push(JobId::parse(body_json(&response)["jobId"].as_str().expect("id")).expect("id"));
        }
        let refused = send_body(&deps, post("/jobs", "alice", NEW_JOB)).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["retry-after"], "30");
        assert_eq!(body_json(&refused)["error"]["code"], "too_many_requests");
        // Someone else is not affected.
        assert_eq!(send_body(&deps, post("/jobs", "bob", NEW_JOB)).await.status(), StatusCode::CREATED);
        // A job that ends gives its slot back.
        deps.store.advance(&ids[0], &StageChange::fail("test")).await.expect("fail").expect("moved");
        assert_eq!(send_body(&deps, post("/jobs", "alice", NEW_JOB)).await.status(), StatusCode::CREATED);
    }

    #[tokio::test]
    async fn a_user_over_the_per_minute_limit_gets_429_and_keeps_no_in_flight_slot() {
        let mut deps = deps([]);
        deps.settings.max_jobs_per_minute = 1;
        assert_eq!(send_body(&deps, post("/jobs", "alice", NEW_JOB)).await.status(), StatusCode::CREATED);
        let refused = send_body(&deps, post("/jobs", "alice", NEW_JOB)).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = refused.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let alice = UserId::parse("alice").expect("id");
        assert_eq!(deps.store.taken(&alice, Allowance::JobsInFlight), 1, "only the created job holds a slot");
    }
}
