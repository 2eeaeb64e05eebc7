//! What a font says about the strings shown in it: where each code ends, the text it stands
//! for and how far it advances (ISO 32000-1, 9.6 and 9.7).
//!
//! A code's text comes from, in order: the font's `ToUnicode` CMap; for simple fonts, the
//! glyph name its `Differences` give it (Adobe Glyph List, `uniXXXX`, `uXXXX[XX]`), then its
//! base encoding (the named one, the builtin encoding of an embedded Type 1 or CFF program,
//! Symbol and ZapfDingbats for those fonts, WinAnsi for symbolic TrueType fonts, else
//! Standard); for composite fonts with a Unicode encoding CMap (`Uni…-UCS2-…`,
//! `Uni…-UTF16-…`), the code itself, and for CIDs of Adobe's CJK collections (Japan1, GB1,
//! CNS1, Korea1), the collection's own Unicode value. A glyph that `Differences` names but
//! neither its name nor its code's base encoding reads (pdfTeX names its bitmap fonts' glyphs
//! `/a28`) reads as U+FFFD when it advances: dropped, "Simpli?ed" would run together as
//! "Simplied".

use lopdf::{Dictionary, Document, Object};

use super::cmap::{CMap, Code, utf16_text};
use super::encoding::{base_encoding, differences};
use super::tables;

/// A simple font's code: its text (a span of the font's text buffer) and advance.
#[derive(Debug, Clone, Copy, Default)]
struct SimpleCode {
    start: u32,
    end: u32,
    /// Horizontal advance in glyph space (thousandths of the font size for most fonts).
    width: f32,
}

#[derive(Debug)]
enum Kind {
    /// One-byte codes, each resolved up front.
    Simple { text: String, codes: Box<[SimpleCode; 256]> },
    /// Multi-byte codes, resolved as shown.
    Composite(Box<Composite>),
}

#[derive(Debug)]
struct Composite {
    encoding: Encoding,
    to_unicode: Option<CMap>,
    widths: Widths,
    /// The Adobe character collection the CIDs belong to, for codes `ToUnicode` leaves out.
    collection: Option<Collection>,
}

#[derive(Debug)]
enum Encoding {
    /// Two-byte codes that are their own CIDs.
    Identity,
    /// Two-byte codes that are UTF-16 (the `Uni…-UCS2-…`/`Uni…-UTF16-…` CMaps).
    Unicode,
    /// An embedded CMap.
    CMap(CMap),
    /// A predefined CMap other than Identity and the Unicode ones: codes are cut as two bytes,
    /// but which CID they select is not known here.
    Predefined,
}

/// Adobe's CJK character collections, whose CIDs have fixed Unicode values (from Adobe's CMap
/// resources, as Debian's poppler-data ships them: one 24-bit value per CID, compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    Japan1,
    Gb1,
    Cns1,
    Korea1,
}

impl Collection {
    fn of(ordering: &[u8]) -> Option<Collection> {
        Some(match ordering {
            b"Japan1" => Collection::Japan1,
            b"GB1" => Collection::Gb1,
            b"CNS1" => Collection::Cns1,
            b"Korea1" => Collection::Korea1,
            _ => return None,
        })
    }

    /// The text of a CID, if the collection gives it one.
    fn text(self, cid: u32) -> Option<char> {
        static TABLES: [std::sync::OnceLock<Vec<u8>>; 4] = [const { std::sync::OnceLock::new() }; 4];
        let (slot, packed): (usize, &[u8]) = match self {
            Collection::Japan1 => (0, include_bytes!("cid/Japan1.z")),
            Collection::Gb1 => (1, include_bytes!("cid/GB1.z")),
            Collection::Cns1 => (2, include_bytes!("cid/CNS1.z")),
            Collection::Korea1 => (3, include_bytes!("cid/Korea1.z")),
        };
        let table = TABLES[slot].get_or_init(|| {
            let mut out = Vec::new();
            // Built into the binary; it inflates or the build is broken, and then no CID maps.
            let _ = std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(packed), &mut out);
            out
        });
        let at = usize::try_from(cid).ok()?.checked_mul(3)?;
        let bytes = table.get(at..at + 3)?;
        let value = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        char::from_u32(value).filter(|c| *c != '\0')
    }
}

/// `W` and `DW` of a CIDFont.
#[derive(Debug, Default)]
struct Widths {
    default: f32,
    /// `(first CID, last CID, width)` when one width covers the range, sorted.
    ranges: Vec<(u32, u32, f32)>,
    /// `(first CID, widths…)` for per-CID lists.
    lists: Vec<(u32, Vec<f32>)>,
}

