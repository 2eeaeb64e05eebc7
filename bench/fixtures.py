"""Rebuilds the committed fidelity fixtures in tests/fixtures/corpus/ and their pdftotext references.

Run by hand, never by bench/run (the fixtures are committed so that a smoke run needs neither a
browser nor poppler):
    python3 bench/fixtures.py            every fixture
    python3 bench/fixtures.py NAME...    only these (e.g. broken-xref)

Needs Debian's chromium, ghostscript, groff, qpdf, poppler-utils and the fonts named in
tests/fixtures/README.md. The texts are ours (tests/fixtures/corpus/src/); the broken and
hand-made documents are written here, byte by byte, so each defect is exactly the one named.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "corpus"
SRC = OUT / "src"
AFM = Path("/usr/share/fonts/type1/urw-base35")


# ---------------------------------------------------------------- a minimal PDF writer

def pdf_string(text: str) -> bytes:
    """A literal string of one-byte codes (Latin-1 for what we write). Control bytes are written as
    octal escapes, as pdfTeX does: a raw CR inside a string would be read back as LF."""
    out = bytearray(b"(")
    for byte in text.encode("latin-1"):
        if byte in b"()\\":
            out += b"\\" + bytes([byte])
        elif byte < 32 or byte == 127:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out + b")")


def stream(dictionary: bytes, data: bytes, compress: bool = True) -> bytes:
    if compress:
        data = zlib.compress(data, 9)
        dictionary += b" /Filter /FlateDecode"
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def write_pdf(objects: dict[int, bytes], root: int, info: int | None = None) -> bytes:
    """Objects numbered 1..N (generation 0) in one body with a classic xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    out += xref_section(offsets, max(objects) + 1, root, info, prev=None, start=len(out))
    return bytes(out)


def xref_section(offsets: dict[int, int], size: int, root: int, info: int | None, prev: int | None,
                 start: int) -> bytes:
    """An xref table (in runs of consecutive numbers, object 0 first) and its trailer."""
    rows = {0: b"0000000000 65535 f \n"} if prev is None else {}
    rows.update({num: b"%010d 00000 n \n" % off for num, off in offsets.items()})
    body = bytearray(b"xref\n")
    nums = sorted(rows)
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        body += b"%d %d\n" % (nums[i], j - i + 1) + b"".join(rows[n] for n in nums[i:j + 1])
        i = j + 1
    trailer = b"/Size %d /Root %d 0 R" % (size, root)
    if info:
        trailer += b" /Info %d 0 R" % info
    if prev is not None:
        trailer += b" /Prev %d" % prev
    return bytes(body) + b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % start


def append_revision(base: bytes, objects: dict[int, bytes], root: int, info: int | None) -> bytes:
    """An incremental update: the changed objects and an xref section whose /Prev is the base's."""
    prev = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    size = int(re.findall(rb"/Size (\d+)", base)[-1])
    out = bytearray(base if base.endswith(b"\n") else base + b"\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    out += xref_section(offsets, max(size, max(objects) + 1), root, info, prev=prev, start=len(out))
    return bytes(out)


def rebuild_xref(pdf: bytes) -> bytes:
    """A single-revision file whose body was edited: its xref table recomputed from the body."""
    body_end = pdf.rindex(b"\nxref\n") + 1
    body = pdf[:body_end]
    offsets = {int(m.group(1)): m.start(1) for m in re.finditer(rb"(?m)^(\d+) 0 obj\b", body)}
    root = int(re.search(rb"/Root (\d+) 0 R", pdf[body_end:]).group(1))
    info = re.search(rb"/Info (\d+) 0 R", pdf[body_end:])
    return body + xref_section(offsets, max(offsets) + 1, root, int(info.group(1)) if info else None,
                               prev=None, start=len(body))


def afm(name: str) -> tuple[dict[str, int], dict[int, str]]:
    """Advance widths (1/1000 em) by glyph name, and glyph names by StandardEncoding code, from
    the URW base-35 metrics Debian ships."""
    widths, names = {}, {}
    for line in (AFM / f"{name}.afm").read_text(encoding="latin-1").splitlines():
        if line.startswith("C "):
            fields = dict(part.strip().split(" ", 1) for part in line.split(";") if part.strip())
            widths[fields["N"]] = int(fields["WX"])
            if int(fields["C"]) >= 0:
                names[int(fields["C"])] = fields["N"]
    return widths, names


# ---------------------------------------------------------------- producers

def chromium(name: str) -> None:
    """Chromium's print to PDF (Skia): CID TrueType fonts, Identity-H, with ToUnicode."""
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-pdf-header-footer", f"--print-to-pdf={OUT / f'chromium-{name}.pdf'}",
                    str(SRC / f"{name}.html")], check=True, capture_output=True)


