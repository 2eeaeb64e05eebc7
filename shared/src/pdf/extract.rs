//! Page text under explicit budgets.
//!
//! A 93 KB upload whose pages share one content stream of 60 MB of path operators drove the
//! worker to 3.6 GB: lopdf decodes a page's whole content into a `Vec` of operations before
//! reading any. Here a page's content is inflated only up to its budget, cut after the last
//! operator its operator budget allows (counted by a scanner that allocates nothing), and only
//! that prefix is decoded. A chunk has budgets of its own, shared by its pages, so ten pages
//! sharing one huge stream cost one budget, not ten. A page past a budget keeps the text found
//! within it and says so; the chunk never fails for it.

use std::io::Read as _;

use lopdf::content::Content;
use lopdf::{Document, Object, ObjectId};

use super::text;
use super::{PageText, Truncation};

/// What text extraction may spend, per page and per chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextBudget {
    /// Content-stream operators decoded per page.
    pub page_operators: usize,
    /// Content bytes inflated per page.
    pub page_content_bytes: usize,
    /// Text kept per page (UTF-8 bytes).
    pub page_text_bytes: usize,
    /// Operators decoded over all pages of a chunk.
    pub chunk_operators: usize,
    /// Content bytes inflated over all pages of a chunk.
    pub chunk_content_bytes: usize,
    /// Fonts whose encoding is decoded per page; text in further fonts is not decoded.
    pub page_fonts: usize,
    /// Bytes a font's `ToUnicode` CMap may inflate to.
    pub font_cmap_bytes: usize,
}

impl Default for TextBudget {
    fn default() -> Self {
        TextBudget {
            page_operators: 200_000,
            page_content_bytes: 8 << 20,
            page_text_bytes: 256 << 10,
            chunk_operators: 1_000_000,
            chunk_content_bytes: 32 << 20,
            page_fonts: 64,
            font_cmap_bytes: 2 << 20,
        }
    }
}

/// What is left of a chunk's budget as its pages are read.
#[derive(Debug)]
pub(super) struct ChunkBudget {
    limits: TextBudget,
    operators_left: usize,
    content_left: usize,
    fonts: text::FontCache,
}

impl ChunkBudget {
    pub(super) fn new(limits: TextBudget) -> Self {
        ChunkBudget {
            limits,
            operators_left: limits.chunk_operators,
            content_left: limits.chunk_content_bytes,
            fonts: text::FontCache::default(),
        }
    }

    /// The text of one page, numbered `number` in the original document.
    pub(super) fn page(&mut self, document: &Document, page_id: ObjectId, number: u32) -> PageText {
        if self.operators_left == 0 || self.content_left == 0 {
            return PageText::truncated(number, String::new(), Truncation::ChunkBudget);
        }
        let content_budget = self.limits.page_content_bytes.min(self.content_left);
        let (content, mut truncation) = page_content(document, page_id, content_budget);
        self.content_left -= content.len().min(self.content_left);

        let operator_budget = self.limits.page_operators.min(self.operators_left);
        let scan = scan_operators(&content, operator_budget);
        self.operators_left -= scan.operators;
        if scan.cut && truncation.is_none() {
            truncation = Some(if operator_budget < self.limits.page_operators {
                Truncation::ChunkBudget
            } else {
                Truncation::Operators(self.limits.page_operators)
            });
        }
        let operations = match Content::decode(&content[..scan.end]) {
            Ok(content) => content.operations,
            Err(err) => {
                tracing::warn!(page = number, error = %err, "page content not decodable");
                return PageText::truncated(number, String::new(), Truncation::Unreadable);
            }
        };
        drop(content);
        let mut allowance = text::Allowance {
            content_bytes: (self.limits.page_content_bytes.saturating_sub(scan.end)).min(self.content_left),
            operators: (self.limits.page_operators.saturating_sub(scan.operators)).min(self.operators_left),
            fonts: self.limits.page_fonts,
            cmap_bytes: self.limits.font_cmap_bytes,
            text_bytes: self.limits.page_text_bytes,
            short: false,
        };
        let (content_before, operators_before) = (allowance.content_bytes, allowance.operators);
        let page = document.get_dictionary(page_id).ok();
        let resources = page
            .and_then(|p| p.get(b"Resources").ok())
            .or_else(|| super::split::inherited(document, page_id, b"Resources"))
            .and_then(|r| match r {
                Object::Reference(id) => document.get_object(*id).ok(),
                other => Some(other),
            })
            .and_then(|r| r.as_dict().ok());
        let (text, text_cut) =
            text::page_text(document, page, resources, &operations, &mut allowance, &mut self.fonts, &mut load_form);
        self.content_left -= (content_before - allowance.content_bytes).min(self.content_left);
        self.operators_left -= (operators_before - allowance.operators).min(self.operators_left);
        if text_cut && truncation.is_none() {
            truncation = Some(Truncation::Text(self.limits.page_text_bytes));
        }
        if allowance.short && truncation.is_none() {
            truncation = Some(Truncation::Content(self.limits.page_content_bytes));
        }
        match truncation {
            Some(reason) => PageText::truncated(number, text, reason),
            None => PageText::new(number, text),
        }
    }
}