impl Widths {
    fn of(&self, cid: u32) -> f32 {
        for (first, widths) in &self.lists {
            if let Some(w) = cid.checked_sub(*first).and_then(|i| widths.get(i as usize)) {
                return *w;
            }
        }
        self.ranges.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&cid)).map_or(self.default, |r| r.2)
    }
}

/// A decoded font.
#[derive(Debug)]
pub(super) struct Font {
    kind: Kind,
    /// Glyph space to text space (`FontMatrix[0]`; 0.001 for all but Type 3 fonts).
    pub(super) scale: f32,
    /// Whether the font's advances are known; without them positions are guesses.
    pub(super) has_widths: bool,
    /// The height of the font's glyphs per unit of font size: 1 but for Type 3 fonts, whose
    /// glyph space is their own (a bitmap font's may be 100 units high through a unit matrix).
    pub(super) size_factor: f32,
}

/// One code of a shown string.
#[derive(Debug, Clone, Copy)]
pub(super) struct Glyph {
    /// Horizontal advance in glyph space.
    pub(super) width: f32,
    /// The single-byte code 32, to which word spacing applies (ISO 32000-1, 9.3.3).
    pub(super) word_space: bool,
}

impl Font {
    /// Reads a font dictionary; `cmap_budget` bounds what its CMaps may inflate to.
    pub(super) fn load(document: &Document, font: &Dictionary, cmap_budget: usize) -> Font {
        let to_unicode = stream(document, font.get(b"ToUnicode").ok(), cmap_budget).map(|s| CMap::parse(&s));
        let subtype = font.get(b"Subtype").and_then(Object::as_name).unwrap_or_default();
        if subtype == b"Type0" {
            return composite(document, font, to_unicode, cmap_budget);
        }
        let (scale, size_factor) = if subtype == b"Type3" { type3_scale(document, font) } else { (0.001, 1.0) };
        let base = base_encoding(document, font, subtype);
        let differences = differences(document, font);
        let first_char = font.get(b"FirstChar").ok().and_then(number).unwrap_or(0.0) as usize;
        let widths = deref(document, font.get(b"Widths").ok()).and_then(|w| w.as_array().ok());
        let missing =
            descriptor(document, font).and_then(|d| d.get(b"MissingWidth").ok().and_then(number)).unwrap_or(0.0);
        let standard = if widths.is_none() { standard_metrics(font) } else { None };
        let mut text = String::new();
        let mut codes = Box::new([SimpleCode::default(); 256]);
        for (code, entry) in codes.iter_mut().enumerate() {
            let start = text.len();
            let mapped = to_unicode.as_ref().is_some_and(|cmap| {
                let before = text.len();
                cmap.text(code as Code, &mut text) && usable(&text[before..]) || {
                    text.truncate(before);
                    false
                }
            });
            let mut unreadable = false;
            if !mapped {
                match &differences[code] {
                    Some(t) if !t.is_empty() => text.push_str(t),
                    named => {
                        if let Some(c) = char::from_u32(u32::from(base[code])).filter(|c| *c != '\0') {
                            text.push(c);
                        } else {
                            unreadable = named.is_some();
                        }
                    }
                }
            }
            let width = match standard {
                Some(metrics) => text[start..].chars().next().map_or(0.0, |c| metrics.width(c)),
                None => code
                    .checked_sub(first_char)
                    .and_then(|i| widths.and_then(|w| w.get(i)))
                    .and_then(|w| number(deref(document, Some(w)).unwrap_or(w)))
                    .unwrap_or(missing),
            };
            // Without an advance it is a mark or draws nothing (TeX's compound word mark).
            if unreadable && width > 0.0 {
                text.push('\u{FFFD}');
            }
            *entry = SimpleCode { start: start as u32, end: text.len() as u32, width };
        }
        let has_widths = widths.is_some() || standard.is_some();
        Font { kind: Kind::Simple { text, codes }, scale, has_widths, size_factor }
    }

