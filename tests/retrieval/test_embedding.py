"""The embedder loads only a checked, safetensors model folder inside the project."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from llmops.errors import StageFailed
from llmops.hashing import file_sha256
from llmops.paths import PathOutsideProject
from llmops.retrieval.embedding import Embedder
from tests.retrieval.conftest import MODEL


def test_loads_encodes_and_counts_tokens(project):
    pins = {"model.safetensors": file_sha256(project / MODEL / "model.safetensors")}
    embedder = Embedder.load({"path": MODEL}, project, sha256=pins, device="cpu")
    assert embedder.dimensions == 64 and embedder.max_seq_length == 128
    vectors = embedder.encode(["Reset your password from the login page.", "parcels ship within days"])
    assert vectors.shape == (2, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 64)
    # no specials and no truncation: chunking sizes chunks with it
    assert embedder.count_tokens("reset password " * 100) == 200
    facts = embedder.manifest_facts(True)
    assert facts["model"] == {"path": MODEL} and facts["dimensions"] == 64
    assert facts["files_sha256"]["model.safetensors"] == pins["model.safetensors"]
    assert "1_Pooling/config.json" in facts["files_sha256"]


def test_a_pin_mismatch_names_the_file_and_both_hashes_before_loading(project, monkeypatch):
    import sentence_transformers

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", None)  # must not be reached
    actual = file_sha256(project / MODEL / "model.safetensors")
    with pytest.raises(StageFailed) as error:
        Embedder.load({"path": MODEL}, project, sha256={"model.safetensors": "ab" * 32})
    assert (
        "model.safetensors" in str(error.value)
        and actual in str(error.value)
        and "ab" * 32 in str(error.value)
    )
    with pytest.raises(StageFailed, match="not in the model folder"):
        Embedder.load({"path": MODEL}, project, sha256={"weights.safetensors": "ab" * 32})


def test_refuses_pickled_weights_only(project):
    folder = project / MODEL
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(StageFailed, match=r"only pickled weights \(pytorch_model.bin\)"):
        Embedder.load({"path": MODEL}, project)


def test_paths_stay_inside_the_project(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    shutil.copytree(project / MODEL, outside / "m")
    os.symlink(outside / "m", project / "models" / "link")
    with pytest.raises(PathOutsideProject):
        Embedder.load({"path": "models/link"}, project)
    with pytest.raises(StageFailed, match="no such folder"):
        Embedder.load({"path": "models/none"}, project)
    with pytest.raises(StageFailed, match="revision"):
        Embedder.load({"hub": "owner/name"}, project)


def test_hub_model_offline_and_not_cached_fails_at_once(project, monkeypatch, tmp_path):
    from llmops.hf.hub import HubUnavailable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with pytest.raises(HubUnavailable, match="HF_HUB_OFFLINE"):
        Embedder.load({"hub": "llmops-tests/no-such-model", "revision": "0" * 40}, project)