/// The page's content streams, concatenated and inflated up to `budget` bytes, and why it
/// stopped short if it did.
fn page_content(document: &Document, page_id: ObjectId, budget: usize) -> (Vec<u8>, Option<Truncation>) {
    let mut content = Vec::new();
    for id in document.get_page_contents(page_id) {
        let Ok(stream) = document.get_object(id).and_then(Object::as_stream) else { continue };
        let room = budget.saturating_sub(content.len());
        let (bytes, complete) = inflate_prefix(stream, room);
        content.extend_from_slice(&bytes);
        if !complete {
            return (content, Some(Truncation::Content(budget)));
        }
        content.push(b'\n');
    }
    (content, None)
}

/// Up to `room` bytes of the stream's decoded content, and whether that is all of it.
pub(super) fn inflate_prefix(stream: &lopdf::Stream, room: usize) -> (Vec<u8>, bool) {
    let filters = stream.filters().unwrap_or_default();
    if filters.is_empty() {
        let end = stream.content.len().min(room);
        return (stream.content[..end].to_vec(), end == stream.content.len());
    }
    if filters == [b"FlateDecode".as_slice()] && !stream.dict.has(b"DecodeParms") {
        // Read one byte past the room to tell "exactly full" from "more left".
        let mut decoder = flate2::read::ZlibDecoder::new(stream.content.as_slice()).take(room as u64 + 1);
        let mut out = Vec::new();
        // A stream that ends badly still gives what inflated before the damage, as readers do.
        let _ = decoder.read_to_end(&mut out);
        if out.len() > room {
            out.truncate(room);
            return (out, false);
        }
        if !out.is_empty() {
            return (out, true);
        }
    }
    match stream.decompressed_content_with_limit(room) {
        Ok(content) => (content, true),
        Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => (Vec::new(), false),
        // Undecodable: the raw bytes, as lopdf itself falls back to.
        Err(_) if stream.content.len() <= room => (stream.content.clone(), true),
        Err(_) => (Vec::new(), false),
    }
}

/// Where a scan of content stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scan {
    /// Bytes up to and including the last operator within the budget.
    pub end: usize,
    pub operators: usize,
    /// Operators follow that the budget did not allow.
    pub cut: bool,
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

