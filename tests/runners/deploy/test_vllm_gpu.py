"""The real vLLM path on a CUDA machine: multi-LoRA over a built base, smoke-tested, made live.

Skipped without CUDA (tests/conftest.py) or without vLLM (`pip install llmops-gitops[gpu]`). The base
is built with a head size vLLM's attention kernels take (64), unlike the CPU tests' tiny one.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from llmops.runners.deploy.live import is_our_engine, read_live
from llmops.runners.deploy.run import run

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def _base_config() -> dict:
    return {
        "stage": "base-tiny",
        "kind": "base",
        "runner_version": 1,
        "spec": {
            "name": "tiny",
            "base_model": {
                "build": {
                    "architecture": "llama",
                    "config": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2},
                    "tokenizer_dataset": "qa",
                    "vocab_size": 300,
                    "pretrain_steps": 200,
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


@pytest.mark.parametrize("lora", ["multi", "merged"])
def test_vllm_serves_the_tuned_model_and_goes_live(
    lora, built_base, tmp_path, make_config, make_spec, make_deploy_config, engine_reaper, typed, approved
):
    pytest.importorskip("vllm")
    from llmops.runners.base.run import run as build
    from llmops.runners.tune.run import run as tune

    shutil.copytree(built_base / "data", tmp_path / "data")
    build(typed(_base_config()), tmp_path)
    tune(typed(make_config("lora", max_steps=100, lr=1e-2)), tmp_path)
    approved(tmp_path, "models/tiny", "base")
    engine_reaper.roots.append(tmp_path)

    spec = make_spec(
        engine={"type": "vllm", "lora": lora, "max_model_len": 256, "gpu_memory_utilization": 0.3},
        resources={"gpus": 1},
        smoke_tests=[{"prompt": "Where is my parcel 3?", "max_tokens": 16}],
    )
    run(make_deploy_config(spec), tmp_path)
    record = read_live(tmp_path / ".llmops" / "serve" / "support")
    assert record and record["engine"] == "vllm" and is_our_engine(record)
    with urllib.request.urlopen(f"{record['url']}/v1/models", timeout=30) as response:
        ids = [m["id"] for m in json.loads(response.read())["data"]]
    assert "support" in ids
    assert ("support-base" in ids) == (lora == "multi")
