//! A page's text as the page shows it: content operators run through a text state (ISO
//! 32000-1, 9.3 and 9.4) so every glyph has a position, fonts decoded to Unicode ([`font`]),
//! and the positions turned into words and lines ([`layout`]).
//!
//! | module | what lives there |
//! |---|---|
//! | `font` | codes, their text and advances, per font kind |
//! | `encoding` | simple fonts' base encodings and `Differences`, spelled out for chunks |
//! | `cmap` | CMap parsing: code space, CIDs, `ToUnicode` |
//! | `layout` | words, lines, right-to-left order, ligatures |
//! | `program` | builtin encodings of embedded Type 1 and CFF programs |
//! | `tables` | the Adobe Glyph List and the standard encodings (generated) |

mod cmap;
mod encoding;
mod font;
mod layout;
mod program;
mod tables;

use std::collections::HashMap;
use std::rc::Rc;

use lopdf::content::Operation;
use lopdf::{Dictionary, Document, Object, ObjectId};

pub(crate) use encoding::explicit_encoding;
use font::{Font, number};
use layout::{Layout, Placed, WORD_GAP, WORD_GAP_GUESSED};

/// The text a glyph name stands for: the Adobe Glyph List, `uniXXXX…` and `uXXXX[XX]` names,
/// `_`-joined ligature names, and names with a `.suffix` (variants: `a.sc`, `one.oldstyle`).
pub(super) fn glyph_text(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let base = name.split('.').next().unwrap_or(name);
    if base.is_empty() {
        return None;
    }
    if let Ok(i) = tables::GLYPHS.binary_search_by(|(n, _)| n.cmp(&base)) {
        return char::from_u32(u32::from(tables::GLYPHS[i].1)).map(String::from);
    }
    if base.contains('_') {
        let parts: Option<String> = base.split('_').map(|part| glyph_text(part.as_bytes())).collect();
        return parts;
    }
    let hex = |digits: &str| u32::from_str_radix(digits, 16).ok().and_then(char::from_u32);
    if let Some(digits) = base.strip_prefix("uni")
        && digits.len() >= 4
        && digits.len() % 4 == 0
        && digits.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return (0..digits.len()).step_by(4).map(|i| hex(&digits[i..i + 4])).collect();
    }
    if let Some(digits) = base.strip_prefix('u')
        && (4..=6).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return hex(digits).map(String::from);
    }
    None
}

/// Row-vector affine matrix `[a b c d e f]`, as PDF writes them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Matrix([f32; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn from_operands(operands: &[Object]) -> Option<Matrix> {
        let values: Vec<f32> = operands.iter().filter_map(number).collect();
        <[f32; 6]>::try_from(values).ok().filter(|m| m.iter().all(|v| v.is_finite())).map(Matrix)
    }

    /// `self` then `other`.
    fn then(&self, other: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn translated(&self, tx: f32, ty: f32) -> Matrix {
        Matrix::then(&Matrix([1.0, 0.0, 0.0, 1.0, tx, ty]), self)
    }
}

/// The graphics and text state that placing glyphs depends on (saved by `q`, restored by `Q`).
#[derive(Debug, Clone)]
struct State {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f32,
    char_spacing: f32,
    word_spacing: f32,
    scaling: f32,
    leading: f32,
    rise: f32,
}

impl Default for State {
    fn default() -> Self {
        State {
            ctm: Matrix::IDENTITY,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scaling: 1.0,
            leading: 0.0,
            rise: 0.0,
        }
    }
}

/// What one page may still spend on form XObjects' content, which the page's own scan did
/// not see.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowance {
    pub content_bytes: usize,
    pub operators: usize,
    pub fonts: usize,
    pub cmap_bytes: usize,
    pub text_bytes: usize,
    /// Set when a form's content was cut at the allowance.
    pub short: bool,
}

/// Fonts decoded for a chunk, by object, so pages sharing a font decode it once.
#[derive(Debug, Default)]
pub(crate) struct FontCache {
    fonts: HashMap<ObjectId, Rc<Font>>,
}

/// Most annotations drawn per page.
const MAX_ANNOTATIONS: usize = 256;

/// `[x0 y0 x1 y1]` with the corners put in order.
fn rectangle(values: &[Object]) -> Option<[f32; 4]> {
    let v: Vec<f32> = values.iter().filter_map(number).filter(|v| v.is_finite()).collect();
    let [a, b, c, d] = <[f32; 4]>::try_from(v).ok()?;
    Some([a.min(c), b.min(d), a.max(c), b.max(d)])
}

/// Nested form XObjects deeper than this are not entered (real documents nest two or three).
const MAX_FORM_DEPTH: usize = 12;

