"""Peer of `jobcast-bench extract`: parse a PDF with pypdf and extract every page's text."""

import json
import sys
import time

from pypdf import PdfReader


def main() -> None:
    path, text_out = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    failed = 0
    texts = []
    try:
        reader = PdfReader(path)
        for page in reader.pages:
            try:
                texts.append(page.extract_text() or "")
            except Exception as err:  # one bad page must not hide the others
                print(f"{path}: {err}", file=sys.stderr)
                texts.append("")
    except Exception as err:
        print(f"{path}: {err}", file=sys.stderr)
    seconds = time.perf_counter() - started
    failed = sum(1 for t in texts if not t.strip())
    with open(text_out, "w", encoding="utf-8") as out:
        out.write("\n\f".join(texts))
    print(json.dumps({"seconds": seconds, "pages": len(texts), "failed_pages": failed, "peak_rss_kib": peak_rss_kib()}))


def peak_rss_kib() -> int:
    """VmHWM: this process's peak resident set since exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
