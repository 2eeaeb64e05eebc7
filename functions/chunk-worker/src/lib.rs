//! The chunk worker's handler, as a library so the cost benchmark (`examples/cost.rs`) drives
//! the very code the Lambda runs. `main.rs` is the Lambda wiring.
//!
//! | module | what lives there |
//! |---|---|
//! | `handler` | one chunk message: extract, count idempotently, push, start the merge |
//! | `merge` | the streamed merge into `result.json` / `result.txt`, then completion |
//! | `batch` | SQS batch plumbing: last delivery, partial-batch failures |
//! | `error` | `ChunkError`: retryable or not, and the user's words for it |
//! | `settings` | `Settings::from_env`, every default once |

mod batch;
pub mod error;
pub mod handler;
mod merge;
pub mod settings;
