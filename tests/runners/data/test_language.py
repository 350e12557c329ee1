"""Language filter: the offline fastText model, codes, confidence, counts and reasons."""

from __future__ import annotations

import math
import re
import socket
from collections import Counter

import pytest

from llmops.compiler.kinds.dataset import LanguageFilter
from llmops.errors import StageFailed
from llmops.runners.data import language
from llmops.runners.data.clean import StepCount
from llmops.runners.data.language import LANGUAGES, check_languages, detect, language_filter

SAMPLES = {
    "en": "Hello, I ordered a winter jacket last week and it has still not arrived. Where is my parcel?",
    "fr": "Bonjour, j'ai commandé une veste la semaine dernière et elle n'est toujours pas arrivée.",
    "de": "Hallo, ich habe letzte Woche eine Jacke bestellt und sie ist immer noch nicht angekommen.",
    "ja": "こんにちは。先週ジャケットを注文しましたが、まだ届いていません。荷物はどこですか？",
}


def dropped(count: StepCount) -> list[tuple[dict, str]]:
    """(record, reason) of what the step dropped, from the stage's own counter."""
    return [(sample["record"], sample["reason"]) for sample in count.samples]


def step(languages: list[str], **kw) -> LanguageFilter:
    return LanguageFilter(step="language-filter", languages=languages, **kw)


def rows() -> list[dict]:
    return [{"text": text, "want": code, "_source": 0} for code, text in SAMPLES.items()]


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_detects_the_samples_with_confidence(code):
    found, confidence = detect(SAMPLES[code])
    assert found == code
    assert confidence > 0.9


def test_keeps_the_wanted_languages_and_counts_every_record():
    tally = StepCount(1, "language-filter")
    kept = list(language_filter(rows(), "text", step(["en", "fr"]), tally))
    assert [r["want"] for r in kept] == ["en", "fr"]
    assert tally.found == Counter({"en": 1, "fr": 1, "de": 1, "ja": 1})
    reasons = [reason for _, reason in dropped(tally)]
    assert [r["want"] for r, _ in dropped(tally)] == ["de", "ja"]
    assert reasons[0].startswith("language de (0.") or reasons[0] == "language de (1.00)"
    assert reasons[1].startswith("language ja (")


def test_min_confidence():
    text = "Refund please"  # English, but short: the model is less sure
    found, confidence = detect(text)
    assert found == "en" and 0.3 < confidence < 0.95
    records = [{"text": text}]
    assert (
        list(
            language_filter(
                records, "text", step(["en"], min_confidence=0.2), StepCount(1, "language-filter")
            )
        )
        == records
    )
    tally = StepCount(1, "language-filter")
    assert list(language_filter(records, "text", step(["en"], min_confidence=0.99), tally)) == []
    assert dropped(tally)[0][1] == f"language en ({math.floor(confidence * 100) / 100:.2f})"
    assert tally.found == Counter({"en": 1})


def test_text_without_letters_is_undetermined():
    tally = StepCount(1, "language-filter")
    records = [{"text": "12345 !!!"}, {"text": ""}, {"text": None}]
    assert list(language_filter(records, "text", step(["en"], min_confidence=0), tally)) == []
    assert tally.found == Counter({"und": 3})
    assert {reason for _, reason in dropped(tally)} == {"language und (0.00)"}


def test_codes_are_case_insensitive():
    kept = list(language_filter(rows(), "text", step([" EN", "Ja"]), StepCount(1, "language-filter")))
    assert [r["want"] for r in kept] == ["en", "ja"]


@pytest.mark.parametrize(
    ("code", "hint"),
    [("xx", ""), ("eng", ""), ("english", ""), ("en-US", "did you mean 'en'")],
)
def test_unknown_code_fails_before_any_row_is_read(code, hint):
    def never():
        raise AssertionError("read too early")
        yield {}

    where = "cleaning step 2 (language-filter)"
    with pytest.raises(StageFailed, match=f"{re.escape(where)}: unknown language code '{code}'") as err:
        language_filter(never(), "text", step(["en", code]), StepCount(1, "language-filter"), where=where)
    assert hint in str(err.value)
    assert "en, fr" in str(err.value)


def test_check_languages():
    assert check_languages(["EN", "fr", "zh"]) == {"en", "fr", "zh"}
    assert {"en", "fr", "de", "ja", "zh", "ceb"} <= LANGUAGES


def test_the_code_list_is_the_models():
    detector = language._load()
    labels = {found["lang"] for found in detector.detect("x", model="lite", k=-1, threshold=-1.0)}
    assert labels == LANGUAGES


def test_missing_column():
    with pytest.raises(StageFailed, match=r"language-filter: a record from source 1 has no column 'body'"):
        list(
            language_filter(
                [{"text": "x", "_source": 1}], "body", step(["en"]), StepCount(1, "language-filter")
            )
        )


def test_odd_text_does_not_break_the_model():
    assert detect("line one\nline two\r\n and three, all in English for sure")[0] == "en"
    assert detect("broken \ud800 surrogate in an English sentence")[0] == "en"
    assert detect("Bonjour " * 2000)[0] == "fr"  # long: only the start is read


def test_works_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the language filter tried to reach the network")

    monkeypatch.setattr(language, "_detector", None)  # load the model again, offline
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert detect(SAMPLES["fr"])[0] == "fr"
