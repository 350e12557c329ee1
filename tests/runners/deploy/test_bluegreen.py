"""Blue/green on one machine with a real `transformers serve` and the tiny tuned Llama:
a passing deploy goes live; a failing one leaves the live engine serving; a passing one replaces
it and the old engine is gone."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from llmops.errors import CheckFailed
from llmops.runners.deploy.live import is_our_engine, read_live
from llmops.runners.deploy.run import run

pytestmark = pytest.mark.slow

PARCEL = {"prompt": "Where is my parcel 3?", "contains": ["parcel", "ships"], "max_tokens": 12}


def _chat(url: str, model: str, prompt: str) -> dict:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 24,
        "temperature": 0,
    }
    request = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    import psutil

    return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_blue_green_switches_only_after_the_smoke_tests_pass(
    tuned_project, make_spec, make_deploy_config, engine_reaper, approved, capsys
):
    root = tuned_project
    engine_reaper.roots.append(root)
    approved(root, "models/tiny", "base")  # the adapter and its base, as a merge approved them
    folder = root / ".llmops" / "serve" / "support"

    # 1. a first deploy that passes goes live
    run(make_deploy_config(make_spec(smoke_tests=[PARCEL])), root)
    first = read_live(folder)
    assert first and first["deployment"] == "support" and first["engine"] == "transformers"
    assert first["model"] == "support" and first["url"].startswith("http://127.0.0.1:")
    assert is_our_engine(first)
    assert (
        "ships" in _chat(first["url"], "support", "Where is my parcel 5?")["choices"][0]["message"]["content"]
    )
    out = capsys.readouterr().out
    assert "is live on transformers" in out
    assert "deploy-support: models/tiny holds the weights the committed dvc.lock approves" in out
    assert "deploy-support: base holds the weights the committed dvc.lock approves" in out
    smoke = json.loads((folder / "smoke" / f"{first['version']}.json").read_text())
    assert smoke["passed"] and smoke["tests"][0]["latency_ms"] > 0

    # 2. a deploy whose smoke test fails is not made live; the first keeps serving
    live_bytes = (folder / "live.json").read_bytes()
    failing = {"prompt": "Where is my parcel 3?", "contains": ["refund"], "max_tokens": 12}
    spec = make_spec(engine={"dtype": "float32"}, smoke_tests=[PARCEL, failing])
    with pytest.raises(CheckFailed) as caught:
        run(make_deploy_config(spec), root)
    message = str(caught.value)
    assert "1 of 2 smoke tests failed" in message and f"{first['version']} stays live" in message
    assert "smoke test 2 ('Where is my parcel 3?'): the answer lacks 'refund'" in message
    assert caught.value.exit_code == 1
    assert (folder / "live.json").read_bytes() == live_bytes
    assert is_our_engine(first)
    assert _chat(first["url"], "support", "Where is my parcel 1?")["model"] == "support"
    failed_logs = [p for p in (folder / "logs").iterdir() if not p.name.startswith(first["version"])]
    assert len(failed_logs) == 1, "the failed version's engine logged where the stage said"
    failed_port = int(failed_logs[0].stem.rsplit("-", 1)[1])
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{failed_port}/v1/models", timeout=5)

    # 3. a passing deploy of a new version replaces the first, whose engine is stopped
    run(make_deploy_config(make_spec(engine={"dtype": "float32"}, smoke_tests=[PARCEL])), root)
    third = read_live(folder)
    assert third and third["version"] != first["version"] and third["pid"] != first["pid"]
    assert is_our_engine(third)
    assert _gone(int(first["pid"]))
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{first['url']}/v1/models", timeout=5)
    assert (
        "ships" in _chat(third["url"], "support", "Where is my parcel 2?")["choices"][0]["message"]["content"]
    )
    models = sorted(p.name for p in (folder / "models").iterdir())
    assert len(models) == 1, "merged copies that no engine serves are pruned"


def test_an_engine_that_never_gets_ready_is_stopped_and_nothing_goes_live(
    tuned_project, make_spec, make_deploy_config, engine_reaper, approved
):
    """A model folder the engine cannot load (approved as it is): start-up fails, the error carries
    the log, no record."""
    engine_reaper.roots.append(tuned_project)
    (tuned_project / "broken").mkdir()
    (tuned_project / "broken" / "config.json").write_text('{"model_type": "llama"}')
    approved(tuned_project, "broken")
    with pytest.raises(Exception, match=r"before it was ready|not ready after") as caught:
        run(
            make_deploy_config(make_spec(engine={"startup_timeout_s": 120}), {"path": "broken"}),
            tuned_project,
        )
    assert "end of its log" in str(caught.value)
    assert read_live(tuned_project / ".llmops" / "serve" / "support") is None
