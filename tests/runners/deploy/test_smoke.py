"""Smoke tests against one real `transformers serve` engine serving the tiny tuned Llama."""

from __future__ import annotations

import shutil

import pytest

from llmops.compiler.kinds.deployment import SmokeTest
from llmops.compiler.stages.model import PathModel
from llmops.runners.deploy.engine import (
    engine_argv,
    engine_env,
    free_port,
    prepare_model,
    start_engine,
    stop_engine,
    wait_ready,
)
from llmops.runners.deploy.smoke import failures, run_smoke_tests

pytestmark = pytest.mark.slow


def smoke(*tests: dict) -> list[SmokeTest]:
    return [SmokeTest.model_validate(t) for t in tests]


@pytest.fixture(scope="module")
def engine_url(tuned_base, tmp_path_factory, make_spec):
    root = tmp_path_factory.mktemp("smoke-project")
    shutil.copytree(tuned_base, root, dirs_exist_ok=True)
    spec = make_spec()
    served = prepare_model(spec, PathModel(path="models/tiny"), root)
    port = free_port()
    argv = engine_argv(spec, served, host="127.0.0.1", port=port)
    proc = start_engine(argv, root / "engine.log", cwd=served.workdir, env=engine_env(spec, served))
    try:
        wait_ready(f"http://127.0.0.1:{port}", 180, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_engine(proc, timeout_s=5)


def test_a_passing_test_records_its_answer_and_latency(engine_url):
    [result] = run_smoke_tests(
        engine_url,
        "support",
        smoke({"prompt": "Where is my parcel 4?", "contains": ["PARCEL", "days"], "max_tokens": 24}),
    )
    assert result.passed, result.problems
    assert "days" in result.answer and result.latency_ms > 0


def test_each_failure_names_the_test_and_what_was_wrong(engine_url):
    long_prompt = "Where is my parcel 4? " + "Please answer quickly. " * 10
    tests = smoke(
        {"prompt": "Where is my parcel 4?", "contains": ["parcel"], "max_tokens": 12},
        {"prompt": "Where is my parcel 4?", "contains": ["refund", "parcel"], "max_tokens": 12},
        {"prompt": "Where is my parcel 4?", "not_contains": ["Parcel"], "max_tokens": 12},
        {"prompt": long_prompt, "max_latency_ms": 1, "max_tokens": 12},
    )
    results = run_smoke_tests(engine_url, "support", tests)
    assert [r.passed for r in results] == [True, False, False, False]
    lines = failures(results)
    assert len(lines) == 3
    assert lines[0].startswith("smoke test 2 ('Where is my parcel 4?'): the answer lacks 'refund'; answer: ")
    assert lines[1].startswith("smoke test 3 ('Where is my parcel 4?'): the answer contains 'Parcel'")
    assert lines[2].startswith("smoke test 4 ('Where is my parcel 4? Please answer quickly.")
    assert "…')" in lines[2] and "over the 1 ms allowed" in lines[2]


def test_a_model_the_engine_does_not_serve_fails_with_the_engines_answer(engine_url):
    [result] = run_smoke_tests(engine_url, "another-model", smoke({"prompt": "Hello", "max_tokens": 4}))
    assert not result.passed
    assert result.problems[0].startswith("the engine answered HTTP 400")


def test_an_unreachable_engine_fails_every_test():
    url = f"http://127.0.0.1:{free_port()}"
    results = run_smoke_tests(url, "support", smoke({"prompt": "a"}, {"prompt": "b"}), timeout_s=5)
    assert [r.passed for r in results] == [False, False]
    assert all(r.problems[0].startswith("no answer from the engine") for r in results)
