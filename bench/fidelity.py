"""P1's fidelity half: every corpus document (bench/corpus.py) through jobcast and its peers,
each output compared with the document's pdftotext reference, word by word.

Words are Unicode-aware: lowercased runs of letters, combining marks and digits, with every
CJK ideograph, kana and hangul syllable a word of its own (pdftotext puts no spaces between
them). Two normalisations apply to the reference and every tool alike:
- NFC, because canonically equivalent text is the same text: pdftotext writes an accent TeX
  draws over a letter as letter + combining mark ("a" U+0304), a tool may write "ā".
- Hebrew and Arabic presentation forms (U+FB1D-FDFF, U+FE70-FEFF) as the letters they are shaped
  from (NFKC of those code points only), because the reference cannot decide: pdftotext folds
  them for some producers (Chromium) and keeps them for others (xdvipdfmx), so either choice
  would score a correct tool as wrong on half the right-to-left corpus.
Nothing else is folded: a Latin ligature left as U+FB01 does not match "fi" (`str.lower`, not
`str.casefold`, which would quietly expand it), since spelling it out is part of what is
measured.
"""

from __future__ import annotations

import collections
import json
import re
import statistics
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Callable

CJK = ("\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
       "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002fa1f")
# A tool that hangs on one document must not hang the run.
TIMEOUT_S = 300
LOW_PARITY = 0.9
MIN_WORDS = 20


def _word_characters() -> str:
    """A regex class of letters, marks and digits (categories L, M, N) outside the CJK ranges."""
    cjk = re.compile(f"[{CJK}]")
    ranges, start, prev = [], None, None
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        inside = unicodedata.category(ch)[0] in "LMN" and not cjk.match(ch)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            ranges.append((start, prev))
            start = None
        prev = cp
    if start is not None:
        ranges.append((start, prev))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


WORD = re.compile(f"[{CJK}]|[{_word_characters()}]+")


PRESENTATION_FORMS = re.compile("[\ufb00-\ufb06\ufb13-\ufb17\ufb1d-\ufdff\ufe70-\ufeff]")


def normalised(text: str) -> str:
    text = PRESENTATION_FORMS.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
    return unicodedata.normalize("NFC", text)


def words(text: str) -> collections.Counter:
    return collections.Counter(WORD.findall(normalised(text).lower()))


def compare(reference: str, output: str) -> dict:
    """Words of the reference found in the output (with multiplicity), and both totals."""
    ref, out = words(reference), words(output)
    return {"matched": sum(min(n, out[w]) for w, n in ref.items()),
            "reference": sum(ref.values()), "output": sum(out.values())}


def extractors(release: Path, python: str) -> dict[str, Callable[[Path, Path], list[str]]]:
    """Each tool's command: parse IN.pdf, write every page's text to OUT.txt, print one JSON line."""
    peers = Path(__file__).resolve().parent / "peers"
    return {
        "jobcast": lambda pdf, out: [str(release / "jobcast-bench"), "extract", str(pdf), str(out)],
        "pypdf": lambda pdf, out: [python, str(peers / "extract_pypdf.py"), str(pdf), str(out)],
        "pdf_oxide": lambda pdf, out: [python, str(peers / "extract_pdf_oxide.py"), str(pdf), str(out)],
    }


