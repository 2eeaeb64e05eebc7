//! Documents for tests and benchmarks, hostile ones included (feature `dev`; never in a Lambda).
//!
//! The hostile corpus is generated rather than committed: each document is valid PDF built to
//! push one budget, and is small on disk however much it inflates.

use std::io::Write as _;

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, dictionary};

/// A document under construction: one page tree, one Helvetica font.
struct Builder {
    doc: Document,
    tree: ObjectId,
    resources: ObjectId,
    kids: Vec<Object>,
}

impl Builder {
    fn new() -> Self {
        let mut doc = Document::with_version("1.5");
        let tree = doc.new_object_id();
        let font = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" });
        let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
        Builder { doc, tree, resources, kids: Vec::new() }
    }

    fn stream(&mut self, content: Vec<u8>) -> ObjectId {
        self.doc.add_object(Stream::new(dictionary! {}, content))
    }

    fn deflated(&mut self, content: &[u8]) -> ObjectId {
        self.doc.add_object(Stream::new(dictionary! { "Filter" => "FlateDecode" }, deflate(content)))
    }

    fn page(&mut self, contents: ObjectId, extra: Dictionary) -> ObjectId {
        let mut page = dictionary! { "Type" => "Page", "Parent" => self.tree, "Contents" => contents };
        page.extend(&extra);
        let id = self.doc.add_object(page);
        self.kids.push(id.into());
        id
    }

    fn finish(mut self) -> Vec<u8> {
        let count = i64::try_from(self.kids.len()).unwrap_or(i64::MAX);
        self.doc.objects.insert(
            self.tree,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => self.kids,
                "Count" => count,
                "Resources" => self.resources,
                "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            }),
        );
        let catalog = self.doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => self.tree });
        self.doc.trailer.set("Root", catalog);
        let info = self.doc.add_object(dictionary! {
            "Title" => Object::string_literal("jobcast generated document"),
            "Producer" => Object::string_literal("jobcast"),
        });
        self.doc.trailer.set("Info", info);
        let mut out = Vec::new();
        // Writing a freshly built in-memory document to a Vec cannot fail.
        self.doc.save_to(&mut out).unwrap_or_default();
        out
    }
}

fn deflate(content: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(content);
    encoder.finish().unwrap_or_default()
}

fn text_content(line: &str) -> Vec<u8> {
    let line = line.replace(['(', ')', '\\'], " ");
    format!("BT /F1 12 Tf 72 720 Td ({line}) Tj ET").into_bytes()
}

/// A document of `pages` pages, page `n` showing `text(n)` (ASCII).
pub fn generate(pages: u32, text: impl Fn(u32) -> String) -> Vec<u8> {
    let mut builder = Builder::new();
    for n in 1..=pages {
        let contents = builder.stream(text_content(&text(n)));
        builder.page(contents, Dictionary::new());
    }
    builder.finish()
}

/// The text [`generate`] puts on page `n` in the tests: a line that names its page.
pub fn sample_page_text(n: u32) -> String {
    format!("Page {n} of the jobcast sample: alpha beta gamma {n}")
}

/// `pages` pages sharing one content stream: a line of text, then `operators` path operators
/// (`0 0 m`). Small on disk, enormous once decoded into operations.
pub fn operator_flood(pages: u32, operators: usize) -> Vec<u8> {
    let mut content = text_content("flood starts here").to_vec();
    content.push(b'\n');
    content.extend(b"0 0 m ".repeat(operators));
    let mut builder = Builder::new();
    let shared = builder.deflated(&content);
    for _ in 0..pages {
        builder.page(shared, Dictionary::new());
    }
    builder.finish()
}

