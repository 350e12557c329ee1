"""The tune stage trains for real on CPU: each method, determinism, resume, failure safety."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import LlmopsError, StageFailed, UsageError
from llmops.runners.tune.run import run, train_stage


def _read(root: Path, rel: str) -> dict[str, Any]:
    return json.loads((root / rel).read_text())


@pytest.mark.parametrize(
    ("method", "weights"),
    [
        ("lora", "adapter_model.safetensors"),
        ("prompt-tuning", "adapter_model.safetensors"),
        ("full", "model.safetensors"),
    ],
)
def test_each_method_trains_and_writes_a_self_describing_folder(
    make_config, tiny_project: Path, method: str, weights: str, typed
):
    run(typed(make_config(method)), tiny_project)
    folder = tiny_project / "models" / "tiny"
    assert (folder / weights).is_file()
    assert (folder / "tokenizer.json").is_file()
    card = _read(tiny_project, "models/tiny/llmops-model.json")
    assert card["adapter"] is (method != "full")
    assert card["prompt_hash"].startswith("sha256:")
    assert set(card["data"]) == {"data/qa/train.jsonl", "data/qa/validation.jsonl", "data/qa/test.jsonl"}
    metrics = _read(tiny_project, "metrics/tune-tiny.json")
    assert metrics["steps"] == 6
    assert metrics["method"] == method
    assert metrics["tokens"] > 0 and metrics["tokens_per_s"] > 0
    assert metrics["eval_loss"] > 0 and metrics["gpu_hours"] == 0.0
    if method != "full":
        assert metrics["trainable_params"] < metrics["total_params"]
    loss_tsv = tiny_project / "plots" / "tune-tiny" / "train" / "loss.tsv"
    lines = loss_tsv.read_text().splitlines()
    assert lines[0].split("\t")[:2] == ["step", "loss"] or "step" in lines[0]
    assert len(lines) == 1 + 6
    assert not (tiny_project / ".llmops" / "work" / "tune-tiny").exists()


def test_lora_lowers_the_held_out_loss(make_config, tiny_project: Path, typed):
    metrics = train_stage(typed(make_config("lora", max_steps=40, lr=3e-2)), tiny_project)
    assert metrics["eval_loss"] < metrics["eval_loss_start"] - 0.5
    history = (tiny_project / "plots" / "tune-tiny" / "train" / "loss.tsv").read_text().splitlines()[1:]
    assert metrics["train_loss"] == pytest.approx(float(history[-1].split("\t")[-1]), rel=1e-4)


def test_adapter_config_names_the_base_by_project_path(make_config, tiny_project: Path, typed):
    run(typed(make_config("lora")), tiny_project)
    config = _read(tiny_project, "models/tiny/adapter_config.json")
    assert config["base_model_name_or_path"] == "base"


def test_same_seed_gives_byte_identical_adapters(make_config, tiny_project: Path, tmp_path_factory, typed):
    run(typed(make_config("lora")), tiny_project)
    first = (tiny_project / "models/tiny/adapter_model.safetensors").read_bytes()
    first_config = (tiny_project / "models/tiny/adapter_config.json").read_bytes()
    run(typed(make_config("lora")), tiny_project)
    assert (tiny_project / "models/tiny/adapter_model.safetensors").read_bytes() == first
    assert (tiny_project / "models/tiny/adapter_config.json").read_bytes() == first_config


class Interrupt(Exception):
    pass


def _interrupt_at(step: int):
    from transformers import TrainerCallback

    class Stop(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise Interrupt(f"stopped at step {step}")

    return Stop()


def test_resume_after_interruption_gives_the_uninterrupted_adapter(make_config, tiny_project: Path, typed):
    config = make_config("lora", save_steps=2)
    run(typed(config), tiny_project)
    uninterrupted = (tiny_project / "models/tiny/adapter_model.safetensors").read_bytes()
    previous_card = (tiny_project / "models/tiny/llmops-model.json").read_bytes()

    with pytest.raises(Interrupt):
        train_stage(typed(config), tiny_project, callbacks=[_interrupt_at(5)])
    # the interrupted run left the previous outputs alone and its checkpoints in the work folder
    assert (tiny_project / "models/tiny/llmops-model.json").read_bytes() == previous_card
    assert (tiny_project / ".llmops/work/tune-tiny/checkpoints/checkpoint-4").is_dir()

    metrics = train_stage(typed(config), tiny_project)
    assert metrics["resumed_from_step"] == 4
    assert metrics["steps"] == 6
    assert (tiny_project / "models/tiny/adapter_model.safetensors").read_bytes() == uninterrupted
    steps = [
        line.split("\t")[0]
        for line in (tiny_project / "plots/tune-tiny/train/loss.tsv").read_text().splitlines()[1:]
    ]
    assert steps == [str(s) for s in range(1, 7)]


def test_changed_settings_do_not_resume_a_stale_checkpoint(make_config, tiny_project: Path, typed):
    config = make_config("lora", save_steps=2)
    with pytest.raises(Interrupt):
        train_stage(typed(config), tiny_project, callbacks=[_interrupt_at(3)])
    metrics = train_stage(typed(make_config("lora", save_steps=2, lr=1e-3)), tiny_project)
    assert metrics["resumed_from_step"] is None


def test_merge_writes_a_merged_model_too(make_config, tiny_project: Path, typed):
    config = make_config("lora")
    config["spec"]["method"]["merge"] = True
    run(typed(config), tiny_project)
    assert (tiny_project / "models/tiny/merged/model.safetensors").is_file()
    assert _read(tiny_project, "models/tiny/llmops-model.json")["merged"] == "merged"


def test_qlora_on_cpu_is_refused_before_anything_is_written(make_config, tiny_project: Path, typed):
    with pytest.raises(UsageError, match=r"qlora.*CUDA GPU"):
        run(typed(make_config("qlora")), tiny_project)
    assert not (tiny_project / "models").exists()


def test_fp16_on_cpu_is_refused(make_config, tiny_project: Path, typed):
    with pytest.raises(UsageError, match="fp16 needs a CUDA GPU"):
        run(typed(make_config("lora", precision="fp16")), tiny_project)


def test_unreachable_hub_model_fails_with_a_clear_message(
    make_config, tiny_project: Path, monkeypatch, typed
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = make_config("lora")
    config["inputs"]["base_model"] = {"hub": "example-org/not-here", "revision": "0" * 40}
    with pytest.raises(StageFailed, match=r"example-org/not-here@0{40}.*local Hugging Face cache"):
        run(typed(config), tiny_project)


def test_missing_completion_column_names_the_row(make_config, tiny_project: Path, typed):
    (tiny_project / "data/qa/train.jsonl").write_text('{"text": "hi"}\n')
    with pytest.raises(LlmopsError, match=r"train.jsonl:1: .*'answer'"):
        run(typed(make_config("lora")), tiny_project)


def test_trains_inside_a_git_repo_without_commits(make_config, tiny_project: Path, typed):
    """dvclive must not open the enclosing repo: a fresh `git init` has no HEAD to name an
    experiment after, and a project without DVC must not get `dvc init` run on it."""
    import git

    git.Repo.init(tiny_project)
    run(typed(make_config("lora")), tiny_project)
    assert (tiny_project / "models/tiny/adapter_model.safetensors").is_file()
    assert not (tiny_project / ".dvc").exists()


def test_packing_and_activation_checkpointing_train(make_config, tiny_project: Path, typed):
    metrics = train_stage(
        typed(make_config("lora", packing=True, gradient_checkpointing=True, warmup_ratio=0.5)), tiny_project
    )
    assert metrics["steps"] == 6 and metrics["tokens"] > 0
    rates = (tiny_project / "plots/tune-tiny/train/learning_rate.tsv").read_text().splitlines()[1:]
    assert float(rates[0].split("\t")[-1]) < float(rates[2].split("\t")[-1])  # still warming up
