"""Writes shared/src/pdf/text/tables.rs: the Adobe Glyph List (glyph name -> UTF-16 unit) and
the simple-font encodings of ISO 32000-1 Annex D (code -> UTF-16 unit), read from the tables
lopdf ships (MIT), so both crates agree on every name; the letters (NFKC) of the Hebrew and
Arabic presentation forms, from Python's unicodedata; ZapfDingbats' encoding; and the advance
widths of the standard fonts' text faces, from Debian's fonts-urw-base35 AFMs.

    python3 shared/tools/glyph_tables.py ~/.cargo/registry/src/*/lopdf-0.47.*/src/encodings \
        path/to/fontTools/cffLib/__init__.py && cargo fmt -p jobcast-shared

The CID-to-Unicode tables of Adobe's four CJK character collections (src/pdf/text/cid/*.z) come
from Debian's poppler-data (Adobe's CMap resources, BSD-3-Clause), one 24-bit value per CID,
zlib-compressed.

The CFF standard strings (CFF spec, Appendix A: the glyph names a Type1C program refers to
by number) come from fontTools (MIT; `pip download fonttools`, unpacked).
"""

import re
import sys
import unicodedata
import zlib
from pathlib import Path

src = Path(sys.argv[1])
names = {}
for code, group in re.findall(r"^\s*0x([0-9a-f]{4}) = \[([^\]]*)\];", (src / "glyphnames.rs").read_text(), re.M):
    for name in group.split(","):
        names.setdefault(name.strip(), int(code, 16))
# The one Adobe Glyph List name lopdf's list lacks (checked against fontTools.agl): TeX's math
# italic fonts name their \varphi "phi1".
names.setdefault("phi1", 0x03D5)

mappings = (src / "mappings.rs").read_text()
tables = {}
for table, body in re.findall(r"pub const (\w+)_ENCODING: CodedCharacterSet = \[(.*?)\];", mappings, re.S):
    entries = re.findall(r"None|Some\(Glyph::(\w+)\)", body)
    assert len(entries) == 256, (table, len(entries))
    tables[table] = [names[e] if e else 0 for e in entries]

out = [
    "//! Made by `shared/tools/glyph_tables.py`; do not edit. The Adobe Glyph List (a glyph name's",
    "//! Unicode value) and the simple-font encodings of ISO 32000-1, Annex D (a code's Unicode",
    "//! value; 0 where the encoding has no glyph).",
    "",
    "/// Glyph names and their UTF-16 unit, sorted by name for binary search.",
    "pub(super) static GLYPHS: &[(&str, u16)] = &[",
]
out += [f'    ("{n}", 0x{c:04x}),' for n, c in sorted(names.items())]
out.append("];")
for table in ["STANDARD", "WIN_ANSI", "MAC_ROMAN", "PDF_DOC", "SYMBOL", "MAC_EXPERT"]:
    out += ["", f"pub(super) static {table}: [u16; 256] = ["]
    codes = tables[table]
    for row in range(0, 256, 8):
        out.append("    " + " ".join(f"0x{c:04x}," for c in codes[row:row + 8]))
    out.append("];")
# Presentation forms (Hebrew, Arabic) as the letters they are drawn from (NFKC), which is
# how they are searched; ToUnicode CMaps of shaped text often map glyphs to these forms.
out += ["", "/// Hebrew and Arabic presentation forms and the letters they stand for (NFKC), by code.",
        "pub(super) static PRESENTATION_FORMS: &[(u16, &str)] = &["]
for code in list(range(0xFB1D, 0xFE00)) + list(range(0xFE70, 0xFF00)):
    c = chr(code)
    if unicodedata.category(c) == "Cn":
        continue
    n = unicodedata.normalize("NFKC", c)
    if n != c:
        escaped = "".join(f"\\u{{{ord(x):04x}}}" for x in n)
        out.append(f'    (0x{code:04x}, "{escaped}"),')
out.append("];")
# Advance widths of the standard 14 fonts' text faces, for fonts that name one and carry no
# Widths. Read from the metric-compatible URW base35 AFMs (Debian fonts-urw-base35), by the
# Unicode value of each glyph name, Latin-1 and general punctuation only.
AFM = Path("/usr/share/fonts/type1/urw-base35")
FACES = [("HELVETICA", "NimbusSans-Regular"), ("HELVETICA_BOLD", "NimbusSans-Bold"),
         ("TIMES", "NimbusRoman-Regular"), ("TIMES_BOLD", "NimbusRoman-Bold"),
         ("TIMES_ITALIC", "NimbusRoman-Italic"), ("TIMES_BOLD_ITALIC", "NimbusRoman-BoldItalic")]
for table, face in FACES:
    widths = {}
    for width, name in re.findall(r"^C -?\d+ ; WX (\d+) ; N (\S+) ;", (AFM / f"{face}.afm").read_text(), re.M):
        code = names.get(name)
        if code is not None and (code < 0x180 or 0x2000 <= code < 0x2070 or code in (0xFB01, 0xFB02)):
            widths.setdefault(code, int(width))
    out += ["", f"/// Advance widths of {face} (metric-compatible with the standard font), by character.",
            f"pub(super) static {table}: &[(u16, u16)] = &["]
    items = sorted(widths.items())
    for row in range(0, len(items), 8):
        out.append("    " + " ".join(f"(0x{c:04x}, {w})," for c, w in items[row:row + 8]))
    out.append("];")
# ZapfDingbats by code: the Unicode Dingbats block follows the font's order from U+2701, but
# for the glyphs Unicode already had (stars, circles, squares, hands), which sit elsewhere.
dingbats = [0] * 256
dingbats[0x20] = 0x20
for code in range(0x21, 0x7F):
    dingbats[code] = 0x2700 + code - 0x20
for code, value in {0x25: 0x260E, 0x2A: 0x261B, 0x2B: 0x261E, 0x48: 0x2605, 0x6C: 0x25CF, 0x6E: 0x25A0,
                    0x73: 0x25B2, 0x74: 0x25BC, 0x75: 0x25C6, 0x77: 0x25D7}.items():
    dingbats[code] = value
out += ["", "/// ZapfDingbats' builtin encoding (printable ASCII codes; check boxes and radio buttons).",
        "pub(super) static ZAPF_DINGBATS: [u16; 256] = ["]
for row in range(0, 256, 8):
    out.append("    " + " ".join(f"0x{c:04x}," for c in dingbats[row:row + 8]))
out.append("];")
cff = Path(sys.argv[2]).read_text()
body = cff[cff.index("cffStandardStrings = ["):]
strings = re.findall(r'"([^"]+)"', body[:body.index("]")])
assert len(strings) == 391, len(strings)
out += ["", "/// The CFF standard strings, by string id (CFF spec, Appendix A).",
        "pub(super) static CFF_STANDARD_STRINGS: &[&str] = &["]
for row in range(0, len(strings), 8):
    out.append("    " + " ".join(f'"{n}",' for n in strings[row:row + 8]))
out.append("];")
CID = Path("/usr/share/poppler/cidToUnicode")
for ordering in ["Japan1", "GB1", "CNS1", "Korea1"]:
    values = [int(line, 16) if len(line) <= 6 else 0 for line in (CID / f"Adobe-{ordering}").read_text().split()]
    raw = b"".join(v.to_bytes(3, "big") for v in values)
    target = Path(__file__).resolve().parent.parent / "src/pdf/text/cid" / f"{ordering}.z"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(zlib.compress(raw, 9))
Path(__file__).resolve().parent.parent.joinpath("src/pdf/text/tables.rs").write_text("\n".join(out) + "\n")
