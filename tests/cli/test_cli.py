"""The command line as a user drives it: exit codes, messages, files on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.cli.main import main
from llmops.compiler.compile import compile_project
from llmops.compiler.parse import load_project

HEAVY = (
    "torch",
    "transformers",
    "dvc",
    "vllm",
    "peft",
    "datasets",
    "evaluate",
    "git",
    "sqlalchemy",
    "alembic",
    "starlette",
    "uvicorn",
    "aiohttp",
    "httpx",
    "fastapi",
    "prometheus_client",
)


def _modules_after(argv: list[str], cwd: Path) -> set[str]:
    code = (
        "import sys\nfrom llmops.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False)
    return set(out.stderr.splitlines())


@pytest.mark.parametrize("argv", [["--help"], ["validate"], ["compile", "--check"], ["graph"]])
def test_fast_commands_import_no_heavy_library(argv, fixture_project):
    project = fixture_project("full")
    loaded = _modules_after(argv, project)
    assert "llmops.cli.main" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_help_imports_nothing_but_argparse():
    loaded = _modules_after(["--help"], Path.cwd())
    assert not any(m.startswith(("pydantic", "yaml", "jinja2", "networkx")) for m in loaded)


@pytest.mark.parametrize("argv", [["validate"], ["compile", "--check"], ["graph"]])
def test_spec_commands_import_no_networkx(argv, fixture_project):
    """The stage graph is built without networkx (its import alone cost 0.1 s a command)."""
    loaded = _modules_after(argv, fixture_project("full"))
    assert "llmops.compiler.graph" in loaded
    assert not any(m.split(".")[0] == "networkx" for m in loaded)


def test_the_garbage_collector_is_back_on_after_a_command(fixture_project, capsys):
    import gc

    assert main(["-C", str(fixture_project("full")), "compile"]) == 0
    assert gc.isenabled()


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("llmops 0.")


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2


def test_validate_ok_and_broken(fixture_project, capsys):
    assert main(["-C", str(fixture_project("full")), "validate"]) == 0
    assert "ok:" in capsys.readouterr().out
    assert main(["-C", str(fixture_project("broken")), "validate"]) == 2
    err = capsys.readouterr().err
    assert "specs/a.yaml:11:7: training.lr: Input should be greater than 0" in err
    assert "Traceback" not in err


def test_compile_then_check(fixture_project, capsys):
    root = fixture_project("full")
    assert main(["-C", str(root), "compile", "--check"]) == 1
    assert "missing: dvc.yaml" in capsys.readouterr().err
    assert main(["-C", str(root), "compile"]) == 0
    assert main(["-C", str(root), "compile", "--check"]) == 0
    (root / "specs/models/tiny-base.yaml").write_text(
        (root / "specs/models/tiny-base.yaml").read_text().replace("lr: 0.001", "lr: 0.002")
    )
    assert main(["-C", str(root), "compile", "--check"]) == 1
    assert "changed: .llmops/stages/tune-tiny.json" in capsys.readouterr().err


def test_compile_removes_only_its_own_stale_files(fixture_project, capsys):
    root = fixture_project("full")
    assert main(["-C", str(root), "compile"]) == 0
    mine = root / ".github/workflows/llmops-custom.yml"
    mine.write_text("name: hand written\n")
    (root / "specs/deploy/prod.yaml").unlink()
    (root / "specs/policies/release.yaml").write_text(
        (root / "specs/policies/release.yaml").read_text().replace("deployments: [prod]", "deployments: []")
    )
    assert main(["-C", str(root), "compile", "--check"]) == 1
    assert main(["-C", str(root), "compile"]) == 0
    assert mine.read_text() == "name: hand written\n"
    assert not (root / ".github/workflows/llmops-monitor.yml").exists()


def test_interrupted_compile_leaves_previous_files(fixture_project, monkeypatch):
    root = fixture_project("full")
    assert main(["-C", str(root), "compile"]) == 0
    # a new project seed changes several stage configs, so compile replaces several files
    (root / "llmops.yaml").write_text((root / "llmops.yaml").read_text().replace("seed: 7", "seed: 8"))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real_replace = os.replace

    def crash_on_second(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second)
    assert main(["-C", str(root), "compile"]) == 130
    monkeypatch.setattr(os, "replace", real_replace)
    fresh = compile_project(load_project(root)).files
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert [p for p in after if p.name.endswith(".tmp")] == []
    updated = [p for p in after if before.get(p) != after[p]]
    assert len(updated) == 1  # the first replace went through, the second was interrupted
    for path in after:
        rel = path.relative_to(root).as_posix()
        if rel in fresh:
            assert after[path] in (before[path], fresh[rel].encode()), rel
    assert main(["-C", str(root), "compile"]) == 0
    assert main(["-C", str(root), "compile", "--check"]) == 0


def test_schema_is_json_schema_for_every_kind(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    kinds = set(schema["discriminator"]["mapping"])
    assert kinds == {
        "Project",
        "Dataset",
        "KnowledgeIndex",
        "Prompt",
        "FineTune",
        "EvalSuite",
        "Policy",
        "Deployment",
    }


def test_graph_formats(fixture_project, capsys):
    root = str(fixture_project("full"))
    assert main(["-C", root, "graph"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR") and "deploy-prod" in mermaid and "deploy-old" not in mermaid
    assert main(["-C", root, "graph", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert '"gate-release" -> "deploy-prod";' in dot


def test_run_unknown_stage_suggests(fixture_project, capsys):
    root = fixture_project("full")
    assert main(["-C", str(root), "run", "data-tickts"]) == 2
    assert "did you mean 'data-tickets'?" in capsys.readouterr().err


def test_run_refuses_stale_config(fixture_project, capsys):
    root = fixture_project("full")
    assert main(["-C", str(root), "run", "data-tickets"]) == 2
    assert "run `llmops compile` first" in capsys.readouterr().err


def test_run_deploy_outside_git_is_a_usage_error(fixture_project, capsys):
    """A deployment acts only for a merged, approved commit: with no git history there is none."""
    root = fixture_project("full")
    main(["-C", str(root), "compile"])
    assert main(["-C", str(root), "run", "deploy-prod"]) == 2
    assert "is not inside a git repository" in capsys.readouterr().err


def test_init_refuses_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    assert main(["init", str(tmp_path)]) == 2
    assert (tmp_path / "x").read_text() == "keep me"


def test_init_creates_a_valid_project(tmp_path, capsys):
    target = tmp_path / "p"
    assert main(["init", str(target)]) == 0
    for rel in (
        "llmops.yaml",
        "specs/datasets/faq.yaml",
        "data/raw/faq.jsonl",
        ".dvc/config",
        ".gitignore",
        ".pre-commit-config.yaml",
    ):
        assert (target / rel).is_file(), rel
    assert main(["-C", str(target), "validate"]) == 0


def _prompt_project(tmp_path: Path, spec: str, template: str | None = None) -> Path:
    """The starter project from `llmops init`, plus one Prompt spec (and its template file)."""
    root = tmp_path / "p"
    assert main(["init", str(root)]) == 0
    (root / "specs" / "prompts").mkdir()
    (root / "specs" / "prompts" / "answer.yaml").write_text(spec, encoding="utf-8")
    if template is not None:
        (root / "prompts").mkdir()
        (root / "prompts" / "answer.j2").write_text(template, encoding="utf-8")
    return root


GOLDEN_SPEC = """\
kind: Prompt
name: answer
template_file: prompts/answer.j2
variables: [text]
completion: answer
chat_format: chatml
dataset: faq
tests:
  - name: parcel
    variables: {text: "Where is my parcel?"}
    expect: {contains: [parcel], not_contains: [password]}
  - variables: {text: "Hi"}
    expect: {equals: "<|im_start|>user\\nQ: Hi<|im_end|>\\n<|im_start|>assistant\\n"}