def gs_pdfa() -> None:
    """groff's PostScript distilled by Ghostscript into PDF/A-2b: Type 1C fonts, one with a custom
    encoding and no ToUnicode."""
    ps = subprocess.run(["groff", "-ms", "-Tps", str(SRC / "pdfa.ms")], check=True, capture_output=True).stdout
    subprocess.run(["gs", "-q", "-dBATCH", "-dNOPAUSE", "-dSAFER", "-sDEVICE=pdfwrite", "-dPDFA=2",
                    "-dPDFACompatibilityPolicy=1", "-sColorConversionStrategy=RGB",
                    f"-sOutputFile={OUT / 'gs-pdfa.pdf'}", "-"], input=ps, check=True)


# TeX's OT1 layout for the codes that differ from ASCII: what a pdfTeX Type 1 font's
# /Differences says, and what an extractor must map back by glyph name.
OT1 = {0o013: "ff", 0o014: "fi", 0o015: "fl", 0o016: "ffi", 0o017: "ffl", 0o042: "quotedblright",
       0o047: "quoteright", 0o133: "bracketleft", 0o134: "quotedblleft", 0o135: "bracketright",
       0o140: "quoteleft", 0o173: "endash", 0o174: "emdash"}
LIGATURES = {"ffi": 0o016, "ffl": 0o017, "ff": 0o013, "fi": 0o014, "fl": 0o015}
TJ_TEXT = """\
\u201cThe first difficulty,\u201d said the surveyor, \u201cis the fog.\u201d
He stood on the cliff with his theodolite and waited for the offshore breeze
to lift it. Below him the fishing fleet was already out \u2013 twelve boats in a line,
their flags flapping \u2014 and the ferry sounded its horn twice as it left the quay.
By noon he had fixed the position of the church tower, the flagstaff on the fort
and the old windmill, and the official map of the bay could finally be drawn.
Afterwards he walked down to the harbour office to file his figures."""


def ot1_codes(line: str) -> list[list[int]]:
    """The line as words of OT1 codes (ligatures and quotes by their TeX slots, no spaces)."""
    quotes = {"\u201c": 0o134, "\u201d": 0o042, "\u2018": 0o140, "\u2019": 0o047, "\u2013": 0o173, "\u2014": 0o174}
    words = []
    for word in line.split(" "):
        codes, i = [], 0
        while i < len(word):
            lig = next((l for l in LIGATURES if word.startswith(l, i)), None)
            if lig:
                codes.append(LIGATURES[lig])
                i += len(lig)
            else:
                codes.append(quotes.get(word[i], ord(word[i])))
                i += 1
        words.append(codes)
    return words


