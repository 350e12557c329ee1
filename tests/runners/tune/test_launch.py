"""Multi-GPU launch: the exact command and Trainer settings, checked without GPUs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from llmops.compiler.kinds.common import Resources
from llmops.runners.tune import launch


def test_one_gpu_or_cpu_runs_in_process(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert not launch.needs_launch(Resources(gpus=0))
    assert not launch.needs_launch(Resources(gpus=1))
    assert launch.needs_launch(Resources(gpus=4))
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not launch.needs_launch(Resources(gpus=4))


def test_launch_command_is_an_argument_list(tmp_path: Path):
    command = launch.launch_command(tmp_path / "c.json", tmp_path, 4)
    assert command == [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_machines",
        "1",
        "--num_processes",
        "4",
        "-m",
        "llmops.runners.tune.worker",
        str(tmp_path / "c.json"),
        str(tmp_path),
    ]


def test_deepspeed_zero_stage_follows_the_method(tmp_path: Path):
    work = tmp_path / "work" / "tune-x"
    settings = launch.trainer_settings(Resources(gpus=2, strategy="deepspeed"), "lora", work)
    config = json.loads(Path(settings["deepspeed"]).read_text())
    assert config["zero_optimization"]["stage"] == 2
    assert config["train_micro_batch_size_per_gpu"] == "auto"
    full = launch.trainer_settings(Resources(gpus=2, strategy="deepspeed"), "full", work)
    assert json.loads(Path(full["deepspeed"]).read_text())["zero_optimization"]["stage"] == 3


def test_fsdp_and_ddp_settings(tmp_path: Path):
    assert (
        launch.trainer_settings(Resources(gpus=8, strategy="fsdp"), "full", tmp_path)["fsdp"]
        == "full_shard auto_wrap"
    )
    assert launch.trainer_settings(Resources(gpus=2, strategy="auto"), "lora", tmp_path) == {
        "ddp_find_unused_parameters": False
    }
    assert launch.trainer_settings(Resources(gpus=1, strategy="fsdp"), "lora", tmp_path) == {}


def test_training_arguments_accept_the_distributed_settings(tmp_path: Path, make_config, typed):
    from llmops.training.trainer import RunPlan, training_arguments

    plan = RunPlan(
        work=tmp_path,
        fingerprint="x",
        training=typed(make_config()).spec.training,
        seed=1,
        precision="fp32",
        distributed={"ddp_find_unused_parameters": False},
    )
    args = training_arguments(plan, 100, has_eval=True)
    assert args.ddp_find_unused_parameters is False
    assert args.seed == 1 and args.data_seed == 1 and args.use_cpu
    assert args.optim == "adamw_torch"  # the fused kernel is slower on CPU (bench_train.py)


def test_each_worker_gets_the_typed_config_the_launcher_wrote(
    tmp_path: Path, make_config, typed, monkeypatch
):
    from llmops.runners.tune import run as tune_run
    from llmops.runners.tune import worker

    config = typed(make_config())
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config.model_dump(mode="json")))
    got = []
    monkeypatch.setattr(tune_run, "train_stage", lambda c, root: got.append((c, root)))
    assert worker.main([str(config_file), str(tmp_path)]) == 0
    assert got == [(config, tmp_path)]
