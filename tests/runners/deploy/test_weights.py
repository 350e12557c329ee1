"""Deploy serves exactly the approved weights: a model folder the committed dvc.lock does not
record, or whose content differs from what it records, is refused before any engine starts; the
exact weights, with the lock DVC itself wrote, are accepted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.compiler.stages.model import HubModel, PathModel
from llmops.errors import CheckFailed, UsageError
from llmops.results.dvchash import md5_on_disk
from llmops.runners.deploy.run import run
from llmops.runners.deploy.weights import verify_weights

STAGE = "deploy-support"


def _refused(root: Path, make_spec, make_deploy_config, model: dict | None = None) -> str:
    """Run the deploy stage, which must refuse; nothing may have started or gone live."""
    with pytest.raises(CheckFailed) as caught:
        run(make_deploy_config(make_spec(), model), root)
    assert caught.value.exit_code == 1
    serve = root / ".llmops" / "serve" / "support"
    assert not (serve / "live.json").exists() and not (serve / "logs").exists()
    return str(caught.value)


def test_untracked_weights_are_refused(tuned_project, make_spec, make_deploy_config, approved):
    root = tuned_project
    approved(root, "base")  # the base is approved; the adapter folder is in no dvc.lock
    message = _refused(root, make_spec, make_deploy_config)
    assert message.startswith(
        "refused: deploy-support would serve models/tiny, but the folder is not an output"
    )
    assert "the committed dvc.lock at " in message and "records no hash for it" in message
    assert "make it a stage's output (or `dvc add models/tiny` and commit models/tiny.dvc)" in message


def test_a_lock_edited_but_not_committed_approves_nothing(
    tuned_project, make_spec, make_deploy_config, approved
):
    """Only the commit's dvc.lock counts: writing the folder's hash into the working tree's lock
    (what anyone on the runner could do) does not approve it."""
    root = tuned_project
    approved(root, "base")
    lock = (root / "dvc.lock").read_text()
    (root / "dvc.lock").write_text(lock.replace('"path": "base"', '"path": "models/tiny"'))
    assert "models/tiny, but the folder is not an output" in _refused(root, make_spec, make_deploy_config)


def test_no_dvc_lock_at_all_is_refused(tuned_project, make_spec, make_deploy_config, git_in):
    git_in(tuned_project, "init", "-q")
    git_in(tuned_project, "commit", "-q", "--allow-empty", "-m", "nothing approved")
    assert "is not an output in dvc.lock" in _refused(tuned_project, make_spec, make_deploy_config)


@pytest.mark.parametrize("change", ["stray file", "weights swapped", "base modified"])
def test_modified_weights_are_refused(change, tuned_project, make_spec, make_deploy_config, approved):
    root = tuned_project
    sha = approved(root, "models/tiny", "base")
    folder = "base" if change == "base modified" else "models/tiny"
    expected = md5_on_disk(root / folder)
    if change == "stray file":
        (root / folder / "notes.txt").write_text("not approved\n")
    elif change == "weights swapped":
        weights = root / folder / "adapter_model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
    else:
        (root / folder / "config.json").write_text((root / folder / "config.json").read_text() + " ")
    actual = md5_on_disk(root / folder)
    message = _refused(root, make_spec, make_deploy_config)
    assert f"refused: deploy-support: {folder} is not what the merge approved" in message
    assert f"dvc.lock (stage tune-tiny) at {sha[:12]} approves {expected}" in message
    assert f"the folder here hashes to {actual}" in message
    assert f"run `dvc pull --force {folder}`" in message


def test_missing_weights_are_refused_with_the_pull_to_run(
    tuned_project, make_spec, make_deploy_config, approved
):
    root = tuned_project
    approved(root, "models/tiny", "base")
    shutil.rmtree(root / "models" / "tiny")
    message = _refused(root, make_spec, make_deploy_config)
    assert "models/tiny does not exist here; dvc.lock (stage tune-tiny) approves " in message
    assert "run `dvc pull models/tiny`" in message


def test_a_project_outside_git_cannot_show_an_approval(tuned_project, make_spec, make_deploy_config):
    with pytest.raises(UsageError, match="is not inside a git repository; deploy serves only the weights"):
        run(make_deploy_config(make_spec()), tuned_project)


def test_a_hub_model_pinned_by_revision_is_not_the_projects_to_check(tmp_path):
    assert verify_weights(STAGE, HubModel(hub="org/model", revision="0" * 40), tmp_path) == []


@pytest.mark.slow
def test_the_exact_weights_are_accepted_with_the_records_dvc_wrote(tuned_project, git_in):
    """Real DVC writes the records: the adapter as a stage's output in dvc.lock, the base through
    `dvc add` (base.dvc); both committed, both verified. Then a new commit that approves nothing
    (the records removed) refuses the same folders."""
    root = tuned_project
    dvc = str(Path(sys.executable).parent / "dvc")

    def sh(*args: str) -> None:
        out = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)
        assert out.returncode == 0, f"{args}: {out.stdout}{out.stderr}"

    git_in(root, "init", "-q")
    sh(dvc, "init", "-q")
    (root / "dvc.yaml").write_text("stages:\n  tune-tiny:\n    cmd: 'true'\n    outs:\n    - models/tiny\n")
    sh(dvc, "commit", "-f", "-q", "tune-tiny")
    sh(dvc, "add", "-q", "base")
    git_in(root, "add", "dvc.yaml", "dvc.lock", "base.dvc", ".gitignore", ".dvc")
    git_in(root, "commit", "-q", "-m", "the tuned adapter and its base")
    model = PathModel(path="models/tiny")
    assert verify_weights(STAGE, model, root) == ["models/tiny", "base"]

    git_in(root, "rm", "-q", "--cached", "base.dvc")
    git_in(root, "commit", "-q", "-m", "the base is no longer tracked")
    with pytest.raises(CheckFailed, match=r"would serve base, but the folder is not an output in dvc\.lock"):
        verify_weights(STAGE, model, root)


def test_a_knowledge_index_the_lock_does_not_approve_is_refused(
    tuned_project, make_spec, make_deploy_config, approved
):
    """A RAG deployment's gateway retrieves from its index folder: the deploy job checks it
    against the committed dvc.lock like the weights, so a swapped index is refused too."""
    root = tuned_project
    index = root / "artifacts" / "indexes" / "kb"
    index.mkdir(parents=True)
    (index / "manifest.json").write_text('{"format": 1}')
    approved(root, "base", "models/tiny", "artifacts/indexes/kb")
    (index / "chunks.jsonl").write_text('{"id": "planted#0", "text": "call this number"}\n')
    config = make_deploy_config(make_spec()).model_copy(deep=True)
    inputs = config.inputs.model_copy(update={"retrieval_index": "artifacts/indexes/kb"})
    with pytest.raises(CheckFailed) as caught:
        run(config.model_copy(update={"inputs": inputs}), root)
    message = str(caught.value)
    assert message.startswith("refused: deploy-support: artifacts/indexes/kb is not what the merge approved")
    assert not (root / ".llmops" / "serve" / "support" / "live.json").exists()
