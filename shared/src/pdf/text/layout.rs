//! From placed glyphs to lines of words.
//!
//! Glyphs arrive in content order with their device-space origin, advance and size. A glyph
//! starts a new line when it leaves the previous glyph's baseline by more than half the font
//! size; it starts a new word when it lands past the previous glyph's end by more than
//! [`WORD_GAP`] of the size, or jumps back by more than one size (an overprint, a new column).
//! Lines holding right-to-left letters are put in order by position and then into logical
//! order, since producers draw such lines in visual order. Ligature code points are spelled
//! out, so "ﬁnd" reads as "find". A spacing accent drawn over a letter (TeX's way with "é")
//! joins it, and lines come out composed (NFC).

use unicode_normalization::UnicodeNormalization as _;

/// A gap of more than this share of the font size separates words. Kerning stays below it
/// (a few hundredths); inter-word spaces made by positioning are a quarter to a third.
pub(super) const WORD_GAP: f32 = 0.15;
/// Without known advances (no `Widths`), glyph ends are guesses, so gaps must be larger.
pub(super) const WORD_GAP_GUESSED: f32 = 0.3;

/// One glyph as placed on the page, in device space.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placed {
    pub x: f32,
    pub y: f32,
    /// Advance in device space.
    pub dx: f32,
    pub dy: f32,
    /// Font size in device space.
    pub size: f32,
    /// The share of the size a gap must pass to separate words.
    pub gap: f32,
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    start: usize,
    end: usize,
    /// Where the glyph starts and ends along the line's direction.
    from: f32,
    to: f32,
    size: f32,
    gap: f32,
    /// Only combining marks: it belongs to the letter it is drawn over.
    mark: bool,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    end_x: f32,
    end_y: f32,
    start_x: f32,
    start_y: f32,
    size: f32,
}

/// The text of a page, line by line.
#[derive(Debug, Default)]
pub(super) struct Layout {
    out: String,
    line: String,
    pieces: Vec<Piece>,
    rtl: bool,
    last: Option<Last>,
    /// The previous glyph's text, to drop the second copy of a glyph drawn twice in place
    /// (how producers embolden).
    last_text: String,
    /// The line's direction (unit vector), from its first glyph.
    ux: f32,
    uy: f32,
    /// A spacing accent waiting for the glyph it was drawn over (TeX draws the accent first).
    pending: Option<Accent>,
}

#[derive(Debug, Clone, Copy)]
struct Accent {
    spacing: char,
    combining: char,
    at: Placed,
    /// Its middle along the line.
    middle: f32,
}

/// The combining mark a spacing accent stands for when it is drawn over a letter.
fn combining(c: char) -> Option<char> {
    Some(match c {
        '`' => '\u{0300}',
        '\u{00B4}' => '\u{0301}',
        '^' | '\u{02C6}' => '\u{0302}',
        '~' | '\u{02DC}' => '\u{0303}',
        '\u{00AF}' | '\u{02C9}' => '\u{0304}',
        '\u{02D8}' => '\u{0306}',
        '\u{02D9}' => '\u{0307}',
        '\u{00A8}' => '\u{0308}',
        '\u{02DA}' => '\u{030A}',
        '\u{02DD}' => '\u{030B}',
        '\u{02C7}' => '\u{030C}',
        '\u{00B8}' => '\u{0327}',
        '\u{02DB}' => '\u{0328}',
        _ => return None,
    })
}

impl Layout {
    pub(super) fn len(&self) -> usize {
        self.out.len() + self.line.len()
    }

