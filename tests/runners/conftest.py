"""A tiny dataset, a tiny built Llama and a LoRA tuned on it, shared by the runner tests that
train or evaluate models (each built once per session); and `typed`, which turns a stage config
dict (as `llmops compile` writes it) into the typed config a runner takes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from llmops.runners.registry import typed_config


def typed(config: dict[str, Any]) -> Any:
    """A stage config dict as its runner gets it: validated once into its kind's typed model."""
    return typed_config(config)


@pytest.fixture(name="typed")
def typed_fixture():
    """`typed(config dict)` -> the typed stage config (llmops.runners.registry.typed_config)."""
    return typed


TOPICS = {
    "shipping": ("Where is my parcel {n}?", "Parcel {n} ships within two days; track it in your account."),
    "returns": ("Can I return item {n}?", "Yes, item {n} can be returned within 30 days for a refund."),
    "billing": (
        "Why was I charged twice for order {n}?",
        "The second charge for order {n} is a hold that drops off.",
    ),
    "account": (
        "How do I reset the password for user {n}?",
        "Use the reset link on the sign-in page for user {n}.",
    ),
}


def write_dataset(folder: Path, rows_per_topic: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(rows_per_topic):
        for label, (question, answer) in TOPICS.items():
            rows.append({"text": question.format(n=n), "answer": answer.format(n=n), "label": label})
    cut1, cut2 = int(len(rows) * 0.7), int(len(rows) * 0.85)
    splits = {"train": rows[:cut1], "validation": rows[cut1:cut2], "test": rows[cut2:]}
    for split, items in splits.items():
        with (folder / f"{split}.jsonl").open("w") as handle:
            for row in items:
                handle.write(json.dumps(row, sort_keys=True) + "\n")
    return folder


def base_config(pretrain_steps: int = 0) -> dict[str, Any]:
    return {
        "stage": "base-tiny",
        "kind": "base",
        "runner_version": 1,
        "spec": {
            "name": "tiny",
            "base_model": {
                "build": {
                    "architecture": "llama",
                    "config": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2},
                    "tokenizer_dataset": "qa",
                    "vocab_size": 300,
                    "pretrain_steps": pretrain_steps,
                    "pretrain_lr": 3e-3,
                    "pretrain_batch_size": 8,
                    "max_length": 64,
                    "text_columns": ["text", "answer"],
                }
            },
        },
        "inputs": {"dataset": "data/qa", "seed": 7},
        "outputs": {"outs": ["base"], "metrics": ["metrics/base-tiny.json"], "plots": [], "reports": []},
    }


PROMPT = {
    "kind": "Prompt",
    "name": "qa",
    "template": "Question: {{ text }}\nAnswer:",
    "template_file": None,
    "system": None,
    "variables": ["text"],
    "completion": "answer",
    "chat_format": "none",
    "few_shot": [],
    "tests": [],
    "dataset": None,
    "limits": {},
    "resources": {"gpus": 0, "strategy": "auto"},
}


def tune_config(method: str = "lora", **training: Any) -> dict[str, Any]:
    train = {
        "epochs": 1,
        "max_steps": 6,
        "lr": 5e-3,
        "scheduler": "linear",
        "warmup_ratio": 0.0,
        "batch_size": 4,
        "grad_accum": 1,
        "max_length": 64,
        "packing": False,
        "precision": "auto",
        "gradient_checkpointing": False,
        "completion_only_loss": True,
        "seed": None,
        "eval_steps": None,
        "save_steps": None,
        "logging_steps": 1,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        **training,
    }
    return {
        "stage": "tune-tiny",
        "kind": "tune",
        "runner_version": 1,
        "spec": {
            "kind": "FineTune",
            "name": "tiny",
            "base_model": {"path": "base"},
            "dataset": "qa",
            "prompt": "qa",
            "method": {
                "type": method,
                "r": 4,
                "alpha": 8,
                "dropout": 0.1,
                "target_modules": "all-linear",
                "num_virtual_tokens": 4,
                "prompt_tuning_init_text": None,
                "merge": False,
            },
            "training": train,
            "sweep": None,
            "resources": {"gpus": 0, "strategy": "auto"},
        },
        "inputs": {
            "dataset": "data/qa",
            "examples": None,
            "prompt": PROMPT,
            "base_model": {"path": "base"},
            "seed": 7,
        },
        "outputs": {
            "outs": ["models/tiny"],
            "metrics": ["metrics/tune-tiny.json"],
            "plots": ["plots/tune-tiny"],
            "reports": [],
        },
    }


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Models this small gain nothing from threads, and OpenMP spin-waits badly when the two
    CI cores are shared with another process."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def built_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llmops.runners.base.run import run

    root = tmp_path_factory.mktemp("base-project")
    write_dataset(root / "data" / "qa")
    run(typed(base_config(pretrain_steps=200)), root)
    return root


@pytest.fixture
def tiny_project(built_base: Path, tmp_path: Path) -> Path:
    """A fresh project folder holding the dataset and the built base model."""
    shutil.copytree(built_base / "data", tmp_path / "data")
    shutil.copytree(built_base / "base", tmp_path / "base")
    return tmp_path


@pytest.fixture(scope="session")
def tuned_base(built_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built base plus a LoRA adapter trained on the dataset (models/tiny)."""
    from llmops.runners.tune.run import run

    root = tmp_path_factory.mktemp("tuned-project")
    shutil.copytree(built_base / "data", root / "data")
    shutil.copytree(built_base / "base", root / "base")
    run(typed(tune_config("lora", max_steps=100, lr=1e-2)), root)
    return root


@pytest.fixture
def tuned_project(tuned_base: Path, tmp_path: Path) -> Path:
    shutil.copytree(tuned_base, tmp_path, dirs_exist_ok=True)
    return tmp_path


@pytest.fixture
def make_config():
    """The tune stage config builder: `make_config(method, **training overrides)`, a dict (pass it
    through `typed` for the runner)."""
    return tune_config
