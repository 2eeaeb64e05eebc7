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

/// Parses `bytes` under `limits`; encrypted, oversized and over-budget documents are refused.
pub(super) fn load(bytes: &[u8], limits: &PdfLimits) -> Result<Document, PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::EmptyFile);
    }
    if bytes.len() > limits.max_bytes {
        return Err(PdfError::TooLarge { bytes: bytes.len(), max: limits.max_bytes });
    }
    let mut document = load_once(bytes, limits, false)?;
    // A filtered load skips lopdf's own page-tree recovery (a filter may drop the tree on
    // purpose), so rebuild from a scan of the file ourselves when the tree came out empty.
    if document.get_pages().is_empty()
        && let Ok(rebuilt) = load_once(bytes, limits, true)
        && !rebuilt.get_pages().is_empty()
    {
        tracing::info!("page tree recovered by scanning the file for objects");
        document = rebuilt;
    }
    // Opened without a password but still encrypted: its content cannot be read.
    if document.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    Ok(document)
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
