//! PDF analysis, splitting and text extraction (lopdf), under explicit budgets.
//!
//! lopdf parses a whole document eagerly, so the planner parses an upload once and writes one
//! small PDF per chunk; workers then parse only their chunk, never the full file again. Every
//! loop over what a user sent has a budget beside it ([`PdfLimits`], [`TextBudget`]), so any
//! input ends in a result or a readable reason, in bounded time and memory.
//!
//! | module | what lives there |
//! |---|---|
//! | `load` | parsing under a per-document budget (objects kept, bytes inflated) |
//! | `split` | one chunk PDF from the parsed upload: only what its pages reach |
//! | [`extract`] | page text under per-page and per-chunk budgets |
//! | `generate` | test and benchmark documents, hostile ones included (feature `dev`) |

pub mod extract;
#[cfg(any(test, feature = "dev"))]
pub mod generate;
mod load;
mod split;
mod text;

use lopdf::{Document, Object, ObjectId};
use serde::{Deserialize, Serialize};

pub use extract::TextBudget;
#[cfg(any(test, feature = "dev"))]
pub use generate::{generate, sample_page_text};
pub use load::Recovery;

/// Bounds applied to untrusted PDFs. Memory per function scales with these (README, "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Largest accepted file.
    pub max_bytes: usize,
    /// Most pages a document may have.
    pub max_pages: u32,
    /// Most bytes any one stream may decompress to (against decompression bombs).
    pub max_decompressed_bytes: usize,
    /// Most bytes all of a document's object streams may inflate to, together.
    pub max_document_inflated_bytes: usize,
    /// Most objects a document may hold.
    pub max_objects: usize,
    /// Largest chunk PDF the planner writes (images and font programs are left out of chunks).
    pub max_chunk_bytes: usize,
    /// What extracting a chunk's text may spend.
    pub text: TextBudget,
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits {
            max_bytes: 50 << 20,
            max_pages: 2_000,
            max_decompressed_bytes: 32 << 20,
            max_document_inflated_bytes: 128 << 20,
            max_objects: 500_000,
            max_chunk_bytes: 16 << 20,
            text: TextBudget::default(),
        }
    }
}

/// Why a PDF cannot be processed. The `Display` text is shown to the user as the failure reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("the file is empty")]
    EmptyFile,
    #[error("the file is {bytes} bytes; the limit is {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error("the file is not a readable PDF ({0})")]
    Corrupt(String),
    #[error("the PDF is encrypted with a password")]
    Encrypted,
    #[error("the PDF has no pages")]
    NoPages,
    #[error("the PDF has {pages} pages; the limit is {max}")]
    TooManyPages { pages: u32, max: u32 },
    #[error("the PDF holds more than {max} objects")]
    TooManyObjects { max: usize },
    #[error("the PDF's compressed data inflates past {max_mb} MB")]
    InflatesTooMuch { max_mb: usize },
    #[error("pages {first_page}-{last_page} need {mb} MB even without their images; the limit is {max_mb} MB")]
    ChunkTooLarge { first_page: u32, last_page: u32, mb: usize, max_mb: usize },
    #[error("a chunk could not be written ({0})")]
    Split(String),
}

/// Document-level facts kept in the result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PdfMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    pub pdf_version: String,
    /// Set when the file was damaged and had to be recovered to be read: what was wrong and
    /// how its content was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
}

