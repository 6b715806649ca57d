"""Checks of the built book that Sphinx's strict build does not make (``make book``, ``make linkcheck``).

- ``alt-text``: every ``<img>`` in the built HTML pages has alt text, a non-empty ``alt`` attribute that is not
  just the image's file name (what a screen reader says instead of the figure; for a notebook output, the
  cell's ``mystnb: image: alt`` metadata, for a Markdown image its ``alt``). Fails naming the page and image.
- ``links``: reads Sphinx linkcheck's ``output.json``. Internal references and anchors are already checked by
  the strict HTML build (``-n -W``: a missing target is a warning, hence an error); linkcheck adds the external
  URLs. A URL that could not be reached because there is no network (name resolution, connection refused or
  timed out) is reported as unchecked, not as broken, so the check passes offline; an answer from the server
  that the page is missing (404 and the like) fails it.

Usage: ``python -m imlib.bookcheck alt-text _build/html`` and ``python -m imlib.bookcheck links
_build/linkcheck/output.json``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path


IMAGE_FILE = re.compile(r"^\S+\.(png|jpe?g|gif|svg|webp)$", re.IGNORECASE)


def has_alt_text(alt: str | None, src: str = "") -> bool:
    """Whether ``alt`` describes the image: not absent, not blank, and not the image's file name (docutils
    writes the file's path as the alt of an image that was given none, e.g. every notebook output without
    ``mystnb: image: alt`` metadata)."""
    alt = (alt or "").strip()
    return bool(alt) and alt != src and not IMAGE_FILE.match(alt)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.missing: list[str] = []
        self.count = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img":
            return
        self.count += 1
        a = dict(attrs)
        src = a.get("src") or "(no src)"
        if not has_alt_text(a.get("alt"), src):
            self.missing.append(src if not src.startswith("data:") else src[:40] + "...")

    handle_startendtag = handle_starttag


def images_without_alt(html_dir: str | Path) -> tuple[list[tuple[str, str]], int]:
    """(page, image src) for every ``<img>`` without a non-empty ``alt`` in the HTML pages under ``html_dir``
    (pages relative to it; Sphinx's own ``_static``, ``_sources`` and ``_images`` folders are not pages), and
    the number of images seen."""
    html_dir = Path(html_dir)
    missing, count = [], 0
    for page in sorted(html_dir.rglob("*.html")):
        rel = page.relative_to(html_dir)
        if rel.parts[0].startswith("_"):
            continue
        parser = _Images()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        count += parser.count
        missing += [(rel.as_posix(), src) for src in parser.missing]
    return missing, count


# linkcheck's "info" for a URL that could not be reached at all (no network), as opposed to a server's answer
OFFLINE = re.compile(r"NameResolution|Name or service not known|Temporary failure in name resolution|"
                     r"nodename nor servname|getaddrinfo failed|Failed to resolve|Max retries exceeded|"
                     r"Connection refused|Network is unreachable|No route to host|timed out|ConnectTimeout|"
                     r"ProxyError|Failed to establish a new connection", re.IGNORECASE)


def read_linkcheck(path: str | Path) -> list[dict]:
    """The entries of Sphinx linkcheck's ``output.json`` (one JSON object a line)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def classify_links(entries: list[dict]) -> dict[str, list[dict]]:
    """The entries sorted into ``ok`` (working, redirected), ``broken`` (the server answered: missing),
    ``unchecked`` (not reachable without a network, or not checked by linkcheck: local, ignored)."""
    out: dict[str, list[dict]] = {"ok": [], "broken": [], "unchecked": []}
    for e in entries:
        status = e.get("status")
        if status in ("working", "redirected"):
            out["ok"].append(e)
        elif status == "broken" and not OFFLINE.search(str(e.get("info", ""))):
            out["broken"].append(e)
        else:
            out["unchecked"].append(e)
    return out


def _where(e: dict) -> str:
    return f"{e.get('filename', '?')}:{e.get('lineno', '?')}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m imlib.bookcheck", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="check", required=True)
    sub.add_parser("alt-text", help="every <img> in the built pages has alt text").add_argument("html_dir")
    sub.add_parser("links", help="summarise linkcheck's output.json, offline-tolerant").add_argument("output_json")
    a = ap.parse_args(argv)
    if a.check == "alt-text":
        missing, count = images_without_alt(a.html_dir)
        for page, src in missing:
            print(f"{page}: image without alt text: {src}", file=sys.stderr)
        pages = len({p for p, _ in missing})
        print(f"alt text: {count - len(missing)} of {count} images in {a.html_dir} have it"
              + (f"; {len(missing)} on {pages} pages do not" if missing else ""))
        return 1 if missing else 0
    if not Path(a.output_json).exists():
        print(f"links: {a.output_json} is missing: linkcheck did not finish (see its log)", file=sys.stderr)
        return 1
    links = classify_links(read_linkcheck(a.output_json))
    for e in links["broken"]:
        print(f"{_where(e)}: broken link {e.get('uri')}: {e.get('info')}", file=sys.stderr)
    offline = [e for e in links["unchecked"] if e.get("status") == "broken"]
    print(f"links: {len(links['ok'])} working, {len(links['broken'])} broken, {len(links['unchecked'])} unchecked"
          + (f" ({len(offline)} not reachable: no network?)" if offline else ""))
    return 1 if links["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
