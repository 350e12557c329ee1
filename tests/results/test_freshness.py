"""Freshness of dvc.lock: fresh after a real `dvc repro`, and each way it goes stale named with
the stage and the field (the project of conftest.py; unit cases on an in-memory reader)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.results.dvchash import dir_md5, file_md5
from llmops.results.files import DiskFiles
from llmops.results.freshness import (
    Staleness,
    check_freshness,
    freshness,
    params_diff,
    summarize,
)

TRAIN_CONFIG = ".llmops/stages/train.json"
STAGES = 200  # parsing the YAML is most of the time: pure-Python ruamel, as DVC reads it


def _fields(records: list[Staleness]) -> list[tuple[str, str]]:
    return [(r.stage, r.field) for r in records]


def _both(project) -> tuple[list[Staleness], list[Staleness]]:
    """What the committed tree says, and what the working folder says."""
    return check_freshness(project.tree()), check_freshness(project.disk())


def _set_lr(project, lr: float) -> None:
    config = json.loads((project.root / TRAIN_CONFIG).read_text())
    config["spec"]["training"]["lr"] = lr
    project.write(TRAIN_CONFIG, json.dumps(config, indent=2) + "\n")


# --- fresh -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_lock_dvc_wrote_is_fresh_in_the_commit_and_on_disk(project) -> None:
    for files in (project.tree(), project.disk()):
        report = freshness(files)
        assert report.fresh and report.stale == [] and report.unchecked == []


@pytest.mark.slow
def test_re_running_after_a_change_makes_it_fresh_again(project, dvc_bin: str) -> None:
    _set_lr(project, 0.001)
    project.commit("raise the learning rate")
    assert _fields(check_freshness(project.tree())) == [("train", "params")]
    project.dvc(dvc_bin, "repro", "-q")
    project.commit("results")
    assert _both(project) == ([], [])


# --- each kind of staleness ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_params_value_changed_without_re_running_is_named_with_old_and_new(project) -> None:
    """Attack 1: `training.lr` changed in the stage config, the old lock and metrics kept."""
    _set_lr(project, 0.001)
    project.commit("raise the learning rate, keep the old results")
    expected = [f"train: params {TRAIN_CONFIG} spec.training.lr 0.0002 → 0.001"]
    assert summarize(check_freshness(project.tree())) == expected
    assert summarize(check_freshness(project.disk())) == expected


@pytest.mark.slow
def test_a_changed_git_tracked_data_file_is_named(project) -> None:
    project.write("data/a/b.txt", "nested, edited\n")
    project.write("extra.txt", "extra, edited\n")
    project.commit()
    for records in _both(project):
        assert _fields(records) == [("prepare", "deps data"), ("train", "deps extra.txt")]
        assert records[0].detail.startswith("changed: ")
        assert ".dir in dvc.lock" in records[0].detail


@pytest.mark.slow
def test_a_dep_folder_that_gained_a_file_is_stale(project) -> None:
    project.write("data/new.txt", "one more\n")
    assert check_freshness(project.tree()) == []  # not committed: the commit is still fresh
    assert _fields(check_freshness(project.disk())) == [("prepare", "deps data")]
    project.commit()
    assert _fields(check_freshness(project.tree())) == [("prepare", "deps data")]


@pytest.mark.slow
def test_a_missing_dep_is_stale(project) -> None:
    (project.root / "extra.txt").unlink()
    project.commit()
    for files in (project.tree(), project.disk()):
        assert check_freshness(files) == [Staleness("train", "deps extra.txt", f"missing {files.where}")]


@pytest.mark.slow
def test_an_upstream_output_hash_edited_in_the_lock_no_longer_matches_the_downstream_dep(project) -> None:
    doc = project.lock()
    project.entry_item(doc, "prepare", "outs", "prepared")["md5"] = "0" * 32 + ".dir"
    project.write_lock(doc)
    project.commit()
    for records in _both(project):
        assert _fields(records) == [("train", "deps prepared")]  # prepare's cached output: not in git
        assert "prepare recorded 00000000.dir" in records[0].detail


@pytest.mark.slow
def test_a_hand_edited_metrics_file_is_caught_when_nobody_re_hashed_it(project) -> None:
    project.write("metrics/train.json", json.dumps({"rougeL": 0.9, "n": 5}))
    project.commit("better figures")
    for records in _both(project):
        assert _fields(records) == [("train", "outs metrics/train.json")]
        assert "is not what the stage wrote" in records[0].detail


def _rehash(project, doc, stage: str, section: str, path: str) -> None:
    data = (project.root / path).read_bytes()
    item = project.entry_item(doc, stage, section, path)
    item["md5"], item["size"] = file_md5(data), len(data)


@pytest.mark.slow
def test_a_re_hashed_metrics_file_is_caught_only_through_a_stage_that_reads_it(project) -> None:
    """Attack 2 is beyond a commit-local check: an edited metrics file whose new md5 is written
    into the producer's entry is consistent with the commit (provenance refuses it). A stage
    that reads the file still records the old md5 and is named; rewriting that too leaves
    nothing to see."""
    doc = project.lock()
    project.write("metrics/train.json", json.dumps({"rougeL": 0.9, "n": 5}))
    _rehash(project, doc, "train", "outs", "metrics/train.json")
    project.write_lock(doc)
    project.commit("re-hashed figures, read by no stage")
    assert _both(project) == ([], [])

    project.write("metrics/prepare.json", json.dumps({"seed": 7}))
    _rehash(project, doc, "prepare", "outs", "metrics/prepare.json")
    project.write_lock(doc)
    project.commit("re-hashed figures that train reads")
    for records in _both(project):
        assert _fields(records) == [("train", "deps metrics/prepare.json")]
        assert "train has not run on prepare's current output" in records[0].detail

    _rehash(project, doc, "train", "deps", "metrics/prepare.json")
    project.write_lock(doc)
    project.commit("every entry re-hashed")
    assert _both(project) == ([], [])


@pytest.mark.slow
def test_an_edited_file_in_an_uncached_output_folder_is_caught(project) -> None:
    project.write("plots/train/loss.csv", "step,loss\n1,0.1\n")
    project.commit()
    for records in _both(project):
        assert _fields(records) == [("train", "outs plots/train")]


@pytest.mark.slow
def test_an_uncached_output_missing_from_the_commit_is_stale(project) -> None:
    (project.root / "metrics/train.json").unlink()
    project.commit()
    assert check_freshness(project.tree()) == [
        Staleness("train", "outs metrics/train.json", "missing at the commit")
    ]


@pytest.mark.slow
def test_a_stage_missing_from_the_lock_is_one_record(project) -> None:
    doc = project.lock()
    del doc["stages"]["train"]
    project.write_lock(doc)
    project.commit()
    for records in _both(project):
        assert _fields(records) == [("train", "lock entry")]


@pytest.mark.slow
def test_a_changed_cmd_shows_where_it_changed(project) -> None:
    pipeline = json.loads((project.root / "dvc.yaml").read_text())
    pipeline["stages"]["train"]["cmd"] += "; print('again')"
    project.write("dvc.yaml", json.dumps(pipeline, indent=1))
    project.commit()
    for records in _both(project):
        assert _fields(records) == [("train", "cmd")]
        assert records[0].detail == "`…n', 'w'))\"` in dvc.lock, `…n', 'w'))\"; print('again')` in dvc.yaml"


@pytest.mark.slow
def test_a_dep_dropped_from_dvc_yaml_but_still_in_the_lock_is_stale(project) -> None:
    pipeline = json.loads((project.root / "dvc.yaml").read_text())
    pipeline["stages"]["train"]["deps"].remove("extra.txt")
    project.write("dvc.yaml", json.dumps(pipeline, indent=1))
    project.commit()
    assert check_freshness(project.tree()) == [
        Staleness("train", "deps extra.txt", "in dvc.lock but not a dep in dvc.yaml")
    ]


@pytest.mark.slow
def test_no_lock_or_an_unreadable_lock_is_one_record_not_an_exception(project) -> None:
    (project.root / "dvc.lock").unlink()
    project.commit()
    assert check_freshness(project.tree()) == [
        Staleness("dvc.lock", "lock", "missing at the commit: run `dvc repro`")
    ]
    project.write("dvc.lock", "stages: [unclosed\n")
    project.commit()
    for records in _both(project):
        assert _fields(records) == [("dvc.lock", "lock")]
        assert records[0].detail.startswith("does not parse: ")


@pytest.mark.slow
def test_an_unreadable_dvc_yaml_is_a_value_error_with_the_reason(project) -> None:
    project.write("dvc.yaml", "stages: {train: {cmd: [unclosed\n")
    project.commit()
    with pytest.raises(ValueError, match=r"dvc\.yaml at the commit does not parse"):
        check_freshness(project.tree())
    project.write("dvc.yaml", "stages: {train: {deps: [a]}}\n")
    with pytest.raises(ValueError, match="train: needs a `cmd` string"):
        check_freshness(project.disk())
    (project.root / "dvc.yaml").unlink()
    with pytest.raises(ValueError, match=r"dvc\.yaml missing on disk"):
        check_freshness(project.disk())


# --- in memory: scale, what cannot be checked, formatting --------------------------------------------


class MemoryFiles:
    """A commit as a {path: bytes} map, counting the hashes asked for."""

    where = "in memory"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.hashed: list[str] = []
        self._memo: dict[str, str | None] = {}

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def dvc_md5(self, path: str) -> str | None:
        if path not in self._memo:
            self.hashed.append(path)
            self._memo[path] = self._hash(path)
        return self._memo[path]

    def _hash(self, path: str) -> str | None:
        if path in self.files:
            return file_md5(self.files[path])
        inside = {p[len(path) + 1 :]: d for p, d in self.files.items() if p.startswith(path + "/")}
        return dir_md5((rel, file_md5(d)) for rel, d in inside.items()) if inside else None


def _project(stages: dict, files: dict[str, bytes], lock: dict) -> MemoryFiles:
    files = dict(files)
    files["dvc.yaml"] = json.dumps({"stages": stages}).encode()
    files["dvc.lock"] = json.dumps({"schema": "2.0", "stages": lock}).encode()
    return MemoryFiles(files)


def _dep(path: str, md5: str) -> dict:
    return {"path": path, "hash": "md5", "md5": md5}


def test_hundreds_of_stages_hash_each_git_tracked_path_once_and_no_cached_output() -> None:
    data = {f"data/shared/{i}.csv": f"row {i}\n".encode() for i in range(50)}
    shared = dir_md5((f"{i}.csv", file_md5(d)) for i, d in enumerate(data.values()))
    files = dict(data)
    stages: dict = {}
    lock: dict = {}
    for i in range(STAGES):
        config = {"stage": i, "spec": {"training": {"lr": 0.0002}}}
        files[f".llmops/stages/s{i}.json"] = json.dumps(config).encode()
        metrics = f'{{"score": {i}}}'.encode()
        files[f"metrics/s{i}.json"] = metrics
        deps = ["data/shared"] + ([f"out/s{i - 1}"] if i else [])
        stages[f"s{i}"] = {
            "cmd": f"llmops run s{i}",
            "deps": deps,
            "params": [{f".llmops/stages/s{i}.json": None}],
            "outs": [f"out/s{i}"],
            "metrics": [{f"metrics/s{i}.json": {"cache": False}}],
        }
        lock[f"s{i}"] = {
            "cmd": f"llmops run s{i}",
            "deps": [_dep("data/shared", shared)]
            + ([_dep(f"out/s{i - 1}", f"{i - 1:032x}.dir")] if i else []),
            "params": {f".llmops/stages/s{i}.json": config},
            "outs": [_dep(f"out/s{i}", f"{i:032x}.dir"), _dep(f"metrics/s{i}.json", file_md5(metrics))],
        }
    memory = _project(stages, files, lock)
    assert check_freshness(memory) == []
    assert sorted(memory.hashed) == sorted(["data/shared", *(f"metrics/s{i}.json" for i in range(STAGES))])

    memory.files["data/shared/7.csv"] = b"changed\n"
    memory = MemoryFiles(memory.files)
    assert len(check_freshness(memory)) == STAGES  # every stage reads the shared folder
    assert memory.hashed.count("data/shared") == 1


def test_a_dep_inside_a_cached_output_folder_cannot_be_checked_and_says_so() -> None:
    stages = {
        "make": {
            "cmd": "make",
            "outs": ["artifacts/model"],
            "metrics": [{"metrics/make.json": {"cache": False}}],
        },
        "use": {"cmd": "use", "deps": ["artifacts/model/weights.bin", "metrics"]},
        "all": {"cmd": "all", "deps": ["artifacts"]},
    }
    metrics = b"{}"
    lock = {
        "make": {
            "cmd": "make",
            "outs": [
                _dep("artifacts/model", "a" * 32 + ".dir"),
                _dep("metrics/make.json", file_md5(metrics)),
            ],
        },
        "use": {
            "cmd": "use",
            "deps": [
                _dep("artifacts/model/weights.bin", "b" * 32),
                _dep("metrics", dir_md5([("make.json", file_md5(metrics))])),
            ],
        },
        "all": {"cmd": "all", "deps": [_dep("artifacts", "c" * 32 + ".dir")]},
    }
    report = freshness(_project(stages, {"metrics/make.json": metrics}, lock))
    assert report.stale == []
    assert [(u.stage, u.path) for u in report.unchecked] == [
        ("use", "artifacts/model/weights.bin"),
        ("all", "artifacts"),
    ]


def test_a_dep_tracked_by_a_dvc_file_is_compared_with_the_hash_that_file_records() -> None:
    stages = {"s": {"cmd": "s", "deps": ["data/big.csv", "data/images/1.png"]}}
    dvc_file = b"outs:\n- md5: " + b"d" * 32 + b"\n  size: 9\n  hash: md5\n  path: big.csv\n"
    folder_file = b"outs:\n- md5: " + b"e" * 32 + b".dir\n  path: images\n"
    files = {"data/big.csv.dvc": dvc_file, "data/images.dvc": folder_file}
    lock = {"s": {"cmd": "s", "deps": [_dep("data/big.csv", "d" * 32), _dep("data/images/1.png", "f" * 32)]}}
    report = freshness(_project(stages, files, lock))
    assert report.stale == []
    assert [(u.stage, u.path) for u in report.unchecked] == [("s", "data/images/1.png")]

    lock["s"]["deps"][0]["md5"] = "0" * 32
    assert summarize(check_freshness(_project(stages, files, lock))) == [
        "s: deps data/big.csv changed: 00000000 in dvc.lock, dddddddd in memory"
    ]


def test_lock_entries_must_list_exactly_the_stages_params_and_outputs() -> None:
    stages = {"s": {"cmd": "s", "params": [{"p.json": None}], "outs": ["o"]}}
    files = {"p.json": b'{"a": 1}', "q.json": b"{}"}
    lock = {"s": {"cmd": "s", "params": {"q.json": {}}, "outs": [_dep("x", "1" * 32)]}}
    assert summarize(check_freshness(_project(stages, files, lock))) == [
        "s: params p.json not in dvc.lock; params q.json in dvc.lock but not a params file in dvc.yaml; "
        "outs o not in dvc.lock; outs x in dvc.lock but not an output in dvc.yaml"
    ]


def test_a_params_file_that_does_not_parse_is_stale() -> None:
    stages = {"s": {"cmd": "s", "params": [{"p.json": None}, {"p.py": None}]}}
    lock = {"s": {"cmd": "s", "params": {"p.json": {}, "p.py": {}}}}
    records = check_freshness(_project(stages, {"p.json": b"{", "p.py": b"LR = 1"}, lock))
    assert [r.detail.split(":")[0] for r in records] == [
        "p.json does not parse",
        "p.py is not a JSON, YAML or TOML file this check can read (.py)",
    ]


def test_no_stages_and_no_lock_is_fresh() -> None:
    assert check_freshness(MemoryFiles({"dvc.yaml": b"stages: {}\n"})) == []


def test_params_diff_names_the_first_paths_with_old_and_new_values() -> None:
    old = {"spec": {"training": {"lr": 0.0002, "epochs": 8}, "tags": ["a", "b"], "gone": 1}}
    new = {"spec": {"training": {"lr": 1e-3, "epochs": 8.0}, "tags": ["a", "c", "d"], "name": "x" * 60}}
    assert params_diff(old, new, limit=10) == [
        "spec.training.lr 0.0002 → 0.001",
        'spec.tags.1 "b" → "c"',
        'spec.tags.2 (absent) → "d"',
        f'spec.name (absent) → "{"x" * 38}…',
        "spec.gone 1 → (absent)",
    ]  # epochs 8 == 8.0: DVC compares params with ==, and so does this
    assert params_diff(old, new)[-1] == "and 2 more"
    assert params_diff([1], {"a": 1}) == ['(whole file) [1] → {"a": 1}']


def test_summarize_gives_one_line_per_stage_in_order() -> None:
    records = [
        Staleness("a", "cmd", "x"),
        Staleness("b", "deps d", "changed"),
        Staleness("a", "outs o", "missing"),
    ]
    assert summarize(records) == ["a: cmd x; outs o missing", "b: deps d changed"]


def test_disk_files_read_nothing_outside_the_project(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "proj").mkdir()
    files = DiskFiles(tmp_path / "proj")
    assert files.read("../outside.txt") is None
    assert files.dvc_md5("../outside.txt") is None
    assert files.read(str(tmp_path / "outside.txt")) is None
