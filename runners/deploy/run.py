"""The deploy stage: `deploy-<name>` of a Deployment, blue/green on one machine.

0. verify the weights: every model folder it loads from the project holds exactly what the
   committed dvc.lock approves (`weights.py`); anything else is refused before a process starts;
1. prepare the model (merge an adapter where the engine needs it; reused when already merged);
2. start the new engine on a free loopback port, logging under `.llmops/serve/<name>/logs/`;
3. wait until it answers `/v1/models`;
4. run the spec's smoke tests against it;
5. pass: write the live record (atomically; the gateway follows it, so traffic switches with no
   restart), then stop the engine the previous record named, if that pid is still that engine;
   fail: stop the new engine and exit 1, leaving the previous record and engine untouched.

Two deploys of one deployment on one machine take turns (a lock file), so neither stops the
other's engine half-way. The stage's result is machine state, not a tracked output: see
`compiler/stages/deploy.py`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import write_text
from llmops.errors import CheckFailed
from llmops.runners.deploy.engine import (
    ServedModel,
    choose_engine,
    engine_argv,
    engine_env,
    free_port,
    prepare_model,
    serve_dir,
    start_engine,
    stop_engine,
    wait_ready,
)
from llmops.runners.deploy.live import git_head, is_our_engine, read_live, write_live
from llmops.runners.deploy.smoke import failures, run_smoke_tests
from llmops.runners.deploy.weights import verify_folder, verify_weights

if TYPE_CHECKING:
    from llmops.compiler.kinds.deployment import Deployment
    from llmops.compiler.stages.deploy import DeployConfig

ENGINE_HOST = "127.0.0.1"


def run(config: DeployConfig, root: Path) -> None:
    name = config.spec.name
    folder = serve_dir(root, name)
    with _lock(folder):
        record = deploy(config, root)
    print(
        f"{config.stage}: version {record['version']} is live on {record['engine']} at {record['url']} "
        f"(pid {record['pid']})"
    )


def deploy(config: DeployConfig, root: Path) -> dict[str, Any]:
    """Run steps 1-5 of the module docstring; returns the new live record."""
    spec = config.spec
    name = spec.name
    folder = serve_dir(root, name)
    for rel in verify_weights(config.stage, config.inputs.model, root):
        print(f"{config.stage}: {rel} holds the weights the committed dvc.lock approves")
    if config.inputs.retrieval_index:  # the gateway retrieves from it: approved like the weights
        rel = verify_folder(config.stage, config.inputs.retrieval_index, root)
        print(f"{config.stage}: {rel} holds the knowledge index the committed dvc.lock approves")
    engine = choose_engine(spec)
    served = prepare_model(spec, config.inputs.model, root, engine=engine)
    version = deployment_version(spec, served, engine)
    previous = read_live(folder)
    port = free_port(ENGINE_HOST)
    url = f"http://{ENGINE_HOST}:{port}"
    argv = engine_argv(spec, served, host=ENGINE_HOST, port=port, engine=engine)
    log = folder / "logs" / f"{version}-{port}.log"
    started_at = time.time()
    proc = start_engine(argv, log, cwd=served.workdir, env=engine_env(spec, served))
    try:
        wait_ready(url, spec.engine.startup_timeout_s, proc)
        results = run_smoke_tests(url, served.name, spec.smoke_tests)
        _write_smoke_report(folder, version, results)
        failed = failures(results)
        if failed:
            kept = f"; {previous['version']} stays live" if previous else ""
            raise CheckFailed(
                f"{config.stage}: {len(failed)} of {len(results)} smoke tests failed on version {version}, "
                f"which is not made live{kept}:\n  " + "\n  ".join(failed)
            )
    except BaseException:
        stop_engine(proc)
        raise
    record = {
        "deployment": name,
        "version": version,
        "engine": engine,
        "url": url,
        "model": served.name,
        "pid": proc.pid,
        "started_at": round(started_at, 3),
        "commit": git_head(root),
        "log": str(log.relative_to(root)) if log.is_relative_to(root) else str(log),
    }
    write_live(folder, record)
    if previous and int(previous["pid"]) != proc.pid and is_our_engine(previous):
        stop_engine(int(previous["pid"]))
    _prune_models(folder, served)
    for result in results:
        print(f"{config.stage}: {result.label()} passed in {result.latency_ms:.0f} ms")
    if not results:
        print(f"{config.stage}: warning: the spec has no smoke_tests; only start-up was checked")
    return record


def deployment_version(spec: Deployment, served: ServedModel, engine: str) -> str:
    """A short content hash: the served model's content and everything that changes how it is served."""
    material = {
        "model": served.fingerprint,
        "adapter": bool(served.adapter),
        "engine": engine,
        "settings": spec.engine.model_dump(mode="json"),
        "gpus": spec.resources.gpus,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]


def _write_smoke_report(folder: Path, version: str, results: list[Any]) -> None:
    report = {
        "version": version,
        "passed": all(r.passed for r in results),
        "tests": [r.as_dict() for r in results],
    }
    write_text(folder / "smoke" / f"{version}.json", json.dumps(report, indent=2, sort_keys=True) + "\n")


def _prune_models(folder: Path, served: ServedModel) -> None:
    """Merged models of versions no engine serves any longer (the old engine has just stopped)."""
    models = folder / "models"
    if not models.is_dir():
        return
    keep = {Path(p).resolve() for p in (served.workdir, served.path) if p}
    for entry in models.iterdir():
        if (
            entry.is_dir()
            and entry.resolve() not in keep
            and not any(k.is_relative_to(entry.resolve()) for k in keep)
        ):
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "deploy.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another deploy of {folder.name} on this machine to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
