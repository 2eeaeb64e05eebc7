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
    #[error("the chunk results hold page {found} where page {expected} belongs")]
    PageOutOfOrder { found: u32, expected: u32 },
    #[error("the chunk results end after page {last}; the document has {expected}")]
    PagesMissing { last: u32, expected: u32 },
}

/// `result.json` and `result.txt`, produced a page at a time so the merge holds one chunk's
/// pages, never the whole document: `begin`, then `page` for every page in order, then `end`.
/// The JSON reads back as [`JobResult`]; `wordCount` comes last because it is known last.
#[derive(Debug)]
pub struct ResultMerger {
    page_count: u32,
    next_page: u32,
    word_count: usize,
}

impl ResultMerger {
    /// The merger and the start of `result.json`.
    pub fn begin(job_id: &JobId, file_name: Option<&str>, manifest: &Manifest) -> (Self, Vec<u8>) {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Head<'a> {
            job_id: &'a JobId,
            #[serde(skip_serializing_if = "Option::is_none")]
            file_name: Option<&'a str>,
            page_count: u32,
            metadata: &'a PdfMetadata,
        }
        let head = Head { job_id, file_name, page_count: manifest.page_count, metadata: &manifest.metadata };
        // Serializing plain structs of strings and numbers cannot fail.
        let mut json = serde_json::to_vec(&head).unwrap_or_default();
        json.pop(); // the closing brace: pages follow
        json.extend_from_slice(br#","pages":["#);
        (ResultMerger { page_count: manifest.page_count, next_page: 1, word_count: 0 }, json)
    }

    /// The next page's JSON and text. Pages must come in order, each exactly once.
    pub fn page(&mut self, page: &PageText) -> Result<(Vec<u8>, Vec<u8>), MergeError> {
        if page.number != self.next_page || page.number > self.page_count {
            return Err(MergeError::PageOutOfOrder { found: page.number, expected: self.next_page });
        }
        let first = self.next_page == 1;
        self.next_page += 1;
        self.word_count += page.word_count;
        let mut json = if first { Vec::new() } else { b",".to_vec() };
        json.extend(serde_json::to_vec(page).unwrap_or_default());
        // Pages are separated by form feeds, as `pdftotext` does.
        let mut text = if first { Vec::new() } else { b"\n\x0c".to_vec() };
        text.extend_from_slice(page.text.trim_end().as_bytes());
        Ok((json, text))
    }

    /// The end of `result.json`, once every page was given.
    pub fn end(self) -> Result<Vec<u8>, MergeError> {
        if self.next_page != self.page_count + 1 {
            return Err(MergeError::PagesMissing { last: self.next_page - 1, expected: self.page_count });
        }
        Ok(format!(r#"],"wordCount":{}}}"#, self.word_count).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: u32) -> PageText {
        PageText::new(n, format!("page {n} words"))
    }

    fn manifest(pages: u32) -> Manifest {
        Manifest { page_count: pages, metadata: PdfMetadata::default(), chunks: vec![] }
    }

    fn merge_all(pages: u32, numbers: &[u32]) -> Result<(JobResult, String), MergeError> {
        let id = JobId::parse("j1").expect("id");
        let (mut merger, mut json) = ResultMerger::begin(&id, Some("a.pdf"), &manifest(pages));
        let mut text = Vec::new();
        for &n in numbers {
            let (j, t) = merger.page(&page(n))?;
            json.extend(j);
            text.extend(t);
        }
        json.extend(merger.end()?);
        let result: JobResult = serde_json::from_slice(&json).expect("result.json parses as a JobResult");
        Ok((result, String::from_utf8(text).expect("utf8")))
    }

    #[test]
    fn pages_stream_into_a_result_that_reads_back_whole() {
        let (result, text) = merge_all(3, &[1, 2, 3]).expect("merge");
        assert_eq!(result.pages.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!((result.page_count, result.word_count), (3, 9));
        assert_eq!(result.file_name.as_deref(), Some("a.pdf"));
        assert_eq!(text.split('\u{c}').count(), 3);
        assert!(text.starts_with("page 1 words\n\u{c}page 2"));
    }

    #[test]
    fn a_missing_doubled_or_misplaced_page_is_an_error() {
        assert_eq!(merge_all(3, &[1, 2]).map(|_| ()), Err(MergeError::PagesMissing { last: 2, expected: 3 }));
        assert_eq!(merge_all(3, &[1, 1]).map(|_| ()), Err(MergeError::PageOutOfOrder { found: 1, expected: 2 }));
        assert!(merge_all(2, &[1, 2, 3]).is_err());
    }
}
