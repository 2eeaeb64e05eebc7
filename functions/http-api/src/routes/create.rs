//! `POST /jobs`: a queued job and a presigned upload for its PDF.

use std::collections::BTreeMap;

use jobcast_shared::clock;
use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::ports::{Pusher, StoreError, UrlSigner};
use jobcast_shared::protocol::JobSnapshot;
use jobcast_shared::push::Notifier;
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
    jobcast_shared::telemetry::count(jobcast_shared::telemetry::name::JOBS_CREATED, 1);
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

#[cfg(test)]
mod tests {
    use crate::test_support::{body_json, deps, get, post, send, send_body};
    use jobcast_shared::ids::{ConnectionId, JobId, UserId};
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
    }
}
