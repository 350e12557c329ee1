"""Embedding drift: the MMD by hand, and a real tiny model's mean-pooled hidden states."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from llmops.compiler.stages.model import PathModel
from llmops.runners.monitor.embed import embedding_drift, mmd_rbf, sample

BASE = PathModel(path="base")


def test_mmd_by_hand() -> None:
    import torch

    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    # squared distance 2 between them; median heuristic -> gamma 1/2; k(x, y) = e^-1
    assert mmd_rbf(x, y) == pytest.approx(2 - 2 * math.exp(-1), abs=1e-6)
    same = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert mmd_rbf(same, same.clone()) == pytest.approx(0.0, abs=1e-7)


def test_sample_is_even_and_deterministic() -> None:
    texts = [str(i) for i in range(10)]
    assert sample(texts, 5) == ["0", "2", "4", "6", "8"]
    assert sample(texts[:3], 5) == ["0", "1", "2"]


def test_skips_without_a_model_on_disk(tmp_path: Path) -> None:
    out = embedding_drift(PathModel(path="artifacts/models/x"), tmp_path, ["a"], ["b"])
    assert out["status"] == "skipped" and "not on disk" in out["reason"]
    assert embedding_drift(None, tmp_path, ["a"], ["b"])["status"] == "skipped"


@pytest.mark.slow
def test_real_model_tells_shifted_inputs_apart(built_base: Path) -> None:
    rows = [json.loads(line) for line in (built_base / "data/qa/train.jsonl").read_text().splitlines()]
    reference = [r["text"] for r in rows]
    same = reference[::2]
    shifted = [f"zq{i} xv{i * 7} kk jj bb {i}" for i in range(len(same))]
    near = embedding_drift(BASE, built_base, reference, same)
    far = embedding_drift(BASE, built_base, reference, shifted)
    assert near["status"] == far["status"] == "computed"
    assert 0 <= near["mmd"] < far["mmd"] <= 1
    assert near["cosine_distance"] < far["cosine_distance"]
    assert far["reference_n"] == len(reference) and far["live_n"] == len(shifted)


@pytest.mark.gpu
def test_embeds_on_the_gpu_when_there_is_one(built_base: Path) -> None:
    rows = [json.loads(line) for line in (built_base / "data/qa/train.jsonl").read_text().splitlines()]
    reference = [r["text"] for r in rows]
    out = embedding_drift(BASE, built_base, reference, reference[::3])
    assert out["status"] == "computed" and out["device"].startswith("cuda")
    assert 0 <= out["mmd"] < 0.5
