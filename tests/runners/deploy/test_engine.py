"""Engines: the exact commands (vLLM multi-LoRA, merged, tensor parallel, hub; transformers serve),
what prepare_model serves, and an engine process's life (start, ready, died, stopped)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from llmops.compiler.stages.model import HubModel, PathModel
from llmops.errors import StageFailed
from llmops.runners.deploy.engine import (
    choose_engine,
    engine_argv,
    engine_env,
    prepare_model,
    start_engine,
    stop_engine,
    wait_ready,
)
from llmops.runners.deploy.live import is_our_engine
from llmops.runners.deploy.prepare import ServedModel, fingerprint_of


def _tail(argv: list[str]) -> list[str]:
    """argv without the console script's location, which depends on the machine."""
    return argv[1:]


def test_vllm_multi_lora_serves_the_base_and_registers_the_adapter(tuned_project, make_spec):
    spec = make_spec(engine={"type": "vllm", "max_model_len": 2048, "dtype": "bfloat16"})
    served = prepare_model(spec, PathModel(path="models/tiny"), tuned_project)
    base, adapter = tuned_project / "base", tuned_project / "models" / "tiny"
    assert served == ServedModel(
        name="support",
        path=str(base.resolve()),
        base=str(base.resolve()),
        adapter=str(adapter.resolve()),
        lora_rank=8,  # r=4 rounded up to the smallest rank vLLM accepts above it
        fingerprint=served.fingerprint,
    )
    argv = engine_argv(spec, served, host="127.0.0.1", port=41234)
    assert Path(argv[0]).name == "vllm"
    assert _tail(argv) == [
        "serve",
        str(base.resolve()),
        "--served-model-name",
        "support-base",
        "--host",
        "127.0.0.1",
        "--port",
        "41234",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "2048",
        "--gpu-memory-utilization",
        "0.9",
        "--tensor-parallel-size",
        "1",
        "--load-format",
        "safetensors",
        "--enable-lora",
        "--lora-modules",
        f"support={adapter.resolve()}",
        "--max-lora-rank",
        "8",
        "--max-loras",
        "1",
    ]
    assert not (tuned_project / ".llmops" / "serve").exists(), "multi-LoRA needs no merged copy"


def test_vllm_merged_serves_a_merged_safetensors_copy_made_once(tuned_project, make_spec):
    spec = make_spec(engine={"type": "vllm", "lora": "merged", "tensor_parallel_size": 4})
    served = prepare_model(spec, PathModel(path="models/tiny"), tuned_project)
    merged = Path(served.path)
    assert merged.parent.parent == tuned_project / ".llmops" / "serve" / "support" / "models"
    assert merged.name == "support" and served.adapter is None and served.workdir is None
    assert (merged / "model.safetensors").is_file() and (merged / "config.json").is_file()
    assert not list(merged.glob("*.bin")) and not (merged / "adapter_config.json").exists()
    argv = engine_argv(spec, served, host="127.0.0.1", port=9000)
    assert _tail(argv)[:4] == ["serve", str(merged), "--served-model-name", "support"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "4"
    assert "--enable-lora" not in argv and "--max-model-len" not in argv

    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    again = prepare_model(spec, PathModel(path="models/tiny"), tuned_project)
    assert again == served and (merged / "model.safetensors").stat().st_mtime_ns == stamp


def test_merged_weights_equal_the_adapter_applied_to_its_base(tuned_project, make_spec):
    import torch
    from transformers import AutoModelForCausalLM

    from llmops.hf.loading import load_causal_lm

    served = prepare_model(make_spec(), PathModel(path="models/tiny"), tuned_project)
    merged = AutoModelForCausalLM.from_pretrained(served.path, use_safetensors=True)
    expected = load_causal_lm(str(tuned_project / "models" / "tiny"), None, tuned_project)
    base = AutoModelForCausalLM.from_pretrained(str(tuned_project / "base"), use_safetensors=True)
    ids = torch.tensor([[1, 5, 9, 12]])
    with torch.no_grad():
        got, want, plain = (m(ids).logits for m in (merged, expected, base))
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, plain, atol=1e-3), (
        "the adapter changed nothing: the test would prove nothing"
    )


def test_transformers_serve_runs_pinned_to_the_deployment_name(tuned_project, make_spec):
    spec = make_spec(serving={"api_key_env": "SUPPORT_KEY"})
    served = prepare_model(spec, PathModel(path="models/tiny"), tuned_project)
    assert served.workdir and (Path(served.workdir) / "support" / "config.json").is_file()
    argv = engine_argv(spec, served, host="127.0.0.1", port=8123)
    assert Path(argv[0]).name == "transformers"
    assert _tail(argv) == [
        "serve",
        "support",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--device",
        "cpu",
        "--dtype",
        "auto",
        "--no-trust-remote-code",
        "--log-level",
        "info",
    ]
    assert engine_env(spec, served)["HF_HUB_OFFLINE"] == "1"


def test_full_model_folder_is_linked_under_the_deployment_name(tuned_project, make_spec):
    spec = make_spec()
    served = prepare_model(spec, PathModel(path="base"), tuned_project)
    link = Path(served.workdir) / "support"
    assert link.is_symlink() and link.resolve() == (tuned_project / "base").resolve()
    assert served.path == str((tuned_project / "base").resolve()) and served.base is None
    assert served.fingerprint == fingerprint_of(tuned_project / "base")


