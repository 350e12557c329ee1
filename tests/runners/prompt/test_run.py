"""The prompt stage end to end: examples, manifest, metrics, and failures that write nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from llmops.compiler.compile import compile_project
from llmops.compiler.parse import load_project
from llmops.errors import StageFailed
from llmops.prompting.sandbox import PromptError
from llmops.runners.prompt.run import run
from llmops.runners.registry import run_stage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "projects"

SPEC = {
    "template": "Q: {{ text }}\nA:",
    "variables": ["text"],
    "completion": "answer",
    "chat_format": "chatml",
    "system": "Be brief.",
    "tests": [{"variables": {"text": "Where is my parcel?"}, "expect": {"contains": ["parcel"]}}],
}


def _read(root: Path, rel: str) -> list[dict]:
    return [json.loads(line) for line in (root / rel).read_text().splitlines()]


def _snapshot(root: Path) -> dict[str, bytes]:
    folder = root / "artifacts" / "prompts" / "demo"
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    files["metrics"] = (root / "metrics" / "prompt-demo.json").read_bytes()
    return files


def test_stage_writes_examples_manifest_and_metrics(tmp_path, dataset, config, rows):
    dataset(tmp_path, rows)
    run(config(SPEC), tmp_path)
    out = tmp_path / "artifacts" / "prompts" / "demo"
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]
    train = _read(tmp_path, "artifacts/prompts/demo/train.jsonl")
    assert len(train) == 4
    assert train[1] == {
        "id": 1,
        "split": "train",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Q: train question 1?\nA:"},
        ],
        "prompt": (
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ: train question 1?\nA:<|im_end|>\n"
            "<|im_start|>assistant\n"
        ),
        "completion": "train answer 1.<|im_end|>",
        "reference": "train answer 1.",
    }
    manifest = json.loads((out / "manifest.json").read_text())
    dataset_manifest = (tmp_path / "artifacts/datasets/faq/manifest.json").read_bytes()
    assert manifest["prompt"] == "demo" and manifest["chat_format"] == "chatml"
    assert manifest["prompt_hash"].startswith("sha256:") and manifest["runner_version"] == 1
    assert manifest["dataset"] == "artifacts/datasets/faq"
    assert manifest["dataset_manifest_sha256"] == hashlib.sha256(dataset_manifest).hexdigest()
    for split, entry in manifest["splits"].items():
        data = (out / f"{split}.jsonl").read_bytes()
        assert entry == {
            "file": f"{split}.jsonl",
            "rows": data.count(b"\n"),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    metrics = json.loads((tmp_path / "metrics/prompt-demo.json").read_text())
    assert metrics["examples"] == {"train": 4, "validation": 2, "test": 2}
    assert metrics["golden_tests"] == {"passed": 1, "failed": 0}
    assert metrics["prompt_hash"] == manifest["prompt_hash"]
    lengths = [len(e["prompt"]) for s in ("train", "validation", "test") for e in _read(out, f"{s}.jsonl")]
    assert metrics["prompt_chars"] == {"mean": round(sum(lengths) / len(lengths), 2), "max": max(lengths)}


def test_reruns_are_byte_identical(tmp_path, dataset, config, rows):
    dataset(tmp_path, rows)
    run(config(SPEC), tmp_path)
    first = _snapshot(tmp_path)
    run(config(SPEC), tmp_path)
    assert _snapshot(tmp_path) == first


def test_id_column_and_prompts_without_completion(tmp_path, dataset, config):
    rows = [{"qid": "q-7", "text": "hi"}, {"qid": "q-9", "text": "yo", "answer": None}]
    dataset(tmp_path, {"train": rows}, id_column="qid")
    run(config({"template": "{{ text }}", "variables": ["text"], "completion": "answer"}), tmp_path)
    train = _read(tmp_path, "artifacts/prompts/demo/train.jsonl")
    assert [(e["id"], e["prompt"], e["completion"], e["reference"]) for e in train] == [
        ("q-7", "hi", None, None),
        ("q-9", "yo", None, None),
    ]


def test_tokenizer_prompts_keep_messages_only(tmp_path, dataset, config, rows):
    dataset(tmp_path, rows)
    run(config({**SPEC, "chat_format": "tokenizer"}), tmp_path)
    example = _read(tmp_path, "artifacts/prompts/demo/test.jsonl")[0]
    assert example["prompt"] is None and example["completion"] == "test answer 0."
    assert example["messages"][-1] == {"role": "user", "content": "Q: test question 0?\nA:"}


def test_failing_golden_test_fails_the_stage_and_keeps_old_outputs(tmp_path, dataset, config, rows):
    dataset(tmp_path, rows)
    run(config(SPEC), tmp_path)
    before = _snapshot(tmp_path)
    failing = {
        **SPEC,
        "tests": [{"name": "parcel", "variables": {"text": "x"}, "expect": {"contains": ["parcel"]}}],
    }
    with pytest.raises(StageFailed) as info:
        run(config(failing), tmp_path)
    assert info.value.exit_code == 1
    assert "prompt-demo: 1 of 1 golden tests failed; nothing was written" in str(info.value)
    assert "tests[0] (parcel): expected to contain 'parcel'" in str(info.value)
    assert _snapshot(tmp_path) == before


def test_row_without_a_variable_fails_naming_split_row_and_variable(tmp_path, dataset, config, rows):
    dataset(tmp_path, rows)
    run(config(SPEC), tmp_path)
    before = _snapshot(tmp_path)
    rows["validation"][1] = {"answer": "no question", "_source": "a.jsonl"}
    dataset(tmp_path, rows)
    with pytest.raises(StageFailed) as info:
        run(config(SPEC), tmp_path)
    assert str(info.value) == (
        "prompt-demo: validation.jsonl row 2: no value for variable 'text' of prompt 'demo' "
        "(the row has _source, answer)"
    )
    assert _snapshot(tmp_path) == before
    assert not any(p.name.startswith(".demo") for p in (tmp_path / "artifacts" / "prompts").iterdir())


def test_template_error_on_a_row_names_the_row(tmp_path, dataset, config):
    dataset(tmp_path, {"train": [{"text": {"lang": "en"}}, {"text": {}}]})
    with pytest.raises(
        PromptError,
        match=r"undefined value: 'dict object' has no attribute 'lang' while rendering "
        r"train.jsonl row 2",
    ):
        run(config({"template": "{{ text.lang }}", "variables": ["text"]}), tmp_path)


def test_missing_dataset_output_says_to_run_the_dataset_stage(tmp_path, config):
    with pytest.raises(StageFailed, match=r"artifacts/datasets/faq/manifest\.json does not exist"):
        run(config(SPEC), tmp_path)


def test_the_registry_runs_the_compiled_config_of_the_full_fixture(tmp_path, dataset):
    import shutil

    root = tmp_path / "full"
    shutil.copytree(FIXTURES / "full", root, ignore=shutil.ignore_patterns("expected"))
    config = json.loads(compile_project(load_project(root)).files[".llmops/stages/prompt-answer.json"])
    rows = [
        {"text": f"Ticket {i}: where is my parcel?", "answer": f"On its way ({i}).", "label": "shipping"}
        for i in range(3)
    ]
    dataset(root, {"train": rows, "validation": rows[:1], "test": rows[:1]}, name="tickets")
    run_stage(config, root)
    [example] = _read(root, "artifacts/prompts/answer/test.jsonl")
    assert example["prompt"].endswith(
        "Ticket: Ticket 0: where is my parcel?\nAnswer:<|im_end|>\n<|im_start|>assistant\n"
    )
    assert example["completion"] == "On its way (0).<|im_end|>"
    metrics = json.loads((root / "metrics/prompt-answer.json").read_text())
    assert metrics["examples"] == {"train": 3, "validation": 1, "test": 1}