/// A loaded, checked document.
#[derive(Debug)]
pub struct Analyzed {
    document: Document,
    page_ids: Vec<ObjectId>,
    pub page_count: u32,
    pub metadata: PdfMetadata,
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Loads and checks an upload: readable, not password-protected, 1..=max pages.
pub fn analyze(bytes: &[u8], limits: &PdfLimits) -> Result<Analyzed, PdfError> {
    let load::Loaded { document, pages: page_ids, recovery } = load::load(bytes, limits)?;
    let page_count = u32::try_from(page_ids.len()).unwrap_or(u32::MAX);
    if page_count == 0 {
        return Err(PdfError::NoPages);
    }
    if page_count > limits.max_pages {
        return Err(PdfError::TooManyPages { pages: page_count, max: limits.max_pages });
    }
    let metadata = PdfMetadata { recovered: recovery.map(|r| r.to_string()), ..metadata(&document) };
    Ok(Analyzed { document, page_ids, page_count, metadata })
}

fn metadata(document: &Document) -> PdfMetadata {
    let info = document.trailer.get(b"Info").ok().and_then(|info| match info {
        Object::Reference(id) => document.get_dictionary(*id).ok(),
        Object::Dictionary(dict) => Some(dict),
        _ => None,
    });
    let field = |key: &[u8]| {
        info.and_then(|dict| dict.get(key).ok())
            .and_then(|value| value.as_str().ok())
            .map(decode_text_string)
            .map(|s| truncate(s.trim(), 512))
            .filter(|s| !s.is_empty())
    };
    PdfMetadata {
        title: field(b"Title"),
        author: field(b"Author"),
        producer: field(b"Producer"),
        creator: field(b"Creator"),
        pdf_version: truncate(&document.version, 16),
        recovered: None,
    }
}

/// PDF text strings are UTF-16BE with a BOM, or PDFDocEncoding (Latin-1 for our purposes).
fn decode_text_string(bytes: &[u8]) -> String {
    match bytes {
        [0xFE, 0xFF, rest @ ..] => {
            let units: Vec<u16> = rest.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
            String::from_utf16_lossy(&units)
        }
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// One chunk of the plan: pages `first_page..=last_page` (1-based, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkPlan {
    pub index: u32,
    pub first_page: u32,
    pub last_page: u32,
}

/// Consecutive runs of `chunk_pages` pages (the last one may be shorter).
pub fn plan_chunks(page_count: u32, chunk_pages: u32) -> Vec<ChunkPlan> {
    let chunk_pages = chunk_pages.max(1);
    (0..page_count.div_ceil(chunk_pages))
        .map(|index| {
            let first_page = index * chunk_pages + 1;
            ChunkPlan { index, first_page, last_page: (first_page + chunk_pages - 1).min(page_count) }
        })
        .collect()
}

impl Analyzed {
    /// One self-contained chunk PDF, from the one parse of the upload. Callers write each
    /// chunk before asking for the next, so at most one is in memory.
    pub fn chunk_pdf(&self, chunk: &ChunkPlan, limits: &PdfLimits) -> Result<Vec<u8>, PdfError> {
        split::write_chunk(&self.document, &self.page_ids, chunk, limits.max_chunk_bytes)
    }
}

/// Why a page's text is incomplete; shown per page in `result.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// The page's content inflates past this many bytes.
    Content(usize),
    /// The page's content has more than this many operators.
    Operators(usize),
    /// The page's text is longer than this many bytes.
    Text(usize),
    /// Earlier pages of the chunk used up its budget.
    ChunkBudget,
    /// The content is not a readable content stream.
    Unreadable,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Truncation::Content(max) => {
                write!(f, "the page's content inflates past {} MB; the rest was skipped", max >> 20)
            }
            Truncation::Operators(max) => {
                write!(f, "the page's content has more than {max} operators; the rest was skipped")
            }
            Truncation::Text(max) => write!(f, "the page's text passed {} KB; the rest was skipped", max >> 10),
            Truncation::ChunkBudget => f.write_str("earlier pages used up the work allowed per chunk; text skipped"),
            Truncation::Unreadable => f.write_str("the page's content could not be read; text skipped"),
        }
    }
}

/// The text of one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageText {
    /// 1-based page number in the original document.
    pub number: u32,
    pub text: String,
    pub word_count: usize,
    /// Set when a budget cut the page's text short.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Why the text is incomplete, in words a user can read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PageText {
    pub fn new(number: u32, text: String) -> Self {
        let word_count = text.split_whitespace().count();
        PageText { number, text, word_count, truncated: false, note: None }
    }

    pub fn truncated(number: u32, text: String, why: Truncation) -> Self {
        PageText { truncated: true, note: Some(why.to_string()), ..PageText::new(number, text) }
    }
}

