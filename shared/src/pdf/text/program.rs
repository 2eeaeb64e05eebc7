//! The builtin encoding of an embedded font program: which glyph (by name) each code selects
//! when the font dictionary names no base encoding. TeX's fonts rely on it (their `fi` is code
//! 12), so without it their ligatures and quotes would read as nothing.
//!
//! Type 1 programs (`FontFile`) spell it in their cleartext part (`dup 12 /fi put`); CFF
//! programs (`FontFile3`, `Type1C`) encode it in binary (Adobe Technical Note 5176: header,
//! INDEXes, Top DICT, charset, encoding). Both are read within a byte budget and bounded loops.

use lopdf::{Dictionary, Document, Object};

use super::tables::CFF_STANDARD_STRINGS;

/// What reading a program may inflate.
const PROGRAM_BYTES: usize = 4 << 20;

/// The glyph names of the builtin encoding of `descriptor`'s embedded program, by code; empty
/// when the program uses the standard encoding, is a CID font, or cannot be read.
pub(crate) fn builtin_names(document: &Document, descriptor: &Dictionary) -> Vec<(u8, String)> {
    let deref = |o: &Object| match o {
        Object::Reference(id) => document.get_object(*id).ok().cloned(),
        other => Some(other.clone()),
    };
    if let Some(Object::Stream(program)) = descriptor.get(b"FontFile").ok().and_then(deref) {
        let length = program.dict.get(b"Length1").ok().and_then(deref).and_then(|l| l.as_i64().ok());
        let room = length.map_or(64 << 10, |l| usize::try_from(l).unwrap_or(0).min(256 << 10));
        let cleartext = crate::pdf::extract::inflate_prefix(&program, room).0;
        return type1_encoding(&cleartext);
    }
    if let Some(Object::Stream(program)) = descriptor.get(b"FontFile3").ok().and_then(deref)
        && program.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type1C".as_slice())
    {
        let (data, complete) = crate::pdf::extract::inflate_prefix(&program, PROGRAM_BYTES);
        if complete {
            return cff_encoding(&data).unwrap_or_default();
        }
    }
    Vec::new()
}

/// The `dup <code> /<name> put` entries of a Type 1 program's cleartext `/Encoding` array.
fn type1_encoding(program: &[u8]) -> Vec<(u8, String)> {
    let mut names = Vec::new();
    let Some(start) = program.windows(9).position(|w| w == b"/Encoding") else { return names };
    let end = program[start..].windows(5).position(|w| w == b"eexec").map_or(program.len(), |e| start + e);
    let mut words = program[start..end].split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
    while let Some(word) = words.next() {
        if word == b"readonly" || word == b"def" {
            break;
        }
        if word != b"dup" {
            continue;
        }
        let (Some(code), Some(name)) = (words.next(), words.next()) else { break };
        if let (Some(code), Some(name)) =
            (std::str::from_utf8(code).ok().and_then(|c| c.parse::<u8>().ok()), name.strip_prefix(b"/"))
        {
            names.push((code, String::from_utf8_lossy(name).into_owned()));
        }
    }
    names
}

/// One INDEX: its items and the offset just past it.
fn index(data: &[u8], at: usize) -> Option<(Vec<&[u8]>, usize)> {
    let count = usize::from(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]));
    if count == 0 {
        return Some((Vec::new(), at + 2));
    }
    let size = usize::from(*data.get(at + 2)?);
    if !(1..=4).contains(&size) {
        return None;
    }
    let offset = |i: usize| -> Option<usize> {
        let start = at + 3 + i * size;
        Some(data.get(start..start + size)?.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)))
    };
    let base = at + 3 + (count + 1) * size - 1;
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        let (from, to) = (offset(i)?, offset(i + 1)?);
        items.push(data.get(base + from..base + to)?);
    }
    Some((items, base + offset(count)?))
}

