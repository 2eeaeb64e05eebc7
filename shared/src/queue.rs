//! Messages on the chunk queue.

use serde::{Deserialize, Serialize};

use crate::ids::{ChunkIndex, JobId};

/// One chunk of a job to process. The planner sends one per chunk; a worker may see it twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkMessage {
    pub job_id: JobId,
    pub chunk_index: ChunkIndex,
    /// The chunk's first page in the original document (1-based).
    pub first_page: u32,
}

impl ChunkMessage {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        let message: Self = serde_json::from_str(body)?;
        if message.first_page == 0 {
            return Err(serde::de::Error::custom("firstPage is 1-based"));
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_messages_parse_and_refuse_garbage() {
        let msg = ChunkMessage::parse(r#"{"jobId":"j1","chunkIndex":3,"firstPage":31}"#).expect("valid");
        assert_eq!((msg.chunk_index.get(), msg.first_page), (3, 31));
        for bad in [
            "",
            "{}",
            r#"{"jobId":"j1","chunkIndex":3}"#,
            r#"{"jobId":"j 1","chunkIndex":3,"firstPage":1}"#,
            r#"{"jobId":"j1","chunkIndex":-1,"firstPage":1}"#,
            r#"{"jobId":"j1","chunkIndex":1,"firstPage":0}"#,
        ] {
            assert!(ChunkMessage::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