/// Runs a page's operations; returns its text and whether a budget cut it short.
pub(crate) fn page_text(
    document: &Document,
    page: Option<&Dictionary>,
    resources: Option<&Dictionary>,
    operations: &[Operation],
    allowance: &mut Allowance,
    cache: &mut FontCache,
    load_form: &mut dyn FnMut(&lopdf::Stream, &mut Allowance) -> Option<Vec<Operation>>,
) -> (String, bool) {
    let mut reader =
        Reader { document, allowance, cache, load_form, layout: Layout::default(), fonts_used: 0, cut: false };
    let mut forms = Vec::new();
    reader.run(resources, operations, State::default(), &mut forms);
    if let Some(page) = page {
        reader.annotations(page, resources);
    }
    let cut = reader.cut;
    let max = reader.allowance.text_bytes;
    let text = if cut { reader.layout.truncate(max) } else { reader.layout.finish() };
    (text, cut)
}

struct Reader<'a, 'b> {
    document: &'a Document,
    allowance: &'b mut Allowance,
    cache: &'b mut FontCache,
    load_form: &'b mut dyn FnMut(&lopdf::Stream, &mut Allowance) -> Option<Vec<Operation>>,
    layout: Layout,
    fonts_used: usize,
    cut: bool,
}

impl Reader<'_, '_> {
    fn run(
        &mut self,
        resources: Option<&Dictionary>,
        operations: &[Operation],
        initial: State,
        forms: &mut Vec<ObjectId>,
    ) {
        let mut state = initial;
        let mut saved: Vec<State> = Vec::new();
        let mut tm = Matrix::IDENTITY;
        let mut tlm = Matrix::IDENTITY;
        for operation in operations {
            if self.cut {
                return;
            }
            let operands = &operation.operands;
            let num = |i: usize| operands.get(i).and_then(number).filter(|v| v.is_finite()).unwrap_or(0.0);
            match operation.operator.as_str() {
                "q" if saved.len() < 256 => saved.push(state.clone()),
                "Q" => {
                    if let Some(previous) = saved.pop() {
                        state = previous;
                    }
                }
                "cm" => {
                    if let Some(m) = Matrix::from_operands(operands) {
                        state.ctm = m.then(&state.ctm);
                    }
                }
                "BT" => {
                    tm = Matrix::IDENTITY;
                    tlm = Matrix::IDENTITY;
                }
                "Tf" => {
                    state.size = num(1);
                    state.font =
                        operands.first().and_then(|o| o.as_name().ok()).and_then(|name| self.font(resources, name));
                }
                "Tc" => state.char_spacing = num(0),
                "Tw" => state.word_spacing = num(0),
                "Tz" => state.scaling = num(0) / 100.0,
                "TL" => state.leading = num(0),
                "Ts" => state.rise = num(0),
                "Td" | "TD" => {
                    if operation.operator == "TD" {
                        state.leading = -num(1);
                    }
                    tlm = tlm.translated(num(0), num(1));
                    tm = tlm;
                }
                "Tm" => {
                    if let Some(m) = Matrix::from_operands(operands) {
                        tlm = m;
                        tm = m;
                    }
                }
                "T*" => {
                    tlm = tlm.translated(0.0, -state.leading);
                    tm = tlm;
                }
                "Tj" | "'" | "\"" => {
                    if operation.operator != "Tj" {
                        if operation.operator == "\"" {
                            state.word_spacing = num(0);
                            state.char_spacing = num(1);
                        }
                        tlm = tlm.translated(0.0, -state.leading);
                        tm = tlm;
                    }
                    if let Some(Object::String(bytes, _)) = operands.last() {
                        self.show(&state, &mut tm, bytes);
                    }
                }
                "TJ" => {
                    for item in operands.first().and_then(|o| o.as_array().ok()).map(Vec::as_slice).unwrap_or_default()
                    {
                        match item {
                            Object::String(bytes, _) => self.show(&state, &mut tm, bytes),
                            other => {
                                if let Some(adjust) = number(other).filter(|v| v.is_finite()) {
                                    tm = tm.translated(-adjust / 1000.0 * state.size * state.scaling, 0.0);
                                }
                            }
                        }
                    }
                }
                "Do" => {
                    if let Some(name) = operands.first().and_then(|o| o.as_name().ok()) {
                        self.form(resources, name, &state, forms);
                    }
                }
                _ => {}
            }
        }
    }