/// `pages` pages that all draw one image of `image_bytes` bytes (incompressible).
pub fn shared_image(pages: u32, image_bytes: usize) -> Vec<u8> {
    let mut builder = Builder::new();
    // A cheap incompressible fill: a linear congruential sequence.
    let mut state = 0x2545_f491_u32;
    let pixels: Vec<u8> = (0..image_bytes)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state.to_be_bytes()[0]
        })
        .collect();
    let side = i64::try_from((image_bytes / 3).isqrt()).unwrap_or(1).max(1);
    let image = builder.doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => side, "Height" => side,
            "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8,
        },
        pixels,
    ));
    let resources = builder.doc.get_dictionary(builder.resources).cloned().unwrap_or_default();
    let mut resources = resources;
    resources.set("XObject", dictionary! { "Im1" => image });
    let resources = builder.doc.add_object(resources);
    for n in 1..=pages {
        let mut content = b"q 100 0 0 100 0 0 cm /Im1 Do Q\n".to_vec();
        content.extend(text_content(&sample_page_text(n)));
        let contents = builder.stream(content);
        builder.page(contents, dictionary! { "Resources" => resources });
    }
    builder.finish()
}

/// `streams` object streams, each inflating to `inflated_bytes` (a string of spaces), plus one
/// ordinary page. lopdf inflates every object stream while loading. Written by hand: lopdf's
/// writer leaves object streams out.
pub fn object_stream_flood(streams: usize, inflated_bytes: usize) -> Vec<u8> {
    let mut objects = one_page_objects(text_content(&sample_page_text(1)));
    for i in 0..streams {
        let mut body = format!("{} 0 ", 100_000 + i).into_bytes();
        let first = body.len();
        body.push(b'(');
        body.extend(std::iter::repeat_n(b' ', inflated_bytes.saturating_sub(first + 2)));
        body.push(b')');
        let data = deflate(&body);
        let dict = format!("<</Type/ObjStm/N 1/First {first}/Filter/FlateDecode/Length {}>>stream\n", data.len());
        objects.push([dict.into_bytes(), data, b"\nendstream".to_vec()].concat());
    }
    raw_pdf(&objects)
}