/// Counts the operators of content-stream bytes, up to `budget`, without building anything.
/// Strings, names, numbers, arrays, dictionaries, comments and inline image data are skipped
/// as PDF lexes them (ISO 32000-1, 7.2 and 8.9.7).
pub(super) fn scan_operators(bytes: &[u8], budget: usize) -> Scan {
    let mut i = 0;
    let mut scan = Scan { end: 0, operators: 0, cut: false };
    while i < bytes.len() {
        let b = bytes[i];
        if is_space(b) {
            i += 1;
            continue;
        }
        match b {
            b'%' => i = skip_line(bytes, i),
            b'(' => i = skip_literal(bytes, i),
            b'<' if bytes.get(i + 1) == Some(&b'<') => i += 2,
            b'<' => i = bytes[i..].iter().position(|&c| c == b'>').map_or(bytes.len(), |p| i + p + 1),
            b'/' => i = skip_regular(bytes, i + 1),
            _ if is_delimiter(b) => i += 1,
            _ => {
                let start = i;
                i = skip_regular(bytes, i);
                let token = &bytes[start..i];
                if is_operand(token) {
                    continue;
                }
                if scan.operators == budget {
                    scan.cut = true;
                    return scan;
                }
                scan.operators += 1;
                if token == b"BI" {
                    i = skip_inline_image(bytes, i);
                }
                scan.end = i;
            }
        }
    }
    scan
}

fn skip_regular(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && !is_space(bytes[i]) && !is_delimiter(bytes[i]) {
        i += 1;
    }
    i
}

fn skip_line(bytes: &[u8], i: usize) -> usize {
    bytes[i..].iter().position(|&c| c == b'\n' || c == b'\r').map_or(bytes.len(), |p| i + p)
}

/// Past a literal string: balanced parentheses, backslash escapes.
fn skip_literal(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// Past `ID <data> EI`: the data is binary, so look for `EI` between white space.
fn skip_inline_image(bytes: &[u8], i: usize) -> usize {
    let Some(id) = bytes[i..].windows(2).position(|w| w == b"ID").map(|p| i + p + 2) else {
        return bytes.len();
    };
    let mut j = id + 1;
    while j + 2 <= bytes.len() {
        if &bytes[j..j + 2] == b"EI"
            && bytes.get(j.wrapping_sub(1)).is_some_and(|&c| is_space(c))
            && bytes.get(j + 2).is_none_or(|&c| is_space(c))
        {
            return j + 2;
        }
        j += 1;
    }
    bytes.len()
}

fn is_operand(token: &[u8]) -> bool {
    matches!(token, b"true" | b"false" | b"null")
        || token.first().is_some_and(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.'))
}

/// A form XObject's operations, inflated and scanned within what the page has left.
fn load_form(stream: &lopdf::Stream, allowance: &mut text::Allowance) -> Option<Vec<lopdf::content::Operation>> {
    let (content, complete) = inflate_prefix(stream, allowance.content_bytes);
    allowance.content_bytes -= content.len().min(allowance.content_bytes);
    let scan = scan_operators(&content, allowance.operators);
    allowance.operators -= scan.operators;
    allowance.short |= !complete || scan.cut;
    Content::decode(&content[..scan.end]).ok().map(|c| c.operations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scanner_counts_operators_and_skips_operands_strings_and_inline_images() {
        let content = b"BT /F1 12 Tf (a \\) Tj) Tj [(x) -250 (y)] TJ ET % Tj in a comment\n\
                        BI /W 2 /H 1 ID \x00EI\x01 EI q Q <</A 1>> BDC EMC";
        let scan = scan_operators(content, usize::MAX);
        // BT Tf Tj TJ ET BI q Q BDC EMC
        assert_eq!((scan.operators, scan.cut, scan.end), (10, false, content.len()));
    }

    #[test]
    fn the_scanner_stops_after_the_last_operator_its_budget_allows() {
        let content = b"0 0 m 1 1 l 2 2 l S";
        let scan = scan_operators(content, 2);
        assert_eq!((scan.operators, scan.cut), (2, true));
        assert_eq!(&content[..scan.end], b"0 0 m 1 1 l");
        assert!(!scan_operators(content, 4).cut, "exactly the budget is not a cut");
    }

    #[test]
    fn unterminated_strings_and_images_end_the_scan_without_panicking() {
        for content in [&b"(never closed Tj"[..], b"BI /W 1 ID xxxx", b"<abc", b"((\\"] {
            let scan = scan_operators(content, 10);
            assert!(scan.end <= content.len());
        }
    }
}
