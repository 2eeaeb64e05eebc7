//! The encodings of simple fonts (ISO 32000-1, 9.6.6): the base a font's `Differences` apply
//! to, the glyph name each code gets, and, for chunks that leave font programs out, a builtin
//! encoding spelled out as `Differences`.

use lopdf::{Dictionary, Document, Object};

use super::font::{deref, descriptor, number};
use super::{glyph_text, tables};

/// The encoding a simple font's `Differences` apply to (ISO 32000-1, 9.6.6).
pub(super) fn base_encoding(document: &Document, font: &Dictionary, subtype: &[u8]) -> &'static [u16; 256] {
    let named = |name: &[u8]| match name {
        b"WinAnsiEncoding" => Some(&tables::WIN_ANSI),
        b"MacRomanEncoding" => Some(&tables::MAC_ROMAN),
        b"MacExpertEncoding" => Some(&tables::MAC_EXPERT),
        b"StandardEncoding" => Some(&tables::STANDARD),
        b"PDFDocEncoding" => Some(&tables::PDF_DOC),
        _ => None,
    };
    match deref(document, font.get(b"Encoding").ok()) {
        Some(Object::Name(name)) => {
            if let Some(table) = named(name) {
                return table;
            }
        }
        Some(Object::Dictionary(dict)) => {
            if let Some(table) = dict.get(b"BaseEncoding").and_then(Object::as_name).ok().and_then(named) {
                return table;
            }
        }
        _ => {}
    }
    let base_font = font.get(b"BaseFont").and_then(Object::as_name).unwrap_or_default();
    if base_font.ends_with(b"Symbol") {
        return &tables::SYMBOL;
    }
    if base_font.ends_with(b"ZapfDingbats") || base_font.ends_with(b"Dingbats") {
        return &tables::ZAPF_DINGBATS;
    }
    let symbolic = descriptor(document, font)
        .and_then(|d| d.get(b"Flags").ok().and_then(number))
        .is_some_and(|flags| (flags as i64) & 4 != 0);
    if subtype == b"TrueType" || symbolic { &tables::WIN_ANSI } else { &tables::STANDARD }
}

/// The text of each code's glyph name: the font's `Differences`, over the builtin encoding of
/// its embedded Type 1 or CFF program when it has one and no other base. `None` where neither
/// names a glyph, empty where `Differences` names one the name list does not know.
pub(super) fn differences(document: &Document, font: &Dictionary) -> Vec<Option<String>> {
    let mut names = vec![None; 256];
    let encoding = deref(document, font.get(b"Encoding").ok());
    let named_base = match encoding {
        Some(Object::Name(_)) => true,
        Some(Object::Dictionary(dict)) => dict.has(b"BaseEncoding"),
        _ => false,
    };
    if !named_base && let Some(descriptor) = descriptor(document, font) {
        for (code, name) in super::program::builtin_names(document, descriptor) {
            names[usize::from(code)] = glyph_text(name.as_bytes());
        }
    }
    each_difference(document, encoding, |code, name| {
        if let Some(slot) = names.get_mut(code) {
            *slot = if name == b".notdef" { None } else { Some(glyph_text(name).unwrap_or_default()) };
        }
    });
    names
}

/// Calls `name` for each `(code, glyph name)` of an encoding dictionary's `Differences`.
fn each_difference(document: &Document, encoding: Option<&Object>, mut name: impl FnMut(usize, &[u8])) {
    let Some(Object::Dictionary(dict)) = encoding else { return };
    let Some(list) = deref(document, dict.get(b"Differences").ok()).and_then(|d| d.as_array().ok()) else { return };
    let mut code = 0usize;
    for item in list {
        match deref(document, Some(item)) {
            Some(Object::Integer(n)) => code = usize::try_from(*n).unwrap_or(usize::MAX),
            Some(Object::Name(glyph)) => {
                name(code, glyph);
                code = code.saturating_add(1);
            }
            _ => {}
        }
    }
}

/// For a chunk that leaves font programs out: the encoding of a simple font whose codes depend
/// on its program's builtin encoding, spelled out as `Differences` (the builtin names, then
/// the font's own `Differences` over them). `None` when the dictionary already says it all.
pub(crate) fn explicit_encoding(document: &Document, font: &Dictionary) -> Option<Dictionary> {
    let subtype = font.get(b"Subtype").and_then(Object::as_name).ok()?;
    if !matches!(subtype, b"Type1" | b"MMType1") {
        return None;
    }
    let encoding = deref(document, font.get(b"Encoding").ok());
    match encoding {
        Some(Object::Name(_)) => return None,
        Some(Object::Dictionary(dict)) if dict.has(b"BaseEncoding") => return None,
        _ => {}
    }
    let builtin = super::program::builtin_names(document, descriptor(document, font)?);
    if builtin.is_empty() {
        return None;
    }
    let mut names: Vec<Option<Vec<u8>>> = vec![None; 256];
    for (code, name) in builtin {
        names[usize::from(code)] = Some(name.into_bytes());
    }
    each_difference(document, encoding, |code, name| {
        if let Some(slot) = names.get_mut(code) {
            *slot = Some(name.to_vec());
        }
    });
    let mut differences = Vec::new();
    let mut next = usize::MAX;
    for (code, name) in names.into_iter().enumerate() {
        let Some(name) = name else { continue };
        if code != next {
            differences.push(Object::Integer(code as i64));
        }
        differences.push(Object::Name(name));
        next = code + 1;
    }
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"Encoding".to_vec()));
    dict.set("Differences", Object::Array(differences));
    Some(dict)
}
