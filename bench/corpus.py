"""The fidelity corpus of P1: real-world PDFs from pinned Debian packages, and the committed
fixtures, each with its pdftotext reference text. bench/corpus.json says what is in it
and pins the poppler that makes the references.

    python3 bench/corpus.py            assemble it under .local/bench/corpus/ (bench/run does this)

Assembling downloads each package once (`apt-get download pkg=version`, checked against the
manifest's sha256), takes the listed PDFs out of it without installing anything, checks their
sha256, and writes their references with the pinned poppler-utils (installed if missing). A
second run finds everything in place and downloads nothing. Needs root for apt-get, as
bench/run's other installs do.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "bench" / "corpus.json"
CORPUS = ROOT / ".local" / "bench" / "corpus"


def log(message: str) -> None:
    print(f"[corpus] {message}", file=sys.stderr)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def fixtures() -> list[dict]:
    """The committed documents, their references beside them: what a smoke run measures."""
    return [{**doc, "pdf": ROOT / doc["path"], "ref": (ROOT / doc["path"]).with_suffix(".txt"), "source": "fixture"}
            for doc in manifest()["fixtures"]]


def apt_get(*args: str) -> None:
    if os.geteuid() != 0:
        raise SystemExit(f"[corpus] apt-get {' '.join(args)} needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", "-qq", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        # The package lists may predate the pinned version (a fresh machine): refresh them once.
        subprocess.run(["apt-get", "-qq", "update"], env=env, check=True, capture_output=True)
        done = subprocess.run(["apt-get", "-qq", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"[corpus] apt-get {' '.join(args)} failed:\n{done.stderr}")


def ensure_reference_tools(pins: dict[str, str]) -> None:
    """pdftotext from the pinned poppler-utils, with the pinned poppler-data (its CID-to-Unicode
    tables decode CJK fonts that have no ToUnicode): references differ between releases."""
    for package, version in pins.items():
        installed = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                                   capture_output=True, text=True).stdout.strip()
        if installed != version:
            log(f"installing {package}={version} (found {installed or 'none'})")
            apt_get("install", "-y", f"{package}={version}")


def reference_tools() -> str:
    return ", ".join(f"{package} {version}" for package, version in manifest()["reference"].items())


def deb_for(package: str, pin: dict, debs: Path) -> tuple[Path, int]:
    """The package's .deb, downloaded unless a copy with the pinned sha256 is cached; and the
    bytes downloaded for it."""
    debs.mkdir(parents=True, exist_ok=True)
    for cached in debs.glob(f"{package}_*.deb"):
        if sha256(cached) == pin["sha256"]:
            return cached, 0
        cached.unlink()
    log(f"downloading {package}={pin['version']}")
    done = subprocess.run(["apt-get", "download", "-qq", f"{package}={pin['version']}"], cwd=debs,
                          capture_output=True, text=True)
    if done.returncode != 0:
        apt_get("update")
        subprocess.run(["apt-get", "download", "-qq", f"{package}={pin['version']}"], cwd=debs, check=True)
    deb = next(debs.glob(f"{package}_*.deb"))
    if sha256(deb) != pin["sha256"]:
        raise SystemExit(f"[corpus] {deb.name}: sha256 {sha256(deb)} is not the manifest's {pin['sha256']}")
    return deb, deb.stat().st_size


def extract(deb: Path, members: list[str]) -> dict[str, bytes]:
    """Files out of a .deb's data archive, without installing it (gzip-compressed ones inflated)."""
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
    wanted = {"." + m: m for m in members}
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for entry in archive:
            if entry.name in wanted and entry.isfile():
                raw = archive.extractfile(entry).read()
                found[wanted[entry.name]] = gzip.decompress(raw) if entry.name.endswith(".gz") else raw
    missing = set(members) - found.keys()
    if missing:
        raise SystemExit(f"[corpus] {deb.name} has no {', '.join(sorted(missing))}")
    return found


def assemble() -> list[dict]:
    """Every corpus document with its PDF and reference paths, Debian's first, then the fixtures."""
    spec = manifest()
    pdfs, refs = CORPUS / "pdf", CORPUS / "ref"
    pdfs.mkdir(parents=True, exist_ok=True)
    refs.mkdir(parents=True, exist_ok=True)
    started, downloaded = time.monotonic(), 0
    docs = [{**doc, "pdf": pdfs / f"{doc['id']}.pdf", "ref": refs / f"{doc['id']}.txt", "source": "debian"}
            for doc in spec["documents"]]
    by_package: dict[str, list[dict]] = {}
    for doc in docs:
        if not (doc["pdf"].exists() and sha256(doc["pdf"]) == doc["sha256"]):
            by_package.setdefault(doc["package"], []).append(doc)
    for package, wanted in by_package.items():
        deb, size = deb_for(package, spec["packages"][package], CORPUS / "debs")
        downloaded += size
        files = extract(deb, [doc["path"] for doc in wanted])
        for doc in wanted:
            digest = hashlib.sha256(files[doc["path"]]).hexdigest()
            if digest != doc["sha256"]:
                raise SystemExit(f"[corpus] {package}:{doc['path']}: sha256 {digest} is not the manifest's")
            doc["pdf"].write_bytes(files[doc["path"]])
    stale = [doc for doc in docs if not doc["ref"].exists() or doc["ref"].stat().st_mtime < doc["pdf"].stat().st_mtime]
    if stale:
        ensure_reference_tools(spec["reference"])
        for doc in stale:
            # pdftotext's default mode, as the committed references were made.
            subprocess.run(["pdftotext", "-q", "-enc", "UTF-8", str(doc["pdf"]), str(doc["ref"])], check=True)
    if by_package or stale:
        log(f"{len(docs)} documents from {len(spec['packages'])} packages: {downloaded / 2**20:.1f} MiB downloaded, "
            f"{len(stale)} references written, {time.monotonic() - started:.1f} s")
    return docs + fixtures()


if __name__ == "__main__":
    for doc in assemble():
        print(f"{doc['id']}\t{doc['pdf']}")
