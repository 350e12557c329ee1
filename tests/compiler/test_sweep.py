"""FineTune sweeps: spec checks, the trial stages and the selection stage, multi-GPU labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.compiler.compile import compile_project, plan_graph
from llmops.compiler.kinds.finetune import SWEEP_MAX_TRIALS, sweep_label
from llmops.compiler.parse import parse_project_file, parse_specs
from llmops.compiler.stages.tune import axis_keys
from llmops.errors import SpecError

FULL = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "full"
PROJECT_TEXT = (FULL / "llmops.yaml").read_text()
SOURCES = {p.relative_to(FULL).as_posix(): p.read_text() for p in sorted((FULL / "specs").rglob("*.yaml"))}
BIG = "specs/models/big.yaml"
BIG_DOC = yaml.safe_load(SOURCES[BIG])


def sources_with(parameters: Any = None, **fields: Any) -> dict[str, str]:
    doc = json.loads(json.dumps(BIG_DOC))
    if parameters is not None:
        doc["sweep"]["parameters"] = parameters
    doc.update(fields)
    return {**SOURCES, BIG: yaml.safe_dump(doc, sort_keys=False)}


def plan(sources: dict[str, str] | None = None, project_text: str = PROJECT_TEXT):
    project, errors = parse_project_file(project_text)
    assert project is not None and not errors
    return plan_graph(parse_specs(project, sources or SOURCES))[1]


def errors_for(parameters: Any, text: str | None = None) -> str:
    source = sources_with(parameters)
    if text is not None:
        source = {**SOURCES, BIG: text}
    with pytest.raises(SpecError) as info:
        plan(source)
    return str(info.value)


# -- what a sweep may hold ----------------------------------------------------------------------


def test_an_unknown_field_is_named_with_the_closest_one():
    text = errors_for({"training.lrr": [0.1]})
    assert "specs/models/big.yaml:" in text
    assert "sweep.parameters.training.lrr: training has no field 'lrr' (did you mean 'training.lr'?)" in text
    text = errors_for({"method.rank": [4]})
    assert "method has no field 'rank' (its fields: alpha, dropout," in text


def test_a_path_outside_training_and_method_is_refused():
    assert "'base_model.hub' is not training.<field>, method.<field> or objective.<field>" in errors_for(
        {"base_model.hub": ["x"]}
    )
    assert "'training' is not training.<field>, method.<field> or objective.<field>" in errors_for(
        {"training": [1]}
    )


@pytest.mark.parametrize(
    "value",
    [
        "a b",
        "$(id)",
        "`id`",
        "x;y",
        "${{ github.event.x }}",
        "${key}",
        "a/b",
        "a:b",
        "",
        "x" * 65,
        None,
        [1],
        {},
    ],
)
def test_values_that_are_unsafe_in_a_name_or_a_shell_are_refused(value):
    text = errors_for({"method.type": ["lora", value]})
    assert "sweep.parameters.method.type[1]:" in text
    assert "a sweep value is a number, true/false, or 1-64 letters, digits" in text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_values_that_are_not_finite_are_refused(value):
    assert "a sweep value must be a finite number" in errors_for({"training.lr": [0.1, value]})


def test_each_value_must_suit_its_field_and_is_located():
    text = errors_for({"training.lr": [0.1, 5], "method.type": ["lora", "lorra"]})
    assert "big.yaml:" in text and "sweep.parameters.training.lr[1]: 5 is not a valid training.lr:" in text
    assert "sweep.parameters.method.type[1]: 'lorra' is not a valid method.type:" in text


def test_listed_twice_and_empty_lists_are_refused():
    assert "'0.1' is listed twice" in errors_for({"training.lr": [0.1, 0.2, 0.1]})
    assert "'true' is listed twice" in errors_for({"method.target_modules": [True, "true"]})
    assert "at least 1 item" in errors_for({"training.lr": []})
    assert "at least 1 item" in errors_for({})


def test_too_many_combinations_are_refused():
    text = errors_for({"method.r": list(range(1, 18)), "training.batch_size": list(range(1, 17))})
    assert f"272 combinations; a sweep runs at most {SWEEP_MAX_TRIALS} trials" in text
    # exactly the limit is fine
    graph = plan(sources_with({"method.r": list(range(1, 17)), "training.batch_size": list(range(1, 17))}))
    assert sum(1 for s in graph.order if s.matrix) == SWEEP_MAX_TRIALS


def test_two_trials_with_one_name_are_refused():
    # checked on the names alone, before the values meet their fields
    text = errors_for({"method.type": ["a-b", "a"], "method.target_modules": ["c", "b-c"]})
    assert "two trials would both be named 'a-b-c'" in text


def test_sweep_labels_follow_dvc():
    assert [sweep_label(v) for v in (True, False, 1, 2.5, 1e-05, 1e20, 1000.0, "x")] == [
        "true",
        "false",
        "1",
        "2.5",
        "1e-05",
        "1e+20",
        "1000.0",
        "x",
    ]
    assert axis_keys(["training.lr", "method.r"]) == ["lr", "r"]
    assert axis_keys(["training.x", "method.x", "method.r"]) == ["training_x", "method_x", "r"]


# -- the stages a sweep becomes --------------------------------------------------------------------


def test_trials_are_tune_stages_named_as_dvc_names_matrix_stages():
    graph = plan()
    trials = sorted((s for s in graph.order if s.matrix), key=lambda s: s.matrix.index)
    assert [s.name for s in trials] == [
        "trial-big@1e-05-16",
        "trial-big@1e-05-32",
        "trial-big@0.0001-16",
        "trial-big@0.0001-32",
    ]
    trial = trials[1]
    assert trial.kind == "tune" and trial.matrix.group == "trial-big" and trial.matrix.key == "1e-05-32"
    assert trial.matrix.axes == (("lr", (1e-05, 0.0001)), ("r", (16, 32)))
    config = trial.params()
    assert config["stage"] == "trial-big@1e-05-32" and config["kind"] == "tune"
    assert config["spec"]["training"]["lr"] == 1e-05 and config["spec"]["method"]["r"] == 32
    assert config["spec"]["sweep"] is None
    assert config["spec"]["resources"] == {"gpus": 2, "strategy": "deepspeed"}
    assert config["inputs"]["trial"] == {"training.lr": 1e-05, "method.r": 32}
    assert config["outputs"] == {
        "outs": ["artifacts/sweeps/big/1e-05-32"],
        "metrics": ["metrics/sweeps/big/1e-05-32.json"],
        "plots": ["plots/sweeps/big/1e-05-32"],
        "reports": [],
    }
    assert trial.config_path == ".llmops/stages/trial-big@1e-05-32.json"
    assert trial.upstream == ("data-tickets", "prompt-answer")
    assert trial.runs_on == ("self-hosted", "linux", "gpu-a100-x8")  # gpus: 2 -> multi_gpu labels


def test_trial_config_equals_the_plain_tune_config_but_for_the_trial():
    with_sweep = plan()
    doc = json.loads(json.dumps(BIG_DOC))
    del doc["sweep"]
    doc["training"]["lr"] = 1e-05
    doc["method"]["r"] = 32
    plain = plan({**SOURCES, BIG: yaml.safe_dump(doc)}).stage("tune-big").params()
    trial = with_sweep.stage("trial-big@1e-05-32").params()
    assert {k: v for k, v in trial.items() if k not in ("stage", "inputs", "outputs")} == {
        k: v for k, v in plain.items() if k not in ("stage", "inputs", "outputs")
    }
    assert {k: v for k, v in trial["inputs"].items() if k != "trial"} == plain["inputs"]


def test_the_selection_stage_takes_the_place_of_tune():
    graph = plan()
    select = graph.stage("tune-big")
    assert select.kind == "select"
    trials = [f"trial-big@{k}" for k in ("1e-05-16", "1e-05-32", "0.0001-16", "0.0001-32")]
    assert set(select.upstream) == set(trials)
    assert select.params()["inputs"] == {
        "metric": "eval_loss",
        "goal": "minimize",
        "trials": [
            {
                "name": name,
                "params": graph.stage(name).params()["inputs"]["trial"],
                "model": f"artifacts/sweeps/big/{name.split('@')[1]}",
                "metrics": f"metrics/sweeps/big/{name.split('@')[1]}.json",
            }
            for name in trials
        ],
    }
    assert set(select.deps) == {p for t in trials for p in (*graph.stage(t).outs, *graph.stage(t).metrics)}
    assert select.outs == ("artifacts/models/big",)
    assert select.metrics == ("metrics/tune-big.json",)
    assert select.reports == ("reports/sweep-big.md",)
    assert select.runs_on == ("ubuntu-latest",) and select.gpus == 0  # copying files needs no GPU
    # downstream stages still use tune-big and its model folder
    evaluation = graph.stage("eval-quality")
    assert "tune-big" in evaluation.upstream and "artifacts/models/big" in evaluation.deps


def test_a_new_sweep_value_leaves_the_other_trials_configs_alone():
    before = plan()
    after = plan(sources_with({"training.lr": [1e-05, 0.0001, 0.001], "method.r": [16, 32]}))
    for stage in before.order:
        if stage.matrix:
            assert after.stage(stage.name).params() == stage.params()
    assert after.stage("tune-big").params() != before.stage("tune-big").params()
    new = {s.name for s in after.order} - {s.name for s in before.order}
    assert new == {"trial-big@0.001-16", "trial-big@0.001-32"}


def test_metric_and_goal_change_only_the_selection():
    before = plan()
    doc = json.loads(json.dumps(BIG_DOC))
    doc["sweep"].update(metric="eval.rougeL", goal="maximize")
    after = plan({**SOURCES, BIG: yaml.safe_dump(doc, sort_keys=False)})
    changed = {s.name for s in after.order if s.params() != before.stage(s.name).params()}
    assert changed == {"tune-big"}
    assert after.stage("tune-big").params()["inputs"]["goal"] == "maximize"


def test_the_metric_name_is_checked():
    doc = json.loads(json.dumps(BIG_DOC))
    doc["sweep"]["metric"] = "loss | `x`"
    with pytest.raises(SpecError, match=r"sweep\.metric"):
        plan({**SOURCES, BIG: yaml.safe_dump(doc)})


# -- dvc.yaml ------------------------------------------------------------------------------------


def test_dvc_yaml_holds_one_matrix_stage_per_sweep():
    project, _ = parse_project_file(PROJECT_TEXT)
    spec = SOURCES[BIG].replace(
        "    method.r: [16, 32]\n", '    method.prompt_tuning_init_text: ["1e5", "true", hello]\n'
    )
    files = compile_project(parse_specs(project, {**SOURCES, BIG: spec})).files
    text = files["dvc.yaml"]
    stages = yaml.safe_load(text)["stages"]
    assert not any("@" in name for name in stages)
    entry = stages["trial-big"]
    assert list(entry)[:2] == ["matrix", "cmd"]
    assert entry["matrix"] == {"lr": [1e-05, 0.0001], "prompt_tuning_init_text": ["1e5", "true", "hello"]}
    # strings stay strings for DVC's YAML 1.2 loader, or `1e5` would name a trial `100000.0`
    assert '- "1e5"' in text and '- "true"' in text and '- "hello"' in text
    assert entry["cmd"] == "llmops run trial-big@${key}"
    assert entry["params"] == [{".llmops/stages/trial-big@${key}.json": None}]
    assert entry["outs"] == [{"artifacts/sweeps/big/${key}": {"persist": True}}]
    assert entry["metrics"] == [{"metrics/sweeps/big/${key}.json": {"cache": False, "persist": True}}]
    assert entry["plots"] == [{"plots/sweeps/big/${key}": {"cache": False, "persist": True}}]
    assert ".llmops/stages/trial-big@1e-05-1e5.json" in files
    assert ".llmops/stages/trial-big@0.0001-true.json" in files
    assert stages["tune-big"]["cmd"] == "llmops run tune-big"


# -- examples come from the prompt stage only when it rendered the same dataset -------------------


def test_examples_only_when_the_prompt_renders_the_finetunes_dataset():
    graph = plan()
    tiny = graph.stage("tune-tiny")
    assert tiny.params()["inputs"]["examples"] == "artifacts/prompts/answer"
    assert "prompt-answer" in tiny.upstream and "artifacts/prompts/answer" in tiny.deps
    # a prompt that renders no dataset: the tune runner renders the FineTune's dataset itself
    plain = SOURCES["specs/prompts/answer.yaml"].replace("name: answer", "name: plain")
    plain = plain.replace("dataset: tickets\n", "")
    uses_plain = SOURCES["specs/models/tiny-base.yaml"].replace("prompt: answer", "prompt: plain")
    graph = plan({**SOURCES, "specs/prompts/plain.yaml": plain, "specs/models/tiny-base.yaml": uses_plain})
    tiny = graph.stage("tune-tiny")
    assert tiny.params()["inputs"]["examples"] is None
    assert tiny.params()["inputs"]["prompt"]["name"] == "plain"
    assert not any(u.startswith("prompt-") for u in tiny.upstream)
    assert "prompts/answer.j2" in tiny.deps and "artifacts/prompts/answer" not in tiny.deps


# -- multi-GPU labels ----------------------------------------------------------------------------


def test_multi_gpu_labels_fall_back_to_gpu_labels():
    text = PROJECT_TEXT.replace("    multi_gpu: [self-hosted, linux, gpu-a100-x8]\n", "")
    assert text != PROJECT_TEXT
    graph = plan(project_text=text)
    assert graph.stage("trial-big@1e-05-16").runs_on == ("self-hosted", "linux", "gpu-a100")
    explicit = sources_with(resources={"gpus": 2, "labels": ["my-box"]})
    assert plan(explicit).stage("trial-big@1e-05-16").runs_on == ("my-box",)
    one_gpu = sources_with(resources={"gpus": 1})
    assert plan(one_gpu).stage("trial-big@1e-05-16").runs_on == ("self-hosted", "linux", "gpu-a100")


# -- `llmops run` finds a trial by its DVC name ----------------------------------------------------


def test_llmops_run_accepts_trial_names(fixture_project, monkeypatch):
    from llmops.cli.main import main
    from llmops.runners import registry

    root = fixture_project("full")
    assert main(["-C", str(root), "compile"]) == 0
    seen: list[Any] = []
    monkeypatch.setattr(registry, "runner_for", lambda kind: lambda config, root: seen.append(config))
    assert main(["-C", str(root), "run", "trial-big@1e-05-32"]) == 0
    assert seen[0].kind == "tune" and seen[0].stage == "trial-big@1e-05-32"
    assert seen[0].inputs.trial["method.r"] == 32 and seen[0].spec.method.r == 32
    (root / ".llmops/stages/trial-big@1e-05-32.json").write_text("{}\n")
    assert main(["-C", str(root), "run", "trial-big@1e-05-32"]) == 2  # stale params file
    assert main(["-C", str(root), "run", "trial-big@1e-05-33"]) == 2  # no such trial
