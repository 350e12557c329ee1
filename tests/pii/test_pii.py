"""PII detection and redaction: recall and false positives on a labeled set, validators, placeholders.

The labeled set is `tests/fixtures/pii/labeled.jsonl` (made by `make_labeled.py` there): support
tickets and chat lines with planted PII, and hard negatives (dates, prices, order ids, versions,
Luhn-failing numbers, IBANs with wrong check digits). Run with `-s` to see the figures.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.pii.detect import (
    KINDS,
    PLACEHOLDERS,
    PiiMatch,
    _find,
    count_pii,
    find_pii,
    iban_ok,
    luhn_ok,
    redact,
    redact_records,
)
from llmops.pii.patterns import DETECTORS

LABELED = Path(__file__).resolve().parents[1] / "fixtures" / "pii" / "labeled.jsonl"
MIN_RECALL = {"email": 0.95, "phone": 0.95, "card": 0.95, "secret": 0.95, "ip": 0.95, "iban": 0.95}
# Measured on the fixture: recall 1.0 for every kind; 1 of 163 negative texts flagged (a serial
# number in a UK phone shape, kept in the set on purpose), 0.17 unlabeled spans per 100 texts.
# The thresholds leave room for a new pattern, not for a regression to go unseen.
MAX_NEGATIVE_TEXTS_FLAGGED = 0.02
MAX_FALSE_SPANS_PER_100_TEXTS = 1.0


@dataclass
class Scores:
    labeled: Counter[str] = field(default_factory=Counter)
    covered: Counter[str] = field(default_factory=Counter)  # a same-kind span covers the value
    exact: Counter[str] = field(default_factory=Counter)  # ... and is exactly the value
    false_spans: list[tuple[str, str]] = field(default_factory=list)  # overlap no labeled value
    wrong_kind: list[tuple[str, str]] = field(default_factory=list)  # overlap one of another kind
    texts: int = 0
    negatives: int = 0
    negatives_flagged: int = 0
    missed: list[tuple[str, str]] = field(default_factory=list)


def score(rows: list[dict]) -> Scores:
    scores = Scores()
    for row in rows:
        text, labels = row["text"], row["pii"]
        found = find_pii(text)
        scores.texts += 1
        if not labels:
            scores.negatives += 1
            scores.negatives_flagged += bool(found)
        spans = []  # every occurrence of a labeled value: a repeat is the same PII
        for label in labels:
            start = text.index(label["value"])
            while start != -1:
                spans.append((label["kind"], start, start + len(label["value"])))
                start = text.find(label["value"], start + 1)
        for label in labels:
            kind, start = label["kind"], text.index(label["value"])
            end = start + len(label["value"])
            scores.labeled[kind] += 1
            same = [m for m in found if m.kind == kind and m.start <= start and m.end >= end]
            scores.covered[kind] += bool(same)
            scores.exact[kind] += any(m.start == start and m.end == end for m in same)
            if not same:
                scores.missed.append((kind, text[start:end]))
        for match in found:
            overlapping = [kind for kind, start, end in spans if start < match.end and match.start < end]
            if not overlapping:
                scores.false_spans.append((match.kind, match.text))
            elif match.kind not in overlapping:
                scores.wrong_kind.append((match.kind, match.text))
    return scores


@pytest.fixture(scope="module")
def labeled_scores() -> Scores:
    rows = [json.loads(line) for line in LABELED.read_text(encoding="utf-8").splitlines() if line]
    scores = score(rows)
    print(f"\nPII on {LABELED.name}: {scores.texts} texts, {scores.negatives} hard negatives")
    for kind in KINDS:
        n = scores.labeled[kind]
        print(
            f"  {kind:7} recall {scores.covered[kind] / n:.3f} (exact span {scores.exact[kind] / n:.3f})"
            f" of {n} labeled"
        )
    print(
        f"  false spans {len(scores.false_spans)} ({100 * len(scores.false_spans) / scores.texts:.2f}"
        f" per 100 texts); wrong kind {len(scores.wrong_kind)};"
        f" negative texts flagged {scores.negatives_flagged}/{scores.negatives}"
        f" ({scores.negatives_flagged / scores.negatives:.3f})"
    )
    for kind, value in scores.missed:
        print(f"  missed {kind}: {value!r}")
    for kind, value in scores.false_spans + scores.wrong_kind:
        print(f"  false {kind}: {value!r}")
    return scores


def test_fixture_covers_every_kind_and_has_hard_negatives(labeled_scores: Scores):
    assert all(labeled_scores.labeled[kind] >= 40 for kind in KINDS), labeled_scores.labeled
    assert labeled_scores.negatives >= 100


@pytest.mark.parametrize("kind", KINDS)
def test_recall_per_kind(labeled_scores: Scores, kind: str):
    recall = labeled_scores.covered[kind] / labeled_scores.labeled[kind]
    missed = [value for k, value in labeled_scores.missed if k == kind]
    assert recall >= MIN_RECALL[kind], missed


def test_false_positives_stay_rare(labeled_scores: Scores):
    flagged = labeled_scores.negatives_flagged / labeled_scores.negatives
    per_100 = 100 * len(labeled_scores.false_spans) / labeled_scores.texts
    assert flagged < MAX_NEGATIVE_TEXTS_FLAGGED, labeled_scores.false_spans
    assert per_100 < MAX_FALSE_SPANS_PER_100_TEXTS, labeled_scores.false_spans
    assert not labeled_scores.wrong_kind


def test_fixture_is_what_the_generator_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The committed file must not drift from its script (or be edited by hand)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_labeled", LABELED.with_name("make_labeled.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    assert (tmp_path / "labeled.jsonl").read_bytes() == LABELED.read_bytes()


# -- validators -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),  # Visa test number
        ("5555555555554444", True),  # Mastercard
        ("378282246310005", True),  # Amex, 15 digits
        ("6011111111111117", True),  # Discover
        ("4222222222222", True),  # Visa, 13 digits
        ("79927398713", True),  # the textbook example
        ("4111111111111112", False),
        ("79927398710", False),
        ("1234567812345678", False),
    ],
)
def test_luhn(number: str, valid: bool):
    assert luhn_ok(number) is valid


def test_luhn_catches_every_single_digit_error():
    number = "4539578763621486"
    assert luhn_ok(number)
    for position in range(len(number)):
        for digit in "0123456789":
            if digit != number[position]:
                assert not luhn_ok(number[:position] + digit + number[position + 1 :])


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765432", True),
        ("FR1420041010050500013M02606", True),
        ("NL91ABNA0417164300", True),
        ("BE68539007547034", True),
        ("NO9386011117947", True),
        ("gb82west12345698765432", True),  # case does not matter to the checksum
        ("DE88370400440532013000", False),  # wrong check digits
        ("GB82WEST12345698765433", False),  # one digit changed
        ("DE8937040044053201300", False),  # one short for Germany
        ("XX89370400440532013000", False),  # no such country
        ("DE89 3704 0044 0532 0130 00", False),  # compact form only; the detector strips spaces
    ],
)
def test_iban_mod97(iban: str, valid: bool):
    assert iban_ok(iban) is valid


# -- detection ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (
            "write to anna.smith+billing@mail.example.co.uk today",
            "email",
            "anna.smith+billing@mail.example.co.uk",
        ),
        ("call (415) 555-0132 now", "phone", "(415) 555-0132"),
        ("call +44 (0)20 7946 0958 now", "phone", "+44 (0)20 7946 0958"),
        ("call (+44) 20 7946 0958 now", "phone", "(+44) 20 7946 0958"),
        ("call 030/12345678 now", "phone", "030/12345678"),
        ("call +4915123456789 now", "phone", "+4915123456789"),
        ("card 3782 822463 10005 ok", "card", "3782 822463 10005"),
        ("card 5555-5555-5555-4444 ok", "card", "5555-5555-5555-4444"),
        ("from 192.168.0.1:8080 ok", "ip", "192.168.0.1"),
        ("from 2001:db8::8a2e:370:7334 ok", "ip", "2001:db8::8a2e:370:7334"),
        ("from ::ffff:192.0.2.1 ok", "ip", "::ffff:192.0.2.1"),
        ("to FR14 2004 1010 0505 0001 3M02 606 ok", "iban", "FR14 2004 1010 0505 0001 3M02 606"),
        ("to BE68 5390 0754 7034 2024 ok", "iban", "BE68 5390 0754 7034"),  # a trailing group is cut
        ("key AKIAIOSFODNN7EXAMPLE ok", "secret", "AKIAIOSFODNN7EXAMPLE"),
        (
            "key AIzaSyA1234567890abcdefghijklmnopqrstuv ok",
            "secret",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        ),
        ("Authorization: Bearer abcdefghij0123456789xyz", "secret", "abcdefghij0123456789xyz"),
    ],
)
def test_finds_each_format(text: str, kind: str, value: str):
    assert [(m.kind, m.text) for m in find_pii(text)] == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "Released 2024-03-15 at 14:30:00, see v2.10.3 and 1.2.3.",
        "Total $1,299.00 for order #12345 and #A-10293, 3 items.",
        "Luhn fails: 4111 1111 1111 1112 and 4111111111111112.",
        "Bad check digits: DE88 3704 0044 0532 0130 00.",
        "The password reset link expired; token: see docs.",
        "if password == expected: pass  # password=${DB_PASSWORD}",
        "std::vector<int> v; MAC 00:1a:2b:3c:4d:5e; time 05.06.2024 10:00",
        "Out of range: 256.1.1.1 and 1.2.3.4.5",
    ],
)
def test_hard_negatives_find_nothing(text: str):
    assert find_pii(text) == []


def test_overlaps_go_to_the_more_specific_kind():
    # A card number written 3-3-4-... could also read as a phone; an email inside a
    # `password=` value is the secret.
    text = "password=anna@example.com card 4111 1111 1111 1111"
    assert [(m.kind, m.text) for m in find_pii(text)] == [
        ("secret", "anna@example.com"),
        ("card", "4111 1111 1111 1111"),
    ]
    # IBAN digits hold phone-shaped runs ("0532 0130 00"): only the IBAN is reported.
    assert [m.kind for m in find_pii("IBAN DE89 3704 0044 0532 0130 00")] == ["iban"]


def test_matches_are_sorted_non_overlapping_and_point_into_the_text():
    text = "a@b.io 10.0.0.1 +1 415 555 2671 4111111111111111 ghp_" + "x" * 36 + " DE89370400440532013000"
    found = find_pii(text)
    assert [m.kind for m in found] == ["email", "ip", "phone", "card", "secret", "iban"]
    for before, after in itertools.pairwise(found):
        assert before.end <= after.start
    assert all(text[m.start : m.end] == m.text for m in found)
    assert found[0] == PiiMatch("email", 0, 6, "a@b.io")


def test_kinds_restrict_and_unknown_kinds_fail():
    text = "a@b.io and 10.0.0.1"
    assert [m.kind for m in find_pii(text, ["ip"])] == ["ip"]
    assert find_pii(text, []) == []
    with pytest.raises(ValueError, match="unknown PII kind"):
        find_pii(text, ["emails"])


# -- redaction ------------------------------------------------------------------------------------
def test_placeholders_and_counts():
    text = (
        "Mail anna@example.com, call +1 415 555 2671, card 4111-1111-1111-1111, host 10.0.0.1, "
        "IBAN GB82 WEST 1234 5698 7654 32, key sk_live_4eC39HqLyjWDarjtT1zdp7dc, again bob@example.org"
    )
    out, counts = redact(text)
    assert out == (
        "Mail [EMAIL], call [PHONE], card [CARD], host [IP], IBAN [IBAN], key [SECRET], again [EMAIL]"
    )
    assert counts == Counter(email=2, phone=1, card=1, ip=1, iban=1, secret=1)
    assert count_pii(text) == counts
    assert set(PLACEHOLDERS.values()) == {
        "[EMAIL]",
        "[PHONE]",
        "[CARD]",
        "[IP]",
        "[IBAN]",
        "[SECRET]",
        "[SSN]",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2", "password=[SECRET]"),
        ("DB_PASSWORD=Tr0ub4dor&3 next", "DB_PASSWORD=[SECRET] next"),
        ("api_key: abc123XYZ789", "api_key: [SECRET]"),
        ('{"password": "letmein"}', '{"password": "[SECRET]"}'),
        ("secret='s3cr3t!' and token=abcd", "secret='[SECRET]' and token=[SECRET]"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [SECRET]",
        ),
        ("Password: please reset it", "Password: please reset it"),  # prose, not a value
    ],
)
def test_assignments_keep_the_key_and_lose_the_value(text: str, expected: str):
    assert redact(text)[0] == expected


def test_pem_block_is_redacted_whole():
    text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAKCAQE=\n-----END RSA PRIVATE KEY-----\nbye"
    assert redact(text)[0] == "key:\n[SECRET]\nbye"


def test_redact_is_idempotent_on_the_labeled_set():
    for line in LABELED.read_text(encoding="utf-8").splitlines():
        once, _ = redact(json.loads(line)["text"])
        assert redact(once) == (once, Counter())


def test_a_value_found_once_is_redacted_wherever_it_recurs():
    text = "password=Tr0ub4dor&3 and later I typed Tr0ub4dor&3 again; token=letmein, letmein works"
    assert redact(text)[0] == (
        "password=[SECRET] and later I typed [SECRET] again; token=[SECRET], letmein works"
    )
    # A phone right after another number is not matched there, but it was matched elsewhere.
    assert redact("Tickets 12 020 7946 0958, call 020 7946 0958")[0] == "Tickets 12 [PHONE], call [PHONE]"


def test_redact_leaves_clean_text_alone():
    text = "Nothing to see: version 2.10.3, 2024-03-15."
    assert redact(text) == (text, Counter())


# -- records --------------------------------------------------------------------------------------
@dataclass
class Count:
    changed: int = 0
    found: Counter[str] = field(default_factory=Counter)


def test_redact_records_counts_changed_records_and_kinds():
    rows = [
        {"text": "mail a@b.io or c@d.io", "title": "call +1 415 555 2671", "_source": "x@y.io", "n": 5},
        {"text": "nothing here", "title": "fine"},
        {"text": "card 4111111111111111", "title": "ok"},
    ]
    count = Count()
    out = list(redact_records(iter(rows), [], KINDS, count))
    assert out == [
        {"text": "mail [EMAIL] or [EMAIL]", "title": "call [PHONE]", "_source": "x@y.io", "n": 5},
        {"text": "nothing here", "title": "fine"},
        {"text": "card [CARD]", "title": "ok"},
    ]
    assert count.changed == 2
    assert count.found == Counter(email=2, phone=1, card=1)
    assert rows[0]["text"] == "mail a@b.io or c@d.io"  # inputs are not mutated


def test_redact_records_named_columns_kinds_and_chat_turns():
    rows = [
        {
            "text": "a@b.io 10.0.0.1",
            "other": "c@d.io",
            "messages": [{"role": "user", "content": "I am at 10.0.0.2, mail a@b.io"}],
        }
    ]
    count = Count()
    (out,) = redact_records(rows, ["text", "messages", "missing"], ["ip"], count)
    assert out["text"] == "a@b.io [IP]"
    assert out["other"] == "c@d.io"
    assert out["messages"] == [{"role": "user", "content": "I am at [IP], mail a@b.io"}]
    assert count.changed == 1
    assert count.found == Counter(ip=2)


def test_redact_records_is_lazy():
    def rows():
        yield {"text": "a@b.io"}
        raise AssertionError("read past the first record")

    count = Count()
    assert next(redact_records(rows(), [], KINDS, count)) == {"text": "[EMAIL]"}


# -- properties -----------------------------------------------------------------------------------
SAMPLES = [
    "anna.smith+x@mail.example.co.uk",
    "+44 20 7946 0958",
    "(415) 555-0132",
    "030 12345678",
    "4111 1111 1111 1111",
    "378282246310005",
    "192.168.0.1",
    "2001:db8::1",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "AKIAIOSFODNN7EXAMPLE",
    "password=hunter2",
    "api_key: abc123XYZ789",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
    "2024-03-15",
    "v2.10.3",
    "$1,299.00",
    "#12345",
    "[EMAIL]",
    "[SECRET]",
    "my password is Summer123!",
    "wachtwoord is Zomer2024!",
    "208-837-7835x3374",
    "服务器192.106.41.223无法访问",
    "卡号4111111111111111",
    "bob (at) example (dot) com",
    "jane＠example.com",
    "13508063608",
    "order 7 4111 1111 1111 1111",
    "SSN 536-90-4399",
]
# Pieces end at a word boundary: glued together ("2001:db8::1" + "2001:db8::1") a value can
# reappear inside a longer string that is no PII at all, and no detector can promise otherwise.
SEPARATORS = [" ", "\n", ", ", ". ", ": ", " = ", "; ", "\t"]
pieces = st.one_of(st.sampled_from(SAMPLES), st.text(max_size=12))
texts = st.lists(pieces, max_size=8).flatmap(
    lambda parts: st.lists(st.sampled_from(SEPARATORS), min_size=len(parts), max_size=len(parts)).map(
        lambda seps: "".join(part + sep for part, sep in zip(parts, seps, strict=True))
    )
)


@given(texts)
def test_redact_never_raises_and_removes_every_match(text: str):
    out, counts = redact(text)
    for match in find_pii(text):
        assert match.text not in out
    assert sum(counts.values()) >= len(find_pii(text))
    assert redact(out) == (out, Counter())


def _unfiltered(detectors):
    return tuple(detector._replace(needs=lambda text: True) for detector in detectors)


@given(texts)
def test_prefilters_never_hide_a_match(text: str):
    """Each detector's cheap `needs` test only skips texts its pattern cannot match."""
    assert _find(text, DETECTORS) == _find(text, _unfiltered(DETECTORS))


def test_prefilters_never_hide_a_match_on_the_labeled_set():
    unfiltered = _unfiltered(DETECTORS)
    for line in LABELED.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        assert _find(text, DETECTORS) == _find(text, unfiltered)


@given(st.text())
def test_redact_handles_any_text(text: str):
    out, counts = redact(text)
    assert isinstance(out, str)
    assert (out == text) == (not counts)
