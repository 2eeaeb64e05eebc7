"""What the extraction peers share: time the parse and every page's text, write the pages
separated by form feeds, print one JSON line like `jobcast-bench extract`."""

import json
import sys
import time
from typing import Callable, Iterable


def measure(path: str, text_out: str, pages: Callable[[str], Iterable[Callable[[], str]]]) -> None:
    """`pages(path)` opens the document and yields one callable per page that returns its text."""
    started = time.perf_counter()
    texts = []
    try:
        for page in pages(path):
            try:
                texts.append(page() or "")
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
