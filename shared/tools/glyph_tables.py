"""Writes shared/src/pdf/text/tables.rs: the Adobe Glyph List (glyph name -> UTF-16 unit) and
the simple-font encodings of ISO 32000-1 Annex D (code -> UTF-16 unit), read from the tables
lopdf ships (MIT), so both crates agree on every name.

    python3 shared/tools/glyph_tables.py ~/.cargo/registry/src/*/lopdf-0.47.*/src/encodings
"""

import re
import sys
from pathlib import Path

src = Path(sys.argv[1])
names = {}
for code, group in re.findall(r"^\s*0x([0-9a-f]{4}) = \[([^\]]*)\];", (src / "glyphnames.rs").read_text(), re.M):
    for name in group.split(","):
        names.setdefault(name.strip(), int(code, 16))

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
Path(__file__).resolve().parent.parent.joinpath("src/pdf/text/tables.rs").write_text("\n".join(out) + "\n")
