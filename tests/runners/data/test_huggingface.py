"""Hugging Face `datasets` sources, for real: a saved local data set, a local folder of files,
and a hub id that cannot be reached offline."""

from __future__ import annotations

import pytest

from llmops.errors import StageFailed

datasets = pytest.importorskip("datasets")


def _records(n: int) -> dict[str, list]:
    return {
        "prompt": [f"How do I reset device {i}?" for i in range(n)],
        "reply": [f"Hold the button of device {i} for ten seconds." for i in range(n)],
    }


def test_saved_dataset_folder(project):
    datasets.Dataset.from_dict(_records(20)).save_to_disk(str(project.root / "data/hf-saved"))
    project.run(
        {
            "sources": [
                {"huggingface": {"path": "data/hf-saved"}, "fields": {"text": "prompt", "answer": "reply"}}
            ],
            "split": {"train": 0.5, "validation": 0.25, "test": 0.25},
        }
    )
    rows = project.rows()
    assert len(rows) == 20
    assert {r["text"] for r in rows} == {f"How do I reset device {i}?" for i in range(20)}
    assert project.manifest()["sources"][0]["source"].startswith("huggingface:")


def test_saved_dataset_dict_picks_the_split(project):
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(_records(8)), "extra": datasets.Dataset.from_dict(_records(3))}
    ).save_to_disk(str(project.root / "data/hf-dict"))
    project.run(
        {
            "sources": [
                {"huggingface": {"path": "data/hf-dict", "split": "extra"}, "fields": {"text": "prompt"}}
            ]
        }
    )
    assert len(project.rows()) == 3


def test_local_folder_of_files_through_load_dataset(project):
    project.jsonl("data/hf-files/part-0.jsonl", [{"prompt": f"q{i}", "reply": "a"} for i in range(6)])
    project.run({"sources": [{"huggingface": {"path": "data/hf-files"}, "fields": {"text": "prompt"}}]})
    assert sorted(r["text"] for r in project.rows()) == [f"q{i}" for i in range(6)]


def test_unreachable_hub_id_is_a_clear_error(project, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(StageFailed, match=r"source huggingface:org/missing@abc123\[train\]: cannot load it"):
        project.run({"sources": [{"huggingface": {"hub": "org/missing", "revision": "abc123"}}]})
