"""Sources that lead outside the project through a symlink are refused before anything is read:
no outside content reaches the splits, the manifest or the git-tracked data report. A spec's
absolute or `..` path is refused by `validate` with a message that says which it is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmops.cli.main import main
from llmops.errors import LlmopsError
from llmops.paths import PathOutsideProject

SECRET = "TOP-SECRET-outside-the-repo"


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("outside")
    rows = [{"text": f"{SECRET} {i}", "label": "x"} for i in range(6)]
    (folder / "secret.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "labels.csv").write_text(f"text,label\n{SECRET},x\n")
    return folder


def _nothing_leaked(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert SECRET not in path.read_text(errors="replace"), path
    assert not (root / "artifacts").exists() and not (root / "metrics").exists()


def _refused(project, spec, *parts: str) -> str:
    with pytest.raises(PathOutsideProject) as info:
        project.run(spec)
    assert info.value.exit_code == 2
    message = str(info.value)
    for part in parts:
        assert part in message, message
    _nothing_leaked(project.root)
    return message


def test_a_source_file_symlinked_outside_is_refused(project, outside, make_qa):
    project.jsonl("data/good.jsonl", make_qa(5))
    os.symlink(outside / "secret.jsonl", project.root / "data" / "a.jsonl")
    _refused(
        project,
        {"sources": [{"path": "data/a.jsonl"}]},
        "source leads outside the project: data/a.jsonl resolves to",
        str((outside / "secret.jsonl").resolve()),
        "the symlink data/a.jsonl points out of it",
    )


def test_a_source_folder_symlinked_outside_is_refused(project, outside):
    os.symlink(outside, project.root / "data")
    _refused(
        project,
        {"sources": [{"path": "data/*.jsonl"}]},
        "source data/*.jsonl leads outside the project",
        "the symlink data points out of it",
    )


def test_a_folder_holding_a_symlink_to_outside_is_refused(project, outside, make_qa):
    project.jsonl("data/good.jsonl", make_qa(5))
    os.symlink(outside / "secret.jsonl", project.root / "data" / "zz.jsonl")
    _refused(project, {"sources": [{"path": "data/*.jsonl"}]}, "data/zz.jsonl resolves to")


def test_a_nested_folder_symlinked_outside_is_refused(project, outside, make_qa):
    project.jsonl("data/own/good.jsonl", make_qa(5))
    os.symlink(outside, project.root / "data" / "sub")
    _refused(project, {"sources": [{"path": "data/*/*.jsonl"}]}, "the symlink data/sub points out of it")


def test_a_huggingface_folder_with_a_link_out_is_refused(project, outside):
    (project.root / "hf").mkdir()
    os.symlink(outside / "secret.jsonl", project.root / "hf" / "train.jsonl")
    _refused(project, {"sources": [{"huggingface": {"path": "hf"}}]}, "hf/train.jsonl resolves to")


def test_an_upstream_dataset_folder_linked_out_is_refused(project, outside):
    (project.root / "artifacts" / "datasets").mkdir(parents=True)
    os.symlink(outside, project.root / "artifacts" / "datasets" / "up")
    with pytest.raises(PathOutsideProject, match="source dataset:up"):
        project.run({"sources": [{"dataset": "up"}]}, datasets={"up": "artifacts/datasets/up"})


def test_a_labels_join_file_linked_out_is_refused(project, outside, make_qa):
    project.jsonl("data/good.jsonl", [{"text": r["question"]} for r in make_qa(5)])
    os.symlink(outside / "labels.csv", project.root / "labels.csv")
    spec = {
        "sources": [{"path": "data/good.jsonl"}],
        "labels": {"column": "label", "allowed": ["x"], "join": "labels.csv", "join_on": "text"},
    }
    _refused(project, spec, "labels.join leads outside the project")


def test_a_symlink_that_stays_inside_is_read(project, make_qa):
    project.jsonl("data/real.jsonl", make_qa(5))
    os.symlink("real.jsonl", project.root / "data" / "link.jsonl")
    project.run({"sources": [{"path": "data/link.jsonl"}], "text_column": "question"})
    assert len(project.rows()) == 5


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/passwd", "'/etc/passwd' is an absolute path; name it relative to the project root"),
        ("data/../../x.jsonl", "'data/../../x.jsonl' climbs out of the project root through '..'"),
    ],
)
def test_absolute_and_dotdot_paths_say_what_is_wrong(tmp_path, capsys, path, message):
    (tmp_path / "llmops.yaml").write_text("kind: Project\nname: p\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "d.yaml").write_text(f"kind: Dataset\nname: d\nsources:\n  - path: {path}\n")
    assert main(["-C", str(tmp_path), "validate"]) == 2
    err = capsys.readouterr().err
    assert "specs/d.yaml:4:" in err and "sources[0].path" in err and message in err
    assert "without '..'" not in err


def test_the_refusal_is_an_llmops_error():
    assert issubclass(PathOutsideProject, LlmopsError)
