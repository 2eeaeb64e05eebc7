//! The jobcast library: everything the functions share.
//!
//! jobcast reports the progress of chunked PDF jobs to browsers over an API Gateway WebSocket.
//! This crate holds the domain (ids, the job and its progress checkpoints), the wire protocol,
//! JWT verification, typed configuration, the ports handlers are written against, and their
//! AWS adapters. It never depends on a Lambda runtime crate: event types stay in `functions/`.
//!
//! # Layout
//! | module | what lives there |
//! |---|---|
//! | [`ids`] | `JobId`, `UserId`, `ConnectionId`, `ChunkIndex`: parsed once, valid after |
//! | [`job`] | `Job`, `Stage`, `JobStatus` and the progress checkpoint table |
//! | [`protocol`] | client frames (`action`) and server messages (`type`), `JobSnapshot` |
//! | [`auth`] | `TokenVerifier`: HS256 (a secret), RS256 / ES256 (a public key, or an identity provider's JWKS cached in `auth::jwks`); `settings` (the environment), `context` (the authorizer context), `dev` (dev tokens and JWKS) |
//! | [`config`] | `Env`, `Tables`, `PushConfig`, TTLs |
//! | [`ports`] | the traits handlers see (`JobReader`, `ProgressRecorder`, `Pusher`, …) |
//! | [`pdf`] | bounded load, one-chunk-at-a-time split, budgeted text extraction, generators (`dev`) |
//! | [`result`] | the manifest, chunk results and the streamed `result.json` / `result.txt` |
//! | [`objects`] | `StreamingObject`: an object of any size written one part at a time |
//! | [`keys`] | object keys in the bucket |
//! | [`clock`] | epoch seconds (TTLs) and milliseconds (jobs) |
//! | [`dynamo`] | DynamoDB adapter for every store port: `item` mapping, one `retry_on_conflict`, `jobs` (and the sparse `byOpenStage` index), `progress` (chunk marks, counter, merge), `rooms` (connections, subscriptions, the per-connection subscription set), `limits` (per-user counters with leases) |
//! | [`s3`] | S3 adapter: objects, multipart uploads, presigned URLs |
//! | [`sqs`] | SQS adapters: the chunk queue, the unprocessable queue |
//! | [`push`] | Management API adapter, bounded fan-out, push-to-subscribers, best-effort notify |
//! | [`queue`] | `ChunkMessage`, the chunk queue's message |
//! | [`aws`] | SDK configuration with explicit timeouts; the Secrets Manager read and the token verifier (feature `tokens`) |
//! | [`telemetry`] | CloudWatch EMF metrics: names, labels, flush after each invocation |
//! | `fakes` | in-memory fakes of every port, by seam: `store`, `push`, `objects`, `queues` (feature `test-util`) |
//!
//! `aws` (default) gates the adapters: [`dynamo`], [`s3`], [`sqs`], [`aws`] and
//! `ManagementApiPusher`; `tokens` adds what the two functions that verify tokens need: the Secrets
//! Manager read and the HTTPS fetch of an identity provider's keys. `dev` adds what no Lambda ships: dev-token minting, PDF generators.

pub mod auth;
#[cfg(any(feature = "aws", feature = "tokens"))]
pub mod aws;
pub mod clock;
pub mod config;
#[cfg(feature = "aws")]
pub mod dynamo;
pub mod ids;
pub mod job;
pub mod keys;
pub mod objects;
pub mod pdf;
pub mod ports;
pub mod protocol;
pub mod push;
pub mod queue;
pub mod result;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(feature = "aws")]
pub mod sqs;
pub mod telemetry;

#[cfg(feature = "test-util")]
pub mod fakes;

/// The error type every Lambda handler returns to the runtime.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