    /// The font a `Tf` names, decoded once per chunk and within the page's font budget.
    fn font(&mut self, resources: Option<&Dictionary>, name: &[u8]) -> Option<Rc<Font>> {
        let fonts =
            resources?.get(b"Font").ok().and_then(|f| deref(self.document, f)).and_then(|f| f.as_dict().ok())?;
        let entry = fonts.get(name).ok()?;
        let id = match entry {
            Object::Reference(id) => Some(*id),
            _ => None,
        };
        if let Some(font) = id.and_then(|id| self.cache.fonts.get(&id)) {
            return Some(font.clone());
        }
        if self.fonts_used >= self.allowance.fonts {
            return None;
        }
        self.fonts_used += 1;
        let dict = deref(self.document, entry)?.as_dict().ok()?;
        let font = Rc::new(Font::load(self.document, dict, self.allowance.cmap_bytes));
        if let Some(id) = id {
            self.cache.fonts.insert(id, font.clone());
        }
        Some(font)
    }

    /// Places each glyph of a shown string and advances the text matrix past it.
    fn show(&mut self, state: &State, tm: &mut Matrix, bytes: &[u8]) {
        let Some(font) = state.font.clone() else { return };
        let gap = if font.has_widths { WORD_GAP } else { WORD_GAP_GUESSED };
        let layout = &mut self.layout;
        let mut cut = false;
        let max = self.allowance.text_bytes;
        font.show(bytes, |glyph, text| {
            if cut {
                return;
            }
            let width = if font.has_widths { glyph.width } else { 500.0 };
            let render =
                Matrix([state.size * state.scaling, 0.0, 0.0, state.size, 0.0, state.rise]).then(tm).then(&state.ctm);
            let [a, b, c, d, e, f] = render.0;
            let drawn = width * font.scale * state.size * state.scaling;
            let advance =
                drawn + (state.char_spacing + if glyph.word_space { state.word_spacing } else { 0.0 }) * state.scaling;
            // The glyph's own extent in device space, along the text matrix's x axis through
            // the CTM. Character and word spacing move the pen past it: a gap they make is a
            // gap on the page (Ghostscript spaces words with `Tc` alone).
            let unit = drawn / (state.size * state.scaling).abs().max(1e-6);
            let (dx, dy) = (a * unit, b * unit);
            let size = (c * c + d * d).sqrt() * font.size_factor;
            if e.is_finite() && f.is_finite() && size.is_finite() {
                layout.glyph(Placed { x: e, y: f, dx, dy, size, gap }, text);
            }
            *tm = tm.translated(advance, 0.0);
            cut = layout.len() > max;
        });
        self.cut |= cut;
    }

    /// Draws the appearances of the page's visible annotations (filled-in form fields, free
    /// text, stamps), as a viewer does over the page (ISO 32000-1, 12.5.5).
    fn annotations(&mut self, page: &Dictionary, resources: Option<&Dictionary>) {
        let Some(annots) =
            page.get(b"Annots").ok().and_then(|a| deref(self.document, a)).and_then(|a| a.as_array().ok())
        else {
            return;
        };
        for annot in annots.iter().take(MAX_ANNOTATIONS) {
            if self.cut {
                return;
            }
            let Some(annot) = deref(self.document, annot).and_then(|a| a.as_dict().ok()) else { continue };
            // Hidden (bit 2) and no-view (bit 6) annotations are not shown; popups show
            // their parent's text, which is drawn already.
            let flags = annot.get(b"F").ok().and_then(number).unwrap_or(0.0) as i64;
            let subtype = annot.get(b"Subtype").and_then(Object::as_name).unwrap_or_default();
            if flags & (2 | 32) != 0 || matches!(subtype, b"Popup" | b"Link") {
                continue;
            }
            let Some(normal) = annot
                .get(b"AP")
                .ok()
                .and_then(|ap| deref(self.document, ap))
                .and_then(|ap| ap.as_dict().ok())
                .and_then(|ap| ap.get(b"N").ok())
            else {
                continue;
            };
            // One appearance, or one per state (check boxes) chosen by `AS`.
            let id = match deref(self.document, normal) {
                Some(Object::Dictionary(states)) => {
                    let Some(state) = annot.get(b"AS").and_then(Object::as_name).ok() else { continue };
                    match states.get(state) {
                        Ok(Object::Reference(id)) => *id,
                        _ => continue,
                    }
                }
                Some(Object::Stream(_)) => match normal {
                    Object::Reference(id) => *id,
                    _ => continue,
                },
                _ => continue,
            };
            let Some(rect) = annot.get(b"Rect").ok().and_then(|r| r.as_array().ok()).and_then(|r| rectangle(r)) else {
                continue;
            };
            let mut forms = Vec::new();
            self.appearance(id, rect, resources, &mut forms);
        }
    }

