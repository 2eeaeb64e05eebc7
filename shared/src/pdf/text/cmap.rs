//! CMaps (Adobe Technical Note 5014, 5099): how a font's codes are cut out of a string
//! (`codespacerange`), which CID each selects (`cidchar`, `cidrange`) and which text each
//! stands for (`bfchar`, `bfrange`, the `ToUnicode` CMap of ISO 32000-1, 9.10.3).
//!
//! Ranges are kept as ranges: a `bfrange` over 65,536 codes costs one entry, not 65,536, so a
//! CMap costs memory in proportion to its own (budgeted) size.

use std::collections::HashMap;

use super::glyph_text;

/// Codes of one to four bytes, read as big-endian numbers.
pub(super) type Code = u32;

/// One `codespacerange` entry: codes of `len` bytes, each byte between `low` and `high`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CodeSpace {
    len: usize,
    low: [u8; 4],
    high: [u8; 4],
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Text whose last UTF-16 unit grows by one per code past the range's start.
    Incrementing(Vec<u16>),
    /// One text per code of the range.
    Each(Vec<Box<str>>),
    /// CIDs counting up from this one.
    Cid(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Range {
    low: Code,
    high: Code,
    target: Target,
}

/// A parsed CMap. Holds what any of its sections said; a `ToUnicode` CMap fills the text maps
/// and an encoding CMap the CID maps, and both may declare code space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct CMap {
    spaces: Vec<CodeSpace>,
    text: HashMap<Code, Box<str>>,
    text_ranges: Vec<Range>,
    cids: HashMap<Code, u32>,
    cid_ranges: Vec<Range>,
}

impl CMap {
    /// Parses CMap source. Whatever does not parse is skipped: a damaged entry loses only
    /// itself.
    pub(super) fn parse(source: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut lexer = Lexer { bytes: source, at: 0 };
        let mut operands: Vec<Token> = Vec::new();
        while let Some(token) = lexer.next() {
            let Token::Keyword(keyword) = token else {
                operands.push(token);
                continue;
            };
            match keyword {
                b"begincodespacerange" => cmap.sections(&mut lexer, b"endcodespacerange", 2, CMap::code_space),
                b"beginbfchar" => cmap.sections(&mut lexer, b"endbfchar", 2, CMap::bf_char),
                b"beginbfrange" => cmap.sections(&mut lexer, b"endbfrange", 3, CMap::bf_range),
                b"begincidchar" => cmap.sections(&mut lexer, b"endcidchar", 2, CMap::cid_char),
                b"begincidrange" => cmap.sections(&mut lexer, b"endcidrange", 3, CMap::cid_range),
                _ => {}
            }
            operands.clear();
        }
        cmap.text_ranges.sort_by_key(|r| r.low);
        cmap.cid_ranges.sort_by_key(|r| r.low);
        cmap
    }

    /// Reads the entries of one section, `arity` tokens each, up to its end keyword.
    fn sections(&mut self, lexer: &mut Lexer, end: &[u8], arity: usize, mut entry: impl FnMut(&mut CMap, &[Token])) {
        let mut tokens = Vec::with_capacity(arity);
        while let Some(token) = lexer.next() {
            if matches!(&token, Token::Keyword(k) if *k == end) {
                return;
            }
            tokens.push(token);
            if tokens.len() == arity {
                entry(self, &tokens);
                tokens.clear();
            }
        }
    }

    fn code_space(&mut self, tokens: &[Token]) {
        if let [Token::Hex(low), Token::Hex(high)] = tokens
            && (1..=4).contains(&low.len())
            && low.len() == high.len()
        {
            let (mut l, mut h) = ([0; 4], [0; 4]);
            l[..low.len()].copy_from_slice(low);
            h[..high.len()].copy_from_slice(high);
            self.spaces.push(CodeSpace { len: low.len(), low: l, high: h });
        }
    }

    fn bf_char(&mut self, tokens: &[Token]) {
        let [Token::Hex(code), target] = tokens else { return };
        let Some(code) = number(code) else { return };
        let text = match target {
            Token::Hex(units) => utf16_text(units),
            Token::Name(name) => glyph_text(name).unwrap_or_default(),
            _ => return,
        };
        self.text.insert(code, text.into());
    }

    fn bf_range(&mut self, tokens: &[Token]) {
        let [Token::Hex(low), Token::Hex(high), target] = tokens else { return };
        let (Some(low), Some(high)) = (number(low), number(high)) else { return };
        if high < low {
            return;
        }
        let target = match target {
            Token::Hex(units) => Target::Incrementing(units.chunks(2).map(unit).collect()),
            Token::Array(items) => Target::Each(
                items
                    .iter()
                    .map(|item| match item {
                        Token::Hex(units) => utf16_text(units).into(),
                        Token::Name(name) => glyph_text(name).unwrap_or_default().into(),
                        _ => Box::from(""),
                    })
                    .collect(),
            ),
            _ => return,
        };
        self.text_ranges.push(Range { low, high, target });
    }

