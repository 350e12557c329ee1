"""A Prompt's `limits:` are bounded themselves: `.inf`, `1e15` or a fraction of a character is a
spec error at its file and line (exit 2), not an OverflowError or a 300 MB golden test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from llmops.cli.main import main
from llmops.compiler.kinds.prompt import MAX_MAX_CHARS, MAX_TIMEOUT_S

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
SPEC = "specs/prompts/answer.yaml"


def _validate(tmp_path: Path, capsys, limits: str) -> tuple[int, str]:
    root = tmp_path / "p"
    shutil.copytree(FIXTURES / "full", root, ignore=shutil.ignore_patterns("expected", "expected_errors.txt"))
    spec = root / SPEC
    spec.write_text(spec.read_text() + f"limits: {limits}\n")
    code = main(["-C", str(root), "validate"])
    return code, capsys.readouterr().err


def _line(tmp_path: Path) -> int:
    return len((tmp_path / "p" / SPEC).read_text().splitlines())


@pytest.mark.parametrize(
    "limits,field,message",
    [
        ("{max_chars: .inf}", "max_chars", "Input should be a valid integer"),
        ("{max_chars: 1e15}", "max_chars", "Input should be a valid integer"),
        (
            "{max_chars: 1000000000000000}",
            "max_chars",
            f"Input should be less than or equal to {MAX_MAX_CHARS}",
        ),
        ("{max_chars: 0}", "max_chars", "Input should be greater than or equal to 1"),
        ("{max_chars: 12.5}", "max_chars", "Input should be a valid integer"),
        ("{timeout_s: .inf}", "timeout_s", "Input should be a finite number"),
        ("{timeout_s: .nan}", "timeout_s", "Input should be a finite number"),
        ("{timeout_s: 1e9}", "timeout_s", f"Input should be less than or equal to {MAX_TIMEOUT_S}"),
        ("{timeout_s: 0}", "timeout_s", "Input should be greater than 0"),
    ],
)
def test_out_of_bounds_limit_is_an_error_at_its_line(tmp_path, capsys, limits, field, message):
    code, err = _validate(tmp_path, capsys, limits)
    assert code == 2
    assert f"{SPEC}:{_line(tmp_path)}:" in err and f"limits.{field}: {message}" in err
    assert "Traceback" not in err and "OverflowError" not in err


def test_unknown_limit_gets_a_suggestion(tmp_path, capsys):
    code, err = _validate(tmp_path, capsys, "{max_char: 5000}")
    assert code == 2
    assert "limits.max_char: unknown field 'max_char' (did you mean 'max_chars'?)" in err


def test_sane_limits_pass(tmp_path, capsys):
    code, err = _validate(tmp_path, capsys, f"{{max_chars: {MAX_MAX_CHARS}, timeout_s: {MAX_TIMEOUT_S}}}")
    assert code == 0, err