/// A DICT's operators (two-byte ones as 1200 + second byte) and their operands.
fn dict(data: &[u8]) -> Vec<(u16, Vec<f64>)> {
    let mut entries = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let b0 = data[i];
        i += 1;
        match b0 {
            0..=21 => {
                let op = if b0 == 12 {
                    let Some(&b1) = data.get(i) else { break };
                    i += 1;
                    1200 + u16::from(b1)
                } else {
                    u16::from(b0)
                };
                entries.push((op, std::mem::take(&mut operands)));
            }
            28 if i + 2 <= data.len() => {
                operands.push(f64::from(i16::from_be_bytes([data[i], data[i + 1]])));
                i += 2;
            }
            29 if i + 4 <= data.len() => {
                operands.push(f64::from(i32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]])));
                i += 4;
            }
            30 => {
                // A real, in nibbles; its value is never an offset, so it only needs skipping.
                while i < data.len() && data[i] & 0x0f != 0x0f && data[i] >> 4 != 0x0f {
                    i += 1;
                }
                i += 1;
                operands.push(0.0);
            }
            32..=246 => operands.push(f64::from(b0) - 139.0),
            247..=250 if i < data.len() => {
                operands.push(f64::from((u16::from(b0) - 247) * 256 + u16::from(data[i]) + 108));
                i += 1;
            }
            251..=254 if i < data.len() => {
                operands.push(-f64::from((u16::from(b0) - 251) * 256 + u16::from(data[i]) + 108));
                i += 1;
            }
            _ => break,
        }
    }
    entries
}

/// A CFF program's builtin encoding as glyph names by code (`None` for standard or expert
/// encodings, CID fonts and anything unreadable).
fn cff_encoding(data: &[u8]) -> Option<Vec<(u8, String)>> {
    let header = usize::from(*data.get(2)?);
    let (_, at) = index(data, header)?;
    let (tops, at) = index(data, at)?;
    let (strings, _) = index(data, at)?;
    let top = dict(tops.first()?);
    let get = |op: u16| top.iter().find(|(o, _)| *o == op).and_then(|(_, v)| v.first().copied());
    if get(1230).is_some() {
        return None;
    }
    let offset = |v: f64| (v >= 0.0 && v < data.len() as f64).then_some(v as usize);
    let (glyphs, _) = index(data, offset(get(17)?)?)?;
    let encoding = offset(get(16).unwrap_or(0.0))?;
    if encoding <= 1 {
        return None;
    }
    let sids = charset(data, get(15).map_or(Some(0), offset)?, glyphs.len())?;
    let name = |sid: u16| -> Option<String> {
        let sid = usize::from(sid);
        match CFF_STANDARD_STRINGS.get(sid) {
            Some(name) => Some((*name).to_string()),
            None => strings.get(sid - CFF_STANDARD_STRINGS.len()).map(|s| String::from_utf8_lossy(s).into_owned()),
        }
    };
    let mut names = Vec::new();
    let format = *data.get(encoding)?;
    let mut at = encoding + 1;
    match format & 0x7f {
        0 => {
            let count = usize::from(*data.get(at)?);
            for gid in 1..=count {
                let code = *data.get(at + gid)?;
                if let Some(n) = sids.get(gid).and_then(|sid| name(*sid)) {
                    names.push((code, n));
                }
            }
            at += 1 + count;
        }
        1 => {
            let ranges = usize::from(*data.get(at)?);
            let mut gid = 1;
            for r in 0..ranges {
                let first = *data.get(at + 1 + 2 * r)?;
                let left = *data.get(at + 2 + 2 * r)?;
                for code in first..=first.saturating_add(left) {
                    if let Some(n) = sids.get(gid).and_then(|sid| name(*sid)) {
                        names.push((code, n));
                    }
                    gid += 1;
                }
            }
            at += 1 + 2 * ranges;
        }
        _ => return None,
    }
    if format & 0x80 != 0 {
        let supplements = usize::from(*data.get(at)?);
        for s in 0..supplements {
            let entry = data.get(at + 1 + 3 * s..at + 4 + 3 * s)?;
            if let Some(n) = name(u16::from_be_bytes([entry[1], entry[2]])) {
                names.push((entry[0], n));
            }
        }
    }
    Some(names)
}

