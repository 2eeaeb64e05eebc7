//! The WebSocket protocol: what clients send (`action`) and what the server pushes (`type`).
//!
//! Field names are camelCase on the wire. Every server message about a job carries `seq`;
//! clients drop anything not newer than the last `seq` they applied.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ids::JobId;
use crate::job::{Job, JobStatus, Stage};

/// A frame from a client, routed on `$request.body.action`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMessage {
    SubscribeJob {
        job_id: JobId,
    },
    UnsubscribeJob {
        job_id: JobId,
    },
    /// Keeps the socket inside API Gateway's idle timeout. The client's first ping after it
    /// reconnected says how many reconnects that took, which the server counts.
    Ping {
        #[serde(default)]
        reconnects: u32,
    },
}

/// Reconnects one ping may report: the client gives up after five tries, and a client that
/// claims more cannot inflate the metric.
pub const MAX_REPORTED_RECONNECTS: u32 = 10;

/// Why a client frame was refused. Each maps to one `error.code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the message is not a JSON object")]
    MalformedJson,
    #[error("the message has no string \"action\" field")]
    MissingAction,
    #[error("unknown action {0:?}; expected subscribe_job, unsubscribe_job or ping")]
    UnknownAction(String),
    #[error("invalid {action} message: {detail}")]
    InvalidFields { action: &'static str, detail: String },
}

impl FrameError {
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::MalformedJson => ErrorCode::MalformedMessage,
            FrameError::MissingAction | FrameError::InvalidFields { .. } => ErrorCode::InvalidMessage,
            FrameError::UnknownAction(_) => ErrorCode::UnknownAction,
        }
    }
}

const ACTIONS: [&str; 3] = ["subscribe_job", "unsubscribe_job", "ping"];

