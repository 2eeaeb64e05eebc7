//! What a job produces: the planner's manifest, one result per chunk, and the merged result.

use serde::{Deserialize, Serialize};

use crate::ids::JobId;
use crate::pdf::{ChunkPlan, PageText, PdfMetadata};

/// Written by the planner next to the chunks: what the merge must find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub page_count: u32,
    pub metadata: PdfMetadata,
    pub chunks: Vec<ChunkPlan>,
}

/// One chunk's extracted pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkResult {
    pub chunk_index: u32,
    pub pages: Vec<PageText>,
}

/// `result.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    pub job_id: JobId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub page_count: u32,
    pub word_count: usize,
    pub metadata: PdfMetadata,
    pub pages: Vec<PageText>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("chunk results cover pages {found:?}, expected 1..={expected}")]
    PagesMismatch { found: Vec<u32>, expected: u32 },
}

/// Combines chunk results in page order; every page of the manifest must appear exactly once.
pub fn merge(
    job_id: &JobId,
    file_name: Option<String>,
    manifest: &Manifest,
    chunks: Vec<ChunkResult>,
) -> Result<JobResult, MergeError> {
    let mut pages: Vec<PageText> = chunks.into_iter().flat_map(|c| c.pages).collect();
    pages.sort_by_key(|p| p.number);
    let numbers: Vec<u32> = pages.iter().map(|p| p.number).collect();
    if !numbers.iter().copied().eq(1..=manifest.page_count) {
        return Err(MergeError::PagesMismatch { found: numbers, expected: manifest.page_count });
    }
    Ok(JobResult {
        job_id: job_id.clone(),
        file_name,
        page_count: manifest.page_count,
        word_count: pages.iter().map(|p| p.word_count).sum(),
        metadata: manifest.metadata.clone(),
        pages,
    })
}

impl JobResult {
    /// `result.txt`: the pages' text in order, separated by form feeds as `pdftotext` does.
    pub fn text(&self) -> String {
        self.pages.iter().map(|p| p.text.trim_end()).collect::<Vec<_>>().join("\n\u{c}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(index: u32, numbers: &[u32]) -> ChunkResult {
        ChunkResult {
            chunk_index: index,
            pages: numbers.iter().map(|&n| PageText::new(n, format!("page {n} words"))).collect(),
        }
    }

    fn manifest(pages: u32) -> Manifest {
        Manifest { page_count: pages, metadata: PdfMetadata::default(), chunks: vec![] }
    }

    #[test]
    fn chunks_merge_in_page_order_whatever_order_they_arrive_in() {
        let id = JobId::parse("j1").expect("id");
        let result = merge(&id, None, &manifest(5), vec![chunk(1, &[4, 5]), chunk(0, &[1, 2, 3])]).expect("merge");
        assert_eq!(result.pages.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(result.word_count, 15);
        assert_eq!(result.text().split('\u{c}').count(), 5);
    }

    #[test]
    fn a_missing_or_doubled_page_is_an_error() {
        let id = JobId::parse("j1").expect("id");
        assert!(merge(&id, None, &manifest(5), vec![chunk(0, &[1, 2, 3])]).is_err());
        assert!(merge(&id, None, &manifest(3), vec![chunk(0, &[1, 2, 3]), chunk(1, &[3])]).is_err());
    }
}
