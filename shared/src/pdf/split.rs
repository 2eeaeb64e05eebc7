//! Writing one chunk PDF from the parsed upload: only the objects its pages reach, and only
//! what text extraction reads.
//!
//! Cloning the whole document per chunk (and keeping every chunk until all were written) drove
//! the planner to 2.6 GB on 400 pages sharing one 20 MB image. A chunk is built by walking the
//! references of its pages instead, so the planner holds the upload plus one chunk. Image data,
//! embedded font programs, thumbnails, metadata and annotations are left out: workers only
//! decode content streams and font encodings, and leaving them out bounds a chunk's size by
//! its pages' own content rather than by what they share.

use std::collections::HashSet;

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, dictionary};

use super::{ChunkPlan, PdfError};

/// Keys whose values a chunk never needs: page-tree back-links (the chunk has its own tree),
/// and what text extraction does not read.
const SKIPPED_KEYS: [&[u8]; 11] = [
    b"Parent",
    b"Annots",
    b"Thumb",
    b"Metadata",
    b"PieceInfo",
    b"B",
    b"FontFile",
    b"FontFile2",
    b"FontFile3",
    b"SMask",
    b"StructParents",
];

/// Attributes a page inherits from its ancestors in the page tree (ISO 32000-1, 7.7.3.4).
const INHERITED: [&[u8]; 4] = [b"Resources", b"MediaBox", b"CropBox", b"Rotate"];

/// Writes pages `chunk.first_page..=chunk.last_page` of `document` as a standalone PDF.
/// `page_ids` are the document's pages in order; a chunk over `max_bytes` is refused.
pub(super) fn write_chunk(
    document: &Document,
    page_ids: &[ObjectId],
    chunk: &ChunkPlan,
    max_bytes: usize,
) -> Result<Vec<u8>, PdfError> {
    let first = chunk.first_page.saturating_sub(1) as usize;
    let last = (chunk.last_page as usize).min(page_ids.len());
    let pages = page_ids.get(first..last).unwrap_or_default();

    let mut part = Document::with_version(document.version.as_str());
    let tree_id = (document.max_id + 1, 0);
    let catalog_id = (document.max_id + 2, 0);
    let mut pending: Vec<ObjectId> = Vec::new();
    let mut kids = Vec::with_capacity(pages.len());
    for &page_id in pages {
        let mut page = document.get_dictionary(page_id).cloned().map_err(|e| PdfError::Split(e.to_string()))?;
        for key in INHERITED {
            if !page.has(key)
                && let Some(value) = inherited(document, page_id, key)
            {
                page.set(key, value.clone());
            }
        }
        let appearances = appearances(document, &page);
        let mut page = Object::Dictionary(page);
        strip(&mut page);
        if let Object::Dictionary(dict) = &mut page
            && !appearances.is_empty()
        {
            dict.set("Annots", appearances);
        }
        references(&page, &mut pending);
        if let Object::Dictionary(dict) = &mut page {
            dict.set("Parent", tree_id);
        }
        part.objects.insert(page_id, page);
        kids.push(Object::Reference(page_id));
    }

    // Everything the pages reach, each object once (shared fonts are copied once per chunk).
    let mut seen: HashSet<ObjectId> = pages.iter().copied().collect();
    while let Some(id) = pending.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Ok(object) = document.get_object(id) else { continue };
        let mut object = copy_for_text(object);
        // The font program is left out, so an encoding it defines is written out instead.
        if let Object::Dictionary(font) = &mut object
            && let Ok(original) = document.get_dictionary(id)
            && let Some(encoding) = super::text::explicit_encoding(document, original)
        {
            font.set("Encoding", encoding);
        }
        strip(&mut object);
        references(&object, &mut pending);
        part.objects.insert(id, object);
    }

    let count = i64::try_from(kids.len()).unwrap_or(i64::MAX);
    part.objects
        .insert(tree_id, Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }));
    part.objects.insert(catalog_id, Object::Dictionary(dictionary! { "Type" => "Catalog", "Pages" => tree_id }));
    part.trailer.set("Root", catalog_id);
    part.max_id = catalog_id.0;
    // Ids are kept from the upload while copying; renumbering keeps the chunk's xref table as
    // small as the chunk rather than as large as the upload's.
    part.renumber_objects();

    let mut out = Vec::new();
    part.save_to(&mut out).map_err(|e| PdfError::Split(e.to_string()))?;
    if out.len() > max_bytes {
        return Err(PdfError::ChunkTooLarge {
            first_page: chunk.first_page,
            last_page: chunk.last_page,
            mb: out.len().div_ceil(1 << 20),
            max_mb: max_bytes >> 20,
        });
    }
    Ok(out)
}