/// A classic PDF of `objects` (numbered from 1; object 1 is the catalog), written by hand for
/// what lopdf's writer will not write.
fn raw_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        out.extend(object);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").into_bytes());
    }
    out.extend(format!("trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).into_bytes());
    out
}

/// Catalog, page tree, one page showing `content`, and its font: objects 1 to 5.
fn one_page_objects(content: Vec<u8>) -> Vec<Vec<u8>> {
    vec![
        b"<</Type/Catalog/Pages 2 0 R>>".to_vec(),
        b"<</Type/Pages/Kids[3 0 R]/Count 1/MediaBox[0 0 612 792]>>".to_vec(),
        b"<</Type/Page/Parent 2 0 R/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>".to_vec(),
        [format!("<</Length {}>>stream\n", content.len()).into_bytes(), content, b"\nendstream".to_vec()].concat(),
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>".to_vec(),
    ]
}

/// One page in a Type 1 font with no `Encoding` whose embedded program's builtin encoding puts
/// `fi` at code 12 and `quoteright` at 39, as TeX's fonts do: it shows "ﬁnd it’s" as bytes
/// `\x0cnd it's`.
pub fn builtin_encoding() -> Vec<u8> {
    let program = b"%!PS-AdobeFont-1.0: CMR10 003.002\n/FontName /CMR10 def\n/Encoding 256 array\n\
        0 1 255 {1 index exch /.notdef put} for\ndup 12 /fi put\ndup 39 /quoteright put\n\
        dup 100 /d put\ndup 105 /i put\ndup 110 /n put\ndup 115 /s put\ndup 116 /t put\n\
        readonly def\ncurrentfile eexec\n";
    let mut objects = one_page_objects(b"BT /F1 12 Tf 72 720 Td (\x0cnd it's) Tj ET".to_vec());
    objects[4] = b"<</Type/Font/Subtype/Type1/BaseFont/CMR10/FirstChar 12/LastChar 116/FontDescriptor 6 0 R>>".to_vec();
    objects.push(b"<</Type/FontDescriptor/FontName/CMR10/Flags 4/FontFile 7 0 R>>".to_vec());
    objects.push(
        [
            format!("<</Length {0}/Length1 {0}/Length2 0/Length3 0>>stream\n", program.len()).into_bytes(),
            program.to_vec(),
            b"\nendstream".to_vec(),
        ]
        .concat(),
    );
    raw_pdf(&objects)
}

/// One page in a Type 3 font named as pdfTeX names its bitmap fonts' glyphs (`/a28`, `/a101`:
/// the code, which tells nothing): letters read by their code, and its fi ligature at 28, which
/// no standard encoding has, shows "Simpli\x1ced" the way a reader cannot decode. Code 23 is
/// T1's compound word mark, which draws nothing and does not advance: "Auf\x17lage".
pub fn type3_numbered_glyphs() -> Vec<u8> {
    let glyphs = [23u8, 28, b' ', b'A', b'S', b'a', b'd', b'e', b'f', b'g', b'i', b'l', b'm', b'p', b'u'];
    let names: String = glyphs.iter().map(|c| format!("{c} /a{c} ")).collect();
    let widths: String = (23..=b'u').map(|c| if c == 23 { "0 " } else { "500 " }).collect();
    let mut objects = one_page_objects(b"BT /F1 12 Tf 72 720 Td (Simpli\x1ced Auf\x17lage) Tj ET".to_vec());
    objects[4] = format!(
        "<</Type/Font/Subtype/Type3/FontBBox[0 0 1000 1000]/FontMatrix[0.001 0 0 0.001 0 0]\
         /CharProcs<<>>/Resources<<>>/Encoding<</Type/Encoding/Differences[{names}]>>\
         /FirstChar 23/LastChar {}/Widths[{widths}]>>",
        b'u'
    )
    .into_bytes();
    raw_pdf(&objects)
}

/// `pages` pages; page 1's content is a Flate bomb inflating to `inflated_bytes` of spaces
/// after its one line of text; the other pages are ordinary.
pub fn flate_bomb(pages: u32, inflated_bytes: usize) -> Vec<u8> {
    let mut builder = Builder::new();
    let mut bomb = text_content("bomb page").to_vec();
    bomb.resize(inflated_bytes, b' ');
    let bomb = builder.deflated(&bomb);
    builder.page(bomb, Dictionary::new());
    for n in 2..=pages {
        let contents = builder.stream(text_content(&sample_page_text(n)));
        builder.page(contents, Dictionary::new());
    }
    builder.finish()
}

/// A page whose content nests arrays `depth` deep, and an object nesting dictionaries as deep.
pub fn deep_nesting(depth: usize) -> Vec<u8> {
    let mut content = b"BT /F1 12 Tf 72 720 Td ".to_vec();
    content.extend(std::iter::repeat_n(b'[', depth));
    content.extend(b"(deep)");
    content.extend(std::iter::repeat_n(b']', depth));
    content.extend(b" TJ ET\n");
    content.extend(text_content(&sample_page_text(1)));
    let mut objects = one_page_objects(content);
    objects.push([b"<</A ".repeat(depth), b"null".to_vec(), b">>".repeat(depth)].concat());
    raw_pdf(&objects)
}

/// Two ordinary pages, and a page-tree node whose kids include the tree itself.
pub fn page_tree_loop() -> Vec<u8> {
    let mut builder = Builder::new();
    for n in 1..=2 {
        let contents = builder.stream(text_content(&sample_page_text(n)));
        builder.page(contents, Dictionary::new());
    }
    let looping = builder.doc.new_object_id();
    let tree = builder.tree;
    builder.doc.objects.insert(
        looping,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Parent" => tree, "Kids" => vec![looping.into(), tree.into()], "Count" => 2 }),
    );
    builder.kids.push(looping.into());
    builder.finish()
}

/// [`generate`]'s document grown to exactly `size` bytes by an unreferenced filler stream.
pub fn exactly(size: usize, pages: u32) -> Vec<u8> {
    let base = generate(pages, sample_page_text);
    let mut filler = size.saturating_sub(base.len() + 64);
    for _ in 0..8 {
        let mut builder = Builder::new();
        for n in 1..=pages {
            let contents = builder.stream(text_content(&sample_page_text(n)));
            builder.page(contents, Dictionary::new());
        }
        builder.stream(vec![b'%'; filler]);
        let out = builder.finish();
        if out.len() == size {
            return out;
        }
        filler = (filler + size).saturating_sub(out.len());
    }
    base
}
