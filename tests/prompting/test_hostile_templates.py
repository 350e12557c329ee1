"""Templates too big or too deeply nested for Jinja's recursive parser and code generator are a
clear error at the template's line (exit 2), fast, never a RecursionError traceback."""

from __future__ import annotations

import time

import pytest

from llmops.cli.main import main
from llmops.prompting import shape
from llmops.prompting.sandbox import PromptError

HOSTILE = {
    "parentheses": ("hello\n{{ " + "(" * 150 + "text" + ")" * 150 + " }}", 2, "brackets nested more than 32"),
    "ifs": ("a\nb\n" + "{% if text %}" * 300 + "x" + "{% endif %}" * 300, 3, "blocks nested more than 16"),
    "filters": ("{{ text" + " | upper" * 5000 + " }}", 1, "nested more than 64 levels"),
    "operators": ("{{ text" + " ~ text + text" * 3000 + " }}", 1, "nested more than 64 levels"),
    "attributes": ("{{ text" + ".a" * 5000 + " }}", 1, "nested more than 64 levels"),
    "nots": ("{{ " + "not " * 3000 + "text }}", 1, "prefix operators in a row"),
    "loops": ("{% for a in text %}" * 25 + "{% endfor %}" * 25, 1, "blocks nested more than 16"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_template_is_an_error_at_its_line(prompt, case):
    text, line, problem = HOSTILE[case]
    started = time.monotonic()
    with pytest.raises(PromptError, match=problem) as caught:
        prompt(template=text, variables=["text"], source="specs/p.yaml")
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith(f"specs/p.yaml: template line {line}: template too complex")
    assert caught.value.exit_code == 2


def test_oversized_template_file_is_refused(prompt, tmp_path):
    (tmp_path / "t.j2").write_text("x" * (shape.MAX_TEMPLATE_CHARS + 1))
    with pytest.raises(
        PromptError, match=r"^t\.j2: template too complex: the template is longer than 100,000"
    ):
        prompt(tmp_path, template_file="t.j2")


def test_nesting_within_the_bounds_still_renders(prompt):
    text = (
        "{% for a in [1] %}" * 15 + "{{ " + "(" * 30 + "text" + ")" * 30 + " ~ text" + " | lower" * 40 + " }}"
    ) + "{% endfor %}" * 15
    assert prompt(template=text, variables=["text"]).render_user({"text": "Hi"}) == "Hihi"


def test_validate_reports_the_template_file_line(fixture_project, capsys):
    root = fixture_project("full")
    (root / "prompts/answer.j2").write_text(
        "Question:\n{{ text }}\n{{ " + "(" * 150 + "text" + ")" * 150 + " }}\n"
    )
    started = time.monotonic()
    assert main(["-C", str(root), "validate"]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "prompts/answer.j2:3: template too complex: brackets nested more than 32 deep" in err
    assert "Traceback" not in err and "RecursionError" not in err


def test_validate_reports_the_spec_line_of_an_inline_template(fixture_project, capsys):
    root = fixture_project("full")
    spec = root / "specs/prompts/answer.yaml"
    inline = "template: |\n  Hi {{ text }}\n  " + "{% if text %}" * 300 + "x" + "{% endif %}" * 300 + "\n"
    spec.write_text(spec.read_text().replace("template_file: prompts/answer.j2\n", inline))
    assert main(["-C", str(root), "validate"]) == 2
    err = capsys.readouterr().err
    assert (
        "specs/prompts/answer.yaml:5: template line 2: template too complex: blocks nested more than 16"
        in err
    )