"""


def test_validate_runs_prompt_golden_tests(tmp_path, capsys):
    root = _prompt_project(tmp_path, GOLDEN_SPEC, "Q: {{ text }}")
    assert main(["-C", str(root), "validate"]) == 0
    out = capsys.readouterr().out
    assert "1 Prompt" in out and "2 golden tests passed" in out


def test_validate_exit_1_lists_every_failed_golden_test(tmp_path, capsys):
    root = _prompt_project(tmp_path, GOLDEN_SPEC, "Question: {{ text }} password")
    assert main(["-C", str(root), "validate"]) == 1
    err = capsys.readouterr().err
    assert "specs/prompts/answer.yaml:9: tests[0] (parcel): expected not to contain 'password'" in err
    assert "specs/prompts/answer.yaml:12: tests[1]: expected exactly" in err
    assert "2 of 2 golden tests failed" in err
    assert "Traceback" not in err


def test_validate_exit_2_for_template_errors_with_file_and_line(tmp_path, capsys):
    root = _prompt_project(tmp_path, GOLDEN_SPEC, "Q: {{ text }}\n{{ text.__class__ }}")
    assert main(["-C", str(root), "validate"]) == 2
    err = capsys.readouterr().err
    assert (
        "prompts/answer.j2:2: sandbox violation: access to attribute '__class__' of 'str' object is unsafe"
        in err
    )
    assert "while rendering tests[0] at specs/prompts/answer.yaml:9" in err
    assert "Traceback" not in err


def test_validate_exit_2_for_undeclared_and_undefined_variables(tmp_path, capsys):
    spec = """\
kind: Prompt
name: answer
variables: [text]
template: |
  Q: {{ text }}
  Topic: {{ topic }}
tests:
  - variables: {}
    expect: {contains: [Q]}
"""
    root = _prompt_project(tmp_path, spec)
    assert main(["-C", str(root), "validate"]) == 2
    err = capsys.readouterr().err
    assert (
        "specs/prompts/answer.yaml:6: template line 2: variable 'topic' is used but not declared in "
        "`variables` (declared: text) (prompt 'answer')"
    ) in err
    (root / "specs/prompts/answer.yaml").write_text(spec.replace("[text]", "[text, topic]"))
    assert main(["-C", str(root), "validate"]) == 2
    err = capsys.readouterr().err
    assert (
        "specs/prompts/answer.yaml:5: template line 1: undefined variable 'text' while rendering "
        "tests[0] at specs/prompts/answer.yaml:8 (prompt 'answer')"
    ) in err


def test_validate_exit_2_for_a_missing_template_file(tmp_path, capsys):
    root = _prompt_project(tmp_path, GOLDEN_SPEC)
    assert main(["-C", str(root), "validate"]) == 2
    assert "prompts/answer.j2: template_file does not exist (prompt 'answer', specs/prompts/answer.yaml)" in (
        capsys.readouterr().err
    )
