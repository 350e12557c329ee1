"""Preference objectives train for real on the tiny model through TRL: DPO learns its pairs
(the reward margin grows), ORPO, SimPO and KTO train and write the usual outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import StageFailed
from tests.runners.conftest import TOPICS

_TOPIC_LIST = list(TOPICS.values())


def _write(folder: Path, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cut = int(len(rows) * 0.75)
    for split, items in (("train", rows[:cut]), ("validation", rows[cut:])):
        text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in items)
        (folder / f"{split}.jsonl").write_text(text)


def pairs(n: int = 4) -> list[dict[str, Any]]:
    """Each question with its own topic's answer chosen, the next topic's answer rejected."""
    rows = []
    for i in range(n):
        for t, (question, answer) in enumerate(_TOPIC_LIST):
            wrong = _TOPIC_LIST[(t + 1) % len(_TOPIC_LIST)][1]
            rows.append(
                {"text": question.format(n=i), "chosen": answer.format(n=i), "rejected": wrong.format(n=i)}
            )
    return rows


def unpaired(n: int = 4) -> list[dict[str, Any]]:
    rows = []
    for row in pairs(n):
        rows.append({"text": row["text"], "completion": row["chosen"], "label": True})
        rows.append({"text": row["text"], "completion": row["rejected"], "label": False})
    return rows


def preference_config(make_config, objective: dict[str, Any], method: str = "lora", **training: Any):
    config = make_config(method, **{"max_steps": 4, "batch_size": 4, "lr": 1e-2, **training})
    config["spec"]["objective"] = objective
    config["inputs"]["dataset"] = "data/prefs"
    return config


@pytest.fixture
def prefs_project(tiny_project: Path) -> Path:
    _write(tiny_project / "data" / "prefs", pairs())
    return tiny_project


def _metrics(root: Path) -> dict[str, Any]:
    return json.loads((root / "metrics" / "tune-tiny.json").read_text())


def test_dpo_with_lora_learns_the_pairs_and_writes_the_usual_outputs(make_config, prefs_project: Path, typed):
    from llmops.runners.tune.run import run

    config = preference_config(make_config, {"type": "dpo", "beta": 0.5}, max_steps=8)
    run(typed(config), prefs_project)
    metrics = _metrics(prefs_project)
    assert metrics["objective"] == "dpo" and metrics["steps"] == 8
    # held-out pairs: the margin grew from (about) zero; on the training pairs TRL logged it too
    assert metrics["eval_rewards/margins"] > metrics["eval_rewards/margins_start"]
    assert metrics["rewards/margins"] > 0
    assert metrics["eval_rewards/accuracies"] >= metrics["eval_rewards/accuracies_start"]
    assert metrics["tokens"] > 0 and metrics["tokens_per_s"] > 0
    assert metrics["trainable_params"] < metrics["total_params"]
    folder = prefs_project / "models" / "tiny"
    assert (folder / "adapter_model.safetensors").is_file()
    card = json.loads((folder / "llmops-model.json").read_text())
    assert card["objective"]["type"] == "dpo" and card["prompt_hash"].startswith("sha256:")
    assert (prefs_project / "plots" / "tune-tiny" / "train" / "rewards" / "margins.tsv").is_file()
    assert not (prefs_project / ".llmops" / "work" / "tune-tiny").exists()


@pytest.mark.parametrize(
    ("objective", "method"),
    [({"type": "orpo"}, "lora"), ({"type": "simpo", "simpo_gamma": 0.3}, "lora"), ({"type": "dpo"}, "full")],
)
def test_other_pair_objectives_train(make_config, prefs_project: Path, typed, objective, method):
    from llmops.runners.tune.run import train_stage

    metrics = train_stage(
        typed(preference_config(make_config, objective, method, max_steps=2)), prefs_project
    )
    assert metrics["objective"] == objective["type"] and metrics["steps"] == 2
    assert "eval_rewards/margins" in metrics and metrics["tokens"] > 0
    weights = "model.safetensors" if method == "full" else "adapter_model.safetensors"
    assert (prefs_project / "models" / "tiny" / weights).is_file()


def test_kto_trains_on_labelled_answers(make_config, tiny_project: Path, typed):
    from llmops.runners.tune.run import train_stage

    _write(tiny_project / "data" / "prefs", unpaired())
    config = preference_config(make_config, {"type": "kto", "desirable_weight": 1.0}, max_steps=2)
    metrics = train_stage(typed(config), tiny_project)
    assert metrics["objective"] == "kto" and metrics["steps"] == 2


def test_a_row_without_its_rejected_answer_is_named(make_config, prefs_project: Path, typed):
    from llmops.runners.tune.run import train_stage

    rows = pairs()
    del rows[2]["rejected"]
    _write(prefs_project / "data" / "prefs", rows)
    with pytest.raises(StageFailed, match=r"train\.jsonl:3: row has no text in 'rejected'"):
        train_stage(typed(preference_config(make_config, {"type": "dpo"})), prefs_project)
    assert not (prefs_project / "models" / "tiny").exists()


def test_an_interrupted_dpo_run_resumes_from_its_checkpoint(make_config, prefs_project: Path, typed):
    from transformers import TrainerCallback

    from llmops.runners.tune.run import train_stage

    class Interrupt(Exception):
        pass

    class Stop(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise Interrupt

    config = typed(preference_config(make_config, {"type": "dpo"}, max_steps=4, save_steps=2))
    with pytest.raises(Interrupt):
        train_stage(config, prefs_project, callbacks=[Stop()])
    assert not (prefs_project / "models" / "tiny").exists()
    metrics = train_stage(config, prefs_project)
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 4


def test_rows_render_the_prompt_parse_labels_and_cut_long_prompts(make_config, tiny_project: Path, typed):
    from transformers import AutoTokenizer

    from llmops.training.preference_data import load_preference_rows

    rows = [
        {"text": "where is parcel 1? " * 20, "completion": "It ships.", "label": "yes"},
        {"text": "Can I return item 2?", "completion": "No.", "label": 0},
    ]
    _write(tiny_project / "data" / "prefs", rows * 2)
    tokenizer = AutoTokenizer.from_pretrained(tiny_project / "base")
    short = "Question: Can I return item 2?\nAnswer:"
    limit = len(tokenizer(short, add_special_tokens=False)["input_ids"])
    config = typed(preference_config(make_config, {"type": "kto", "max_prompt_length": limit}))
    data = load_preference_rows(
        config.inputs.prompt, tiny_project, tokenizer, config.spec.objective, dataset="data/prefs"
    )
    first, second = data.splits["train"][:2]
    assert first["label"] is True and second["label"] is False
    assert second["prompt"] == short and second["completion"] == "No."
    assert len(tokenizer(first["prompt"], add_special_tokens=False)["input_ids"]) <= limit
    assert first["prompt"].endswith("Answer:") and data.truncated_prompts == 2

    _write(tiny_project / "data" / "prefs", [{**rows[0], "label": "maybe"}, rows[1]])
    with pytest.raises(StageFailed, match=r"train\.jsonl:1: 'label' is 'maybe'"):
        load_preference_rows(
            config.inputs.prompt, tiny_project, tokenizer, config.spec.objective, dataset="data/prefs"
        )
