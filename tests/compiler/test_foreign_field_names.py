"""Field names from Transformers, TRL, PEFT, Axolotl and LLaMA-Factory get a "did you mean" with
llmops' name, at the file and line of the unknown field (exit 2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from llmops.cli.main import main
from llmops.compiler.compile import plan_graph
from llmops.compiler.diagnose import foreign_hint
from llmops.compiler.foreign_names import FOREIGN_NAMES
from llmops.compiler.kinds import SPEC_KINDS
from llmops.compiler.kinds.finetune import FineTune
from llmops.compiler.parse import load_project
from llmops.errors import SpecError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
SPEC = "specs/models/tiny-base.yaml"
TRAINING = "training: {epochs: 2, lr: 0.001, batch_size: 4}"


def _errors(tmp_path: Path, old: str, new: str) -> str:
    root = tmp_path / f"full{len(list(tmp_path.iterdir()))}"
    shutil.copytree(FIXTURES / "full", root, ignore=shutil.ignore_patterns("expected", "expected_errors.txt"))
    spec = root / SPEC
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))
    with pytest.raises(SpecError) as info:
        plan_graph(load_project(root))
    return str(info.value)


@pytest.mark.parametrize(
    "foreign,ours",
    [
        ("learning_rate", "lr"),
        ("num_train_epochs", "epochs"),
        ("per_device_train_batch_size", "batch_size"),
        ("micro_batch_size", "batch_size"),
        ("gradient_accumulation_steps", "grad_accum"),
        ("max_seq_length", "max_length"),
        ("sequence_len", "max_length"),
        ("cutoff_len", "max_length"),
        ("warmup_steps", "warmup_ratio"),
        ("lr_scheduler_type", "scheduler"),
        ("lora_r", "method.r"),
        ("lora_alpha", "method.alpha"),
        ("lora_dropout", "method.dropout"),
    ],
)
def test_training_field_from_another_tool(tmp_path, foreign, ours):
    text = _errors(tmp_path, TRAINING, f"training:\n  epochs: 2\n  {foreign}: 1")
    line = f"{SPEC}:14:3: training.{foreign}: unknown field '{foreign}'"
    assert f"{line} (did you mean '{ours}'? that is llmops' name for `{foreign}`)" in text


def test_method_and_top_level_names(tmp_path):
    text = _errors(tmp_path, "method: {type: lora, r: 8, alpha: 16}", "method: {type: lora, lora_r: 8}")
    assert "method.lora_r: unknown field 'lora_r' (did you mean 'r'?" in text
    text = _errors(tmp_path, "dataset: tickets", "dataset: tickets\nweight_decay: 0.1")
    assert "unknown field 'weight_decay' (did you mean 'training.weight_decay'?" in text


def test_base_model_names(tmp_path):
    text = _errors(tmp_path, "  build:\n", "  model_name_or_path: x/y\n  build:\n")
    assert "base_model.model_name_or_path: unknown field 'model_name_or_path' (did you mean 'hub'?" in text


def test_typos_still_get_spelling_hints(tmp_path):
    text = _errors(tmp_path, "batch_size: 4", "bach_size: 4")
    assert "unknown field 'bach_size' (did you mean 'batch_size'?)" in text


def test_validate_exits_2(tmp_path, capsys):
    root = tmp_path / "p"
    shutil.copytree(FIXTURES / "full", root, ignore=shutil.ignore_patterns("expected", "expected_errors.txt"))
    (root / SPEC).write_text((root / SPEC).read_text().replace("lr: 0.001", "learning_rate: 0.001"))
    assert main(["-C", str(root), "validate"]) == 2
    assert "did you mean 'lr'?" in capsys.readouterr().err


def test_every_alias_names_a_field_llmops_has():
    """The table stays honest: each target is a field of some spec kind, so no hint misleads."""
    fields: set[str] = set()
    for kind in SPEC_KINDS.values() if isinstance(SPEC_KINDS, dict) else SPEC_KINDS:
        _collect(kind, "", fields)
    for foreign, targets in FOREIGN_NAMES.items():
        for target in targets:
            assert target in fields or target.split(".")[-1] in {f.split(".")[-1] for f in fields}, (
                foreign,
                target,
            )
    assert foreign_hint("learning_rate", ["lr"], FineTune, {}).startswith("did you mean 'lr'?")
    assert foreign_hint("nothing_like_it", ["lr"], FineTune, {}) == ""


def _collect(model, prefix: str, out: set[str]) -> None:
    import typing

    from pydantic import BaseModel

    for name, info in model.model_fields.items():
        out.add(prefix + name)
        for arg in [info.annotation, *typing.get_args(info.annotation)]:
            if isinstance(arg, type) and issubclass(arg, BaseModel) and prefix.count(".") < 2:
                _collect(arg, f"{prefix}{name}.", out)
