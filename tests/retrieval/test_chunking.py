"""Chunking: sizes bounded, overlap carried, headings followed, ids and hashes deterministic."""

from __future__ import annotations

import hashlib
import itertools
import random
from types import SimpleNamespace

import pytest

from llmops.errors import UsageError
from llmops.retrieval.chunking import chunk_documents, split_sentences
from llmops.retrieval.documents import Document, Section, load_documents


def chunking(strategy="heading", size=256, overlap=32, unit="tokens"):
    return SimpleNamespace(strategy=strategy, size=size, overlap=overlap, unit=unit)


def words(text: str) -> int:
    """A stand-in token counter: one token per whitespace word."""
    return len(text.split())


def doc(text: str, sections=(), doc_id="d", **kw) -> Document:
    return Document(
        doc_id,
        kw.get("source", "kb/d.md"),
        kw.get("title", "T"),
        text,
        kw.get("metadata", {"k": 1}),
        "markdown",
        tuple(sections),
    )


MARKDOWN = """# Returns

Items can be returned within 30 days. Refunds are paid to the card. Gift cards are not refunded.

## Damaged

A damaged parcel is replaced. Send a photo of the box.

# Empty

# Shipping

Standard shipping takes five days. Express takes one day!
"""


def load_md(tmp_path, text=MARKDOWN):
    (tmp_path / "kb").mkdir(exist_ok=True)
    (tmp_path / "kb/a.md").write_text(text)
    return load_documents(
        [SimpleNamespace(path="kb/a.md", dataset=None, format="auto", fields={}, metadata={"p": "shop"})],
        tmp_path,
        {},
    )


def test_heading_strategy_never_crosses_a_heading_and_skips_heading_only_sections(tmp_path):
    docs = load_md(tmp_path)
    chunks = chunk_documents(docs, chunking(size=12, overlap=4), words)
    assert [c.heading for c in chunks] == [
        "Returns",
        "Returns",
        "Returns > Damaged",
        "Returns > Damaged",
        "Shipping",
    ]
    assert [c.id for c in chunks] == [f"kb/a.md#{n}" for n in range(5)]
    for c in chunks:
        assert c.tokens == words(c.text) <= 12
        assert c.text == c.text.strip()
        assert c.sha256 == hashlib.sha256(c.text.encode()).hexdigest()
        assert (c.doc_id, c.source, c.title, c.metadata) == (
            "kb/a.md",
            "kb/a.md",
            "Returns",
            {"source": "kb/a.md", "p": "shop"},
        )
    assert chunks[0].text == "# Returns\n\nItems can be returned within 30 days."
    assert chunks[3].text == "Send a photo of the box."  # no sentence of 4 words or fewer to carry over
    assert "Empty" not in " ".join(c.text for c in chunks)


def test_overlap_carries_whole_sentences(tmp_path):
    text = " ".join(f"Sentence number {n} is here." for n in range(10))  # 5 words each
    chunks = chunk_documents([doc(text)], chunking(strategy="sentence", size=15, overlap=5), words)
    assert all(c.tokens <= 15 for c in chunks)
    for a, b in itertools.pairwise(chunks):
        last = split_sentences(a.text)[-1]
        assert b.text.startswith(a.text[last[0] : last[1]])
    assert chunks[-1].text.endswith("Sentence number 9 is here.")


def test_no_overlap_partitions_the_text(tmp_path):
    text = " ".join(f"Sentence number {n} is here." for n in range(10))
    chunks = chunk_documents([doc(text)], chunking(strategy="sentence", size=15, overlap=0), words)
    assert " ".join(c.text for c in chunks) == text


def test_chars_unit_bounds_the_text_length():
    rng = random.Random(0)
    vocab = ["parcel", "refund", "a", "password", "reset", "internationalization", "x"]
    text = "\n\n".join(
        " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 40))) + rng.choice([".", "!", "?", ""])
        for _ in range(30)
    )
    for strategy in ("heading", "sentence", "fixed"):
        chunks = chunk_documents(
            [doc(text)], chunking(strategy=strategy, size=60, overlap=15, unit="chars"), None
        )
        assert all(0 < len(c.text) <= 60 for c in chunks)
        covered = set()
        for c in chunks:
            covered.update(c.text.split())
        assert covered == set(text.split())  # nothing is lost
        assert all(c.tokens == len(c.text.split()) for c in chunks)  # no counter: a word count


def test_a_long_sentence_is_cut_at_words_and_a_long_word_at_characters():
    text = "one two three four five six seven eight nine ten. " + "y" * 25
    chunks = chunk_documents(
        [doc(text)], chunking(strategy="sentence", size=10, overlap=0, unit="chars"), None
    )
    assert all(len(c.text) <= 10 for c in chunks)
    assert [c.text for c in chunks][-3:] == ["y" * 10, "y" * 10, "y" * 5]
    tokens = chunk_documents([doc(text)], chunking(strategy="sentence", size=4, overlap=1), words)
    assert all(c.tokens <= 4 for c in tokens)


def test_sentence_and_fixed_take_the_heading_the_chunk_starts_in():
    text = "# A\n\nAlpha one. Alpha two.\n\n# B\n\nBeta one. Beta two."
    sections = [Section("A", 0, 25), Section("B", 25, len(text))]
    chunks = chunk_documents([doc(text, sections)], chunking(strategy="sentence", size=4, overlap=0), words)
    assert [(c.heading, c.text) for c in chunks] == [
        ("A", "# A\n\nAlpha one."),
        ("A", "Alpha two.\n\n# B"),
        ("B", "Beta one. Beta two."),
    ]
    fixed = chunk_documents([doc(text, sections)], chunking(strategy="fixed", size=3, overlap=1), words)
    assert [c.text for c in fixed][:2] == ["# A\n\nAlpha", "Alpha one. Alpha"]
    assert all(c.tokens <= 3 for c in fixed)


def test_sentence_splitter_blocks_and_punctuation():
    text = 'He said "stop." Then left! Why? Because.\n- item one\n- item two\n\nNew paragraph'
    assert [text[a:b] for a, b in split_sentences(text)] == [
        'He said "stop."',
        "Then left!",
        "Why?",
        "Because.",
        "- item one",
        "- item two",
        "New paragraph",
    ]


def test_documents_without_sections_or_text():
    chunks = chunk_documents([doc("Plain text only."), doc("   ", doc_id="empty")], chunking(), words)
    assert [(c.id, c.heading, c.text) for c in chunks] == [("d#0", "", "Plain text only.")]
    assert set(chunks[0].as_dict()) == {
        "id",
        "doc_id",
        "source",
        "title",
        "heading",
        "text",
        "metadata",
        "sha256",
        "tokens",
    }


def test_same_input_same_chunks(tmp_path):
    docs = load_md(tmp_path)
    first = chunk_documents(docs, chunking(size=10, overlap=3), words)
    assert first == chunk_documents(docs, chunking(size=10, overlap=3), words)


def test_bad_settings_are_usage_errors():
    with pytest.raises(UsageError, match="no token counter"):
        chunk_documents([doc("x")], chunking(unit="tokens"), None)
    with pytest.raises(UsageError, match="overlap < size"):
        chunk_documents([doc("x")], chunking(size=10, overlap=10), words)
    with pytest.raises(UsageError, match="strategy"):
        chunk_documents([doc("x")], chunking(strategy="semantic"), words)