/// The nearest ancestor's value of an inheritable attribute. The walk is bounded: page trees
/// can be cyclic in hostile files.
pub(super) fn inherited<'a>(document: &'a Document, page_id: ObjectId, key: &[u8]) -> Option<&'a Object> {
    let mut node = document.get_dictionary(page_id).ok()?;
    for _ in 0..64 {
        let parent = node.get(b"Parent").ok()?.as_reference().ok()?;
        node = document.get_dictionary(parent).ok()?;
        if let Ok(value) = node.get(key) {
            return Some(value);
        }
    }
    None
}

/// Most annotations a chunk carries per page (a page of a million links carries none of them).
const MAX_ANNOTATIONS: usize = 256;

/// The page's annotations that show something (form fields, stamps, free text), each reduced
/// to what drawing its appearance needs: links, actions, popups and the field tree stay out,
/// so an annotation never pulls other pages into the chunk.
fn appearances(document: &Document, page: &Dictionary) -> Vec<Object> {
    fn deref<'a>(document: &'a Document, o: &'a Object) -> Option<&'a Object> {
        match o {
            Object::Reference(id) => document.get_object(*id).ok(),
            other => Some(other),
        }
    }
    let deref = |o| deref(document, o);
    let Some(annots) = page.get(b"Annots").ok().and_then(deref).and_then(|a| a.as_array().ok()) else {
        return Vec::new();
    };
    annots
        .iter()
        .filter_map(|a| deref(a).and_then(|a| a.as_dict().ok()))
        .filter(|a| a.has(b"AP") && a.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Link".as_slice()))
        .take(MAX_ANNOTATIONS)
        .map(|a| {
            let mut kept = Dictionary::new();
            for key in [b"Subtype".as_slice(), b"Rect", b"F", b"AS", b"AP"] {
                if let Ok(value) = a.get(key) {
                    kept.set(key, value.clone());
                }
            }
            Object::Dictionary(kept)
        })
        .collect()
}

/// A copy of `object`, with image data left out: an image's dictionary stays (a content stream
/// may name it), its pixels do not.
fn copy_for_text(object: &Object) -> Object {
    match object {
        Object::Stream(stream) if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Image") => {
            let mut dict = stream.dict.clone();
            dict.remove(b"Filter");
            dict.remove(b"DecodeParms");
            Object::Stream(Stream::new(dict, Vec::new()))
        }
        other => other.clone(),
    }
}

/// Removes the skipped keys from every dictionary in `object`, nested ones included.
fn strip(object: &mut Object) {
    match object {
        Object::Dictionary(dict) => strip_dict(dict),
        Object::Stream(stream) => strip_dict(&mut stream.dict),
        Object::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

fn strip_dict(dict: &mut Dictionary) {
    for key in SKIPPED_KEYS {
        dict.remove(key);
    }
    for (_, value) in dict.iter_mut() {
        strip(value);
    }
}

/// Pushes every reference `object` holds.
fn references(object: &Object, out: &mut Vec<ObjectId>) {
    match object {
        Object::Reference(id) => out.push(*id),
        Object::Array(items) => items.iter().for_each(|item| references(item, out)),
        Object::Dictionary(dict) => dict.iter().for_each(|(_, value)| references(value, out)),
        Object::Stream(stream) => stream.dict.iter().for_each(|(_, value)| references(value, out)),
        _ => {}
    }
}