impl ClientMessage {
    /// Parses one frame, telling apart broken JSON, a missing or unknown action and bad fields.
    pub fn parse(frame: &str) -> Result<Self, FrameError> {
        let value: serde_json::Value = serde_json::from_str(frame).map_err(|_| FrameError::MalformedJson)?;
        let Some(object) = value.as_object() else {
            return Err(FrameError::MalformedJson);
        };
        let Some(action) = object.get("action").and_then(|a| a.as_str()) else {
            return Err(FrameError::MissingAction);
        };
        let Some(action) = ACTIONS.into_iter().find(|known| *known == action) else {
            return Err(FrameError::UnknownAction(truncate(action, 64)));
        };
        serde_json::from_value(value).map_err(|e| FrameError::InvalidFields { action, detail: e.to_string() })
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The machine-readable half of an `error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MalformedMessage,
    InvalidMessage,
    UnknownAction,
    /// The job does not exist *or* belongs to someone else: the two are indistinguishable.
    NotFound,
    Unauthorized,
    /// The connection's token has expired: the server closes the socket after this reply;
    /// reconnect with a fresh token.
    TokenExpired,
    /// The connection follows as many jobs as it may; unsubscribe from one first.
    TooManySubscriptions,
    Internal,
}

/// A job as every client-facing surface shows it (WebSocket and HTTP alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSnapshot {
    pub job_id: JobId,
    pub status: JobStatus,
    pub stage: Stage,
    pub progress: u8,
    pub message: String,
    pub chunks_done: u32,
    pub chunks_total: u32,
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Job> for JobSnapshot {
    fn from(job: &Job) -> Self {
        let progress = job.progress();
        JobSnapshot {
            job_id: job.id.clone(),
            status: job.stage.status(),
            stage: job.stage,
            progress: progress.percent,
            message: progress.message,
            chunks_done: job.chunks_done,
            chunks_total: job.chunks_total,
            seq: job.seq,
            file_name: job.file_name.clone(),
            error: job.error.clone(),
            created_at: rfc3339_millis(job.created_at),
            updated_at: rfc3339_millis(job.updated_at),
        }
    }
}

/// Formats epoch milliseconds; out-of-range values (never written by us) fall back to the epoch.
pub fn rfc3339_millis(epoch_millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ServerMessage {
    /// The answer to `subscribe_job`: the current snapshot, which closes the subscribe/update race.
    Subscribed {
        job_id: JobId,
        job: JobSnapshot,
    },
    Unsubscribed {
        job_id: JobId,
    },
    /// A change of a job the connection subscribed to.
    JobUpdate(JobSnapshot),
    /// The terminal change of a job, sent instead of a `job_update` for it. `job` is the final
    /// snapshot, so clients show the server's own wording ("Completed", "Failed: …") rather
    /// than rebuilding it.
    JobCompleted {
        job_id: JobId,
        status: JobStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        seq: u64,
        job: Box<JobSnapshot>,
    },
    /// A job of this user appeared or finished (sent to every connection of the owner).
    JobListUpdate {
        job_id: JobId,
        status: JobStatus,
    },
    Pong,
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<JobId>,
    },
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error { code, message: message.into(), job_id: None }
    }

    pub fn not_found(job_id: JobId) -> Self {
        ServerMessage::Error { code: ErrorCode::NotFound, message: "no such job".to_owned(), job_id: Some(job_id) }
    }

    /// `job_completed` for a job in a terminal stage.
    pub fn completed(job: &Job, result_url: Option<String>) -> Self {
        ServerMessage::JobCompleted {
            job_id: job.id.clone(),
            status: job.stage.status(),
            result_url,
            error: job.error.clone(),
            seq: job.seq,
            job: Box::new(JobSnapshot::from(job)),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing these types cannot fail: no maps with non-string keys, no custom impls.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use serde_json::json;

    fn job_id(s: &str) -> JobId {
        JobId::parse(s).expect("valid test id")
    }

    #[test]
    fn good_frames_parse_into_actions() {
        assert_eq!(
            ClientMessage::parse(r#"{"action":"subscribe_job","jobId":"j1"}"#),
            Ok(ClientMessage::SubscribeJob { job_id: job_id("j1") })
        );
        assert_eq!(
            ClientMessage::parse(r#"{"action":"unsubscribe_job","jobId":"j1","extra":1}"#),
            Ok(ClientMessage::UnsubscribeJob { job_id: job_id("j1") })
        );
        assert_eq!(ClientMessage::parse(r#"{"action":"ping"}"#), Ok(ClientMessage::Ping { reconnects: 0 }));
        assert_eq!(
            ClientMessage::parse(r#"{"action":"ping","reconnects":2}"#),
            Ok(ClientMessage::Ping { reconnects: 2 })
        );
        assert!(ClientMessage::parse(r#"{"action":"ping","reconnects":-1}"#).is_err());
    }

    #[test]
    fn bad_frames_are_told_apart() {
        let code = |frame: &str| ClientMessage::parse(frame).map_err(|e| e.code());
        assert_eq!(code("not json"), Err(ErrorCode::MalformedMessage));
        assert_eq!(code("[1,2]"), Err(ErrorCode::MalformedMessage));
        assert_eq!(code(r#"{"jobId":"j1"}"#), Err(ErrorCode::InvalidMessage));
        assert_eq!(code(r#"{"action":7}"#), Err(ErrorCode::InvalidMessage));
        assert_eq!(code(r#"{"action":"delete_everything"}"#), Err(ErrorCode::UnknownAction));
        assert_eq!(code(r#"{"action":"subscribe_job"}"#), Err(ErrorCode::InvalidMessage));
        assert_eq!(code(r#"{"action":"subscribe_job","jobId":"../x"}"#), Err(ErrorCode::InvalidMessage));
        assert_eq!(code(r#"{"action":"subscribe_job","jobId":42}"#), Err(ErrorCode::InvalidMessage));
    }

    #[test]
    fn an_unknown_action_is_echoed_back_truncated() {
        let long = "x".repeat(500);
        let err = ClientMessage::parse(&format!(r#"{{"action":"{long}"}}"#)).expect_err("unknown");
        assert_eq!(err, FrameError::UnknownAction("x".repeat(64)));
    }

    fn sample_job() -> Job {
        Job {
            id: job_id("j1"),
            owner: UserId::parse("alice").expect("valid"),
            stage: Stage::Processing,
            chunks_done: 2,
            chunks_total: 4,
            seq: 9,
            file_name: Some("a.pdf".into()),
            error: None,
            created_at: 0,
            updated_at: 1_700_000_000_123,
        }
    }

    #[test]
    fn job_update_is_a_flat_camel_case_object() {
        let msg = ServerMessage::JobUpdate(JobSnapshot::from(&sample_job()));
        let value: serde_json::Value = serde_json::from_slice(&msg.to_json()).expect("json");
        assert_eq!(
            value,
            json!({
                "type": "job_update", "jobId": "j1", "status": "processing", "stage": "processing",
                "progress": 45, "message": "Processed 2/4 chunks", "chunksDone": 2, "chunksTotal": 4,
                "seq": 9, "fileName": "a.pdf", "createdAt": "1970-01-01T00:00:00Z",
                "updatedAt": "2023-11-14T22:13:20.123Z"
            })
        );
    }

    #[test]
    fn server_messages_round_trip() {
        let messages = [
            ServerMessage::Subscribed { job_id: job_id("j1"), job: JobSnapshot::from(&sample_job()) },
            ServerMessage::Pong,
            ServerMessage::not_found(job_id("j2")),
            ServerMessage::JobCompleted {
                job_id: job_id("j1"),
                status: JobStatus::Failed,
                result_url: None,
                error: Some("encrypted".into()),
                seq: 3,
                job: Box::new(JobSnapshot::from(&sample_job())),
            },
            ServerMessage::JobListUpdate { job_id: job_id("j1"), status: JobStatus::Pending },
        ];
        for msg in messages {
            let back: ServerMessage = serde_json::from_slice(&msg.to_json()).expect("round trip");
            assert_eq!(back, msg);
        }
        let pong: serde_json::Value = serde_json::from_slice(&ServerMessage::Pong.to_json()).expect("json");
        assert_eq!(pong, json!({"type": "pong"}));
    }
}
