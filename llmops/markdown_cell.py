"""Text made safe for one cell of a Markdown table, for every report a stage writes.

Reports quote what users and their data control (records, chunk text, file names); a cell must
not be able to break the table, inject markup or links, or reorder what a reader sees.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

CELL_CHARS = 80

_ESCAPED = set("\\`*_[]|~")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def cell(value: Any, limit: int = CELL_CHARS) -> str:
    """Clipped, one line, markup escaped.

    Clipping comes first so an escape is never cut in half. Newlines show as ↵, control characters
    as their visible pictures (␀, ␛), and bidi overrides, which could reorder what a reader sees,
    and unpaired surrogates, which cannot even be written as UTF-8, as �. None is empty; values
    that are not strings show as JSON.
    """
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = text.replace("\r\n", "\n")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    out = []
    for ch in text:
        if ch in "\n\r":
            out.append("↵")
        elif ch == "\t":
            out.append(" ")
        elif ch in _ESCAPED:
            out.append("\\" + ch)
        elif ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch < " ":
            out.append(chr(0x2400 + ord(ch)))
        elif ch == "\x7f":
            out.append("␡")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)
