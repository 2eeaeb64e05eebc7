//! The job, its lifecycle and the progress checkpoint table.
//!
//! Progress is never stored: it is a pure function of the stage and the chunk counts, so the
//! snapshot a client gets from a push, a subscribe or a poll can never disagree with itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, UserId};

/// Where a job is in its life. Ordered: a job only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Created, waiting for the PDF upload.
    Queued,
    /// Upload seen; the planner is analyzing the PDF.
    Analyzing,
    /// The chunk plan is known.
    Chunked,
    /// Chunks are on the queue or being worked on.
    Processing,
    /// Every chunk is done; the results are being merged.
    Merging,
    Completed,
    Failed,
}

/// The coarse status clients filter on (`job_list_update`, `GET /jobs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Queued,
        Stage::Analyzing,
        Stage::Chunked,
        Stage::Processing,
        Stage::Merging,
        Stage::Completed,
        Stage::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Queued => "queued",
            Stage::Analyzing => "analyzing",
            Stage::Chunked => "chunked",
            Stage::Processing => "processing",
            Stage::Merging => "merging",
            Stage::Completed => "completed",
            Stage::Failed => "failed",
        }
    }

    pub fn status(self) -> JobStatus {
        match self {
            Stage::Queued => JobStatus::Pending,
            Stage::Analyzing | Stage::Chunked | Stage::Processing | Stage::Merging => JobStatus::Processing,
            Stage::Completed => JobStatus::Completed,
            Stage::Failed => JobStatus::Failed,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Completed | Stage::Failed)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage {0:?}")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL.into_iter().find(|stage| stage.as_str() == s).ok_or_else(|| UnknownStage(s.to_owned()))
    }
}

/// A job as stored. `seq` grows by one with every change, so clients can order what they see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub owner: UserId,
    pub stage: Stage,
    pub chunks_done: u32,
    pub chunks_total: u32,
    pub seq: u64,
    pub file_name: Option<String>,
    /// Why the job failed; set only in [`Stage::Failed`].
    pub error: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

impl Job {
    pub fn progress(&self) -> Progress {
        progress(self.stage, self.chunks_done, self.chunks_total, self.error.as_deref())
    }

    pub fn is_owned_by(&self, user: &UserId) -> bool {
        &self.owner == user
    }
}

/// What a progress bar shows: a whole percent and a line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub percent: u8,
    pub message: String,
}

/// Checkpoints of the pipeline (from the seeds, exact).
pub mod checkpoint {
    pub const STARTED: u8 = 5;
    pub const CHUNKED: u8 = 10;
    pub const PROCESSING: u8 = 15;
    /// Chunk processing spans `PROCESSING..MERGING`.
    pub const PROCESSING_SPAN: u8 = 60;
    pub const MERGING: u8 = 75;
    pub const DONE: u8 = 100;
}

/// The progress checkpoint table: 5 analyzing, 10 chunked, 15 + 60·done/total while
/// processing (rounded down, so 75 is reached only by the merge), 75 merging, 100 done.
pub fn progress(stage: Stage, chunks_done: u32, chunks_total: u32, error: Option<&str>) -> Progress {
    use checkpoint::*;
    let (percent, message) = match stage {
        Stage::Queued => (0, "Waiting for upload".to_owned()),
        Stage::Analyzing => (STARTED, "Job started, analyzing PDF".to_owned()),
        Stage::Chunked => (CHUNKED, "Chunks calculated".to_owned()),
        Stage::Processing if chunks_done == 0 || chunks_total == 0 => (PROCESSING, "Processing chunks".to_owned()),
        Stage::Processing => {
            let done = chunks_done.min(chunks_total);
            (processing_percent(done, chunks_total), format!("Processed {done}/{chunks_total} chunks"))
        }
        Stage::Merging => (MERGING, "Merging results".to_owned()),
        Stage::Completed => (DONE, "Completed".to_owned()),
        Stage::Failed => (DONE, format!("Failed: {}", error.unwrap_or("unknown error"))),
    };
    Progress { percent, message }
}

/// `15 + 60·done/total`, in whole percent, rounded down.
pub fn processing_percent(chunks_done: u32, chunks_total: u32) -> u8 {
    use checkpoint::*;
    if chunks_total == 0 {
        return PROCESSING;
    }
    let done = u64::from(chunks_done.min(chunks_total));
    let span = done * u64::from(PROCESSING_SPAN) / u64::from(chunks_total);
    // span <= 60, so the sum always fits.
    PROCESSING + u8::try_from(span).unwrap_or(PROCESSING_SPAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_checkpoint_has_the_seeded_percent_and_text() {
        let at = |stage, done, total| progress(stage, done, total, None);
        assert_eq!(at(Stage::Analyzing, 0, 0), Progress { percent: 5, message: "Job started, analyzing PDF".into() });
        assert_eq!(at(Stage::Chunked, 0, 8), Progress { percent: 10, message: "Chunks calculated".into() });
        assert_eq!(at(Stage::Processing, 0, 8), Progress { percent: 15, message: "Processing chunks".into() });
        assert_eq!(at(Stage::Processing, 1, 4), Progress { percent: 30, message: "Processed 1/4 chunks".into() });
        assert_eq!(at(Stage::Processing, 3, 4).percent, 60);
        assert_eq!(at(Stage::Merging, 4, 4), Progress { percent: 75, message: "Merging results".into() });
        assert_eq!(at(Stage::Completed, 4, 4), Progress { percent: 100, message: "Completed".into() });
        assert_eq!(
            progress(Stage::Failed, 1, 4, Some("PDF is encrypted")),
            Progress { percent: 100, message: "Failed: PDF is encrypted".into() }
        );
    }

    #[test]
    fn processing_percent_rounds_down_and_stays_in_its_span() {
        assert_eq!(processing_percent(1, 3), 35);
        assert_eq!(processing_percent(2, 3), 55);
        assert_eq!(processing_percent(3, 3), 75);
        assert_eq!(processing_percent(1, 10_000), 15);
        assert_eq!(processing_percent(167, 10_000), 16);
        // More done than planned (a bug elsewhere) must not overflow the bar.
        assert_eq!(processing_percent(9, 3), 75);
        assert_eq!(processing_percent(0, 0), 15);
    }

    #[test]
    fn progress_never_goes_backwards_as_chunks_complete() {
        for total in [1u32, 2, 3, 7, 10, 61, 1_000] {
            let mut last = 0;
            for done in 0..=total {
                let p = progress(Stage::Processing, done, total, None).percent;
                assert!(p >= last, "total {total}: {done} gave {p} after {last}");
                assert!((15..=75).contains(&p));
                last = p;
            }
        }
    }

    #[test]
    fn stages_round_trip_through_their_names_and_map_to_a_status() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(stage));
        }
        assert!("done".parse::<Stage>().is_err());
        assert_eq!(Stage::Merging.status(), JobStatus::Processing);
        assert_eq!(Stage::Queued.status(), JobStatus::Pending);
        assert!(Stage::Failed.is_terminal() && !Stage::Merging.is_terminal());
    }
}
