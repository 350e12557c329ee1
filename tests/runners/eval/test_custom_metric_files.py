"""A custom metric's package folder is a DVC dependency of its eval stage (compiler/stages/eval.py):
loading and running the metric writes nothing into it, so its hash is the same before and after
the stage and on every machine."""

from __future__ import annotations

import sys
from pathlib import Path

from llmops.compiler.kinds.evalsuite import Bootstrap, Metric
from llmops.results.dvchash import md5_on_disk
from llmops.runners.eval import scoring


def test_a_metric_package_gets_no_bytecode_written_into_it(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as a plain `python` runs
    package = tmp_path / "evalpkg_nobytecode" / "checks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "def score(predictions, references):\n    from .later import one\n    return one()\n"
    )
    (package / "later.py").write_text("def one():\n    return 1.0\n")
    before = md5_on_disk(package.parent)
    metric = Metric.model_validate({"name": "custom", "callable": "evalpkg_nobytecode.checks:score"})
    found, _ = scoring.score_all(
        [metric], ["a"], ["a"], root=tmp_path, seed=0, bootstrap=Bootstrap.model_validate({"samples": 0})
    )
    assert [s.value for s in found] == [1.0]
    assert not list(tmp_path.rglob("__pycache__"))
    assert md5_on_disk(package.parent) == before
    assert sys.dont_write_bytecode is False  # restored for the rest of the process
