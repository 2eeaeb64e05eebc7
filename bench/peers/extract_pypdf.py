"""Peer of `jobcast-bench extract`: parse a PDF with pypdf and extract every page's text."""

import sys

from pypdf import PdfReader

from extraction import measure


def pages(path: str):
    for page in PdfReader(path).pages:
        yield page.extract_text


if __name__ == "__main__":
    measure(sys.argv[1], sys.argv[2], pages)
