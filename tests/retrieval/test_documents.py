"""Document loading: each format's text, title, headings and metadata; order, ids and bounds."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from llmops.errors import StageFailed
from llmops.paths import PathOutsideProject
from llmops.retrieval import documents as documents_module
from llmops.retrieval.documents import load_documents


def src(**fields):
    """A DocumentSource as the spec model has it (attributes; unset ones None)."""
    base = dict(
        path=None,
        dataset=None,
        format="auto",
        fields={},
        metadata={},
        split="train",
        text_column=None,
        id_column=None,
    )
    return SimpleNamespace(**(base | fields))


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


MARKDOWN = """---
title: Returns policy
product: shop
tags: [a, b]
---
Intro line before any heading.

# Returns

Items can be returned within 30 days.

```
# a comment in code, not a heading
```

## Damaged items

A damaged parcel is replaced for free.

# Refunds ##

Refunds take five days.
"""


def test_markdown_front_matter_title_metadata_and_heading_paths(tmp_path):
    write(tmp_path, "kb/returns.md", MARKDOWN)
    [doc] = load_documents([src(path="kb/returns.md", metadata={"team": "cs"})], tmp_path, {})
    assert (doc.id, doc.source, doc.title, doc.format) == (
        "kb/returns.md",
        "kb/returns.md",
        "Returns policy",
        "markdown",
    )
    assert doc.metadata == {
        "source": "kb/returns.md",
        "product": "shop",
        "team": "cs",
    }  # lists are not metadata
    assert not doc.text.startswith("---")
    headings = [s.heading for s in doc.sections]
    assert headings == ["", "Returns", "Returns > Damaged items", "Refunds"]
    damaged = doc.sections[2]
    assert doc.text[damaged.start : damaged.end].startswith("## Damaged items")
    assert "A damaged parcel" in doc.text[damaged.start : damaged.end]
    assert all(a.end == b.start for a, b in itertools.pairwise(doc.sections))


def test_markdown_title_falls_back_to_first_h1_then_file_name(tmp_path):
    write(tmp_path, "kb/a.md", "Text first.\n\n# Shipping\n\nWe ship.\n")
    write(tmp_path, "kb/b.md", "## Only a second level\n\nText.\n")
    docs = load_documents([src(path="kb")], tmp_path, {})
    assert [d.title for d in docs] == ["Shipping", "b"]


def test_html_drops_script_style_nav_and_keeps_headings(tmp_path):
    html = """<html><head><meta charset="iso-8859-1"><title>Help centre</title>
    <style>p {color: red}</style></head>
    <body><nav>Home | Shop</nav><h1>Shipping</h1><p>We ship <b>fast</b> to   France.</p>
    <script>alert("x")</script><h2>Express</h2><ul><li>Next day</li><li>Tracking code</li></ul>
    <!-- a comment --><footer>Contact</footer><p>Café €5</p></body></html>"""
    write(tmp_path, "site/ship.html", html)
    [doc] = load_documents([src(path="site/*.html")], tmp_path, {})
    assert doc.title == "Help centre" and doc.format == "html"
    assert "alert" not in doc.text and "color" not in doc.text and "Home" not in doc.text
    assert "We ship fast to France." in doc.text
    assert [s.heading for s in doc.sections] == ["Shipping", "Shipping > Express"]
    express = doc.sections[1]
    assert doc.text[express.start : express.end].split("\n\n") == [
        "Express",
        "Next day",
        "Tracking code",
        "Contact",
        "Café €5",  # read as UTF-8 whatever the meta tag says
    ]


def test_text_file_and_folder_order_skip_hidden_and_unsupported(tmp_path):
    write(tmp_path, "kb/b.txt", "  Bravo text.  \n")
    write(tmp_path, "kb/sub/a.md", "Alpha.")
    write(tmp_path, "kb/.hidden.md", "Hidden.")
    write(tmp_path, "kb/image.png", b"\x89PNG")
    docs = load_documents([src(path="kb")], tmp_path, {})
    assert [d.id for d in docs] == ["kb/b.txt", "kb/sub/a.md"]
    assert docs[0].text == "Bravo text." and docs[0].title == "b"


def test_glob_is_sorted_and_recursive(tmp_path):
    for name in ("z.md", "a.md", "deep/m.md"):
        write(tmp_path, f"kb/{name}", f"Text of {name}.")
    docs = load_documents([src(path="kb/**/*.md")], tmp_path, {})
    assert [d.id for d in docs] == ["kb/a.md", "kb/deep/m.md", "kb/z.md"]


def test_jsonl_fields_ids_titles_and_metadata(tmp_path):
    rows = [
        {"key": "faq-1", "body": {"en": "Reset your password."}, "name": "Password", "topic": "account"},
        {"body": {"en": "Cards are charged on shipping."}, "topic": "billing", "nested": {"x": 1}},
    ]
    write(tmp_path, "faq.jsonl", "".join(json.dumps(r) + "\n" for r in rows) + "\n")
    fields = {"text": "body.en", "id": "key", "title": "name"}
    docs = load_documents([src(path="faq.jsonl", fields=fields, metadata={"product": "shop"})], tmp_path, {})
    assert [d.id for d in docs] == ["faq-1", "faq.jsonl:2"]
    assert docs[0].title == "Password" and docs[0].text == "Reset your password."
    assert docs[0].metadata == {"source": "faq.jsonl", "topic": "account", "product": "shop"}


def test_jsonl_without_the_text_key_names_file_line_and_fix(tmp_path):
    write(tmp_path, "faq.jsonl", '{"text": "ok"}\n{"body": "no text key"}\n')
    with pytest.raises(StageFailed, match=r"faq.jsonl line 2: no text in key 'text'.*fields.text"):
        load_documents([src(path="faq.jsonl")], tmp_path, {})


def test_jsonl_bad_json_names_the_line(tmp_path):
    write(tmp_path, "faq.jsonl", '{"text": "ok"}\n{"text": \n')
    with pytest.raises(StageFailed, match=r"faq\.jsonl line 2: not valid JSON"):
        load_documents([src(path="faq.jsonl")], tmp_path, {})


def _dataset(root: Path, id_column: str | None = "id") -> dict[str, str]:
    folder = root / "artifacts/datasets/support"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"text_column": "answer", "id_column": id_column}))
    rows = {
        "train": [{"id": "t1", "answer": "Parcels ship in two days.", "label": "shipping"}],
        "validation": [{"id": "v1", "answer": "Refunds take five days.", "label": "billing"}],
        "test": [{"id": "s1", "answer": "Reset the password.", "label": "account"}],
    }
    for split, part in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return {"support": "artifacts/datasets/support"}


def test_dataset_rows_use_the_datasets_columns(tmp_path):
    datasets = _dataset(tmp_path)
    docs = load_documents([src(dataset="support", metadata={"kb": "faq"})], tmp_path, datasets)
    [doc] = docs
    assert (doc.id, doc.text, doc.source, doc.format) == (
        "t1",
        "Parcels ship in two days.",
        "dataset:support/train",
        "dataset",
    )
    assert doc.metadata == {"source": "dataset:support/train", "label": "shipping", "kb": "faq"}
    every = load_documents([src(dataset="support", split="all")], tmp_path, datasets)
    assert [d.id for d in every] == ["t1", "v1", "s1"]


def test_dataset_without_id_column_numbers_rows_per_split(tmp_path):
    datasets = _dataset(tmp_path, id_column=None)
    docs = load_documents([src(dataset="support", split="all", text_column="answer")], tmp_path, datasets)
    assert [d.id for d in docs] == ["train-0", "validation-0", "test-0"]


def test_dataset_id_column_missing_from_a_row_is_named(tmp_path):
    datasets = _dataset(tmp_path, id_column=None)
    with pytest.raises(
        StageFailed, match=r"train.jsonl line 1: no id in column 'key'; set `documents\[0\].id_column`"
    ):
        load_documents([src(dataset="support", id_column="key")], tmp_path, datasets)


def test_dataset_text_column_missing_is_named(tmp_path):
    datasets = _dataset(tmp_path)
    with pytest.raises(StageFailed, match=r"no text in key 'body'.*set `documents\[0\].text_column`"):
        load_documents([src(dataset="support", text_column="body")], tmp_path, datasets)


def test_dataset_not_built_says_which_stage_to_run(tmp_path):
    with pytest.raises(StageFailed, match=r"run `llmops run data-support` first"):
        load_documents([src(dataset="support")], tmp_path, {"support": "artifacts/datasets/support"})
    with pytest.raises(StageFailed, match="run `llmops compile`"):
        load_documents([src(dataset="support")], tmp_path, {})


def test_duplicate_ids_across_sources_are_refused(tmp_path):
    write(tmp_path, "a.jsonl", '{"id": "x", "text": "one"}\n')
    write(tmp_path, "b.jsonl", '{"id": "x", "text": "two"}\n')
    with pytest.raises(StageFailed, match=r"documents\[1\]: document id 'x' \(from b.jsonl\).*a.jsonl"):
        load_documents([src(path="a.jsonl"), src(path="b.jsonl")], tmp_path, {})


def test_missing_unknown_and_empty_sources(tmp_path):
    with pytest.raises(StageFailed, match=r"documents\[0\].path: kb/none.md does not exist"):
        load_documents([src(path="kb/none.md")], tmp_path, {})
    write(tmp_path, "notes.xyz", "text")
    with pytest.raises(StageFailed, match="set `format:`"):
        load_documents([src(path="notes.xyz")], tmp_path, {})
    [doc] = load_documents([src(path="notes.xyz", format="text")], tmp_path, {})
    assert doc.text == "text"
    with pytest.raises(StageFailed, match="matches no supported files"):
        load_documents([src(path="*.png")], tmp_path, {})


def test_file_over_the_size_limit_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(documents_module, "MAX_FILE_BYTES", 10)
    write(tmp_path, "big.md", "x" * 11)
    with pytest.raises(StageFailed, match=r"big.md: 11 bytes, over the 10-byte limit.*MAX_FILE_BYTES"):
        load_documents([src(path="big.md")], tmp_path, {})


def test_not_utf8_is_named(tmp_path):
    write(tmp_path, "latin.txt", "caf\xe9".encode("latin-1"))
    with pytest.raises(StageFailed, match=r"latin\.txt: not UTF-8"):
        load_documents([src(path="latin.txt")], tmp_path, {})


def test_a_symlink_out_of_the_project_is_refused(tmp_path):
    outside = tmp_path / "outside"
    write(outside, "secret.md", "secret")
    root = tmp_path / "project"
    (root / "kb").mkdir(parents=True)
    (root / "kb/link.md").symlink_to(outside / "secret.md")
    with pytest.raises(PathOutsideProject):
        load_documents([src(path="kb")], root, {})


def test_globs_reaching_out_of_the_project_are_refused(tmp_path):
    for pattern in ("/etc/*.conf", "../*.md"):
        with pytest.raises(PathOutsideProject):
            load_documents([src(path=pattern)], tmp_path, {})


def _pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF with one text line per page (Helvetica), built by hand."""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        None,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    if title:
        objects.append(f"<< /Title ({title}) >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_pdf_pages_become_sections(tmp_path):
    write(
        tmp_path,
        "manuals/guide.pdf",
        _pdf(["Reset your password here.", "", "Warranty covers repair."], "User guide"),
    )
    [doc] = load_documents([src(path="manuals")], tmp_path, {})
    assert doc.title == "User guide" and doc.format == "pdf"
    assert [s.heading for s in doc.sections] == ["page 1", "page 3"]
    assert [doc.text[s.start : s.end] for s in doc.sections] == [
        "Reset your password here.",
        "Warranty covers repair.",
    ]


def test_broken_pdf_and_missing_pypdf_are_named(tmp_path, monkeypatch):
    write(tmp_path, "bad.pdf", b"%PDF-1.4 not really")
    with pytest.raises(StageFailed, match=r"bad\.pdf: not a readable PDF"):
        load_documents([src(path="bad.pdf")], tmp_path, {})
    import builtins

    real_import = builtins.__import__

    def no_pypdf(name, *args, **kwargs):
        if name.startswith("pypdf"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pypdf)
    with pytest.raises(StageFailed, match=r"bad.pdf: reading PDF files needs pypdf; pip install pypdf"):
        load_documents([src(path="bad.pdf")], tmp_path, {})
