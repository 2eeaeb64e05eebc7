//! Loading an untrusted PDF under a per-document budget.
//!
//! lopdf bounds each stream it inflates while loading (object and cross-reference streams), but
//! not the document as a whole: a 50 MB upload can hold thousands of object streams that each
//! inflate close to that bound, or millions of tiny objects. Its load filter sees every object
//! before it is kept (and every object stream before it is inflated), so a filter that charges
//! a per-load budget bounds both the objects kept and the bytes inflated.

use std::cell::RefCell;
use std::io::Read as _;

use lopdf::{Document, LoadOptions, Object, ObjectId};

use super::{PdfError, PdfLimits};

/// What a document may cost to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LoadBudget {
    objects_left: usize,
    inflate_left: usize,
    per_stream: usize,
    exceeded: Option<Exceeded>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exceeded {
    Objects,
    Inflated,
}

thread_local! {
    // lopdf's filter is a plain `fn`, so its state lives here, set and taken around one load on
    // this thread (lopdf is built without rayon, so the filter runs on the loading thread).
    static BUDGET: RefCell<Option<LoadBudget>> = const { RefCell::new(None) };
}

fn charge(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let keep = BUDGET.with(|cell| {
        let mut cell = cell.borrow_mut();
        let Some(budget) = cell.as_mut() else { return true };
        if budget.exceeded.is_some() {
            return false;
        }
        if budget.objects_left == 0 {
            budget.exceeded = Some(Exceeded::Objects);
            return false;
        }
        budget.objects_left -= 1;
        if let Object::Stream(stream) = object
            && stream.dict.has_type(b"ObjStm")
        {
            let bound = budget.per_stream.min(budget.inflate_left);
            match inflated_size(stream, bound) {
                Some(size) => budget.inflate_left -= size,
                None => {
                    budget.exceeded = Some(Exceeded::Inflated);
                    return false;
                }
            }
        }
        true
    });
    // lopdf keeps `object` itself for objects read from the file body, but the returned copy
    // for objects unpacked from an object stream (which never holds streams). So a stream is
    // kept in place without a copy, and anything else is copied.
    keep.then(|| match object {
        Object::Stream(_) => (id, Object::Null),
        other => (id, other.clone()),
    })
}

/// How many bytes the stream inflates to, or `None` past `bound`. Flate (nearly every object
/// stream) is measured without keeping the output; other filters through lopdf's bounded decoder.
fn inflated_size(stream: &lopdf::Stream, bound: usize) -> Option<usize> {
    let filters = stream.filters().unwrap_or_default();
    if filters.is_empty() {
        return (stream.content.len() <= bound).then_some(stream.content.len());
    }
    if filters == [b"FlateDecode".as_slice()] {
        let mut decoder = flate2::read::ZlibDecoder::new(stream.content.as_slice()).take(bound as u64 + 1);
        let size = std::io::copy(&mut decoder, &mut std::io::sink()).ok()?;
        return usize::try_from(size).ok().filter(|size| *size <= bound);
    }
    stream.decompressed_content_with_limit(bound).ok().map(|content| content.len())
}

/// How a document had to be read because parts of it were damaged; said in the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The cross-reference table (or the trailer) was unusable: objects were found by
    /// scanning the file.
    CrossReference,
    /// The page tree led to no pages: pages were found among the document's objects.
    PageTree,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Recovery::CrossReference => {
                "the file's cross-reference table was damaged; its objects were found by scanning the file"
            }
            Recovery::PageTree => "the file's page tree was damaged; its pages were found by scanning its objects",
        })
    }
}

/// A parsed document, its pages in order, and what recovery reading it needed.
#[derive(Debug)]
pub(super) struct Loaded {
    pub document: Document,
    pub pages: Vec<ObjectId>,
    pub recovery: Option<Recovery>,
}

