"""The live record and the deployment version: what the gateway follows and what names a rollout."""

from __future__ import annotations

import json

import pytest

from llmops.runners.deploy.live import FIELDS, read_live, write_live
from llmops.runners.deploy.prepare import ServedModel
from llmops.runners.deploy.run import deployment_version

RECORD = {
    "deployment": "support",
    "version": "0123456789ab",
    "engine": "transformers",
    "url": "http://127.0.0.1:41234",
    "model": "support",
    "pid": 4242,
    "started_at": 1764000000.0,
    "commit": None,
}


def test_a_written_record_reads_back_and_leaves_no_temporary_file(tmp_path):
    write_live(tmp_path, RECORD)
    assert read_live(tmp_path) == RECORD
    assert [p.name for p in tmp_path.iterdir()] == ["live.json"]
    assert set(json.loads((tmp_path / "live.json").read_text())) == set(FIELDS)


def test_an_incomplete_record_is_refused_and_an_unreadable_one_means_nothing_is_live(tmp_path):
    with pytest.raises(ValueError, match="needs pid"):
        write_live(tmp_path, {k: v for k, v in RECORD.items() if k != "pid"})
    assert read_live(tmp_path) is None
    (tmp_path / "live.json").write_text('{"deployment": "support"')
    assert read_live(tmp_path) is None


def test_the_version_follows_the_served_content_and_settings_only(make_spec):
    served = ServedModel(name="support", path="/a", base=None, adapter=None, fingerprint="f" * 16)
    spec = make_spec()
    version = deployment_version(spec, served, "transformers")
    assert len(version) == 12 and version == deployment_version(make_spec(), served, "transformers")
    moved = ServedModel(name="support", path="/elsewhere", base=None, adapter=None, fingerprint="f" * 16)
    assert deployment_version(spec, moved, "transformers") == version, "where the files lie is not a version"
    assert deployment_version(make_spec(smoke_tests=[{"prompt": "x"}]), served, "transformers") == version
    retrained = ServedModel(name="support", path="/a", base=None, adapter=None, fingerprint="e" * 16)
    assert deployment_version(spec, retrained, "transformers") != version
    assert deployment_version(make_spec(engine={"dtype": "float32"}), served, "transformers") != version
    assert deployment_version(spec, served, "vllm") != version
