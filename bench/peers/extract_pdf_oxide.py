"""Peer of `jobcast-bench extract`: parse a PDF with pdf_oxide (Python bindings of the Rust crate)
and extract every page's text with its default plain-text call."""

import sys

from pdf_oxide import PdfDocument

from extraction import measure


def pages(path: str):
    document = PdfDocument(path)
    for index in range(len(document)):
        yield lambda index=index: document.extract_text(index)


if __name__ == "__main__":
    measure(sys.argv[1], sys.argv[2], pages)
