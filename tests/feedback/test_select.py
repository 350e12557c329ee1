"""The export's selection rules, one at a time, on rows shaped like the store's join."""

from __future__ import annotations

from llmops.feedback.select import select

NAMES = ("text",)


def _row(
    rid: str,
    fid: int,
    *,
    at: float = 0.0,
    text: str = "Where is my parcel?",
    response: str = "It ships today.",
    **feedback,
) -> dict:
    return {
        "response_id": rid,
        "requested_at": float(rid[-1]),
        "request_text": text,
        "response_text": response,
        "feedback_id": fid,
        "created_at": at or float(fid),
        "rating": feedback.get("rating"),
        "thumbs": feedback.get("thumbs"),
        "correction": feedback.get("correction"),
    }


def _select(rows, min_rating=4):
    return select(rows, min_rating=min_rating, variables_of=lambda _t: None, variable_names=NAMES)


def test_correction_wins_over_a_bad_rating_and_the_newest_correction_counts() -> None:
    rows = [
        _row("r1", 1, rating=1),
        _row("r1", 2, correction="It ships on Monday."),
        _row("r1", 3, correction="It ships on Tuesday."),
    ]
    (example,) = _select(rows).examples
    assert example.kind == "correction" and example.answer == "It ships on Tuesday."
    assert example.variables == {"text": "Where is my parcel?"}


def test_liked_answers_kept_disliked_left_out() -> None:
    rows = [
        _row("r1", 1, text="q one", rating=5),
        _row("r2", 2, text="q two", thumbs=1),
        _row("r3", 3, text="q three", rating=5),
        _row("r3", 4, text="q three", thumbs=-1),  # one dissent is enough to leave it out
        _row("r4", 5, text="q four", rating=3),  # below min_rating
        _row("r5", 6, text="q five", rating=4, thumbs=1),
        _row("r6", 7, text="q six"),  # a comment only
    ]
    out = _select(rows)
    assert [(e.response_id, e.kind) for e in out.examples] == [
        ("r1", "rating"),
        ("r2", "thumbs-up"),
        ("r5", "rating"),
    ]
    assert out.counts["negative"] == 2 and out.counts["no-signal"] == 1
    assert out.counts["selected"] == 3 and out.counts["selected_rating"] == 2
    assert [e.response_id for e in _select(rows, min_rating=3).examples] == ["r1", "r2", "r4", "r5"]


def test_duplicates_keep_the_correction_then_the_newest() -> None:
    rows = [
        _row("r1", 1, text="Where is my  parcel?", rating=5),
        _row("r2", 2, text="where is my parcel?", correction="Tracked in your account."),
        _row("r3", 3, text="WHERE IS MY PARCEL?", rating=5),
        _row("r4", 4, text="Refund?", thumbs=1, response="old"),
        _row("r5", 5, text="Refund?", thumbs=1, response="new"),
    ]
    out = _select(rows)
    assert [(e.response_id, e.answer) for e in out.examples] == [
        ("r2", "Tracked in your account."),
        ("r5", "new"),
    ]
    assert out.counts["duplicate"] == 3


def test_empty_texts_and_pii_are_handled() -> None:
    rows = [
        _row("r1", 1, text="", rating=5),
        _row("r2", 2, text="Mail me at jane.doe@example.com", response="Sure, call 555-123-4567.", rating=5),
    ]
    out = _select(rows)
    assert out.counts["empty"] == 1
    assert out.counts["redacted"] == 2
    (example,) = out.examples
    assert "jane.doe" not in example.variables["text"] and "[EMAIL]" in example.variables["text"]
    assert "[PHONE]" in example.answer


def test_order_is_by_request_time_whatever_the_row_order() -> None:
    rows = [_row("r2", 1, text="b", rating=5), _row("r1", 2, text="a", rating=5)]
    assert [e.response_id for e in _select(rows).examples] == ["r1", "r2"]
    assert [e.response_id for e in _select(rows[::-1]).examples] == ["r1", "r2"]
