"""YAML bombs in a spec: each is refused at once with file and line (exit 2), never expanded.

Before the budget in `llmops.yamlsafe`, a 512-byte billion-laughs spec ran `validate` for 24 s
into a MemoryError, a merge-key bomb died with SystemError, `&a [*a]` with RecursionError and
`<<: 5` with a ConstructorError traceback.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from llmops import yamlsafe
from llmops.cli.main import main
from llmops.compiler.read_yaml import load_text

HEAD = "kind: Dataset\nname: tickets\nsources: [{path: t.jsonl, format: jsonl}]\n"


def laughs(levels: int = 9) -> str:
    """Billion laughs: nine levels of nine aliases, 9**9 strings from about 500 bytes."""
    lines = ["a0: &a0 [" + ",".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return HEAD + "x-notes:\n" + "".join(f"  {line}\n" for line in lines)


def merge_bomb(levels: int = 8) -> str:
    """Each level merges the one below eight times (`<<`), 8**8 entries once flattened."""
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for i in range(1, levels + 1):
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 8) + f"], k{i}: {i}}}")
    return HEAD + "x-notes:\n" + "".join(f"  {line}\n" for line in lines)


# name -> (spec text, line of the refused value, what the message says)
CASES = {
    "billion-laughs": (laughs(), 9, "aliases expand this value"),
    "merge-key-bomb": (merge_bomb(), 9, "aliases expand this value"),
    "recursive-alias": (HEAD + "x-notes: &a [*a]\n", 4, "(a cycle)"),
    "recursive-merge": (HEAD + "x-notes: &a {<<: *a}\n", 4, "(a cycle)"),
    "merge-of-a-scalar": (HEAD + "x-notes: {<<: 5}\n", 4, "bad merge key (<<)"),
    "alias-chain-too-deep": (
        HEAD + "x-notes:\n" + "".join(f"  c{i}: &c{i} [{f'*c{i - 1}' if i else 1}]\n" for i in range(150)),
        102,
        "nests deeper than 100 levels",
    ),
    "deep-without-aliases": (
        HEAD + "x-notes: " + "[" * 300 + "]" * 300 + "\n",
        4,
        "nests deeper than 100 levels",
    ),
}


def test_the_bombs_are_the_sizes_the_issue_names():
    assert 450 <= len(laughs()) <= 512 and len(merge_bomb()) <= 700


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_reader_refuses_a_bomb_at_once_with_its_line(case):
    text, line, message = CASES[case]
    started = time.perf_counter()
    _, errors = load_text("specs/bomb.yaml", text)
    assert time.perf_counter() - started < 0.5
    assert errors, case
    assert errors[0].file == "specs/bomb.yaml" and errors[0].line == line, errors
    assert message in errors[0].message


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_plain_reader_refuses_them_too(case):
    """`yamlsafe.load` (dvc.yaml, dvc.lock from any commit) raises YamlError, a ValueError."""
    text, line, message = CASES[case]
    if case == "merge-of-a-scalar":
        message = "expected a mapping or list of mappings for merging"  # ruamel's words
    started = time.perf_counter()
    with pytest.raises(yamlsafe.YamlError) as raised:
        yamlsafe.load(text, "dvc.lock")
    assert time.perf_counter() - started < 0.5
    assert isinstance(raised.value, ValueError) and raised.value.exit_code == 2
    assert str(raised.value).startswith(f"dvc.lock:{line}:") and message in str(raised.value)


def test_anchors_a_real_spec_uses_still_work():
    text = HEAD + "x-base: &b {x: 1, y: [1, 2]}\nx-other:\n  <<: *b\n  z: 2\nx-list: [*b, *b]\n"
    doc, errors = load_text("s.yaml", text)
    assert not errors
    assert doc.data["x-other"] == {"x": 1, "y": [1, 2], "z": 2}
    assert yamlsafe.load(text)["x-list"] == [{"x": 1, "y": [1, 2]}] * 2
    # generous: a 20-key block repeated 200 times (8,000 nodes from aliases) is not a bomb
    many = (
        "base: &b {"
        + ", ".join(f"k{i}: {i}" for i in range(20))
        + "}\nall: ["
        + ", ".join(["*b"] * 200)
        + "]\n"
    )
    assert len(yamlsafe.load(many)["all"]) == 200


def _project(root: Path, spec: str) -> Path:
    (root / "specs").mkdir(parents=True)
    (root / "llmops.yaml").write_text("kind: Project\nname: demo\n")
    (root / "specs" / "bomb.yaml").write_text(spec)
    return root


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", [["validate"], ["compile"]])
def test_validate_and_compile_exit_2_naming_file_and_line(case, command, tmp_path, capsys):
    text, line, message = CASES[case]
    root = _project(tmp_path, text)
    started = time.perf_counter()
    assert main(["-C", str(root), *command]) == 2
    assert time.perf_counter() - started < 1.0
    err = capsys.readouterr().err
    assert f"specs/bomb.yaml:{line}:" in err and message in err
    assert "Traceback" not in err
    assert not (root / "dvc.yaml").exists()  # nothing half-written


@pytest.mark.parametrize("case", ["billion-laughs", "merge-key-bomb", "recursive-alias", "merge-of-a-scalar"])
def test_plan_exits_2_naming_file_and_line(case, tmp_path, capsys):
    root = _project(tmp_path, HEAD)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    text, line, message = CASES[case]
    (root / "specs" / "bomb.yaml").write_text(text)
    started = time.perf_counter()
    assert main(["-C", str(root), "plan", "--base", "HEAD"]) == 2
    assert time.perf_counter() - started < 1.0
    err = capsys.readouterr().err
    assert f"specs/bomb.yaml:{line}:" in err and message in err


def test_a_bomb_in_llmops_yaml_is_refused_too(tmp_path, capsys):
    root = _project(tmp_path, HEAD)
    (root / "llmops.yaml").write_text(laughs().replace(HEAD, "kind: Project\nname: demo\n"))
    started = time.perf_counter()
    assert main(["-C", str(root), "validate"]) == 2
    assert time.perf_counter() - started < 1.0
    err = capsys.readouterr().err
    assert "llmops.yaml:" in err and "aliases expand this value" in err and "Traceback" not in err
