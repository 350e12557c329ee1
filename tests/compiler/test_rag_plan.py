"""`llmops plan` on the RAG golden project: editing one document reruns the index stage and the
stages that retrieve from it, and nothing upstream of it."""

from __future__ import annotations

import json
import subprocess

from llmops.cli.main import main

RETRIEVING = {
    "prompt-answer",
    "tune-tiny",
    "eval-grounded",
    "gate-release",
    "deploy-support",
    "monitor-support",
}


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _plan(fixture_project, capsys, edit):
    root = fixture_project("rag")
    _git(root, "init", "-q", "-b", "main")
    assert main(["-C", str(root), "compile"]) == 0
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    edit(root)
    capsys.readouterr()
    assert main(["-C", str(root), "plan", "--base", "main", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    return {s["stage"]: s["reasons"] for s in plan["rerun"]}


def test_editing_a_document_reruns_only_the_index_and_what_retrieves(fixture_project, capsys):
    def edit(root):
        doc = root / "knowledge/passwords.md"
        doc.write_text(doc.read_text() + "\nPasswords expire after a year.\n")

    stages = _plan(fixture_project, capsys, edit)
    assert stages["index-support-kb"] == ["input changed: knowledge/passwords.md"]
    assert set(stages) == {"index-support-kb", *RETRIEVING}
    assert stages["prompt-answer"] == ["after index-support-kb"]


def test_retrieval_settings_rerun_the_renders_but_not_the_index(fixture_project, capsys):
    def edit(root):
        spec = root / "specs/answer.yaml"
        spec.write_text(spec.read_text().replace("top_k: 5", "top_k: 6"))

    stages = _plan(fixture_project, capsys, edit)
    assert "index-support-kb" not in stages and "data-faq" not in stages
    assert stages["prompt-answer"] == ["config changed: retrieval.top_k"]


def test_chunking_reruns_the_index(fixture_project, capsys):
    def edit(root):
        spec = root / "specs/support-kb.yaml"
        spec.write_text(spec.read_text().replace("size: 128", "size: 96"))

    stages = _plan(fixture_project, capsys, edit)
    assert stages["index-support-kb"] == ["config changed: chunking.size"]
    assert set(stages) == {"index-support-kb", *RETRIEVING}
