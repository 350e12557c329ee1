"""Preference pairs and good/bad labels from feedback rows (pure rules, rows shaped like the store's join)."""

from __future__ import annotations

import pytest

from llmops.errors import UsageError
from llmops.feedback.preferences import MAX_TEXT_CHARS, preferences


def _row(
    rid: str, fid: int, *, text: str = "Where is my parcel?", response: str = "It ships today.", **fb
) -> dict:
    return {
        "response_id": rid,
        "requested_at": float(rid[-1]),
        "request_text": text,
        "response_text": response,
        "feedback_id": fid,
        "created_at": float(fid),
        "rating": fb.get("rating"),
        "thumbs": fb.get("thumbs"),
        "correction": fb.get("correction"),
    }


def _prefs(rows, names=("text",)):
    return preferences(rows, min_rating=4, variables_of=lambda _t: None, variable_names=names)


def test_correction_pair_and_labels() -> None:
    out = _prefs([_row("r1", 1, rating=2), _row("r1", 2, correction="It ships on Monday.")])
    assert out.pairs == [
        {
            "text": "Where is my parcel?",
            "chosen": "It ships on Monday.",
            "rejected": "It ships today.",
            "pair_source": "correction",
            "response_ids": ["r1"],
            "feedback_ids": ["2"],
        }
    ]
    assert [(u["completion"], u["label"], u["feedback_id"]) for u in out.unpaired] == [
        ("It ships today.", False, "2"),
        ("It ships on Monday.", True, "2"),
    ]


def test_rated_answers_to_the_same_question_pair_up_higher_chosen() -> None:
    rows = [
        _row("r1", 1, response="Ask the courier.", rating=2),
        _row("r2", 2, text="where is  my PARCEL?", response="Track it in your account.", thumbs=1),
        _row("r3", 3, response="It ships today.", rating=3),
        _row("r4", 4, text="Other question?", response="Something.", rating=5),
    ]
    out = _prefs(rows)
    assert [(p["chosen"], p["rejected"], p["response_ids"]) for p in out.pairs] == [
        ("Track it in your account.", "Ask the courier.", ["r2", "r1"]),
        ("It ships today.", "Ask the courier.", ["r3", "r1"]),
        ("Track it in your account.", "It ships today.", ["r2", "r3"]),
    ]
    assert {p["pair_source"] for p in out.pairs} == {"rated"}
    # rating 3 is neither good (>= 4) nor bad (<= 2): no label
    assert [(u["completion"], u["label"]) for u in out.unpaired] == [
        ("Ask the courier.", False),
        ("Track it in your account.", True),
        ("Something.", True),
    ]


def test_same_answer_ties_conflicts_and_budgets_are_left_out() -> None:
    rows = [
        _row("r1", 1, rating=5),
        _row("r2", 2, rating=1),  # same text as r1: no pair, and a label both ways -> dropped
        _row("r3", 3, response="Other.", rating=5),  # same score as r1: no pair
        _row("r4", 4, response="Mixed.", rating=5),
        _row("r4", 5, response="Mixed.", thumbs=-1),  # liked and disliked: no label
        _row("r5", 6, response="x" * (MAX_TEXT_CHARS + 1), rating=1),
    ]
    out = _prefs(rows)
    # r1 > r4 ("Mixed." scores 3) but r4 > r2 with r1's text: a contradiction, both dropped
    assert [(p["chosen"], p["rejected"]) for p in out.pairs] == [
        ("Other.", "It ships today."),
        ("Other.", "Mixed."),
    ]
    assert [(u["completion"], u["label"]) for u in out.unpaired] == [("Other.", True)]
    assert out.counts["conflicting"] == 4 and out.counts["conflicting_labels"] == 1
    assert out.counts["too_long"] == 1


def test_pii_is_redacted_and_variables_must_not_clash() -> None:
    out = _prefs([_row("r1", 1, correction="Mail bob@example.com")])
    assert out.pairs[0]["chosen"] == "Mail [EMAIL]"
    with pytest.raises(UsageError, match="chosen"):
        _prefs([], names=("chosen",))