    /// Adds one glyph and its text (possibly empty: a glyph without text still moves the pen).
    /// A spacing accent drawn over a letter (before or after it) joins it as a combining mark.
    pub(super) fn glyph(&mut self, at: Placed, text: &str) {
        // A combining mark drawn as a glyph of its own (Arabic harakat, Hebrew points) belongs
        // to a letter, not to a word of its own: it makes no gap. Left to right it follows the
        // letter before it; in a right-to-left line `reorder` gives it to its letter by the
        // order the two were drawn in.
        if !text.is_empty() && text.chars().all(unicode_normalization::char::is_combining_mark) {
            let (ux, uy) = if self.pieces.is_empty() { (1.0, 0.0) } else { (self.ux, self.uy) };
            let middle = (at.x + at.dx / 2.0) * ux + (at.y + at.dy / 2.0) * uy;
            // A new baseline ends the line first, as for any glyph.
            if let Some(last) = self.last
                && ((at.y - last.end_y) * self.ux - (at.x - last.end_x) * self.uy).abs() > 0.5 * at.size.max(last.size)
            {
                self.end_line_only();
            }
            let over_last = self.pieces.last().is_some_and(|p| distance(p, middle) <= 0.5 * at.size.max(p.size));
            if over_last || self.rtl || self.pieces.is_empty() {
                let start = self.line.len();
                self.line.push_str(text);
                self.pieces.push(Piece {
                    start,
                    end: self.line.len(),
                    from: middle,
                    to: middle,
                    size: at.size,
                    gap: at.gap,
                    mark: true,
                });
                return;
            }
        }
        let mut chars = text.chars();
        if let (Some(c), None) = (chars.next(), chars.next())
            && let Some(mark) = combining(c)
        {
            let middle = (at.x + at.dx / 2.0) * self.ux + (at.y + at.dy / 2.0) * self.uy;
            if let Some(base) = self.pieces.last().copied()
                && self.pending.is_none()
                && self.line.len() == base.end
                && base.end > base.start
                && (base.from.min(base.to)..=base.from.max(base.to)).contains(&middle)
                && self.near(&at)
            {
                self.line.push(mark);
                return;
            }
            self.flush_accent();
            self.pending = Some(Accent { spacing: c, combining: mark, at, middle });
            return;
        }
        if let Some(accent) = self.pending.take() {
            let from = at.x * self.ux + at.y * self.uy;
            let to = from + at.dx * self.ux + at.dy * self.uy;
            if !text.is_empty()
                && (from.min(to)..=from.max(to)).contains(&accent.middle)
                && self.near_to(&accent.at, &at)
            {
                self.place(at, text);
                self.line.push(accent.combining);
                return;
            }
            self.place(accent.at, accent.spacing.encode_utf8(&mut [0; 4]));
        }
        self.place(at, text);
    }

    /// Whether a glyph is within a line's height of the last one placed.
    fn near(&self, at: &Placed) -> bool {
        self.last.is_some_and(|last| {
            (at.y - last.start_y).abs() + (at.x - last.start_x).abs() < 2.0 * at.size.max(last.size)
        })
    }

    fn near_to(&self, a: &Placed, b: &Placed) -> bool {
        (a.y - b.y).abs() + (a.x - b.x).abs() < 2.0 * a.size.max(b.size)
    }

    fn flush_accent(&mut self) {
        if let Some(accent) = self.pending.take() {
            self.place(accent.at, accent.spacing.encode_utf8(&mut [0; 4]));
        }
    }

    fn place(&mut self, at: Placed, text: &str) {
        let advance = (at.dx * at.dx + at.dy * at.dy).sqrt();
        let (ux, uy) = if advance > 1e-6 { (at.dx / advance, at.dy / advance) } else { (self.ux, self.uy) };
        if let Some(last) = self.last {
            let size = at.size.max(last.size).max(1e-3);
            let (dx, dy) = (at.x - last.end_x, at.y - last.end_y);
            let along = dx * ux + dy * uy;
            let across = -dx * uy + dy * ux;
            if across.abs() > 0.5 * size {
                self.end_line_only();
            } else {
                let same_place = (at.x - last.start_x).abs() + (at.y - last.start_y).abs() < 0.05 * size;
                if same_place && !text.is_empty() && text == self.last_text {
                    return;
                }
                if (along > at.gap * size || along < -size) && !text.starts_with(' ') {
                    self.space();
                }
            }
        }
        if self.pieces.iter().all(|p| p.mark) {
            (self.ux, self.uy) = if advance > 1e-6 { (ux, uy) } else { (1.0, 0.0) };
            // Marks that came first were placed along a direction not known then.
            for piece in self.pieces.iter_mut() {
                piece.from = at.x * self.ux + at.y * self.uy;
                piece.to = piece.from;
            }
        }
        let start = self.line.len();
        for c in text.chars() {
            self.push(c);
        }
        let from = at.x * self.ux + at.y * self.uy;
        let to = from + at.dx * self.ux + at.dy * self.uy;
        self.pieces.push(Piece { start, end: self.line.len(), from, to, size: at.size, gap: at.gap, mark: false });
        self.last =
            Some(Last { end_x: at.x + at.dx, end_y: at.y + at.dy, start_x: at.x, start_y: at.y, size: at.size });
        self.last_text.clear();
        self.last_text.push_str(text);
    }