/// Parses `bytes` under `limits`; encrypted, oversized and over-budget documents are refused.
/// A damaged file is read as readers read it: its objects found by scanning when the
/// cross-reference data fails, its pages found among its objects when the page tree fails.
pub(super) fn load(bytes: &[u8], limits: &PdfLimits) -> Result<Loaded, PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::EmptyFile);
    }
    if bytes.len() > limits.max_bytes {
        return Err(PdfError::TooLarge { bytes: bytes.len(), max: limits.max_bytes });
    }
    // lopdf falls back to scanning by itself when `startxref` misses; say so all the same.
    let mut recovery = (!startxref_intact(bytes)).then_some(Recovery::CrossReference);
    let mut document = match load_once(bytes, limits, false) {
        Ok(document) => document,
        Err(PdfError::Corrupt(reason)) => match load_once(bytes, limits, true) {
            Ok(rebuilt) => {
                tracing::info!(%reason, "cross-reference data unusable; objects found by scanning the file");
                recovery = Some(Recovery::CrossReference);
                rebuilt
            }
            Err(PdfError::Corrupt(_)) => return Err(PdfError::Corrupt(reason)),
            Err(other) => return Err(other),
        },
        Err(other) => return Err(other),
    };
    // A filtered load skips lopdf's own page-tree recovery (a filter may drop the tree on
    // purpose), so rebuild from a scan of the file ourselves when the tree came out empty.
    if recovery.is_none()
        && document.get_pages().is_empty()
        && let Ok(rebuilt) = load_once(bytes, limits, true)
        && !rebuilt.get_pages().is_empty()
    {
        tracing::info!("page tree recovered by scanning the file for objects");
        document = rebuilt;
        recovery = Some(Recovery::CrossReference);
    }
    // Opened without a password but still encrypted: its content cannot be read.
    if document.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let mut pages: Vec<ObjectId> = document.get_pages().into_values().collect();
    if pages.is_empty() {
        pages = scan_pages(&document);
        if !pages.is_empty() {
            tracing::info!(pages = pages.len(), "page tree unusable; pages found among the objects");
            recovery = Some(Recovery::PageTree);
        }
    }
    Ok(Loaded { document, pages, recovery })
}

/// Whether the file's last `startxref` points at a cross-reference table or stream.
fn startxref_intact(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    let Some(at) = tail.windows(9).rposition(|w| w == b"startxref") else { return false };
    let digits: Vec<u8> =
        tail[at + 9..].iter().copied().skip_while(u8::is_ascii_whitespace).take_while(u8::is_ascii_digit).collect();
    let Some(offset) = std::str::from_utf8(&digits).ok().and_then(|d| d.parse::<usize>().ok()) else { return false };
    let Some(target) = bytes.get(offset..) else { return false };
    // Off by a line break is common and harmless.
    let skip = target.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let target = &target[skip..target.len().min(skip + 64)];
    if target.starts_with(b"xref") {
        return true;
    }
    // `N G obj`: a cross-reference stream.
    let mut words = target.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
    let numeric = |w: Option<&[u8]>| w.is_some_and(|w| w.iter().all(u8::is_ascii_digit));
    numeric(words.next()) && numeric(words.next()) && words.next().is_some_and(|w| w.starts_with(b"obj"))
}

/// Page objects in file order (object number), for a document whose page tree reaches none.
fn scan_pages(document: &Document) -> Vec<ObjectId> {
    document
        .objects
        .iter()
        .filter(|(_, object)| {
            object.as_dict().is_ok_and(|d| d.get(b"Type").and_then(Object::as_name).ok() == Some(b"Page".as_slice()))
        })
        .map(|(id, _)| *id)
        .collect()
}

fn load_once(bytes: &[u8], limits: &PdfLimits, force_reconstruct: bool) -> Result<Document, PdfError> {
    let budget = LoadBudget {
        objects_left: limits.max_objects,
        inflate_left: limits.max_document_inflated_bytes,
        per_stream: limits.max_decompressed_bytes,
        exceeded: None,
    };
    BUDGET.with(|cell| *cell.borrow_mut() = Some(budget));
    let options = LoadOptions {
        filter: Some(charge),
        max_decompressed_size: Some(limits.max_decompressed_bytes),
        force_reconstruct,
        ..LoadOptions::default()
    };
    let loaded = Document::load_mem_with_options(bytes, options);
    let spent = BUDGET.with(|cell| cell.borrow_mut().take());
    match spent.and_then(|budget| budget.exceeded) {
        Some(Exceeded::Objects) => return Err(PdfError::TooManyObjects { max: limits.max_objects }),
        Some(Exceeded::Inflated) => {
            return Err(PdfError::InflatesTooMuch { max_mb: limits.max_document_inflated_bytes >> 20 });
        }
        None => {}
    }
    loaded.map_err(|e| match e {
        lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_) => PdfError::Encrypted,
        lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. }) => {
            PdfError::InflatesTooMuch { max_mb: limits.max_decompressed_bytes >> 20 }
        }
        other => PdfError::Corrupt(super::truncate(&other.to_string(), 120)),
    })
}
