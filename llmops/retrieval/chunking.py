"""Documents -> chunks: the passages that are embedded, retrieved and cited.

One algorithm for every strategy: cut the text into atoms (sentences for `heading` and
`sentence`, words for `fixed`), then pack neighbouring atoms greedily into chunks of at most
`size` units, starting each next chunk with the last atoms of the previous one that fit in
`overlap` units. An atom longer than `size` is cut into words, a word longer than `size` into
characters, so no chunk is over `size` (in tokens, as counted piece by piece). `heading` packs
each section separately, so a chunk never spans two headings; `sentence` and `fixed` pack the
whole document and take the heading of the section a chunk starts in.

A chunk's text is a slice of the document's text (from its first atom to its last), so the
original line breaks and formatting are kept, and its `sha256` (of the text) is the key of the
embedding cache: an unchanged chunk keeps its vector when another document changes. Sentence
splitting is a plain regular expression, deterministic and language-agnostic enough for prose;
an abbreviation such as "e.g. this" can end a sentence early, which only moves a chunk border.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from llmops.errors import UsageError
from llmops.retrieval.documents import HEADING_SEPARATOR, Document, Section

STRATEGIES = ("heading", "sentence", "fixed")
UNITS = ("tokens", "chars")

# A paragraph ends at a blank line; a markdown heading, list item, table row or quote starts a block.
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n\s*|\n(?=[ \t]*(?:#{1,6}[ \t]|[-*+][ \t]|\d{1,3}[.)][ \t]|\||>))")
# A sentence ends at . ! ? (or their CJK forms), with one closing quote or bracket, before whitespace.
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?\u3002\uff01\uff1f])|(?<=[.!?\u3002\uff01\uff1f][\"'\u2019\u201d)\]]))\s+"
)
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """One passage: row i of chunks.jsonl is vector i of the index."""

    id: str  # "<doc_id>#<n>", n counting from 0 in document order
    doc_id: str
    source: str
    title: str
    heading: str
    text: str
    metadata: dict[str, Any]
    sha256: str  # of the text (UTF-8): the embedding cache's key
    tokens: int

    def as_dict(self) -> dict[str, Any]:
        """The chunks.jsonl row."""
        return asdict(self)


Counter = Callable[[str], int]


def chunk_documents(docs: list[Document], chunking: Any, count_tokens: Counter | None) -> list[Chunk]:
    """All chunks of all documents, in document order.

    `chunking` has `strategy`, `size`, `overlap`, `unit` (the spec's `Chunking`). `count_tokens`
    is the embedding model's token counter: required when `unit` is `tokens`; when given, it
    also fills each chunk's `tokens` (else a whitespace word count stands in).
    """
    strategy, unit = str(chunking.strategy), str(chunking.unit)
    size, overlap = int(chunking.size), int(chunking.overlap)
    if strategy not in STRATEGIES:
        raise UsageError(f"chunking.strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if unit not in UNITS:
        raise UsageError(f"chunking.unit: {unit!r} is not one of {', '.join(UNITS)}")
    if size < 1 or not 0 <= overlap < size:
        raise UsageError(f"chunking: need size >= 1 and 0 <= overlap < size (size {size}, overlap {overlap})")
    if unit == "tokens" and count_tokens is None:
        raise UsageError("chunking.unit is tokens but no token counter was given (the embedding model's)")
    cost = _memo(count_tokens) if unit == "tokens" and count_tokens is not None else len
    packer = _Packer(size, overlap, unit == "chars", cost)
    chunks: list[Chunk] = []
    for doc in docs:
        sections = doc.sections or (Section("", 0, len(doc.text)),)
        if strategy == "heading":
            spans = [
                (s.heading, span)
                for s in sections
                if not _heading_only(doc.text, s)
                for span in packer.pack(doc.text, s.start, s.end, "sentence")
            ]
        else:
            atom = "word" if strategy == "fixed" else "sentence"
            starts = [s.start for s in sections]
            spans = [
                (sections[max(bisect.bisect_right(starts, start) - 1, 0)].heading, (start, end))
                for start, end in packer.pack(doc.text, 0, len(doc.text), atom)
            ]
        for number, (heading, (start, end)) in enumerate(spans):
            text = doc.text[start:end]
            chunks.append(
                Chunk(
                    id=f"{doc.id}#{number}",
                    doc_id=doc.id,
                    source=doc.source,
                    title=doc.title,
                    heading=heading,
                    text=text,
                    metadata=dict(doc.metadata),
                    sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                    tokens=count_tokens(text) if count_tokens is not None else len(text.split()),
                )
            )
    return chunks


def _heading_only(text: str, section: Section) -> bool:
    """A section that holds nothing but its heading line: its path goes on in the next one."""
    if not section.heading:
        return False
    last = section.heading.rsplit(HEADING_SEPARATOR, 1)[-1]
    return text[section.start : section.end].strip().lstrip("#").strip().rstrip("#").strip() == last


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences in text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _split(text, start, end, _BLOCK_BREAK):
        spans += _split(text, block_start, block_end, _SENTENCE_END)
    return spans


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Spans between the matches of `pattern` in text[start:end], trimmed, empty ones dropped."""
    spans = []
    position = start
    for match in pattern.finditer(text, start, end):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, end))
    return [span for span in (_trim(text, a, b) for a, b in spans) if span[1] > span[0]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _memo(count: Counter) -> Counter:
    """Token counts of repeated atoms (common words, boilerplate sentences) are asked once."""
    cache: dict[str, int] = {}

    def cost(text: str) -> int:
        value = cache.get(text)
        if value is None:
            value = count(text)
            if len(cache) < 1_000_000:
                cache[text] = value
        return value

    return cost


class _Packer:
    """Greedy packing of atoms into chunks of at most `size` units with `overlap` carried over."""

    def __init__(self, size: int, overlap: int, chars: bool, cost: Counter) -> None:
        self.size, self.overlap, self.chars, self.cost = size, overlap, chars, cost

    def pack(self, text: str, start: int, end: int, atom: str) -> list[tuple[int, int]]:
        if atom == "word":
            atoms = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
        else:
            atoms = split_sentences(text, start, end)
        atoms = [piece for span in atoms for piece in self._fit(text, span)]
        if not atoms:
            return []
        if self.chars:
            weights = None
        else:
            weights = [0]
            for a, b in atoms:
                weights.append(weights[-1] + self.cost(text[a:b]))

        def measure(i: int, j: int) -> int:  # atoms i..j-1
            if weights is None:
                return atoms[j - 1][1] - atoms[i][0]
            return weights[j] - weights[i]

        chunks: list[tuple[int, int]] = []
        i, n = 0, len(atoms)
        while i < n:
            j = i + 1
            while j < n and measure(i, j + 1) <= self.size:
                j += 1
            chunks.append((atoms[i][0], atoms[j - 1][1]))
            if j >= n:
                break
            k = j
            while k - 1 > i and measure(k - 1, j) <= self.overlap:
                k -= 1
            i = k
        return chunks

    def _fit(self, text: str, span: tuple[int, int]) -> list[tuple[int, int]]:
        """An atom over `size` cut into words, a word over `size` into pieces of characters."""
        a, b = span
        if self._cost(text, a, b) <= self.size:
            return [span]
        words = [(m.start(), m.end()) for m in _WORD.finditer(text, a, b)]
        if len(words) > 1:
            return [piece for word in words for piece in self._fit(text, word)]
        step = self.size if self.chars else max(1, self.size // 4)
        pieces = []
        position = a
        while position < b:
            stop = min(position + step, b)
            while stop - position > 1 and self._cost(text, position, stop) > self.size:
                stop = position + max(1, (stop - position) // 2)
            pieces.append((position, stop))
            position = stop
        return pieces

    def _cost(self, text: str, a: int, b: int) -> int:
        return b - a if self.chars else self.cost(text[a:b])