    fn cid_char(&mut self, tokens: &[Token]) {
        if let [Token::Hex(code), Token::Number(cid)] = tokens
            && let Some(code) = number(code)
        {
            self.cids.insert(code, *cid);
        }
    }

    fn cid_range(&mut self, tokens: &[Token]) {
        if let [Token::Hex(low), Token::Hex(high), Token::Number(cid)] = tokens
            && let (Some(low), Some(high)) = (number(low), number(high))
            && low <= high
        {
            self.cid_ranges.push(Range { low, high, target: Target::Cid(*cid) });
        }
    }

    pub(super) fn has_code_space(&self) -> bool {
        !self.spaces.is_empty()
    }

    /// The length of the code at the start of `bytes`, by the code space (ISO 32000-1,
    /// 9.7.6.2); bytes no range matches are read as codes of the shortest length.
    pub(super) fn code_len(&self, bytes: &[u8]) -> usize {
        let mut shortest = usize::MAX;
        for len in 1..=4.min(bytes.len()) {
            for space in self.spaces.iter().filter(|s| s.len == len) {
                shortest = shortest.min(len);
                if (0..len).all(|i| (space.low[i]..=space.high[i]).contains(&bytes[i])) {
                    return len;
                }
            }
        }
        if shortest == usize::MAX { 1.min(bytes.len()) } else { shortest }
    }

    /// The text a code stands for, if this CMap says.
    pub(super) fn text(&self, code: Code, out: &mut String) -> bool {
        if let Some(text) = self.text.get(&code) {
            out.push_str(text);
            return true;
        }
        let Some(range) = find(&self.text_ranges, code) else { return false };
        let offset = (code - range.low) as usize;
        match &range.target {
            Target::Incrementing(units) => {
                let Some((last, head)) = units.split_last() else { return false };
                let shifted = u32::from(*last) + offset as u32;
                let mut units = head.to_vec();
                // Past U+FFFF a range would carry into the previous unit; no producer relies
                // on that, so the text ends there instead.
                units.push(u16::try_from(shifted).unwrap_or(0xFFFD));
                out.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')));
                true
            }
            Target::Each(texts) => match texts.get(offset) {
                Some(text) => {
                    out.push_str(text);
                    true
                }
                None => false,
            },
            Target::Cid(_) => false,
        }
    }

    /// The CID a code selects, if this CMap says.
    pub(super) fn cid(&self, code: Code) -> Option<u32> {
        if let Some(cid) = self.cids.get(&code) {
            return Some(*cid);
        }
        match find(&self.cid_ranges, code)? {
            Range { low, target: Target::Cid(first), .. } => Some(first + (code - low)),
            _ => None,
        }
    }
}

/// The range holding `code`, among ranges sorted by start (overlaps resolve to the last that
/// starts at or before the code and still holds it).
fn find(ranges: &[Range], code: Code) -> Option<&Range> {
    let end = ranges.partition_point(|r| r.low <= code);
    ranges[..end].iter().rev().take(8).find(|r| code <= r.high)
}

fn number(bytes: &[u8]) -> Option<Code> {
    (1..=4).contains(&bytes.len()).then(|| bytes.iter().fold(0, |n, b| (n << 8) | Code::from(*b)))
}

fn unit(pair: &[u8]) -> u16 {
    match pair {
        [hi, lo] => u16::from_be_bytes([*hi, *lo]),
        [lo] => u16::from(*lo),
        _ => 0,
    }
}