def tj_differences() -> None:
    """pdfTeX's habits written by hand: a Type 1 font (URW's Times clone, by its base-14 name) with
    an OT1 /Differences array and no ToUnicode, every line one TJ array with no space character:
    words apart only by a displacement, a kern inside some words."""
    widths, glyph = afm("NimbusRoman-Regular")
    glyph.update(OT1)
    first, last = 0o013, 0o176
    font_widths = b" ".join(b"%d" % widths.get(glyph.get(c, ""), 0) for c in range(first, last + 1))
    differences = b" ".join(b"%d /%s" % (code, name.encode()) for code, name in sorted(OT1.items()))
    lines = []
    for line in TJ_TEXT.splitlines():
        parts = []
        for codes in ot1_codes(line):
            chunk = bytearray()
            for i, code in enumerate(codes):
                chunk.append(code)
                # A kern between "T" and "h" or "o" and "f" as TeX would put one: splits the string.
                if i + 1 < len(codes) and (code, codes[i + 1]) in {(ord("T"), ord("h")), (ord("o"), ord("f"))}:
                    parts.append(pdf_string(chunk.decode("latin-1")) + b" 18")
                    chunk = bytearray()
            parts.append(pdf_string(chunk.decode("latin-1")) + b" -333")
        lines.append(b"[" + b" ".join(parts) + b"] TJ")
    content = b"BT /F1 11 Tf 14 TL 72 760 Td\n" + b"\nT*\n".join(lines) + b"\nET"
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
           b"/Contents 4 0 R >>",
        4: stream(b"", content),
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /FirstChar %d /LastChar %d /Widths [%s] "
           b"/Encoding << /Type /Encoding /Differences [%s] >> >>" % (first, last, font_widths, differences),
        6: b"<< /Producer (jobcast bench/fixtures.py) /Title (Type 1 with Differences, spacing from TJ) >>",
    }
    (OUT / "handmade-tj-differences.pdf").write_bytes(write_pdf(objects, root=1, info=6))


def text_content(lines: list[str], size: int = 12, top: int = 770) -> bytes:
    body = b"\nT*\n".join(pdf_string(line) + b" Tj" for line in lines)
    return b"BT /F1 %d Tf %d TL 72 %d Td\n" % (size, size + 5, top) + body + b"\nET"


HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def form() -> None:
    """An AcroForm: text fields, a checkbox and a choice, filled in, each with its appearance
    stream; a FreeText annotation and a sticky note beside the page's own text."""
    page_text = [
        "Willow Lane Allotments - plot application",
        "",
        "Full name:",
        "Street address:",
        "Preferred terrace:",
        "I have read the association rules:",
        "",
        "Applications are considered at the committee meeting in the first week of each month.",
        "Plots are let for one season at a time and rents are due on the first of March.",
    ]

    def field(num: int, name: str, rect: tuple, value: str) -> tuple[bytes, bytes]:
        x0, y0, x1, y1 = rect
        ap = stream(b"/Type /XObject /Subtype /Form /BBox [0 0 %d %d] /Resources << /Font << /Helv 20 0 R >> >>"
                    % (x1 - x0, y1 - y0), b"/Tx BMC q BT /Helv 11 Tf 2 5 Td " + pdf_string(value) + b" Tj ET Q EMC")
        widget = (b"<< /Type /Annot /Subtype /Widget /FT /Tx /T %s /V %s /DA (/Helv 11 Tf 0 g) /F 4 "
                  b"/Rect [%d %d %d %d] /P 3 0 R /AP << /N %d 0 R >> >>"
                  % (pdf_string(name), pdf_string(value), x0, y0, x1, y1, num + 1))
        return widget, ap

    fields = [("fullname", (250, 715, 520, 733), "Margaret Okonkwo-Byrne"),
              ("address", (250, 698, 520, 716), "14 Gull Lane, Westhaven"),
              ("terrace", (250, 681, 520, 699), "Upper terrace, near the orchard")]
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [10 0 R 12 0 R 14 0 R 16 0 R] "
           b"/DR << /Font << /Helv 20 0 R /ZaDb 21 0 R >> >> /DA (/Helv 11 Tf 0 g) >> >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 20 0 R >> >> "
           b"/Contents 4 0 R /Annots [10 0 R 12 0 R 14 0 R 16 0 R 18 0 R 19 0 R] >>",
        4: stream(b"", text_content(page_text)),
        20: HELVETICA,
        21: b"<< /Type /Font /Subtype /Type1 /BaseFont /ZapfDingbats >>",
        22: b"<< /Producer (jobcast bench/fixtures.py) /Title (A filled-in form) >>",
    }
    for i, (name, rect, value) in enumerate(fields):
        widget, ap = field(10 + 2 * i, name, rect, value)
        objects[10 + 2 * i], objects[11 + 2 * i] = widget, ap
    objects[16] = (b"<< /Type /Annot /Subtype /Widget /FT /Btn /T (rules) /V /Yes /AS /Yes /F 4 "
                   b"/Rect [250 664 264 678] /P 3 0 R /MK << /CA (4) >> /AP << /N << /Yes 17 0 R >> >> >>")
    objects[17] = stream(b"/Type /XObject /Subtype /Form /BBox [0 0 14 14] /Resources << /Font << /ZaDb 21 0 R >> >>",
                         b"q BT /ZaDb 11 Tf 2 3 Td (4) Tj ET Q")
    note = "Reviewed by the committee on 3 March; plot 41 offered."
    objects[18] = (b"<< /Type /Annot /Subtype /FreeText /Rect [72 560 420 590] /F 4 /Contents %s "
                   b"/DA (/Helv 10 Tf 0 g) /AP << /N 23 0 R >> >>" % pdf_string(note))
    objects[23] = stream(b"/Type /XObject /Subtype /Form /BBox [0 0 348 30] /Resources << /Font << /Helv 20 0 R >> >>",
                         b"q 0 0 1 rg 0.5 w 0.5 0.5 347 29 re S BT /Helv 10 Tf 0 g 6 11 Td " + pdf_string(note)
                         + b" Tj ET Q")
    objects[19] = (b"<< /Type /Annot /Subtype /Text /Rect [430 560 450 580] /Open false /Name /Comment "
                   b"/Contents (Check the waiting list first.) >>")
    (OUT / "handmade-form.pdf").write_bytes(write_pdf(objects, root=1, info=22))


def incremental() -> None:
    """Two pages, then an appended revision that replaces page 2's content and the document info:
    the old text stays in the file, only the new one is on the page."""
    page1 = ["Harbour board minutes, April meeting", "",
             "Present: the chair, the treasurer, the harbour master and four members.",
             "The minutes of the March meeting were read and approved without changes.",
             "The treasurer reported that mooring fees are up by a tenth on last year."]
    page2_old = ["Draft resolution withdrawn before the vote:", "",
                 "Proposal to sell the crane quietly abandoned, pending valuation elsewhere."]
    page2_new = ["Resolution carried unanimously:", "",
                 "The slipway will be repaired in September and the boatyard closed for two weeks.",
                 "Members moving boats during the repair should speak to the harbour master."]
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 7 0 R >> >> "
           b"/Contents 5 0 R >>",
        4: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 7 0 R >> >> "
           b"/Contents 6 0 R >>",
        5: stream(b"", text_content(page1)),
        6: stream(b"", text_content(page2_old)),
        7: HELVETICA,
        8: b"<< /Producer (jobcast bench/fixtures.py) /Title (Harbour board minutes, draft) >>",
    }
    base = write_pdf(objects, root=1, info=8)
    update = {
        4: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 7 0 R >> >> "
           b"/Contents 9 0 R >>",
        8: b"<< /Producer (jobcast bench/fixtures.py) /Title (Harbour board minutes, as approved) >>",
        9: stream(b"", text_content(page2_new)),
    }
    (OUT / "incremental-update.pdf").write_bytes(append_revision(base, update, root=1, info=8))


def objstm() -> None:
    """The two-column fixture rewritten by qpdf with object streams and an xref stream."""
    subprocess.run(["qpdf", "--object-streams=generate", "--compress-streams=y",
                    str(OUT / "chromium-two-column.pdf"), str(OUT / "qpdf-object-streams.pdf")], check=True)


