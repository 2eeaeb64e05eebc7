//! `GET /jobs/{id}/result`: short-lived links to a completed job's result files.

use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::job::Stage;
use jobcast_shared::keys;
use jobcast_shared::ports::UrlSigner;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

use super::owned_job;
use crate::error::ApiError;
use crate::handler::{ApiStore, Deps, json_response};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultLinks {
    job_id: JobId,
    result_url: String,
    text_url: String,
    expires_in_seconds: u64,
}

pub(crate) async fn get_result<S, U, P>(
    deps: &Deps<S, U, P>,
    user: &UserId,
    raw_id: &str,
) -> Result<Response<Body>, ApiError>
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

#[cfg(test)]
mod tests {
    use crate::test_support::{body_json, deps, get, job, send};
    use jobcast_shared::job::Stage;
    use lambda_http::http::StatusCode;

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