/// UTF-16BE bytes as text; unpaired surrogates become U+FFFD.
pub(super) fn utf16_text(bytes: &[u8]) -> String {
    char::decode_utf16(bytes.chunks(2).map(unit)).map(|c| c.unwrap_or('\u{FFFD}')).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Hex(Vec<u8>),
    Name(&'a [u8]),
    Number(u32),
    Array(Vec<Token<'a>>),
    Keyword(&'a [u8]),
    Other,
}

/// PostScript tokens, as much as CMaps use.
struct Lexer<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.bytes;
        loop {
            let b = *bytes.get(self.at)?;
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0' => self.at += 1,
                b'%' => {
                    while self.at < bytes.len() && !matches!(bytes[self.at], b'\n' | b'\r') {
                        self.at += 1;
                    }
                }
                _ => break,
            }
        }
        let start = self.at;
        let b = bytes[start];
        self.at += 1;
        Some(match b {
            b'<' if bytes.get(self.at) == Some(&b'<') => {
                self.at += 1;
                Token::Other
            }
            b'<' => {
                let end = bytes[self.at..].iter().position(|&c| c == b'>').map_or(bytes.len(), |p| self.at + p);
                let digits: Vec<u8> =
                    bytes[self.at..end].iter().filter_map(|&c| (c as char).to_digit(16)).map(|d| d as u8).collect();
                self.at = (end + 1).min(bytes.len());
                let mut hex: Vec<u8> = digits.chunks(2).map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0)).collect();
                hex.shrink_to_fit();
                Token::Hex(hex)
            }
            b'>' if bytes.get(self.at) == Some(&b'>') => {
                self.at += 1;
                Token::Other
            }
            b'[' => {
                let mut items = Vec::new();
                while let Some(token) = self.peek_close() {
                    items.push(token);
                }
                Token::Array(items)
            }
            b']' | b'{' | b'}' | b'>' => Token::Other,
            b'(' => {
                let mut depth = 1;
                while self.at < bytes.len() && depth > 0 {
                    match bytes[self.at] {
                        b'\\' => self.at += 1,
                        b'(' => depth += 1,
                        b')' => depth -= 1,
                        _ => {}
                    }
                    self.at += 1;
                }
                Token::Other
            }
            b'/' => {
                let end = self.regular_end();
                Token::Name(&bytes[start + 1..end])
            }
            _ => {
                let end = self.regular_end();
                let word = &bytes[start..end];
                match std::str::from_utf8(word).ok().and_then(|w| w.parse().ok()) {
                    Some(n) => Token::Number(n),
                    None if word.iter().all(u8::is_ascii_alphabetic) => Token::Keyword(word),
                    None => Token::Other,
                }
            }
        })
    }

    /// The next token of an array, or `None` at its `]` (or the end of input).
    fn peek_close(&mut self) -> Option<Token<'a>> {
        while self.bytes.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            None => None,
            Some(b']') => {
                self.at += 1;
                None
            }
            Some(_) => self.next(),
        }
    }

    fn regular_end(&mut self) -> usize {
        while let Some(&c) = self.bytes.get(self.at) {
            if c.is_ascii_whitespace() || b"()<>[]{}/%".contains(&c) {
                break;
            }
            self.at += 1;
        }
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO_UNICODE: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
        /CMapName /Adobe-Identity-UCS def
        1 begincodespacerange <0000> <FFFF> endcodespacerange
        3 beginbfchar <0003> <0020> <0011> <00660069> <0012> <D835DC00> endbfchar
        2 beginbfrange <0024> <0026> <0041> <0100> <0102> [<0627> <0644> <0645>] endbfrange
        endcmap CMapName currentdict /CMap defineresource pop end end";

    fn text(cmap: &CMap, code: Code) -> Option<String> {
        let mut out = String::new();
        cmap.text(code, &mut out).then_some(out)
    }

    #[test]
    fn bfchar_and_bfrange_map_codes_to_text_including_ligatures_and_surrogates() {
        let cmap = CMap::parse(TO_UNICODE);
        assert_eq!(text(&cmap, 3).as_deref(), Some(" "));
        assert_eq!(text(&cmap, 0x11).as_deref(), Some("fi"));
        assert_eq!(text(&cmap, 0x12).as_deref(), Some("\u{1D400}"));
        assert_eq!(text(&cmap, 0x25).as_deref(), Some("B"), "incrementing range");
        assert_eq!(text(&cmap, 0x102).as_deref(), Some("\u{645}"), "array range");
        assert_eq!(text(&cmap, 0x27), None);
        assert_eq!(cmap.code_len(&[0, 3]), 2);
    }

    #[test]
    fn mixed_width_code_spaces_cut_codes_by_their_first_bytes() {
        // Shift-JIS-like: one byte below 0x81, two from 0x81.
        let cmap = CMap::parse(
            b"2 begincodespacerange <00> <80> <8140> <9FFC> endcodespacerange
            1 begincidrange <8140> <817e> 633 endcidrange 1 begincidchar <41> 34 endcidchar",
        );
        assert_eq!(cmap.code_len(b"A\x81\x40"), 1);
        assert_eq!(cmap.code_len(b"\x81\x40"), 2);
        assert_eq!(cmap.cid(0x8142), Some(635));
        assert_eq!(cmap.cid(0x41), Some(34));
    }

    #[test]
    fn damaged_cmaps_keep_what_parses_and_never_panic() {
        for source in [&b"beginbfchar <01> "[..], b"beginbfrange <05> <01> <41> endbfrange", b"<<<<[[[(", b"<0"] {
            let cmap = CMap::parse(source);
            assert!(text(&cmap, 1).is_none());
        }
        let cmap = CMap::parse(b"2 beginbfchar <01> <0041> garbage <02> <0042> endbfchar");
        assert_eq!(text(&cmap, 1).as_deref(), Some("A"));
    }
}
