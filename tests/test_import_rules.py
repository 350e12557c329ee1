"""The import rules in pyproject.toml hold (`lint-imports`), and they cover every runner and command.

A rule that forgets a new runner package or command module would pass while saying nothing
about it, so the lists in the contracts are compared with the folders on disk.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_lint_imports_passes():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "0 broken" in done.stdout


def test_every_runner_package_is_independent():
    runners = {f"llmops.runners.{p.parent.name}" for p in (REPO / "runners").glob("*/__init__.py")}
    assert set(_contracts()["runners-independent"]["modules"]) == runners


def test_every_command_module_is_independent():
    commands = {f"llmops.cli.{p.stem}" for p in (REPO / "llmops" / "cli").glob("*_cmd.py")}
    listed = set(_contracts()["cli-commands-independent"]["modules"])
    assert listed == commands | {"llmops.cli.commands", "llmops.cli.generated"}


def test_the_graph_spans_all_three_source_roots_and_sees_lazy_imports():
    spec = importlib.util.spec_from_file_location("importgraph", REPO / "importgraph.py")
    assert spec is not None and spec.loader is not None
    importgraph = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(importgraph)
    graph = importgraph.full_graph()
    assert {"llmops.cli.main", "llmops.compiler.compile", "llmops.runners.tune.run"} <= graph.modules
    # imported inside a function, as runners load their heavy modules
    assert graph.direct_import_exists(importer="llmops.runners.tune.run", imported="llmops.training.trainer")
    assert not any(m.endswith("schema-migrations") or "metric-modules" in m for m in graph.modules)