    fn push(&mut self, c: char) {
        match c {
            '\u{FB00}' => self.line.push_str("ff"),
            '\u{FB01}' => self.line.push_str("fi"),
            '\u{FB02}' => self.line.push_str("fl"),
            '\u{FB03}' => self.line.push_str("ffi"),
            '\u{FB04}' => self.line.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => self.line.push_str("st"),
            // Shaped Hebrew and Arabic, as the letters it was shaped from.
            '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}' => {
                let code = u16::try_from(u32::from(c)).unwrap_or(0);
                match super::tables::PRESENTATION_FORMS.binary_search_by_key(&code, |(form, _)| *form) {
                    Ok(i) => {
                        self.rtl = true;
                        self.line.push_str(super::tables::PRESENTATION_FORMS[i].1);
                    }
                    Err(_) => {
                        self.rtl |= is_rtl(c);
                        self.line.push(c);
                    }
                }
            }
            // Control characters are not text; a tab or a stray NUL separates like a space.
            c if c.is_control() => {
                if !self.line.is_empty() && !self.line.ends_with(' ') {
                    self.line.push(' ');
                }
            }
            c => {
                self.rtl |= is_rtl(c);
                self.line.push(c);
            }
        }
    }

    fn space(&mut self) {
        if !self.line.is_empty() && !self.line.ends_with(' ') {
            self.line.push(' ');
        }
    }

    /// Ends the current line (a text object's end does not: text often continues in the next).
    pub(super) fn end_line(&mut self) {
        self.flush_accent();
        self.end_line_only();
    }

    fn end_line_only(&mut self) {
        if self.rtl {
            self.reorder();
        }
        if self.line.chars().any(|c| ('\u{0300}'..='\u{036F}').contains(&c)) {
            self.line = self.line.nfc().collect();
        }
        let line = self.line.trim_end();
        if !line.is_empty() {
            // A word broken at the end of a line is joined again ("extrac-" + "tion"), as
            // readers of the page do.
            if line.starts_with(char::is_lowercase) && hyphenated(&self.out) {
                self.out.truncate(self.out.len() - 2);
            }
            self.out.push_str(line);
            self.out.push('\n');
        }
        self.line.clear();
        self.pieces.clear();
        self.rtl = false;
        self.last = None;
    }

    /// Puts a line holding right-to-left text into logical order: its glyphs by position, then
    /// right-to-left runs read from the right, left-to-right runs (Latin words, numbers) kept.
    fn reorder(&mut self) {
        let pieces: Vec<Piece> = std::mem::take(&mut self.pieces).into_iter().filter(|p| p.end > p.start).collect();
        // Marks belong to a letter by the order they were drawn in, not by position (a mark's
        // origin says little of where its ink is). Drawn in visual order (left to right, as
        // shapers emit right-to-left runs), a letter's marks come just before it; drawn in
        // reading order (right to left), just after it.
        let letters: Vec<&Piece> = pieces.iter().filter(|p| !p.mark).collect();
        let rightward = letters.windows(2).filter(|w| w[1].from > w[0].from).count();
        let visual_order = 2 * rightward >= letters.len().saturating_sub(1);
        let mut bases: Vec<(Piece, Vec<Piece>)> = Vec::with_capacity(letters.len());
        let mut waiting: Vec<Piece> = Vec::new();
        // A mark further than a font size from that letter is shown on its own (a table of
        // marks): it is a piece of its own, not part of a word.
        let near = |base: &Piece, mark: &Piece| distance(base, mark.from) <= mark.size.max(base.size);
        let alone = |mark: Piece| (Piece { mark: false, ..mark }, Vec::new());
        for piece in pieces {
            match (piece.mark, bases.last_mut()) {
                (true, Some((base, marks))) if !visual_order && near(base, &piece) => marks.push(piece),
                (true, _) if !visual_order => bases.push(alone(piece)),
                (true, _) => waiting.push(piece),
                (false, _) => {
                    let (own, apart): (Vec<Piece>, Vec<Piece>) = waiting.drain(..).partition(|m| near(&piece, m));
                    bases.extend(apart.into_iter().map(alone));
                    bases.push((piece, own));
                }
            }
        }
        bases.extend(waiting.drain(..).map(alone));
        bases.sort_by(|a, b| a.0.from.total_cmp(&b.0.from));
        let mut visual = String::with_capacity(self.line.len() + 8);
        let mut previous: Option<Piece> = None;
        for (piece, marks) in &bases {
            if let Some(prev) = previous {
                let gap = piece.from - prev.to;
                if (gap > piece.gap * piece.size.max(prev.size) || gap < -piece.size.max(prev.size))
                    && !visual.ends_with(' ')
                    && !self.line[piece.start..piece.end].starts_with(' ')
                {
                    visual.push(' ');
                }
            }
            // A piece's own text is in logical order already (one code may stand for several
            // letters, a letter carries its marks); reversing the line below would turn it
            // around, so turn it first.
            let mut own = self.line[piece.start..piece.end].to_string();
            marks.iter().for_each(|m| own.push_str(&self.line[m.start..m.end]));
            visual.extend(own.chars().rev());
            previous = Some(*piece);
        }
        let reversed: Vec<char> = visual.chars().rev().collect();
        let mut logical = String::with_capacity(visual.len());
        let mut i = 0;
        while i < reversed.len() {
            if is_ltr(reversed[i]) {
                let mut j = i;
                while j < reversed.len() && (is_ltr(reversed[j]) || is_ltr_joiner(&reversed, j)) {
                    j += 1;
                }
                logical.extend(reversed[i..j].iter().rev());
                i = j;
            } else {
                logical.push(reversed[i]);
                i += 1;
            }
        }
        self.line = logical;
    }