    /// An appearance stream drawn into `rect`: its bounding box, through its matrix, mapped
    /// onto the rectangle.
    fn appearance(&mut self, id: ObjectId, rect: [f32; 4], resources: Option<&Dictionary>, forms: &mut Vec<ObjectId>) {
        let Ok(stream) = self.document.get_object(id).and_then(Object::as_stream) else { return };
        let matrix =
            stream.dict.get(b"Matrix").ok().and_then(|m| m.as_array().ok()).and_then(|m| Matrix::from_operands(m));
        let matrix = matrix.unwrap_or(Matrix::IDENTITY);
        let Some(bbox) = stream.dict.get(b"BBox").ok().and_then(|b| b.as_array().ok()).and_then(|b| rectangle(b))
        else {
            return;
        };
        let corners = [(bbox[0], bbox[1]), (bbox[2], bbox[1]), (bbox[0], bbox[3]), (bbox[2], bbox[3])].map(|(x, y)| {
            (x * matrix.0[0] + y * matrix.0[2] + matrix.0[4], x * matrix.0[1] + y * matrix.0[3] + matrix.0[5])
        });
        let (x0, x1) = corners.iter().fold((f32::MAX, f32::MIN), |(lo, hi), (x, _)| (lo.min(*x), hi.max(*x)));
        let (y0, y1) = corners.iter().fold((f32::MAX, f32::MIN), |(lo, hi), (_, y)| (lo.min(*y), hi.max(*y)));
        if x1 - x0 <= 1e-3 || y1 - y0 <= 1e-3 {
            return;
        }
        let (sx, sy) = ((rect[2] - rect[0]) / (x1 - x0), (rect[3] - rect[1]) / (y1 - y0));
        let onto = Matrix([sx, 0.0, 0.0, sy, rect[0] - sx * x0, rect[1] - sy * y0]);
        let Some(operations) = (self.load_form)(stream, self.allowance) else { return };
        let own =
            stream.dict.get(b"Resources").ok().and_then(|r| deref(self.document, r)).and_then(|r| r.as_dict().ok());
        let state = State { ctm: matrix.then(&onto), ..State::default() };
        forms.push(id);
        // Text in a field is a line of its own, apart from the page's.
        self.layout.end_line();
        self.run(own.or(resources), &operations, state, forms);
        self.layout.end_line();
        forms.pop();
    }

    /// Runs a form XObject's content in the current state, within the page's allowance.
    fn form(&mut self, resources: Option<&Dictionary>, name: &[u8], state: &State, forms: &mut Vec<ObjectId>) {
        if forms.len() >= MAX_FORM_DEPTH {
            return;
        }
        let Some(Object::Reference(id)) = resources
            .and_then(|r| r.get(b"XObject").ok())
            .and_then(|x| deref(self.document, x))
            .and_then(|x| x.as_dict().ok())
            .and_then(|x| x.get(name).ok())
        else {
            return;
        };
        if forms.contains(id) {
            return;
        }
        let Ok(stream) = self.document.get_object(*id).and_then(Object::as_stream) else { return };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form".as_slice()) {
            return;
        }
        let Some(operations) = (self.load_form)(stream, self.allowance) else { return };
        let own =
            stream.dict.get(b"Resources").ok().and_then(|r| deref(self.document, r)).and_then(|r| r.as_dict().ok());
        let mut inner = state.clone();
        if let Some(matrix) =
            stream.dict.get(b"Matrix").ok().and_then(|m| m.as_array().ok()).and_then(|m| Matrix::from_operands(m))
        {
            inner.ctm = matrix.then(&state.ctm);
        }
        forms.push(*id);
        self.run(own.or(resources), &operations, inner, forms);
        forms.pop();
    }
}

fn deref<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Object> {
    match object {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_names_resolve_through_the_list_uni_names_and_ligature_names() {
        let text = |n: &str| glyph_text(n.as_bytes());
        assert_eq!(text("A").as_deref(), Some("A"));
        assert_eq!(text("quoteright").as_deref(), Some("\u{2019}"));
        assert_eq!(text("fi").as_deref(), Some("\u{FB01}"));
        assert_eq!(text("uni0627").as_deref(), Some("\u{627}"));
        assert_eq!(text("uni00660069").as_deref(), Some("fi"));
        assert_eq!(text("u1D400").as_deref(), Some("\u{1D400}"));
        assert_eq!(text("a.sc").as_deref(), Some("a"));
        assert_eq!(text("T_h").as_deref(), Some("Th"), "a ligature name the list does not have");
        // TeX's math italic: \phi is "phi", \varphi "phi1" (lopdf's list lacks the latter).
        assert_eq!(text("phi").as_deref(), Some("\u{3C6}"));
        assert_eq!(text("phi1").as_deref(), Some("\u{3D5}"));
        assert_eq!(text("g1234"), None);
        assert_eq!(text(""), None);
    }
}