def attempt(command: list[str]) -> dict:
    """One extraction. A crash or a hang is a refusal of that document, not the end of the run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"seconds": TIMEOUT_S, "pages": 0, "failed_pages": 0, "peak_rss_kib": 0, "error": "timed out"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"seconds": 0.0, "pages": 0, "failed_pages": 0, "peak_rss_kib": 0,
                "error": f"exit {done.returncode}: {last[:120]}"}
    return json.loads(lines[-1])


def measure(docs: list[dict], rounds: int, work: Path, release: Path, python: str) -> list[dict]:
    """Per document: each tool's words against the reference, its speed and peak memory.
    Tools are interleaved (A B C A B C) so drift on the machine falls on all of them alike."""
    tools = extractors(release, python)
    rows = []
    for doc in docs:
        reference = doc["ref"].read_text(encoding="utf-8", errors="replace")
        ref_pages = reference.count("\f")
        runs = {tool: [] for tool in tools}
        for _ in range(rounds):
            for tool, command in tools.items():
                out = work / "corpus" / "out" / tool / f"{doc['id']}.txt"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.unlink(missing_ok=True)
                runs[tool].append(attempt(command(doc["pdf"], out)))
        results = {}
        for tool, attempts in runs.items():
            out = work / "corpus" / "out" / tool / f"{doc['id']}.txt"
            text = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
            counts = compare(reference, text)
            last = attempts[-1]
            seconds = statistics.median(a["seconds"] for a in attempts)
            results[tool] = {
                **counts,
                "pages": last["pages"],
                "seconds": seconds,
                "pages_per_s": last["pages"] / seconds if last["pages"] and seconds else None,
                "rss_mib": max(a["peak_rss_kib"] for a in attempts) / 1024,
                "refused": ref_pages > 0 and last["pages"] == 0,
                "error": last.get("error"),
            }
        rows.append({"id": doc["id"], "producer": doc["producer"], "classes": doc["classes"], "source": doc["source"],
                     "pages": ref_pages, "ref_words": sum(words(reference).values()), "tools": results,
                     "reference_wrong": doc.get("reference_wrong")})
    return rows


def totals(rows: list[dict]) -> dict[str, dict]:
    tools = list(rows[0]["tools"]) if rows else []
    out = {}
    for tool in tools:
        results = [r["tools"][tool] for r in rows]
        matched = sum(t["matched"] for t in results)
        reference = sum(t["reference"] for t in results)
        output = sum(t["output"] for t in results)
        seconds = sum(t["seconds"] for t in results)
        pages = sum(t["pages"] for t in results)
        out[tool] = {
            "parity": matched / reference if reference else 1.0,
            "precision": matched / output if output else 0.0,
            "low": [r["id"] for r in rows if r["ref_words"] >= MIN_WORDS
                    and r["tools"][tool]["matched"] / r["ref_words"] < LOW_PARITY],
            "refused": [r["id"] for r in rows if r["tools"][tool]["refused"]],
            "pages_per_s": pages / seconds if seconds else None,
            "rss_mib": max(t["rss_mib"] for t in results),
        }
    return out


def parity(result: dict) -> float:
    return result["matched"] / result["reference"] if result["reference"] else 1.0


def precision(result: dict) -> float | None:
    return result["matched"] / result["output"] if result["output"] else None


def cell(result: dict) -> str:
    if result["refused"]:
        return "refused"
    value = parity(result)
    return f"**{value:.3f}**" if value < LOW_PARITY and result["reference"] >= MIN_WORDS else f"{value:.3f}"


def section(rows: list[dict], rounds: int, poppler: str) -> list[str]:
    """The report's fidelity subsection: totals, then one row per document."""
    if not rows:
        return []
    tools = list(rows[0]["tools"])
    summary = totals(rows)
    debian = [r for r in rows if r["source"] == "debian"]
    producers = len({r["producer"].split(" (")[0] for r in rows})
    scored = sum(1 for r in rows if r["ref_words"] >= MIN_WORDS)
    lines = [
        "### Fidelity on real-world PDFs: " + " vs ".join(tools) + ", against pdftotext",
        "",
        f"{len(rows)} documents ({len(debian)} from pinned Debian packages, {len(rows) - len(debian)} committed "
        f"fixtures; {producers} producer strings), listed in `bench/corpus.json` and assembled by `bench/corpus.py`. "
        f"The reference is poppler's `pdftotext` in its default mode ({poppler}). Words are lowercased runs of "
        "letters, marks and digits, every CJK character a word of its own; NFC, and ligatures (ﬁ) and Hebrew and Arabic presentation forms as their letters, on every side alike (see `bench/fidelity.py`). "
        "*Parity*: the share of the reference's words (with multiplicity) found in the output; *precision*: the "
        "share of the output's words found in the reference, which falls when a tool emits garbage. Word-weighted: "
        "summed over the corpus before dividing. *Refused*: no page at all (or a crash) where the reference has "
        f"pages. {rounds} interleaved round(s); pages/s over the corpus is the pages each tool returned over its "
        "summed median seconds.",
        "",
        "| tool | word-weighted parity | word-weighted precision | files below 0.9 | refused | pages/s (corpus) | "
        "peak RSS (max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for tool, t in summary.items():
        pps = f"{t['pages_per_s']:,.0f}" if t["pages_per_s"] else "–"
        lines.append(f"| {tool} | **{t['parity']:.3f}** | {t['precision']:.3f} | {len(t['low'])} of {scored} | "
                     f"{len(t['refused'])} | {pps} | {t['rss_mib']:.0f} MiB |")
    lines += ["", f"Files below 0.9 have at least {MIN_WORDS} reference words; *refused* lists:", ""]
    for tool, t in summary.items():
        below = ", ".join(t["low"]) or "none"
        refused = ", ".join(t["refused"]) or "none"
        lines.append(f"- {tool}: below 0.9: {below}; refused: {refused}")
    # Documents whose reference is shown wrong (bench/corpus.json says how): the same totals
    # without them, beside the totals with them, never instead.
    wrong = [r for r in rows if r.get("reference_wrong")]
    if wrong:
        trusted = [r for r in rows if not r.get("reference_wrong")]
        kept = totals(trusted)
        lines += ["", f"Without the {len(wrong)} documents whose reference is wrong "
                  f"({sum(r['ref_words'] for r in wrong):,} of {sum(r['ref_words'] for r in rows):,} reference words):", "",
                  "| tool | word-weighted parity | word-weighted precision | files below 0.9 |", "|---|---|---|---|"]
        scored_kept = sum(1 for r in trusted if r["ref_words"] >= MIN_WORDS)
        for tool, t in kept.items():
            lines.append(f"| {tool} | **{t['parity']:.3f}** | {t['precision']:.3f} | {len(t['low'])} of {scored_kept} |")
        lines += ["", "Where the reference is wrong (checked by reading the pages):", ""]
        lines += [f"- `{r['id']}`: {r['reference_wrong']}." for r in wrong]
    lines += [
        "",
        "Per document (parity; **bold** below 0.9):",
        "",
        "| document | producer | what it covers | pages | ref words | " + " | ".join(tools)
        + " | precision (" + " / ".join(tools) + ") |",
        "|---|---|---|---|---|" + "---|" * len(tools) + "---|",
    ]
    for r in rows:
        precisions = " / ".join("–" if precision(r["tools"][t]) is None else f"{precision(r['tools'][t]):.2f}"
                                for t in tools)
        lines.append(f"| {r['id']} | {r['producer']} | {', '.join(r['classes'])} | {r['pages']} | "
                     f"{r['ref_words']:,} | " + " | ".join(cell(r["tools"][t]) for t in tools)
                     + f" | {precisions} |")
    lines += [
        "",
        "Speed and memory per document (pages/s of the median round; peak RSS is the process's `VmHWM`, "
        "a Python interpreter alone is ~30 MiB):",
        "",
        "| document | " + " | ".join(f"{t} pages/s" for t in tools) + " | peak RSS (" + " / ".join(tools) + ") |",
        "|---|" + "---|" * len(tools) + "---|",
    ]
    for r in rows:
        speeds = [f"{r['tools'][t]['pages_per_s']:,.0f}" if r["tools"][t]["pages_per_s"] else "–" for t in tools]
        rss = " / ".join(f"{r['tools'][t]['rss_mib']:.0f}" for t in tools)
        lines.append(f"| {r['id']} | " + " | ".join(speeds) + f" | {rss} MiB |")
    errors = [(r["id"], t, r["tools"][t]["error"]) for r in rows for t in tools if r["tools"][t]["error"]]
    if errors:
        lines += ["", "Crashes and time-outs:", ""] + [f"- {doc}, {tool}: {error}" for doc, tool, error in errors]
    lines.append("")
    return lines
