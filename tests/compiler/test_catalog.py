"""The catalog of stage kinds holds against the spec models, the builders and the runners, and
the add-a-kind checklist of ARCHITECTURE.md works for a kind that lives only in the tests."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from llmops.compiler import catalog
from llmops.compiler.catalog import CATALOG, KINDS, stage_name
from llmops.compiler.kinds import SPEC_KINDS
from llmops.compiler.stages.model import StageConfig

RUNNERS = Path(__file__).resolve().parents[2] / "runners"


@pytest.mark.parametrize("row", CATALOG, ids=lambda r: r.kind)
def test_row_matches_its_builder_and_runner(row):
    config = row.config_model()
    assert issubclass(config, StageConfig)
    assert typing.get_args(config.model_fields["kind"].annotation) == (row.kind,)
    assert callable(row.build_function())
    assert row.spec_kind in SPEC_KINDS
    # runner packages are named like their stage kinds, and a runner takes (config, root)
    assert row.runner == f"llmops.runners.{row.kind}.run"
    assert (RUNNERS / row.kind / "run.py").is_file()
    source = (RUNNERS / row.kind / "run.py").read_text(encoding="utf-8")
    assert "\ndef run(config" in source


def test_every_spec_kind_becomes_stages_and_every_runner_has_a_row():
    assert {row.spec_kind for row in CATALOG} == set(SPEC_KINDS)
    packages = {p.parent.name for p in RUNNERS.glob("*/run.py")}
    assert packages == set(KINDS)


def test_stage_names_come_from_the_catalog():
    assert stage_name("tune", "x") == "tune-x"
    assert stage_name("select", "x") == "tune-x"  # a sweep's winner takes the tune stage's name
    assert catalog.trial_group("x") == "trial-x"
    prefixes = [row.prefix for row in CATALOG if row.kind != "select"]
    assert len(prefixes) == len(set(prefixes))


def test_only_approved_kinds_act_on_the_world():
    acting = {row.kind for row in CATALOG if row.acts_on_world}
    assert acting == {"deploy"}
    assert all(KINDS[k].needs_approval and not KINDS[k].in_pipeline for k in acting)


def test_a_test_only_kind_needs_a_model_a_builder_a_runner_and_a_row(echo_kind):
    """The checklist, exercised: nothing else in the tree is edited to add `Echo`."""
    from llmops.cli.main import main

    root = echo_kind
    assert main(["-C", str(root), "compile"]) == 0
    dvc = (root / "dvc.yaml").read_text(encoding="utf-8")
    assert "echo-first:" in dvc and "echo-second:" in dvc
    config = json.loads((root / ".llmops/stages/echo-second.json").read_text(encoding="utf-8"))
    assert config["kind"] == "echo" and config["inputs"] == {"source": "artifacts/echo/first.txt"}
    assert main(["-C", str(root), "run", "echo-first"]) == 0
    assert main(["-C", str(root), "run", "echo-second"]) == 0
    assert (root / "artifacts/echo/second.txt").read_text(encoding="utf-8") == "HELLO, CATALOG\n"


def test_a_test_only_kind_gets_its_references_checked(echo_kind, capsys):
    from llmops.cli.main import main

    (echo_kind / "specs/second.yaml").write_text(
        "kind: Echo\nname: second\nsource: notes.txt\nafter: frist\n"
    )
    assert main(["-C", str(echo_kind), "validate"]) == 2
    err = capsys.readouterr().err
    assert "specs/second.yaml:4" in err and "unknown Echo 'frist'" in err and "first" in err


def test_the_runner_registry_validates_once_and_refuses_a_stale_config(tmp_path):
    from llmops.errors import UsageError
    from llmops.runners.registry import typed_config

    with pytest.raises(UsageError, match="unknown stage kind 'nope'"):
        typed_config({"kind": "nope"})
    with pytest.raises(UsageError, match="not a valid gate stage config"):
        typed_config({"kind": "gate", "stage": "gate-x", "runner_version": 1, "outputs": {}, "spec": {}})


def test_stage_names_read_back():
    assert catalog.spec_of_stage("gate", "gate-release") == "release"
    assert catalog.spec_of_stage("gate", "eval-release") is None
    assert catalog.spec_of_stage("eval", "eval-") is None