    /// Walks the codes of `bytes`: `glyph` gets each code's advance, `text` its text.
    pub(super) fn show(&self, bytes: &[u8], mut each: impl FnMut(Glyph, &str)) {
        match &self.kind {
            Kind::Simple { text, codes } => {
                for &byte in bytes {
                    let code = codes[byte as usize];
                    let glyph = Glyph { width: code.width, word_space: byte == b' ' };
                    each(glyph, &text[code.start as usize..code.end as usize]);
                }
            }
            Kind::Composite(composite) => {
                let Composite { encoding, to_unicode, widths, collection } = composite.as_ref();
                let mut text = String::new();
                let mut at = 0;
                while at < bytes.len() {
                    let len = match encoding {
                        Encoding::CMap(cmap) if cmap.has_code_space() => cmap.code_len(&bytes[at..]),
                        _ => to_unicode.as_ref().filter(|c| c.has_code_space()).map_or(2, |c| c.code_len(&bytes[at..])),
                    }
                    .clamp(1, bytes.len() - at);
                    let raw = &bytes[at..at + len];
                    let code = raw.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b));
                    at += len;
                    text.clear();
                    let cid = match encoding {
                        Encoding::CMap(cmap) => cmap.cid(code).unwrap_or(code),
                        _ => code,
                    };
                    let mapped = to_unicode.as_ref().is_some_and(|cmap| cmap.text(code, &mut text) && usable(&text));
                    if !mapped {
                        text.clear();
                        match (encoding, collection) {
                            (Encoding::Unicode, _) => text.push_str(&utf16_text(raw)),
                            (Encoding::Identity | Encoding::CMap(_), Some(collection)) => {
                                text.extend(collection.text(cid));
                            }
                            _ => {}
                        }
                    }
                    let glyph = Glyph { width: widths.of(cid), word_space: len == 1 && code == 32 };
                    each(glyph, &text);
                }
            }
        }
    }
}

/// Text a map gave that a reader can use: not empty, not only NULs or replacement marks.
fn usable(text: &str) -> bool {
    text.chars().any(|c| c != '\0' && c != '\u{FFFD}')
}

fn composite(document: &Document, font: &Dictionary, to_unicode: Option<CMap>, cmap_budget: usize) -> Font {
    let encoding = match deref(document, font.get(b"Encoding").ok()) {
        Some(Object::Name(name))
            if name.starts_with(b"Uni") && (contains(name, b"UCS2") || contains(name, b"UTF16")) =>
        {
            Encoding::Unicode
        }
        Some(Object::Name(name)) if name.starts_with(b"Identity") => Encoding::Identity,
        Some(Object::Stream(s)) => Encoding::CMap(CMap::parse(&inflate(s, cmap_budget).unwrap_or_default())),
        Some(Object::Name(_)) => Encoding::Predefined,
        _ => Encoding::Identity,
    };
    let descendant = deref(document, font.get(b"DescendantFonts").ok())
        .and_then(|d| d.as_array().ok())
        .and_then(|a| a.first())
        .and_then(|d| deref(document, Some(d)))
        .and_then(|d| d.as_dict().ok());
    let collection = descendant
        .and_then(|d| deref(document, d.get(b"CIDSystemInfo").ok()))
        .and_then(|info| info.as_dict().ok())
        .filter(|info| info.get(b"Registry").and_then(Object::as_str).ok() == Some(b"Adobe".as_slice()))
        .and_then(|info| info.get(b"Ordering").and_then(Object::as_str).ok())
        .and_then(Collection::of);
    let mut widths = Widths { default: 1000.0, ..Widths::default() };
    let mut has_widths = false;
    if let Some(cid_font) = descendant {
        if let Some(dw) = cid_font.get(b"DW").ok().and_then(number) {
            widths.default = dw;
        }
        if let Some(w) = deref(document, cid_font.get(b"W").ok()).and_then(|w| w.as_array().ok()) {
            has_widths = true;
            let mut items = w.iter().map(|o| deref(document, Some(o)).unwrap_or(o));
            while let Some(first) = items.next().and_then(number) {
                match items.next() {
                    Some(Object::Array(list)) => {
                        let list = list.iter().map(|o| number(deref(document, Some(o)).unwrap_or(o)).unwrap_or(0.0));
                        widths.lists.push((first as u32, list.collect()));
                    }
                    Some(last) => {
                        let (Some(last), Some(width)) = (number(last), items.next().and_then(number)) else { break };
                        widths.ranges.push((first as u32, last as u32, width));
                    }
                    None => break,
                }
            }
        }
    }
    Font {
        kind: Kind::Composite(Box::new(Composite { encoding, to_unicode, widths, collection })),
        scale: 0.001,
        has_widths,
        size_factor: 1.0,
    }
}