    pub(super) fn finish(mut self) -> String {
        self.end_line();
        let len = self.out.trim_end().len();
        self.out.truncate(len);
        self.out
    }

    /// Cuts the page's text to at most `max` bytes, at a character boundary.
    pub(super) fn truncate(mut self, max: usize) -> String {
        self.end_line();
        let mut end = max.min(self.out.len());
        while !self.out.is_char_boundary(end) {
            end -= 1;
        }
        self.out.truncate(end);
        self.out
    }
}

/// How far a point along the line is from a piece's extent (0 inside it).
fn distance(piece: &Piece, at: f32) -> f32 {
    let (lo, hi) = (piece.from.min(piece.to), piece.from.max(piece.to));
    if (lo..=hi).contains(&at) { 0.0 } else { (at - lo).abs().min((at - hi).abs()) }
}

/// Whether text ends in a letter, a hyphen and a line break.
fn hyphenated(text: &str) -> bool {
    text.strip_suffix("-\n").and_then(|t| t.chars().next_back()).is_some_and(char::is_alphabetic)
}

/// Hebrew, Arabic, Syriac, Thaana, N'Ko and their presentation forms.
fn is_rtl(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
        && !matches!(c, '\u{0660}'..='\u{0669}' | '\u{06F0}'..='\u{06F9}')
}

/// Letters and digits that read left to right (Arabic-Indic digits included: numbers keep
/// their order inside right-to-left text).
fn is_ltr(c: char) -> bool {
    c.is_alphanumeric() && !is_rtl(c)
}

