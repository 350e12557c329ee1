"""A custom metric's module must be a file of the project: one that leads outside through a
symlink (the module file, its package folder, a parent package) is refused before it is imported,
and so is a name the project has no file for (it would import an installed module instead)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from llmops.compiler.kinds.evalsuite import Bootstrap, Metric
from llmops.paths import PathOutsideProject
from llmops.runners.eval.scoring import MetricError, score_all

BOOTSTRAP = Bootstrap(samples=0)
CODE = "import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('x')\n"
CODE += "def score(predictions, references):\n    return 1.0\n"


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("outside_metric")
    (folder / "mod.py").write_text(CODE)
    (folder / "__init__.py").write_text("")
    return folder


def _score(target: str, root: Path):
    metric = Metric.model_validate({"name": "custom", "callable": target})
    return score_all([metric], ["a"], ["a"], root=root, seed=0, bootstrap=BOOTSTRAP)


def _refused(target: str, root: Path, outside: Path, *parts: str) -> None:
    before = set(sys.modules)
    with pytest.raises(PathOutsideProject) as info:
        _score(target, root)
    assert info.value.exit_code == 2
    for part in parts:
        assert part in str(info.value), str(info.value)
    assert not (outside / "RAN").exists()  # nothing of it ran
    assert not {m for m in set(sys.modules) - before if m.startswith("metricpaths_")}


def test_a_module_file_symlinked_outside_is_refused(tmp_path, outside):
    (tmp_path / "metricpaths_a").mkdir()
    (tmp_path / "metricpaths_a" / "__init__.py").write_text("")
    os.symlink(outside / "mod.py", tmp_path / "metricpaths_a" / "mod.py")
    _refused(
        "metricpaths_a.mod:score",
        tmp_path,
        outside,
        "custom metric module metricpaths_a.mod leads outside the project",
        "the symlink metricpaths_a/mod.py points out of it",
    )


def test_a_package_folder_symlinked_outside_is_refused(tmp_path, outside):
    os.symlink(outside, tmp_path / "metricpaths_b")
    _refused("metricpaths_b.mod:score", tmp_path, outside, "the symlink metricpaths_b points out of it")


def test_a_top_level_module_symlinked_outside_is_refused(tmp_path, outside):
    os.symlink(outside / "mod.py", tmp_path / "metricpaths_c.py")
    _refused("metricpaths_c:score", tmp_path, outside, "metricpaths_c.py resolves to")


def test_a_module_the_project_lacks_is_not_imported_from_elsewhere(tmp_path):
    with pytest.raises(MetricError, match=r"cannot import os from .*neither os\.py nor os/__init__\.py"):
        _score("os:getcwd", tmp_path)


def test_a_module_inside_the_project_still_scores(tmp_path):
    (tmp_path / "metricpaths_d.py").write_text(CODE)
    scores, _ = _score("metricpaths_d:score", tmp_path)
    assert [s.value for s in scores] == [1.0]
