"""Bounded parsing of source content: no line, document, nesting or number big enough to crash.

A source file is input anyone can commit. Read naively, one line of 200,000 nested arrays makes
`json.loads` raise RecursionError, a 5,000-digit integer a ValueError, and a 1.5 MB gzip that
expands to one 1.5 GB line a MemoryError after seconds. Each of those becomes a `DataError`
naming the file and line, exit 2, raised while reading: the data stage writes nothing until
everything has been read, so nothing is left half-written.

The bounds are documented constants, far above what a text data set needs:
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

from llmops.errors import StageFailed

MAX_LINE_CHARS = 16_000_000  # one JSONL, CSV or text line, after decompression
MAX_DOCUMENT_CHARS = 256_000_000  # one whole JSON document (a `.json` source), after decompression
MAX_DEPTH = 64  # nesting of JSON arrays and objects in one record
MAX_INT_DIGITS = 100  # digits of one JSON integer

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]|(?<![\w.+-])-?\d+')


class DataError(StageFailed):
    """A source whose content cannot be read safely: bad input, so exit 2, not a failed stage."""

    exit_code = 2


class _TooBig(ValueError):
    pass


def lines(handle: IO[str], display: str) -> Iterator[str]:
    """The lines of a text handle, each read with a cap so one huge line never sits in memory."""
    number = 0
    while True:
        line = handle.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise DataError(
                f"{display} line {number}: longer than {MAX_LINE_CHARS:,} characters "
                "(MAX_LINE_CHARS); is the file (or what it decompresses to) really line-based text?"
            )
        yield line


def read_document(handle: IO[str], display: str) -> str:
    """A whole JSON document, refused past MAX_DOCUMENT_CHARS instead of filling memory."""
    text = handle.read(MAX_DOCUMENT_CHARS + 1)
    if len(text) > MAX_DOCUMENT_CHARS:
        raise DataError(
            f"{display}: a JSON document longer than {MAX_DOCUMENT_CHARS:,} characters "
            "(MAX_DOCUMENT_CHARS); write large sources as JSONL, one record per line"
        )
    return text


def loads(text: str, where: str, *, line_of: bool = False) -> Any:
    """`json.loads` with nesting and integer size bounded; `where` names the file (and line).

    With `line_of`, `text` is a whole document and the error names the line where it went wrong.
    """
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, _TooBig, ValueError) as exc:
        raise DataError(f"{_at(where, text, line_of)}: {_problem(exc)}") from None
    # the walk only where the brackets in the text (a C-speed count) could nest that deep
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(value):
        raise DataError(
            f"{_at(where, text, line_of)}: JSON nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)"
        )
    return value


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _TooBig(f"an integer of {len(digits.lstrip('-')):,} digits")
    return int(digits)


_DECODER = json.JSONDecoder(parse_int=_int)  # made once: json.loads with a hook makes one per call


def _problem(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return f"JSON nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)"
    if isinstance(exc, _TooBig):
        return f"{exc}, more than {MAX_INT_DIGITS} (MAX_INT_DIGITS); write it as a string"
    return f"not readable JSON ({' '.join(str(exc).split())[:200]})"


def _too_deep(value: Any) -> bool:
    """Whether a parsed value nests deeper than MAX_DEPTH; iterative, so it cannot recurse."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _at(where: str, text: str, line_of: bool) -> str:
    """`where`, with the line of the first place past a bound when `text` is a whole document."""
    if not line_of:
        return where
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
        elif token[0] != '"' and len(token.lstrip("-")) <= MAX_INT_DIGITS:
            continue
        if depth > MAX_DEPTH or (token[0] not in '"[]{}' and len(token.lstrip("-")) > MAX_INT_DIGITS):
            return f"{where} line {text.count(chr(10), 0, match.start()) + 1}"
    return where
