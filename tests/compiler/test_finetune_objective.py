"""FineTune `objective`: its checks, the compiled tune stage of a preference objective (renders
the dataset itself, installs the `preference` extra), and SFT configs left exactly as they were."""

from __future__ import annotations

import pytest
import yaml

from llmops.compiler.emit.workflows import runner_extras
from llmops.errors import SpecError
from tests.compiler.test_sweep import SOURCES, plan

TINY = "specs/models/tiny-base.yaml"


def with_objective(objective: dict | None = None, **fields) -> dict[str, str]:
    doc = yaml.safe_load(SOURCES[TINY])
    if objective is not None:
        doc["objective"] = objective
    doc.update(fields)
    return {**SOURCES, TINY: yaml.safe_dump(doc, sort_keys=False)}


def test_sft_configs_hold_no_objective_so_their_params_do_not_change():
    params = plan().stage("tune-tiny").params()
    assert "objective" not in params["spec"]
    assert "objective" not in plan(with_objective({"type": "sft"})).stage("tune-tiny").params()["spec"]


def test_a_preference_tune_renders_its_dataset_and_installs_the_preference_extra():
    stage = plan(with_objective({"type": "dpo", "beta": 0.2})).stage("tune-tiny")
    spec = stage.params()["spec"]
    assert spec["objective"]["type"] == "dpo" and spec["objective"]["beta"] == 0.2
    assert stage.params()["inputs"]["examples"] is None  # the prompt stage's examples hold no pairs
    assert "preference" in runner_extras(stage) and "train" in runner_extras(stage)
    assert "preference" not in runner_extras(plan().stage("tune-tiny"))


@pytest.mark.parametrize(
    ("objective", "fields", "message"),
    [
        (
            {"type": "dpo"},
            {"method": {"type": "prompt-tuning"}},
            "objective dpo needs method lora, qlora or full",
        ),
        ({"type": "orpo", "loss_type": "ipo"}, {}, "loss_type is a dpo setting; objective type is orpo"),
        ({"type": "rlhf"}, {}, "objective.type"),
        ({"type": "kto", "label_column": "bad column"}, {}, "objective.label_column"),
        ({"type": "dpo", "beta": 0}, {}, "objective.beta"),
    ],
)
def test_bad_objectives_are_refused_with_their_place(objective, fields, message):
    with pytest.raises(SpecError) as info:
        plan(with_objective(objective, **fields))
    assert TINY in str(info.value) and message in str(info.value)


def test_a_sweep_may_vary_objective_fields():
    sweep = {
        "parameters": {"objective.beta": [0.1, 0.5]},
        "metric": "eval_rewards/margins",
        "goal": "maximize",
    }
    graph = plan(with_objective({"type": "dpo"}, sweep=sweep))
    betas = [graph.stage(f"trial-tiny@{b}").params()["spec"]["objective"]["beta"] for b in ("0.1", "0.5")]
    assert betas == [0.1, 0.5]
    with pytest.raises(SpecError, match="objective has no field 'betta'"):
        plan(with_objective({"type": "dpo"}, sweep={"parameters": {"objective.betta": [0.1]}}))


def test_a_sweep_cannot_reach_a_preference_objective_with_prompt_tuning():
    sweep = {"parameters": {"objective.type": ["sft", "dpo"]}}
    with pytest.raises(SpecError, match="objective dpo needs method lora, qlora or full"):
        plan(with_objective(None, method={"type": "prompt-tuning"}, sweep=sweep))