/// Extracts every page's text from a chunk PDF whose first page is `first_page` of the original.
/// A page past its budget keeps the text found within it; it never fails the chunk.
pub fn extract_pages(bytes: &[u8], first_page: u32, limits: &PdfLimits) -> Result<Vec<PageText>, PdfError> {
    let load::Loaded { document, pages, .. } = load::load(bytes, limits)?;
    let offset = first_page.saturating_sub(1);
    let mut budget = extract::ChunkBudget::new(limits.text);
    Ok((1..).zip(pages).map(|(n, id)| budget.page(&document, id, n + offset)).collect())
}

/// Pages `first..=last` of a whole document: what a worker would do if it were handed the
/// original file instead of its chunk (kept for the split-once benchmark).
pub fn extract_pages_range(bytes: &[u8], first: u32, last: u32, limits: &PdfLimits) -> Result<Vec<PageText>, PdfError> {
    let load::Loaded { document, pages, .. } = load::load(bytes, limits)?;
    let mut budget = extract::ChunkBudget::new(limits.text);
    Ok((1..)
        .zip(pages)
        .filter(|(n, _)| (first..=last).contains(n))
        .map(|(n, id)| budget.page(&document, id, n))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBTASN1: &[u8] = include_bytes!("../../../tests/fixtures/libtasn1-manual.pdf");
    const MIME_SPEC: &[u8] = include_bytes!("../../../tests/fixtures/shared-mime-info-spec.pdf");
    const ENCRYPTED: &[u8] = include_bytes!("../../../tests/fixtures/encrypted.pdf");

    fn limits() -> PdfLimits {
        PdfLimits::default()
    }

    #[test]
    fn chunk_plans_cover_every_page_once() {
        assert_eq!(plan_chunks(0, 10), vec![]);
        assert_eq!(
            plan_chunks(25, 10),
            vec![
                ChunkPlan { index: 0, first_page: 1, last_page: 10 },
                ChunkPlan { index: 1, first_page: 11, last_page: 20 },
                ChunkPlan { index: 2, first_page: 21, last_page: 25 },
            ]
        );
        assert_eq!(plan_chunks(3, 0).len(), 3, "a zero chunk size means one page per chunk");
    }

    #[test]
    fn a_generated_document_splits_and_extracts_with_original_page_numbers() {
        let bytes = generate(23, sample_page_text);
        let analyzed = analyze(&bytes, &limits()).expect("valid");
        assert_eq!(analyzed.page_count, 23);
        assert_eq!(analyzed.metadata.title.as_deref(), Some("jobcast generated document"));
        let plan = plan_chunks(23, 10);
        let mut pages = Vec::new();
        for chunk in &plan {
            let part = analyzed.chunk_pdf(chunk, &limits()).expect("split");
            pages.extend(extract_pages(&part, chunk.first_page, &limits()).expect("extract"));
        }
        assert_eq!(pages.len(), 23);
        for (i, page) in pages.iter().enumerate() {
            let n = u32::try_from(i).expect("small") + 1;
            assert_eq!(page.number, n);
            assert_eq!(page.text.trim(), sample_page_text(n));
            assert_eq!(page.word_count, 10);
        }
    }

    #[test]
    fn real_world_fixtures_analyze_and_their_text_is_found() {
        let manual = analyze(LIBTASN1, &limits()).expect("libtasn1 manual");
        assert_eq!(manual.page_count, 36);
        let spec = analyze(MIME_SPEC, &limits()).expect("mime spec");
        assert_eq!(spec.page_count, 17);
        let first = spec.chunk_pdf(&plan_chunks(17, 10)[0], &limits()).expect("split");
        let pages = extract_pages(&first, 1, &limits()).expect("extract");
        assert_eq!(pages.len(), 10);
        assert!(pages[0].text.contains("Shared MIME-info Database"), "{}", pages[0].text);
    }

    #[test]
    fn broken_inputs_fail_with_distinct_reasons() {
        assert_eq!(analyze(b"", &limits()).map(|_| ()), Err(PdfError::EmptyFile));
        assert!(matches!(analyze(b"%PDF-1.7\ngarbage", &limits()), Err(PdfError::Corrupt(_))));
        assert!(matches!(analyze(&LIBTASN1[..4000], &limits()), Err(PdfError::Corrupt(_))));
        assert_eq!(analyze(ENCRYPTED, &limits()).map(|_| ()), Err(PdfError::Encrypted));
        assert_eq!(analyze(&generate(0, sample_page_text), &limits()).map(|_| ()), Err(PdfError::NoPages));
        let small = PdfLimits { max_pages: 5, ..limits() };
        assert_eq!(
            analyze(&generate(6, sample_page_text), &small).map(|_| ()),
            Err(PdfError::TooManyPages { pages: 6, max: 5 })
        );
        let tiny = PdfLimits { max_bytes: 100, ..limits() };
        assert!(matches!(analyze(MIME_SPEC, &tiny), Err(PdfError::TooLarge { .. })));
        let reasons: std::collections::HashSet<String> =
            [PdfError::EmptyFile, PdfError::Corrupt("x".into()), PdfError::Encrypted, PdfError::NoPages]
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(reasons.len(), 4);
    }

    /// `bytes` with every `from` replaced by `to`.
    fn damaged(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn a_damaged_cross_reference_table_is_rebuilt_and_the_result_says_so() {
        let bytes = generate(3, sample_page_text);
        let xref = bytes.windows(9).rposition(|w| w == b"startxref").expect("startxref");
        // The offsets table is gone and startxref points nowhere.
        let mut broken = damaged(&bytes[..xref], b"xref", b"junk");
        broken.extend_from_slice(b"startxref\n999999\n%%EOF\n");
        let analyzed = analyze(&broken, &limits()).expect("recovered");
        assert_eq!(analyzed.page_count, 3);
        assert_eq!(analyzed.metadata.recovered, Some(Recovery::CrossReference.to_string()));
        let pages = extract_pages(&broken, 1, &limits()).expect("readable");
        assert_eq!(pages[2].text, sample_page_text(3));
        let intact = analyze(&bytes, &limits()).expect("valid");
        assert_eq!(intact.metadata.recovered, None, "an intact file says nothing");
    }

    #[test]
    fn a_page_tree_that_leads_nowhere_is_rebuilt_from_the_page_objects() {
        let bytes = generate(4, sample_page_text);
        // The catalog's /Pages and every page's /Parent point at an object that is not there.
        let text = String::from_utf8_lossy(&bytes);
        let tree = text.split("/Pages ").nth(1).and_then(|t| t.split(' ').next()).expect("catalog names the tree");
        let broken = damaged(&bytes, format!("/Pages {tree} 0 R").as_bytes(), b"/Pages 9999 0 R");
        let analyzed = analyze(&broken, &limits()).expect("recovered");
        assert_eq!(analyzed.page_count, 4);
        assert_eq!(analyzed.metadata.recovered, Some(Recovery::PageTree.to_string()));
        let chunk = analyzed.chunk_pdf(&ChunkPlan { index: 0, first_page: 1, last_page: 4 }, &limits()).expect("split");
        let pages = extract_pages(&chunk, 1, &limits()).expect("readable");
        let texts: Vec<&str> = pages.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, (1..=4).map(sample_page_text).collect::<Vec<_>>());
    }

    #[test]
    fn a_chunk_reads_exactly_as_its_pages_do_in_the_whole_document() {
        // Chunks leave font programs out; encodings those define travel as Differences.
        for fixture in [LIBTASN1, MIME_SPEC] {
            let whole = extract_pages(fixture, 1, &limits()).expect("readable");
            let analyzed = analyze(fixture, &limits()).expect("valid");
            let mut chunked = Vec::new();
            for chunk in plan_chunks(analyzed.page_count, 7) {
                let part = analyzed.chunk_pdf(&chunk, &limits()).expect("split");
                chunked.extend(extract_pages(&part, chunk.first_page, &limits()).expect("readable"));
            }
            assert_eq!(chunked, whole);
        }
    }

    /// A one-page document's text, checked to read the same from its chunk; and the chunk.
    fn first_page_whole_and_chunked(bytes: &[u8]) -> (String, Vec<u8>) {
        let whole = extract_pages(bytes, 1, &limits()).expect("readable");
        let analyzed = analyze(bytes, &limits()).expect("valid");
        let part = analyzed.chunk_pdf(&ChunkPlan { index: 0, first_page: 1, last_page: 1 }, &limits()).expect("split");
        assert_eq!(extract_pages(&part, 1, &limits()).expect("readable"), whole);
        (whole[0].text.clone(), part)
    }

    #[test]
    fn a_builtin_encoding_reads_the_same_in_the_document_and_in_its_chunk() {
        let (text, part) = first_page_whole_and_chunked(&generate::builtin_encoding());
        assert_eq!(text, "find it\u{2019}s");
        assert!(!String::from_utf8_lossy(&part).contains("eexec"), "the program stays out of the chunk");
    }

    #[test]
    fn a_glyph_whose_name_and_code_mean_nothing_shows_as_a_replacement_mark() {
        // Dropped, it would read "Simplied": a word the page does not show. A glyph that does
        // not advance draws nothing a reader could miss.
        let (text, _) = first_page_whole_and_chunked(&generate::type3_numbered_glyphs());
        assert_eq!(text, "Simpli\u{FFFD}ed Auflage");
    }

    #[test]
    fn text_strings_decode_from_utf16_and_latin1() {
        assert_eq!(decode_text_string(&[0xFE, 0xFF, 0x00, 0x41, 0x00, 0xE9]), "Aé");
        assert_eq!(decode_text_string(b"plain"), "plain");
    }

    /// Peak resident memory of this test process so far (`VmHWM`), in MiB. Tests run in one
    /// process, so this is an upper bound on what any one test used.
    fn peak_rss_mib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    }

    #[test]
    fn an_operator_flood_yields_truncated_text_not_a_crash() {
        // Ten pages sharing one stream of 10 M path operators (60 MB decoded).
        let bytes = generate::operator_flood(10, 10_000_000);
        assert!(bytes.len() < 200_000, "{} bytes on disk", bytes.len());
        let analyzed = analyze(&bytes, &limits()).expect("valid");
        let chunk = analyzed.chunk_pdf(&plan_chunks(10, 10)[0], &limits()).expect("chunk");
        let pages = extract_pages(&chunk, 1, &limits()).expect("extract");
        assert_eq!(pages.len(), 10);
        assert!(pages[0].text.contains("flood starts here"), "{:?}", pages[0].text);
        assert!(pages.iter().all(|p| p.truncated && p.note.is_some()), "every page says it was cut");
        let skipped = pages.iter().filter(|p| p.note.as_deref().is_some_and(|n| n.contains("per chunk"))).count();
        assert!(skipped >= 5, "the chunk budget, not ten page budgets, bounds the work: {skipped}");
    }

    #[test]
    fn a_flate_bomb_page_says_its_text_was_skipped_and_the_other_pages_are_read() {
        let bytes = generate::flate_bomb(3, 200 << 20);
        let analyzed = analyze(&bytes, &limits()).expect("valid");
        let chunk = analyzed.chunk_pdf(&plan_chunks(3, 10)[0], &limits()).expect("chunk");
        let pages = extract_pages(&chunk, 1, &limits()).expect("extract");
        assert!(pages[0].truncated);
        assert!(pages[0].note.as_deref().is_some_and(|n| n.contains("skipped")), "{:?}", pages[0].note);
        assert!(pages[0].text.contains("bomb page"));
        assert_eq!(pages[1].text.trim(), sample_page_text(2));
        assert!(!pages[1].truncated && pages[1].note.is_none());
        assert!(peak_rss_mib() < 1024, "peak {} MiB", peak_rss_mib());
    }

    #[test]
    fn chunks_carry_only_what_their_pages_reach_and_no_image_data() {
        let bytes = generate::shared_image(40, 4 << 20);
        assert!(bytes.len() > 4 << 20);
        let analyzed = analyze(&bytes, &limits()).expect("valid");
        let plan = plan_chunks(40, 10);
        for chunk in &plan {
            let part = analyzed.chunk_pdf(chunk, &limits()).expect("chunk");
            assert!(part.len() < 64 << 10, "chunk {} is {} bytes", chunk.index, part.len());
            let pages = extract_pages(&part, chunk.first_page, &limits()).expect("extract");
            let numbers: Vec<u32> = pages.iter().map(|p| p.number).collect();
            assert_eq!(numbers, (chunk.first_page..=chunk.last_page).collect::<Vec<_>>());
            assert!(pages.iter().all(|p| p.text.contains(&sample_page_text(p.number))));
        }
    }

    #[test]
    fn a_chunk_over_its_size_bound_is_refused_with_its_pages_named() {
        let bytes = generate(4, |n| format!("{} {}", sample_page_text(n), "word ".repeat(20_000)));
        let analyzed = analyze(&bytes, &limits()).expect("valid");
        let small = PdfLimits { max_chunk_bytes: 100 << 10, ..limits() };
        let err = analyzed.chunk_pdf(&plan_chunks(4, 2)[1], &small).expect_err("too large");
        assert!(matches!(err, PdfError::ChunkTooLarge { first_page: 3, last_page: 4, .. }), "{err}");
        assert!(err.to_string().starts_with("pages 3-4 need"), "{err}");
    }

    #[test]
    fn object_streams_are_budgeted_per_document_not_only_per_stream() {
        // Each stream stays under the per-stream bound; together they exceed the document's.
        let bytes = generate::object_stream_flood(20, 8 << 20);
        assert!(bytes.len() < 1 << 20);
        let err = analyze(&bytes, &limits()).map(|_| ()).expect_err("over budget");
        assert_eq!(err, PdfError::InflatesTooMuch { max_mb: 128 });
        assert!(analyze(&generate::object_stream_flood(2, 1 << 20), &limits()).is_ok(), "small ones load");
        let one_big = analyze(&generate::object_stream_flood(1, 40 << 20), &limits()).map(|_| ());
        assert!(matches!(one_big, Err(PdfError::InflatesTooMuch { .. })), "{one_big:?}");
    }

    #[test]
    fn too_many_objects_are_refused() {
        let few = PdfLimits { max_objects: 50, ..limits() };
        let err = analyze(&generate(40, sample_page_text), &few).map(|_| ()).expect_err("too many");
        assert_eq!(err, PdfError::TooManyObjects { max: 50 });
    }

    #[test]
    fn deep_nesting_and_page_tree_loops_end_in_a_result() {
        let deep = analyze(&generate::deep_nesting(100_000), &limits()).expect("nesting is cut, not fatal");
        let chunk = deep.chunk_pdf(&plan_chunks(1, 10)[0], &limits()).expect("chunk");
        let pages = extract_pages(&chunk, 1, &limits()).expect("extract");
        assert_eq!(pages.len(), 1);
        assert!(pages[0].text.contains(&sample_page_text(1)) || pages[0].truncated, "{:?}", pages[0]);
        let looped = analyze(&generate::page_tree_loop(), &limits()).expect("loop tolerated");
        assert!((2..=3).contains(&looped.page_count), "{} pages", looped.page_count);
    }

    #[test]
    fn a_file_of_exactly_the_size_limit_is_accepted_and_one_byte_more_is_not() {
        let bytes = generate::exactly(300_000, 3);
        assert_eq!(bytes.len(), 300_000);
        let exact = PdfLimits { max_bytes: 300_000, max_pages: 3, ..limits() };
        assert_eq!(analyze(&bytes, &exact).map(|a| a.page_count), Ok(3));
        let under = PdfLimits { max_bytes: 299_999, ..exact };
        assert!(matches!(analyze(&bytes, &under), Err(PdfError::TooLarge { .. })));
    }

    #[test]
    fn text_past_its_budget_is_cut_at_a_character_boundary() {
        let bytes = generate(1, |_| "é".repeat(10));
        let tight = PdfLimits { text: TextBudget { page_text_bytes: 5, ..TextBudget::default() }, ..limits() };
        let pages = extract_pages(&bytes, 1, &tight).expect("extract");
        assert!(pages[0].truncated && pages[0].text.len() <= 5);
    }
}
