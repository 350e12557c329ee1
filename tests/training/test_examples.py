"""Training examples come from the prompt stage's folder when there is one, else the dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.compiler.kinds.prompt import Prompt
from llmops.errors import StageFailed
from llmops.training.examples import load_examples

PROMPT = Prompt(
    kind="Prompt", name="qa", template="Q: {{ text }}\nA:", variables=["text"], completion="answer"
)


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_rendered_examples_are_used_as_they_are(tmp_path: Path):
    _write(tmp_path / "ex/train.jsonl", [{"prompt": "P1", "completion": "C1", "messages": []}])
    _write(tmp_path / "ex/validation.jsonl", [{"prompt": "P2", "completion": "C2", "messages": []}])
    examples = load_examples(PROMPT, tmp_path, None, dataset="ds", examples="ex")
    assert [(e.prompt, e.completion) for e in examples.splits["train"]] == [("P1", "C1")]
    assert set(examples.data_hashes) == {"ex/train.jsonl", "ex/validation.jsonl"}
    assert examples.prompt_hash.startswith("sha256:")


def test_rows_are_rendered_with_the_prompt_when_there_is_no_prompt_stage(tmp_path: Path):
    _write(tmp_path / "ds/train.jsonl", [{"text": "where?", "answer": "here"}])
    examples = load_examples(PROMPT, tmp_path, None, dataset="ds")
    assert [(e.prompt, e.completion) for e in examples.splits["train"]] == [("Q: where?\nA:", "here")]


def test_an_example_without_completion_names_its_file_and_line(tmp_path: Path):
    _write(
        tmp_path / "ex/train.jsonl", [{"prompt": "P", "completion": "C"}, {"prompt": "P", "completion": None}]
    )
    with pytest.raises(StageFailed, match=r"ex/train.jsonl:2: example has no completion"):
        load_examples(PROMPT, tmp_path, None, dataset="ds", examples="ex")


def test_tokenizer_chat_format_needs_a_chat_template(tmp_path: Path):
    _write(
        tmp_path / "ex/train.jsonl",
        [{"prompt": None, "completion": "C", "messages": [{"role": "user", "content": "x"}]}],
    )
    with pytest.raises(StageFailed, match="chat template"):
        load_examples(PROMPT, tmp_path, None, dataset="ds", examples="ex")
