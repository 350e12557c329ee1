"""Generation helpers: engine choice and the exact vLLM configuration."""

from __future__ import annotations

import pytest

from llmops.compiler.kinds.evalsuite import Generation
from llmops.errors import UsageError
from llmops.runners.eval.generate import choose_engine, vllm_settings

GENERATION = Generation(max_new_tokens=32, temperature=0.0, top_p=1.0, stop=["\nQuestion:"], batch_size=4)


def test_without_cuda_auto_is_transformers_and_vllm_is_refused():
    assert choose_engine("auto") == "transformers"
    assert choose_engine("transformers") == "transformers"
    with pytest.raises(UsageError, match="vllm needs a CUDA GPU"):
        choose_engine("vllm")


def test_vllm_serves_a_lora_adapter_on_its_base():
    card = {"adapter": True, "method": {"type": "lora", "r": 16}, "base_model": {"path": "artifacts/base/x"}}
    llm, sampling, adapter = vllm_settings("artifacts/models/x", None, card, GENERATION, 7)
    assert llm == {
        "model": "artifacts/base/x",
        "seed": 7,
        "trust_remote_code": False,
        "dtype": "auto",
        "enable_lora": True,
        "max_lora_rank": 16,
    }
    assert adapter == "artifacts/models/x"
    assert sampling == {
        "max_tokens": 32,
        "temperature": 0.0,
        "top_p": 1.0,
        "stop": ["\nQuestion:"],
        "seed": 7,
    }


def test_vllm_prefers_the_merged_model_and_pins_hub_revisions():
    card = {
        "adapter": True,
        "merged": "merged",
        "method": {"type": "lora", "r": 8},
        "base_model": {"hub": "org/m", "revision": "abc"},
    }
    llm, _, adapter = vllm_settings("artifacts/models/x", None, card, GENERATION, 1)
    assert llm["model"] == "artifacts/models/x/merged" and adapter is None and "revision" not in llm
    full = {"adapter": False, "base_model": {"hub": "o/m", "revision": "r1"}}
    llm, _, _ = vllm_settings("artifacts/models/full", None, full, GENERATION, 1)
    assert llm["model"] == "artifacts/models/full" and "revision" not in llm
    llm, _, _ = vllm_settings("org/base-7b", "0123abc", None, GENERATION, 1)
    assert llm["model"] == "org/base-7b" and llm["revision"] == "0123abc"
    on_hub_base = {
        "adapter": True,
        "method": {"type": "lora", "r": 4},
        "base_model": {"hub": "o/m", "revision": "r2"},
    }
    llm, _, adapter = vllm_settings("artifacts/models/x", None, on_hub_base, GENERATION, 1)
    assert (llm["model"], llm["revision"], adapter) == ("o/m", "r2", "artifacts/models/x")


def test_vllm_refuses_prompt_tuning_adapters():
    card = {"adapter": True, "method": {"type": "prompt-tuning"}, "base_model": {"path": "b"}}
    with pytest.raises(UsageError, match="prompt-tuning"):
        vllm_settings("m", None, card, GENERATION, 1)
