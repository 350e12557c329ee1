"""Retiring a FineTune or a Deployment (`status: retired`) takes it out of the generated pipeline
and workflows, while its spec stays in git and the audit keeps its record."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from llmops.cli.main import main
from llmops.compiler.compile import compile_project
from llmops.compiler.parse import load_project
from llmops.errors import SpecError

FILES = {
    "llmops.yaml": "kind: Project\nname: demo\nstorage: {remote: {url: /srv/dvc-remote}}\n",
    "data/t.jsonl": '{"text": "hi", "answer": "hello"}\n',
    "specs/tickets.yaml": "kind: Dataset\nname: tickets\nsources: [{path: data/t.jsonl}]\n",
    "specs/answer.yaml": "kind: Prompt\nname: answer\ntemplate: 'Q: {{ text }}'\nvariables: [text]\n"
    "completion: answer\n",
    "specs/old.yaml": "kind: FineTune\nname: old\n"
    "base_model: {hub: org/base, revision: 0123456789abcdef0123456789abcdef01234567}\n"
    "dataset: tickets\nprompt: answer\nstatus: {status}\n",
    "specs/new.yaml": "kind: FineTune\nname: new\n"
    "base_model: {hub: org/base, revision: 0123456789abcdef0123456789abcdef01234567}\n"
    "dataset: tickets\nprompt: answer\n",
    "specs/release.yaml": "kind: Policy\nname: release\napplies_to: {finetunes: [old, new]}\nreview: {}\n",
    "specs/prod.yaml": "kind: Deployment\nname: prod\nmodel: {finetune: new}\nenvironment: production\n"
    "monitoring: {schedule: '0 6 * * *'}\n",
    "specs/legacy.yaml": "kind: Deployment\nname: legacy\nmodel: {finetune: old}\nenvironment: staging\n"
    "status: {legacy}\n",
}


def write(
    root: Path, *, old: str = "retired", legacy: str = "retired", extra: dict[str, str] | None = None
) -> Path:
    for rel, text in {**FILES, **(extra or {})}.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace("{status}", old).replace("{legacy}", legacy))
    return root


def test_retired_specs_leave_the_pipeline_and_workflows(tmp_path):
    files = compile_project(load_project(write(tmp_path))).files
    dvc = files["dvc.yaml"]
    assert "tune-new:" in dvc and "tune-old" not in dvc
    workflows = "".join(v for k, v in files.items() if k.startswith(".github/"))
    assert (
        "tune-old" not in workflows and "deploy-legacy" not in workflows and "monitor-legacy" not in workflows
    )
    assert "deploy-prod" in workflows
    review = json.loads(files[".llmops/stages/review-release.json"])
    assert review["inputs"]["models"] == {"new": "artifacts/models/new"}


def test_an_active_spec_may_not_build_on_a_retired_one(tmp_path):
    write(tmp_path, legacy="active")
    with pytest.raises(SpecError) as caught:
        load_and_compile(tmp_path)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.field) == ("specs/legacy.yaml", 3, "model.finetune")
    assert diagnostic.message == "FineTune 'old' is retired (specs/old.yaml)"
    assert diagnostic.hint == "point at an active one, or retire this spec too"


def load_and_compile(root: Path):
    return compile_project(load_project(root))


def test_the_audit_keeps_a_retired_finetune(tmp_path, capsys):
    root = write(tmp_path, old="active", legacy="retired")
    repo = git.Repo.init(root, initial_branch="main")
    actor = git.Actor("Carol", "carol@example.com")
    repo.git.add("-A")
    repo.index.commit("Initial (#1)", author=actor, committer=actor)
    write(root, old="retired", legacy="retired")
    assert main(["compile", "-C", str(root)]) == 0
    repo.git.add("-A")
    retire = repo.index.commit("Retire old (#2)\n\nApproved-by: Alice <alice@example.com>\n", author=actor)
    capsys.readouterr()
    assert main(["audit", "-C", str(root), "--format", "json", "--name", "old"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(c["change"], c["pr"]) for c in report["changes"]] == [("added", 1), ("retired", 2)]
    assert report["changes"][-1]["commit"] == retire.hexsha
    (summary,) = report["specs"]
    assert summary["state"] == "retired" and summary["retired_at"]
    assert "tune-old" not in (root / "dvc.yaml").read_text()


def test_retiring_a_deployment_removes_its_kubernetes_manifest(tmp_path, capsys):
    prod = "specs/prod.yaml"
    root = write(tmp_path, extra={prod: FILES[prod] + "kubernetes: {enabled: true, namespace: llm}\n"})
    assert main(["compile", "-C", str(root)]) == 0
    manifest = root / "deploy/prod/inferenceservice.yaml"
    assert manifest.is_file()
    (root / prod).write_text((root / prod).read_text() + "status: retired\n")
    capsys.readouterr()
    assert main(["compile", "--check", "-C", str(root)]) == 1
    assert "no longer generated: deploy/prod/inferenceservice.yaml" in capsys.readouterr().err
    assert main(["compile", "-C", str(root)]) == 0
    assert not manifest.exists() and not manifest.parent.exists()
    assert (root / "deploy").is_dir()  # only the retired deployment's own folder goes
