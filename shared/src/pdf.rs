//! PDF analysis, splitting and text extraction (lopdf), under explicit bounds.
//!
//! lopdf parses a whole document eagerly, so the planner parses an upload once and writes one
//! small PDF per chunk; workers then parse only their chunk, never the full file again.

use lopdf::{Document, LoadOptions, Object, dictionary};
use serde::{Deserialize, Serialize};

/// Bounds applied to untrusted PDFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Largest accepted file.
    pub max_bytes: usize,
    /// Most pages a document may have.
    pub max_pages: u32,
    /// Most bytes any one stream may decompress to (against decompression bombs).
    pub max_decompressed_bytes: usize,
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits { max_bytes: 50 * 1024 * 1024, max_pages: 2_000, max_decompressed_bytes: 64 * 1024 * 1024 }
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
}

/// A loaded, checked document.
#[derive(Debug)]
pub struct Analyzed {
    document: Document,
    pub page_count: u32,
    pub metadata: PdfMetadata,
}

fn load(bytes: &[u8], limits: &PdfLimits) -> Result<Document, PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::EmptyFile);
    }
    if bytes.len() > limits.max_bytes {
        return Err(PdfError::TooLarge { bytes: bytes.len(), max: limits.max_bytes });
    }
    let options = LoadOptions { max_decompressed_size: Some(limits.max_decompressed_bytes), ..LoadOptions::default() };
    let document = Document::load_mem_with_options(bytes, options).map_err(|e| match e {
        lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_) => PdfError::Encrypted,
        other => PdfError::Corrupt(truncate(&other.to_string(), 120)),
    })?;
    // Opened without a password but still encrypted: its content cannot be read.
    if document.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    Ok(document)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Loads and checks an upload: readable, not password-protected, 1..=max pages.
pub fn analyze(bytes: &[u8], limits: &PdfLimits) -> Result<Analyzed, PdfError> {
    let document = load(bytes, limits)?;
    let page_count = u32::try_from(document.get_pages().len()).unwrap_or(u32::MAX);
    if page_count == 0 {
        return Err(PdfError::NoPages);
    }
    if page_count > limits.max_pages {
        return Err(PdfError::TooManyPages { pages: page_count, max: limits.max_pages });
    }
    let metadata = metadata(&document);
    Ok(Analyzed { document, page_count, metadata })
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
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    PdfMetadata {
        title: field(b"Title"),
        author: field(b"Author"),
        producer: field(b"Producer"),
        creator: field(b"Creator"),
        pdf_version: document.version.clone(),
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
    /// Writes one self-contained PDF per chunk, from the one parse of the upload.
    pub fn split(&self, plan: &[ChunkPlan]) -> Result<Vec<Vec<u8>>, PdfError> {
        let all: Vec<u32> = (1..=self.page_count).collect();
        plan.iter()
            .map(|chunk| {
                let mut part = self.document.clone();
                let others: Vec<u32> =
                    all.iter().copied().filter(|p| *p < chunk.first_page || *p > chunk.last_page).collect();
                part.delete_pages(&others);
                part.prune_objects();
                let mut out = Vec::new();
                part.save_to(&mut out).map_err(|e| PdfError::Split(e.to_string()))?;
                Ok(out)
            })
            .collect()
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
}

impl PageText {
    pub fn new(number: u32, text: String) -> Self {
        let word_count = text.split_whitespace().count();
        PageText { number, text, word_count }
    }
}

/// Extracts every page's text from a chunk PDF whose first page is `first_page` of the original.
/// A page whose text cannot be decoded yields empty text rather than failing the chunk: one
/// odd font must not lose the other pages.
pub fn extract_pages(bytes: &[u8], first_page: u32, limits: &PdfLimits) -> Result<Vec<PageText>, PdfError> {
    let document = load(bytes, limits)?;
    let numbers: Vec<u32> = document.get_pages().into_keys().collect();
    Ok(page_texts(&document, &numbers, first_page.saturating_sub(1), limits))
}

/// Pages `first..=last` of a whole document: what a worker would do if it were handed the
/// original file instead of its chunk (kept for the split-once benchmark).
pub fn extract_pages_range(bytes: &[u8], first: u32, last: u32, limits: &PdfLimits) -> Result<Vec<PageText>, PdfError> {
    let document = load(bytes, limits)?;
    let numbers: Vec<u32> = document.get_pages().into_keys().filter(|n| (first..=last).contains(n)).collect();
    Ok(page_texts(&document, &numbers, 0, limits))
}

fn page_texts(document: &Document, numbers: &[u32], offset: u32, limits: &PdfLimits) -> Vec<PageText> {
    numbers
        .iter()
        .map(|&n| {
            let text = document.extract_text_with_limit(&[n], limits.max_decompressed_bytes).unwrap_or_else(|err| {
                tracing::warn!(page = n + offset, error = %err, "page text not extractable");
                String::new()
            });
            PageText::new(n + offset, text)
        })
        .collect()
}

/// A document of `pages` pages, page `n` showing `text(n)` (ASCII). For tests and benchmarks.
pub fn generate(pages: u32, text: impl Fn(u32) -> String) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let kids: Vec<Object> = (1..=pages)
        .map(|n| {
            let line = text(n).replace(['(', ')', '\\'], " ");
            let content = format!("BT /F1 12 Tf 72 720 Td ({line}) Tj ET");
            let content_id = doc.add_object(lopdf::Stream::new(dictionary! {}, content.into_bytes()));
            doc.add_object(dictionary! {
                "Type" => "Page",
                "Parent" => pages_id,
                "Contents" => content_id,
            })
            .into()
        })
        .collect();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => i64::from(pages),
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal("jobcast generated document"),
        "Producer" => Object::string_literal("jobcast"),
    });
    doc.trailer.set("Info", info_id);
    let mut out = Vec::new();
    // Writing a freshly built in-memory document to a Vec cannot fail.
    doc.save_to(&mut out).unwrap_or_default();
    out
}

/// The text [`generate`] puts on page `n` in the tests: a line that names its page.
pub fn sample_page_text(n: u32) -> String {
    format!("Page {n} of the jobcast sample: alpha beta gamma {n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBTASN1: &[u8] = include_bytes!("../../tests/fixtures/libtasn1-manual.pdf");
    const MIME_SPEC: &[u8] = include_bytes!("../../tests/fixtures/shared-mime-info-spec.pdf");
    const ENCRYPTED: &[u8] = include_bytes!("../../tests/fixtures/encrypted.pdf");

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
        let parts = analyzed.split(&plan).expect("split");
        assert_eq!(parts.len(), 3);
        let mut pages = Vec::new();
        for (chunk, part) in plan.iter().zip(&parts) {
            pages.extend(extract_pages(part, chunk.first_page, &limits()).expect("extract"));
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
        let first = &spec.split(&plan_chunks(17, 10)).expect("split")[0];
        let pages = extract_pages(first, 1, &limits()).expect("extract");
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

    #[test]
    fn text_strings_decode_from_utf16_and_latin1() {
        assert_eq!(decode_text_string(&[0xFE, 0xFF, 0x00, 0x41, 0x00, 0xE9]), "Aé");
        assert_eq!(decode_text_string(b"plain"), "plain");
    }
}
