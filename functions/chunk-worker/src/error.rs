//! Why a chunk message was not processed, whether another delivery could help, and the words
//! the user reads when it ends the job.

use jobcast_shared::ids::ChunkIndex;
use jobcast_shared::pdf::PdfError;
use jobcast_shared::ports::{ObjectError, StoreError};
use jobcast_shared::result::MergeError;

/// Why one message was not processed. A failure another delivery could cure is reported in
/// `batchItemFailures`, so it is retried and, past the queue's `maxReceiveCount`, handed to
/// the DLQ consumer; one that no retry can cure ends the job at once
/// ([`ChunkError::is_retryable`]). Either way nothing is dropped.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("message body is not a chunk message")]
    BadMessage(#[source] serde_json::Error),
    #[error("chunk {index} is unreadable")]
    Object {
        index: ChunkIndex,
        #[source]
        source: ObjectError,
    },
    #[error("chunk {index} is not a readable PDF")]
    Pdf {
        index: ChunkIndex,
        #[source]
        source: PdfError,
    },
    #[error("a chunk result could not be read ({key})")]
    ChunkResult {
        key: String,
        #[source]
        source: ObjectError,
    },
    #[error("a stored result is not valid JSON ({key})")]
    ResultJson {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the chunk results do not add up")]
    Merge(#[from] MergeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ChunkError {
    /// Whether another delivery could end differently. The same bytes parse the same way, and
    /// an object the planner never wrote stays missing (S3 is strongly consistent), so those
    /// failures end the job now rather than after every retry's visibility timeout.
    pub fn is_retryable(&self) -> bool {
        match self {
            ChunkError::Object { source, .. } | ChunkError::ChunkResult { source, .. } => {
                matches!(source, ObjectError::Unexpected(_))
            }
            // Corrupt stored data reads the same on every delivery.
            ChunkError::Store(StoreError::Corrupt(_)) => false,
            ChunkError::Store(_) => true,
            ChunkError::BadMessage(_)
            | ChunkError::Pdf { .. }
            | ChunkError::ResultJson { .. }
            | ChunkError::Merge(_) => false,
        }
    }

    /// The failure reason the user reads when this error ends the job: the cause in words,
    /// never an object key or an SDK message.
    pub fn user_reason(&self, chunk: ChunkIndex) -> String {
        match self {
            ChunkError::Pdf { source, .. } => format!("chunk {chunk} could not be read: {source}"),
            ChunkError::Merge(_) | ChunkError::ChunkResult { .. } | ChunkError::ResultJson { .. } => {
                "merging the results failed; please upload again".to_owned()
            }
            _ => format!("chunk {chunk} could not be processed; please upload again"),
        }
    }
}