def broken_xref() -> None:
    """Every offset in the xref table of the ligatures fixture is 13 bytes off: a reader must
    rebuild the table by scanning for objects."""
    pdf = (OUT / "chromium-ligatures.pdf").read_bytes()
    start = pdf.rindex(b"\nxref\n")
    table = re.sub(rb"(?m)^(\d{10}) 00000 n", lambda m: b"%010d 00000 n" % (int(m.group(1)) + 13), pdf[start:])
    (OUT / "broken-xref.pdf").write_bytes(pdf[:start] + table)


def broken_metadata() -> None:
    """The four-page fixture with a /Metadata stream in its catalog that cannot be read: its
    /Length runs past the end of the data and no endstream follows."""
    pdf = (OUT / "chromium-four-pages.pdf").read_bytes()
    size = int(re.findall(rb"/Size (\d+)", pdf)[-1])
    pdf = re.sub(rb"<</Type /Catalog", b"<</Type /Catalog\n/Metadata %d 0 R" % size, pdf, count=1)
    body_end = pdf.rindex(b"\nxref\n") + 1
    broken = (b"%d 0 obj\n<< /Type /Metadata /Subtype /XML /Length 90000 >>\nstream\n<?xpacket begin="
              b"'\xef\xbb\xbf' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'>\x00\x07\xff\n"
              % size)
    (OUT / "broken-metadata.pdf").write_bytes(rebuild_xref(pdf[:body_end] + broken + pdf[body_end:]))


def broken_pages() -> None:
    """The four-page fixture with its page-tree root overwritten where the xref points (the object
    header is garbled): the pages are only found by scanning for /Type /Page objects. pdftotext
    reads no page here, so this fixture's reference is its intact base's text."""
    pdf = (OUT / "chromium-four-pages.pdf").read_bytes()
    trailer = pdf[pdf.rindex(b"trailer"):]
    root = int(re.search(rb"/Root (\d+) 0 R", trailer).group(1))
    pages = int(re.search(rb"(?ms)^%d 0 obj\s*<<.*?/Pages (\d+) 0 R" % root, pdf).group(1))
    header = b"\n%d 0 obj\n" % pages
    assert pdf.count(header) == 1
    (OUT / "broken-pages.pdf").write_bytes(pdf.replace(header, b"\n%d 0 jbo\n" % pages))


# Fixtures whose damage leaves pdftotext with no page to read: their reference is the base's.
REFERENCE_FROM = {"broken-pages": "chromium-four-pages"}


BUILDERS = {
    "chromium-ligatures": lambda: chromium("ligatures"),
    "chromium-arabic": lambda: chromium("arabic"),
    "chromium-hebrew": lambda: chromium("hebrew"),
    "chromium-cjk": lambda: chromium("cjk"),
    "chromium-two-column": lambda: chromium("two-column"),
    "chromium-four-pages": lambda: chromium("four-pages"),
    "gs-pdfa": gs_pdfa,
    "handmade-tj-differences": tj_differences,
    "handmade-form": form,
    "incremental-update": incremental,
    "qpdf-object-streams": objstm,
    "broken-xref": broken_xref,
    "broken-metadata": broken_metadata,
    "broken-pages": broken_pages,
}


def main() -> None:
    names = sys.argv[1:] or list(BUILDERS)
    for name in names:
        BUILDERS[name]()
        pdf = OUT / f"{name}.pdf"
        # The reference exactly as the older fixtures' were made: pdftotext's default mode.
        source = OUT / f"{REFERENCE_FROM.get(name, name)}.pdf"
        subprocess.run(["pdftotext", "-enc", "UTF-8", str(source), str(pdf.with_suffix(".txt"))], check=True)
        print(f"{pdf.relative_to(ROOT)}: {pdf.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
