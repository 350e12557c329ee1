"""Where a value starts and ends in text of any script, shared by the `llmops.pii` detectors.

A "word" is a letter or digit of a script that separates words with spaces: Chinese, Japanese and
Korean text glues a value straight to the words around it (`服务器192.106.41.223无法访问`,
`010-1234-5678로`), so a CJK character is a boundary there, not part of the value.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

# A word character that is not Han, kana, hangul or a full-width form: in lookarounds instead of
# `\w`, so values glued to CJK text are found. One character wide, so it fits in a lookbehind.
CJK = (
    "\u1100-\u11ff\u3000-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
)
W = rf"(?:(?![{CJK}])\w)"
CJK_CHAR = re.compile(rf"[{CJK}]")


def glued(char: str) -> bool:
    """Whether `char` next to a value makes it part of a longer word (CJK characters do not)."""
    return char.isalnum() and not CJK_CHAR.match(char)


def context(match: re.Match[str]) -> str:
    """The 32 characters before a match, where the words that say what it is stand."""
    return match.string[max(0, match.start() - 32) : match.start()]
