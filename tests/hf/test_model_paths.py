"""A model folder a spec names (`path:`, or a stage's output) is read only from inside the
project: a folder symlinked out, or holding a link out, is refused before anything loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.compiler.stages.model import PathModel
from llmops.hf.loading import resolve_location
from llmops.paths import PathOutsideProject


def _weights(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")


def test_a_model_folder_inside_the_project_resolves(tmp_path: Path) -> None:
    _weights(tmp_path / "proj" / "models" / "tiny")
    name, revision = resolve_location(PathModel(path="models/tiny"), tmp_path / "proj")
    assert Path(name) == tmp_path / "proj" / "models" / "tiny" and revision is None


def test_a_model_folder_symlinked_out_is_refused(tmp_path: Path) -> None:
    _weights(tmp_path / "outside" / "tiny")
    (tmp_path / "proj" / "models").mkdir(parents=True)
    (tmp_path / "proj" / "models" / "tiny").symlink_to(tmp_path / "outside" / "tiny")
    with pytest.raises(PathOutsideProject) as err:
        resolve_location(PathModel(path="models/tiny"), tmp_path / "proj")
    assert err.value.exit_code == 2 and "models/tiny" in str(err.value)


def test_a_model_folder_holding_a_link_out_is_refused(tmp_path: Path) -> None:
    _weights(tmp_path / "proj" / "models" / "tiny")
    (tmp_path / "secret.safetensors").write_bytes(b"x")
    (tmp_path / "proj" / "models" / "tiny" / "model.safetensors").symlink_to(tmp_path / "secret.safetensors")
    with pytest.raises(PathOutsideProject):
        resolve_location(PathModel(path="models/tiny"), tmp_path / "proj")