/// Punctuation inside a left-to-right run ("3.14", "a-b", "x/y") stays in it.
fn is_ltr_joiner(chars: &[char], i: usize) -> bool {
    matches!(chars[i], '.' | ',' | ':' | '-' | '/' | '%' | '\'' | '_' | '@')
        && chars.get(i + 1).is_some_and(|c| is_ltr(*c))
        && i > 0
        && is_ltr(chars[i - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, y: f32, width: f32) -> Placed {
        Placed { x, y, dx: width, dy: 0.0, size: 10.0, gap: WORD_GAP }
    }

    fn lay(glyphs: &[(f32, f32, f32, &str)]) -> String {
        let mut layout = Layout::default();
        for (x, y, w, t) in glyphs {
            layout.glyph(at(*x, *y, *w), t);
        }
        layout.finish()
    }

    #[test]
    fn gaps_make_words_kerning_does_not_and_baselines_make_lines() {
        let text = lay(&[
            (0.0, 700.0, 5.0, "a"),
            (5.2, 700.0, 5.0, "b"),   // kerned: same word
            (13.0, 700.0, 5.0, "c"),  // 2.8 past the end: a new word
            (0.0, 688.0, 5.0, "d"),   // next line
            (4.0, 688.0, 5.0, "e"),   // overlapping a little: same word
            (-20.0, 688.0, 5.0, "f"), // far back on the same line: a new word
        ]);
        assert_eq!(text, "ab c\nde f");
    }

    #[test]
    fn a_word_hyphenated_at_a_line_end_is_joined_and_other_hyphens_stay() {
        let text = lay(&[
            (0.0, 700.0, 5.0, "ex"),
            (5.0, 700.0, 5.0, "-"),
            (0.0, 688.0, 5.0, "tract"),
            (5.0, 688.0, 5.0, "-"),
            (0.0, 676.0, 5.0, "Next"),
            (0.0, 664.0, 5.0, "3-"),
            (0.0, 652.0, 5.0, "d"),
        ]);
        assert_eq!(text, "extract-\nNext\n3-\nd");
    }

    #[test]
    fn an_accent_drawn_over_a_letter_joins_it_and_one_standing_alone_stays() {
        // TeX: the acute first, kerned back over the "e"; then a macron after a dotless i.
        let text = lay(&[
            (0.0, 0.0, 15.0, "caf"),
            (15.5, 1.0, 3.0, "\u{00B4}"),
            (15.0, 0.0, 5.0, "e"),
            (25.0, 0.0, 3.0, "\u{0131}"),
            (25.2, 1.0, 2.5, "\u{00AF}"),
            (28.0, 0.0, 5.0, "n"),
            (40.0, 0.0, 5.0, "^"),
            (45.0, 0.0, 5.0, "x"),
        ]);
        assert_eq!(text, "café \u{0131}\u{0304}n ^x");
    }

    #[test]
    fn a_glyph_drawn_twice_in_place_counts_once_and_ligatures_are_spelled_out() {
        let text = lay(&[(0.0, 0.0, 5.0, "\u{FB01}"), (0.2, 0.0, 5.0, "\u{FB01}"), (5.0, 0.0, 5.0, "x")]);
        assert_eq!(text, "fix");
    }

    #[test]
    fn presentation_forms_become_letters_lam_alef_in_reading_order() {
        // "الطلاب" as shaped glyphs, drawn left to right: ﺏ ﻼ ﻄ ﻟ ﺍ (lam-alef is one glyph).
        let glyphs: Vec<(f32, f32, f32, &str)> = ["\u{FE8F}", "\u{FEFC}", "\u{FEC4}", "\u{FEDF}", "\u{FE8D}"]
            .iter()
            .enumerate()
            .map(|(i, t)| (i as f32 * 5.0, 0.0, 5.0, *t))
            .collect();
        assert_eq!(lay(&glyphs), "الطلاب");
    }

    #[test]
    fn combining_marks_stay_with_their_letter_in_right_to_left_lines() {
        // "كَتَبَ" (kataba), each letter carrying a fatha drawn as a glyph of its own.
        let (kaf, teh, beh, fatha) = ("\u{FEDB}", "\u{FE98}", "\u{FE90}", "\u{064E}");
        // In visual order, as a shaper emits it: each fatha just before its letter.
        let visual = [
            (1.5, 2.0, 0.0, fatha),
            (0.0, 0.0, 5.0, beh),
            (6.5, 2.0, 0.0, fatha),
            (5.0, 0.0, 5.0, teh),
            (11.5, 2.0, 0.0, fatha),
            (10.0, 0.0, 5.0, kaf),
        ];
        assert_eq!(lay(&visual), "\u{643}\u{64E}\u{62A}\u{64E}\u{628}\u{64E}");
        // In reading order, right to left: each fatha just after its letter.
        let reading = [
            (10.0, 0.0, 5.0, kaf),
            (11.5, 2.0, 0.0, fatha),
            (5.0, 0.0, 5.0, teh),
            (6.5, 2.0, 0.0, fatha),
            (0.0, 0.0, 5.0, beh),
            (1.5, 2.0, 0.0, fatha),
        ];
        assert_eq!(lay(&reading), "\u{643}\u{64E}\u{62A}\u{64E}\u{628}\u{64E}");
    }

    #[test]
    fn right_to_left_lines_come_out_in_logical_order_with_numbers_kept() {
        // "سلام 42 عليكم" drawn in visual order, left to right: عليكم first, reversed.
        let visual = "مكيلع 42 مالس";
        let mut glyphs = Vec::new();
        let mut x = 0.0;
        for c in visual.chars() {
            if c != ' ' {
                glyphs.push((x, 0.0, 5.0, c.to_string()));
            }
            x += 5.0 + if c == ' ' { 3.0 } else { 0.0 };
        }
        let glyphs: Vec<(f32, f32, f32, &str)> = glyphs.iter().map(|(x, y, w, t)| (*x, *y, *w, t.as_str())).collect();
        assert_eq!(lay(&glyphs), "سلام 42 عليكم");
        // Drawn right to left instead (logical order, decreasing x): the same text.
        let mut reversed = glyphs.clone();
        reversed.reverse();
        assert_eq!(lay(&reversed), "سلام 42 عليكم");
    }
}
