"""`llmops serve` end to end with the real engine: it prepares a tiny Llama (built from a config,
no download), starts `transformers serve` on CPU through the deploy engine module, fronts it
with the gateway on loopback, and stops both on SIGTERM. One server start for the whole file."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from llmops.feedback_db import store
from llmops.gateway.server import free_port

pytestmark = pytest.mark.slow

QUESTIONS = ["Where is my parcel 3?", "Can I return item 4?", "Why was I charged twice for order 5?"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a trained tokenizer and a chat template, saved as safetensors."""
    from llmops.runners.base.run import run
    from llmops.runners.registry import typed_config

    root = tmp_path_factory.mktemp("tiny-model")
    data = root / "data" / "qa"
    data.mkdir(parents=True)
    rows = [{"text": q, "answer": "It ships in two days; mail help@example.com."} for q in QUESTIONS * 10]
    for split in ("train", "validation", "test"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build = {
        "architecture": "llama",
        "config": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2},
        "tokenizer_dataset": "qa",
        "vocab_size": 300,
        "pretrain_steps": 0,
        "pretrain_lr": 3e-3,
        "pretrain_batch_size": 8,
        "max_length": 64,
        "text_columns": ["text", "answer"],
    }
    config = {
        "stage": "base-tiny",
        "kind": "base",
        "runner_version": 1,
        "spec": {"name": "tiny", "base_model": {"build": build}},
        "inputs": {"dataset": "data/qa", "seed": 7},
        "outputs": {"outs": ["base"], "metrics": [], "plots": [], "reports": []},
    }
    run(typed_config(config), root)  # type: ignore[arg-type]
    return root / "base"


@pytest.fixture(scope="module")
def served(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """(gateway url, project root, the running `llmops serve` process)."""
    root = tmp_path_factory.mktemp("serve-project")
    (root / "specs").mkdir()
    (root / "llmops.yaml").write_text(
        "apiVersion: llmops/v1\nkind: Project\nname: gw-real\n"
        "defaults:\n  runners:\n    cpu: [ubuntu-latest]\n    gpu: [self-hosted, gpu]\n"
    )
    port = free_port()
    (root / "specs" / "support.yaml").write_text(
        "apiVersion: llmops/v1\nkind: Deployment\nname: support\nenvironment: dev\n"
        "model:\n  path: base\nengine:\n  type: transformers\n  startup_timeout_s: 240\n"
        f"serving:\n  port: {port}\n"
    )
    shutil.copytree(tiny_model, root / "base")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "llmops.cli.main", "-C", str(root), "serve", "support"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            pytest.fail(f"llmops serve exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("llmops serve did not come up in 300 s")
        time.sleep(0.2)
    yield url, root, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_real_engine_chat_stream_feedback_and_metrics(served) -> None:
    url, root, _ = served
    with httpx.Client(base_url=url, timeout=120) as client:
        models = [m["id"] for m in client.get("/v1/models").json()["data"]]
        body = {
            "model": "support",
            "messages": [{"role": "user", "content": QUESTIONS[0] + " I am ann@example.org"}],
        }
        once = client.post("/v1/chat/completions", json={**body, "max_tokens": 6})
        assert once.status_code == 200, once.text
        with client.stream(
            "POST", "/v1/chat/completions", json={**body, "max_tokens": 6, "stream": True}
        ) as s:
            events = [line for line in s.iter_lines() if line.startswith("data: {")]
        text = client.post(
            "/v1/completions", json={"model": "support", "prompt": QUESTIONS[1], "max_tokens": 4}
        )
        assert text.status_code == 200, text.text
        note = client.post(
            "/v1/feedback", json={"response_id": once.json()["id"], "rating": 4, "thumbs": "up"}
        )
        bad = client.post("/v1/chat/completions", json={"messages": "hi"})
        metrics = client.get("/metrics").text
    assert "support" in models
    assert note.status_code == 201 and bad.status_code == 400
    streamed_id = json.loads(events[0][6:])["id"]
    streamed = "".join(json.loads(e[6:])["choices"][0].get("delta", {}).get("content") or "" for e in events)
    engine = store.connect(store.default_url(root, "support"))
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(store.requests))}
        (fb,) = conn.execute(sa.select(store.feedback)).all()
    engine.dispose()
    assert set(rows) == {once.json()["id"], streamed_id, text.json()["id"]}
    first = rows[once.json()["id"]]
    assert first.request_text == QUESTIONS[0] + " I am [EMAIL]"
    assert first.completion_tokens == once.json()["usage"]["completion_tokens"] > 0
    assert first.prompt_tokens == once.json()["usage"]["prompt_tokens"] > 0
    assert first.response_text == once.json()["choices"][0]["message"]["content"]
    assert rows[streamed_id].response_text == streamed
    assert (fb.response_id, fb.rating, fb.thumbs) == (once.json()["id"], 4, 1)
    assert re.search(
        r'llmops_gateway_requests_total\{deployment="support",route="/v1/chat/completions",status="200"\} 2',
        metrics,
    )
    assert re.search(r'llmops_gateway_feedback_total\{deployment="support",kind="thumbs_up"\} 1', metrics)


def test_sigterm_stops_the_gateway_and_the_engine(served) -> None:
    _, _, proc = served
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    pid = int(re.search(r"\(transformers, pid (\d+),", out).group(1))
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the engine outlived llmops serve"
    assert "support stopped" in out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