/// The string id of each glyph (glyph 0 is `.notdef`).
fn charset(data: &[u8], offset: usize, glyphs: usize) -> Option<Vec<u16>> {
    let mut sids = vec![0u16];
    if offset == 0 {
        // ISOAdobe: glyph i is string i.
        sids.extend((1..glyphs.min(229)).map(|i| i as u16));
        return Some(sids);
    }
    if offset <= 2 {
        return None;
    }
    let format = *data.get(offset)?;
    let mut at = offset + 1;
    while sids.len() < glyphs {
        match format {
            0 => {
                sids.push(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]));
                at += 2;
            }
            1 | 2 => {
                let first = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
                let left = if format == 1 {
                    at += 3;
                    u16::from(*data.get(at - 1)?)
                } else {
                    at += 4;
                    u16::from_be_bytes([*data.get(at - 2)?, *data.get(at - 1)?])
                };
                for sid in first..=first.saturating_add(left) {
                    if sids.len() == glyphs {
                        break;
                    }
                    sids.push(sid);
                }
            }
            _ => return None,
        }
    }
    Some(sids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type1_cleartext_encoding_gives_its_names_by_code() {
        let program = b"%!PS-AdobeFont-1.0: CMR10\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\n\
                        dup 12 /fi put\ndup 65 /A put\nreadonly def\ncurrentfile eexec \x80\x81";
        assert_eq!(type1_encoding(program), vec![(12, "fi".to_string()), (65, "A".to_string())]);
        assert!(type1_encoding(b"/Encoding StandardEncoding def").is_empty());
    }

    /// A minimal CFF: one font, three glyphs (.notdef, "fi" by standard string 109 and a
    /// custom string "T_h"), encoding format 0 giving them codes 12 and 84.
    fn cff() -> Vec<u8> {
        let index = |items: &[&[u8]]| -> Vec<u8> {
            let mut out = (items.len() as u16).to_be_bytes().to_vec();
            if items.is_empty() {
                return out;
            }
            out.push(1);
            let mut offset = 1u8;
            out.push(offset);
            for item in items {
                offset += item.len() as u8;
                out.push(offset);
            }
            items.iter().for_each(|i| out.extend_from_slice(i));
            out
        };
        let name = index(&[b"F"]);
        let strings = index(&[b"T_h"]);
        let charstrings = index(&[b"\x0e", b"\x0e", b"\x0e"]);
        let charset = [0u8, 0, 109, 1, 135]; // format 0: SIDs 109 and 391
        let encoding = [0u8, 2, 12, 84]; // format 0: two codes
        // The Top DICT's offsets are fixed-width (29: 4 bytes) so its size is known up front.
        let top_len = 3 * 6;
        let body_start = 4 + name.len() + (2 + 1 + 2 + top_len) + strings.len() + 2;
        let charstrings_at = body_start;
        let charset_at = charstrings_at + charstrings.len();
        let encoding_at = charset_at + charset.len();
        let mut top = Vec::new();
        for (value, op) in [(charset_at, 15u8), (encoding_at, 16), (charstrings_at, 17)] {
            top.push(29);
            top.extend_from_slice(&(value as i32).to_be_bytes());
            top.push(op);
        }
        let mut data = vec![1, 0, 4, 1];
        data.extend(name);
        data.extend(index(&[&top]));
        data.extend(strings);
        data.extend([0, 0]); // no global subrs
        data.extend(charstrings);
        data.extend(charset);
        data.extend(encoding);
        data
    }

    #[test]
    fn a_cff_builtin_encoding_names_glyphs_by_standard_and_custom_strings() {
        assert_eq!(cff_encoding(&cff()), Some(vec![(12, "fi".to_string()), (84, "T_h".to_string())]));
    }

    #[test]
    fn truncated_or_garbled_cff_data_reads_as_no_encoding() {
        let data = cff();
        for end in 0..data.len() {
            let _ = cff_encoding(&data[..end]);
        }
        let mut garbled = data.clone();
        garbled.iter_mut().skip(10).step_by(3).for_each(|b| *b ^= 0x5a);
        let _ = cff_encoding(&garbled);
    }
}
