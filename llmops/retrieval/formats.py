"""Markdown, HTML and PDF -> plain text with its heading structure (`Section`s).

Each parser returns `(title, text, sections, own metadata)`: the text a chunk is cut from, and
the heading path over each span of it, so `chunking.py` cuts every format with one algorithm.
Parsers see only the content and the file's project-relative name (for messages); reading,
size limits and paths are `documents.py`'s. lxml and pypdf load only when a file needs them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import StageFailed

HEADING_SEPARATOR = " > "
MAX_PDF_PAGES = 5_000  # one PDF
MAX_METADATA_CHARS = 200  # one string metadata value


@dataclass(frozen=True)
class Section:
    """A heading path ("Install > Linux", "" before the first heading) over text[start:end]."""

    heading: str
    start: int
    end: int


Parsed = tuple[str, str, tuple[Section, ...], dict[str, Any]]  # title, text, sections, own metadata


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown(raw: str, rel: str) -> Parsed:
    """Front matter (title and scalar keys) off, ATX headings (outside code fences) as sections."""
    own: dict[str, Any] = {}
    title = ""
    match = _FRONT_MATTER.match(raw)
    if match:
        from llmops.yamlsafe import load

        try:
            front = load(match.group(1), rel)
        except Exception as exc:  # a YAML error is the user's: name the file
            raise StageFailed(f"{rel}: the front matter is not valid YAML ({str(exc)[:200]})") from None
        if isinstance(front, dict):
            own = scalars(front, {"title"})
            if isinstance(front.get("title"), (str, int, float)):
                title = str(front["title"])
        raw = raw[match.end() :]
    text = raw.strip()
    headings: list[tuple[int, int, str]] = []  # (offset, level, text)
    fence = ""
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        opened = _FENCE.match(stripped)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        else:
            heading = _ATX.match(stripped)
            if heading and heading.group(2):
                headings.append((offset, len(heading.group(1)), heading.group(2)))
        offset += len(line)
    if not title:
        title = next((h for _, level, h in headings if level == 1), "")
    return title, text, _sections(headings, len(text)), own


def _sections(headings: list[tuple[int, int, str]], length: int) -> tuple[Section, ...]:
    """Heading offsets -> sections; a heading path nests lower levels under higher ones."""
    sections: list[Section] = []
    if not headings or headings[0][0] > 0:
        sections.append(Section("", 0, headings[0][0] if headings else length))
    path: list[tuple[int, str]] = []
    for index, (start, level, name) in enumerate(headings):
        path = [(lvl, n) for lvl, n in path if lvl < level] + [(level, name)]
        end = headings[index + 1][0] if index + 1 < len(headings) else length
        sections.append(Section(HEADING_SEPARATOR.join(n for _, n in path), start, end))
    return tuple(s for s in sections if s.end > s.start)


_DROP = frozenset({"script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "object"})
_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "td",
        "th",
        "ul",
        "br",
        "caption",
        "summary",
        "details",
    ]
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def html(raw: str, rel: str) -> Parsed:
    """Visible text in blocks (script, style, nav and the like dropped); h1-h6 start sections."""
    try:
        import lxml.html
    except ImportError:
        raise StageFailed(f"{rel}: reading HTML needs lxml (pip install lxml, or the `rag` extra)") from None
    if not raw.strip():
        return "", "", (), {}
    try:
        # the file was read as UTF-8: a <meta charset> naming another encoding must not re-decode it
        parser = lxml.html.HTMLParser(encoding="utf-8")
        tree = lxml.html.document_fromstring(raw.encode("utf-8"), parser=parser)
    except Exception as exc:  # lxml's errors vary by version
        raise StageFailed(f"{rel}: not readable as HTML ({str(exc)[:200]})") from None
    title_el = tree.find(".//title")
    title = " ".join(title_el.text_content().split()) if title_el is not None else ""
    blocks: list[tuple[int, str]] = []  # (heading level or 0, text)
    current: list[str] = []

    def flush() -> None:
        text = " ".join("".join(current).split())
        if text:
            blocks.append((0, text))
        current.clear()

    def walk(element: Any) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag.lower() in _DROP or not tag:
            return
        level = _HEADINGS.get(tag.lower(), 0)
        if level:
            flush()
            text = " ".join(element.text_content().split())
            if text:
                blocks.append((level, text))
            return
        block = tag.lower() in _BLOCK
        if block:
            flush()
        if element.text:
            current.append(element.text)
        for child in element:
            walk(child)
            if child.tail:
                current.append(child.tail)
        if block:
            flush()

    body = tree.find(".//body")
    walk(body if body is not None else tree)
    flush()
    parts: list[str] = []
    headings: list[tuple[int, int, str]] = []
    offset = 0
    for level, text in blocks:
        if level:
            headings.append((offset, level, text))
        parts.append(text)
        offset += len(text) + 2
    text = "\n\n".join(parts)
    if not title:
        title = next((h for _, level, h in headings if level == 1), "")
    return title, text, _sections(headings, len(text)), {}


def pdf(path: Path, rel: str) -> Parsed:
    """The text of each page; each page is a section headed `page <n>` (citations name the page)."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise StageFailed(
            f"{rel}: reading PDF files needs pypdf; pip install pypdf (or the `rag` extra)"
        ) from None
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise StageFailed(f"{rel}: the PDF is encrypted; save an unencrypted copy")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise StageFailed(f"{rel}: more than {MAX_PDF_PAGES:,} pages (MAX_PDF_PAGES); split the file")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info = reader.metadata
        title = str(info.title) if info is not None and info.title else ""
    except StageFailed:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise StageFailed(f"{rel}: not a readable PDF ({str(exc)[:200]})") from None
    sections: list[Section] = []
    parts: list[str] = []
    offset = 0
    for number, page in enumerate(pages, start=1):
        if not page:
            continue
        if parts:
            offset += 2
        sections.append(Section(f"page {number}", offset, offset + len(page)))
        parts.append(page)
        offset += len(page)
    return title, "\n\n".join(parts), tuple(sections), {}


def scalars(row: Mapping[str, Any], skip: set[str]) -> dict[str, Any]:
    """A row's scalar values (what metadata filters can match), minus the given keys.

    Strings over `MAX_METADATA_CHARS` are text, not metadata (a dataset's question column next
    to the answer that is indexed): copied into every chunk they would only bloat the index.
    """
    return {
        str(k): v
        for k, v in row.items()
        if k not in skip
        and not str(k).startswith("_")
        and isinstance(v, (str, int, float, bool))
        and not (isinstance(v, str) and len(v) > MAX_METADATA_CHARS)
    }