def test_hub_model_on_vllm_is_pinned_to_its_revision(tmp_path, make_spec):
    spec = make_spec(engine={"type": "vllm", "tensor_parallel_size": 2}, resources={"gpus": 2})
    served = prepare_model(spec, HubModel(hub="example-org/base-7b", revision="0123abcd"), tmp_path)
    argv = engine_argv(spec, served, host="127.0.0.1", port=8000)
    assert _tail(argv)[:6] == [
        "serve",
        "example-org/base-7b",
        "--revision",
        "0123abcd",
        "--served-model-name",
        "support",
    ]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert "HF_HUB_OFFLINE" not in engine_env(spec, served)


def test_a_secret_never_reaches_the_command_line(tuned_project, make_spec, monkeypatch):
    monkeypatch.setenv("SUPPORT_KEY", "sk-very-secret")
    for engine in ("vllm", "transformers"):
        spec = make_spec(engine={"type": engine}, serving={"api_key_env": "SUPPORT_KEY"})
        served = prepare_model(spec, PathModel(path="base"), tuned_project)
        argv = engine_argv(spec, served, host="127.0.0.1", port=8000)
        assert not any("sk-very-secret" in a or "api-key" in a for a in argv)


def test_prompt_tuning_adapters_are_refused_by_name(tuned_project, make_spec):
    card_path = tuned_project / "models" / "tiny" / "llmops-model.json"
    card = json.loads(card_path.read_text())
    card["method"]["type"] = "prompt_tuning"
    card_path.write_text(json.dumps(card))
    with pytest.raises(StageFailed, match="prompt_tuning adapter"):
        prepare_model(make_spec(), PathModel(path="models/tiny"), tuned_project)


def test_a_missing_model_folder_names_its_stage(tmp_path, make_spec):
    with pytest.raises(StageFailed, match="models/tiny does not exist; run its stage first"):
        prepare_model(make_spec(), PathModel(path="models/tiny"), tmp_path)


def test_choose_engine_follows_the_spec_and_auto_picks_transformers_without_cuda(make_spec):
    assert choose_engine(make_spec(engine={"type": "vllm"})) == "vllm"
    assert choose_engine(make_spec(engine={"type": "transformers"})) == "transformers"
    import importlib.util

    import torch

    expected = "vllm" if importlib.util.find_spec("vllm") and torch.cuda.is_available() else "transformers"
    assert choose_engine(make_spec(engine={"type": "auto"})) == expected


# -- an engine process's life, with real processes ---------------------------------------------


def test_wait_ready_polls_until_the_server_answers(tmp_path, engine_reaper):
    from llmops.runners.deploy.engine import free_port

    (tmp_path / "www" / "v1").mkdir(parents=True)
    (tmp_path / "www" / "v1" / "models").write_text('{"data": []}')
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    proc = engine_reaper.add(start_engine(argv, tmp_path / "logs" / "server.log", cwd=tmp_path / "www"))
    wait_ready(f"http://127.0.0.1:{port}", 30, proc)
    assert proc.poll() is None
    assert os.getpgid(proc.pid) == proc.pid, (
        "an engine runs in its own session, apart from the deploy command"
    )
    stop_engine(proc, timeout_s=5)
    assert proc.poll() is not None


def test_wait_ready_reports_an_engine_that_died_with_its_log(tmp_path):
    argv = [sys.executable, "-c", "import sys; print('cannot load the weights', flush=True); sys.exit(3)"]
    proc = start_engine(argv, tmp_path / "engine.log")
    with pytest.raises(
        StageFailed, match=r"exited with code 3 before it was ready(.|\n)*cannot load the weights"
    ):
        wait_ready("http://127.0.0.1:9", 30, proc)


def test_wait_ready_gives_up_after_its_timeout_and_stop_engine_stops_it(tmp_path, engine_reaper):
    argv = [sys.executable, "-c", "import time; print('loading', flush=True); time.sleep(60)"]
    proc = engine_reaper.add(start_engine(argv, tmp_path / "engine.log"))
    with pytest.raises(StageFailed, match=r"not ready after 1 s(.|\n)*loading"):
        wait_ready("http://127.0.0.1:9", 1.0, proc)
    stop_engine(proc.pid, timeout_s=5)  # by pid, as the deploy stage stops a previous engine
    assert proc.poll() is not None


def test_a_missing_engine_program_is_a_stage_failure(tmp_path):
    with pytest.raises(StageFailed, match=r"cannot start .*is the engine installed"):
        start_engine([str(tmp_path / "no-such-engine"), "serve"], tmp_path / "engine.log")


def test_a_pid_that_is_not_our_engine_is_never_ours_to_stop():
    record = {"pid": os.getpid(), "url": "http://127.0.0.1:8000"}
    assert not is_our_engine(record)
    assert not is_our_engine({"pid": 1, "url": "http://127.0.0.1:8000"})
    assert not is_our_engine({"pid": 2**22 + 12345, "url": "http://127.0.0.1:8000"})


def test_the_engine_leaves_the_ci_runners_process_tracking(tmp_path, monkeypatch):
    """A GitHub Actions runner kills what carries its RUNNER_TRACKING_ID when the job ends."""
    monkeypatch.setenv("RUNNER_TRACKING_ID", "github_1234")
    code = "import os; print('tracking=' + str(os.environ.get('RUNNER_TRACKING_ID')), flush=True)"
    proc = start_engine([sys.executable, "-c", code], tmp_path / "engine.log", env={"EXTRA": "1"})
    assert proc.wait(timeout=30) == 0
    assert "tracking=None" in (tmp_path / "engine.log").read_text()