/// The advances of a standard font, for fonts that name one and leave out `Widths` (allowed
/// for the standard 14 until PDF 1.5, and common since: Arial and Times New Roman too).
#[derive(Debug, Clone, Copy)]
enum Standard {
    Proportional(&'static [(u16, u16)]),
    Monospaced,
}

impl Standard {
    fn width(self, c: char) -> f32 {
        match self {
            Standard::Monospaced => 600.0,
            Standard::Proportional(widths) => u16::try_from(u32::from(c))
                .ok()
                .and_then(|c| widths.binary_search_by_key(&c, |(code, _)| *code).ok())
                .map_or(500.0, |i| f32::from(widths[i].1)),
        }
    }
}

fn standard_metrics(font: &Dictionary) -> Option<Standard> {
    let name = font.get(b"BaseFont").and_then(Object::as_name).ok()?;
    // A subset's name starts with six capitals and a plus sign.
    let name = match name.iter().position(|&b| b == b'+') {
        Some(6) => &name[7..],
        _ => name,
    };
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let bold = name.contains("bold") || name.contains("black") || name.contains("heavy");
    let italic = name.contains("italic") || name.contains("oblique");
    if name.starts_with("courier") {
        return Some(Standard::Monospaced);
    }
    let table = if name.starts_with("helvetica") || name.starts_with("arial") {
        if bold { tables::HELVETICA_BOLD } else { tables::HELVETICA }
    } else if name.starts_with("times") {
        match (bold, italic) {
            (true, true) => tables::TIMES_BOLD_ITALIC,
            (true, false) => tables::TIMES_BOLD,
            (false, true) => tables::TIMES_ITALIC,
            (false, false) => tables::TIMES,
        }
    } else {
        return None;
    };
    Some(Standard::Proportional(table))
}

/// A Type 3 font's glyph-to-text scale (`FontMatrix`) and glyph height per unit of font size.
/// Its glyph space is its own, so the height is read off its advances: lowercase text
/// advances about half an em, so twice the median advance is close to one em. Without widths,
/// its `FontBBox` through the matrix (which overstates, as it covers every glyph).
fn type3_scale(document: &Document, font: &Dictionary) -> (f32, f32) {
    let values = |key: &[u8]| -> Vec<f32> {
        deref(document, font.get(key).ok())
            .and_then(|o| o.as_array().ok())
            .map(|a| a.iter().filter_map(|o| number(deref(document, Some(o)).unwrap_or(o))).collect())
            .unwrap_or_default()
    };
    let matrix = values(b"FontMatrix");
    let (scale, vertical) = match matrix.as_slice() {
        [a, _, _, d, ..] if a.is_finite() && d.is_finite() && *a != 0.0 => (*a, d.abs()),
        _ => (0.001, 0.001),
    };
    let mut widths: Vec<f32> = values(b"Widths").into_iter().filter(|w| *w > 0.0 && w.is_finite()).collect();
    let height = if widths.is_empty() {
        match values(b"FontBBox").as_slice() {
            [_, bottom, _, top] if (top - bottom).is_finite() && top > bottom => (top - bottom) * vertical,
            _ => 1000.0 * vertical,
        }
    } else {
        let middle = widths.len() / 2;
        let (_, median, _) = widths.select_nth_unstable_by(middle, f32::total_cmp);
        2.0 * *median * scale.abs()
    };
    (scale, if height > 0.0 && height.is_finite() { height } else { 1.0 })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub(super) fn descriptor<'a>(document: &'a Document, font: &'a Dictionary) -> Option<&'a Dictionary> {
    deref(document, font.get(b"FontDescriptor").ok()).and_then(|d| d.as_dict().ok())
}

pub(super) fn deref<'a>(document: &'a Document, object: Option<&'a Object>) -> Option<&'a Object> {
    match object? {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

pub(super) fn number(object: &Object) -> Option<f32> {
    match object {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) => Some(*r),
        _ => None,
    }
}

/// A stream's content, inflated up to `budget` bytes; `None` past it or when unreadable.
fn stream(document: &Document, object: Option<&Object>, budget: usize) -> Option<Vec<u8>> {
    inflate(deref(document, object)?.as_stream().ok()?, budget)
}

fn inflate(stream: &lopdf::Stream, budget: usize) -> Option<Vec<u8>> {
    if stream.filters().unwrap_or_default().is_empty() {
        return (stream.content.len() <= budget).then(|| stream.content.clone());
    }
    stream.decompressed_content_with_limit(budget).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adobe_collections_give_each_cid_its_character() {
        assert_eq!(Collection::Japan1.text(2), Some('!'));
        // Japan1 CID 842 is the first hiragana (ぁ).
        assert_eq!(Collection::Japan1.text(842), Some('\u{3041}'));
        for collection in [Collection::Gb1, Collection::Cns1, Collection::Korea1] {
            assert_eq!(collection.text(2), Some('!'), "{collection:?}");
        }
        assert_eq!(Collection::Japan1.text(0), None, "CID 0 is .notdef");
        assert_eq!(Collection::Japan1.text(u32::MAX), None);
    }
}
