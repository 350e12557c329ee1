"""Provenance: base and data licenses against the allow-list, and hashes."""

from __future__ import annotations

import json

from llmops.compiler.stages.model import HubModel, PathModel
from llmops.runners.review.provenance import (
    BUILT,
    UNKNOWN,
    base_license,
    base_location,
    check,
    data_hashes,
    data_licenses,
    front_matter_license,
)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_built_base_is_allowed_and_local_folders_read_their_readme(tmp_path):
    _write(tmp_path / "built" / "llmops-model.json", json.dumps({"built": {"architecture": "llama"}}))
    _write(tmp_path / "local" / "README.md", "---\nlicense: MIT\ntags: [x]\n---\n# A model\n")
    (tmp_path / "bare").mkdir()
    assert base_license(PathModel(path="built"), tmp_path) == BUILT
    assert base_license(PathModel(path="local"), tmp_path) == "MIT"
    assert base_license(PathModel(path="bare"), tmp_path) == UNKNOWN
    assert base_license(HubModel(hub="nobody/not-cached", revision="0" * 40), tmp_path) == UNKNOWN
    assert base_license(None, tmp_path) == UNKNOWN


def test_a_model_tuned_from_a_tuned_model_carries_the_license_of_the_first_base(tmp_path):
    """A FineTune continued from another (base_model: {finetune: ...}) has that model's folder as
    its base; the license is the one of the base that model was tuned from, down the chain."""
    _write(tmp_path / "local" / "README.md", "---\nlicense: apache-2.0\n---\n")
    _write(
        tmp_path / "first" / "llmops-model.json",
        json.dumps({"adapter": True, "base_model": {"path": "local"}}),
    )
    _write(
        tmp_path / "second" / "llmops-model.json",
        json.dumps({"adapter": True, "base_model": {"path": "first"}}),
    )
    assert base_license(PathModel(path="second"), tmp_path) == "apache-2.0"
    # a card naming itself as its base ends at the chain limit, unknown, instead of looping
    _write(tmp_path / "loop" / "llmops-model.json", json.dumps({"base_model": {"path": "loop"}}))
    assert base_license(PathModel(path="loop"), tmp_path) == UNKNOWN


def test_the_cards_base_model_is_read_as_a_model_location():
    assert base_location({"base_model": {"path": "base"}}) == PathModel(path="base")
    assert base_location({"base_model": {"hub": "org/m", "revision": "abc"}}) == HubModel(
        hub="org/m", revision="abc"
    )
    assert base_location({}) is None
    assert base_location({"base_model": {"path": "base", "odd": 1}}) is None


def test_front_matter_license():
    assert front_matter_license("---\nlicense: apache-2.0\n---\n") == "apache-2.0"
    assert front_matter_license("# no front matter\nlicense: mit\n") is None
    assert front_matter_license("---\nlicense: [: broken\n---\n") is None


def test_data_licenses_follow_the_prompt_manifest_to_the_dataset(tmp_path):
    source = {
        "source": "raw.jsonl",
        "provenance": {"license": "CC-BY-4.0", "origin": "x", "collected_at": "y"},
    }
    _write(tmp_path / "datasets" / "d" / "manifest.json", json.dumps({"sources": [source]}))
    _write(tmp_path / "prompts" / "p" / "manifest.json", json.dumps({"dataset": "datasets/d"}))
    _write(tmp_path / "prompts" / "p" / "train.jsonl", "{}\n")
    data = {"prompts/p/train.jsonl": "abc", "loose/train.jsonl": "def"}
    assert data_licenses(data, tmp_path) == {
        "datasets/d:raw.jsonl": "CC-BY-4.0",
        "loose/train.jsonl": UNKNOWN,
    }
    hashes = data_hashes(data, tmp_path)
    assert hashes["prompts/p/train.jsonl"] == {"sha256": "abc", "matches": False}


def test_licenses_allowed_denied_and_unknown():
    allowed = ["apache-2.0", "mit"]
    ok, problems = check({"base_model": BUILT, "data": {"d:a": "Apache-2.0", "d:b": "MIT"}}, allowed)
    assert ok and problems == []
    ok, problems = check({"base_model": "llama3", "data": {"d:a": "mit"}}, allowed)
    assert not ok and problems == ["base model: license llama3 is not in licenses_allowed (apache-2.0, mit)"]
    ok, problems = check({"base_model": BUILT, "data": {"x/train.jsonl": UNKNOWN}}, allowed)
    assert not ok and "data x/train.jsonl: license unknown" in problems[0]
