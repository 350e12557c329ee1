"""PromptTemplate and golden tests: declared variables, content hash, expectations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.compiler.kinds.prompt import GoldenTest
from llmops.prompting.golden import run_golden
from llmops.prompting.render import PromptTemplate
from llmops.prompting.sandbox import PromptError

HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def test_undeclared_variables_are_an_error_naming_each(prompt):
    with pytest.raises(PromptError) as info:
        prompt(
            template="{{ text }}\n{{ topic }} {{ tone }}", variables=["text", "unused"], source="specs/p.yaml"
        )
    assert str(info.value).splitlines() == [
        "specs/p.yaml: template line 2: variable 'tone' is used but not declared in `variables` "
        "(declared: text, unused) (prompt 'demo')",
        "specs/p.yaml: template line 2: variable 'topic' is used but not declared in `variables` "
        "(declared: text, unused) (prompt 'demo')",
    ]


def test_completion_counts_as_declared_and_unused_variables_are_fine(prompt):
    template = prompt(template="{{ q }} {{ a }}", variables=["q", "extra"], completion="a")
    assert template.render({"q": "Q", "a": "A"}).prompt == "Q A"
    assert template.completion_column == "a" and template.chat_format == "none" and template.name == "demo"


def test_few_shot_errors_say_which_example(prompt):
    with pytest.raises(PromptError, match=r"undefined variable 'q' while rendering few_shot\[1\]"):
        prompt(
            template="{{ q }}",
            variables=["q"],
            few_shot=[{"variables": {"q": "1"}, "completion": "a"}, {"variables": {}, "completion": "b"}],
        )


def test_content_hash_is_stable_and_follows_what_changes_the_text(prompt, tmp_path):
    (tmp_path / "p.j2").write_text("Q: {{ q }}\n")
    base = {"template_file": "p.j2", "variables": ["q"], "chat_format": "chatml"}
    first = prompt(tmp_path, **base).content_hash
    assert HASH.match(first)
    assert prompt(tmp_path, **base).content_hash == first
    assert prompt(tmp_path, **base, tests=[{"variables": {"q": "x"}, "expect": {}}]).content_hash == first
    assert prompt(tmp_path, **base, limits={"max_chars": 10}).content_hash == first
    (tmp_path / "other.j2").write_text("Q: {{ q }}\n")
    assert prompt(tmp_path, **{**base, "template_file": "other.j2"}).content_hash == first
    (tmp_path / "p.j2").write_text("Question: {{ q }}\n")
    changed = prompt(tmp_path, **base).content_hash
    assert changed != first
    assert prompt(tmp_path, **{**base, "chat_format": "zephyr"}).content_hash not in {first, changed}
    assert prompt(tmp_path, **base, system="S").content_hash != changed


def test_inline_and_file_templates_with_the_same_text_hash_alike(prompt, tmp_path):
    (tmp_path / "p.j2").write_text("Q: {{ q }}")
    assert (
        prompt(tmp_path, template_file="p.j2", variables=["q"]).content_hash
        == prompt(template="Q: {{ q }}", variables=["q"]).content_hash
    )


def test_template_file_problems(prompt, tmp_path):
    with pytest.raises(
        PromptError, match=r"^nope.j2: template_file does not exist \(prompt 'demo', specs/p.yaml\)"
    ):
        prompt(tmp_path, template_file="nope.j2", source="specs/p.yaml")
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "link.j2").symlink_to(tmp_path.parent / "outside.j2")
    (tmp_path.parent / "outside.j2").write_text("secret")
    with pytest.raises(PromptError, match="template_file leads outside the project"):
        prompt(tmp_path, template_file="inner/link.j2")


def test_limits_must_be_sensible(prompt):
    with pytest.raises(PromptError, match=r"limits\.max_chars: Input should be greater than or equal to 1"):
        prompt(template="x", limits={"max_chars": 0})
    with pytest.raises(PromptError, match=r"limits\.timeout_s: Input should be greater than 0"):
        prompt(template="x", limits={"timeout_s": -1})
    with pytest.raises(PromptError, match="limit exceeded"):
        prompt(template="{{ 'a' * 20 }}", limits={"max_chars": 10}).render({})
    with pytest.raises(PromptError, match=r"limits\.max_chars: Input should be a valid integer"):
        prompt(template="x", limits={"max_chars": float("inf")})  # not an OverflowError


def test_a_config_that_is_not_a_prompt_spec_is_refused(prompt):
    with pytest.raises(PromptError, match="not a valid Prompt spec"):
        prompt(template="x", chat_format="mistral")


def _tests(*entries):
    return [GoldenTest.model_validate(e) for e in entries]


def test_golden_tests_pass_and_fail_with_readable_messages(prompt):
    template = prompt(template="Hello {{ name }}!", variables=["name"], chat_format="chatml", system="S")
    passing = _tests(
        {
            "name": "hi",
            "variables": {"name": "Ada"},
            "expect": {"contains": ["Hello Ada!", "<|im_start|>system"]},
        },
        {"variables": {"name": "Ada"}, "expect": {"not_contains": ["Bob"]}},
    )
    assert run_golden(template, passing) == []
    failures = run_golden(
        template,
        _tests(
            {"name": "exact", "variables": {"name": "Ada"}, "expect": {"equals": "Hello Ada!"}},
            {"variables": {"name": "Bob"}, "expect": {"contains": ["Ada", "Bob"], "not_contains": ["Bob"]}},
        ),
    )
    assert [f.label for f in failures] == ["tests[0] (exact)", "tests[1]"]
    assert str(failures[0]).startswith("tests[0] (exact): expected exactly 'Hello Ada!', got ")
    assert "they differ at character 0; expected 10 characters, got 91" in str(failures[0])
    assert failures[1].problems[0].startswith("expected to contain 'Ada', got '<|im_start|>system\\nS")
    assert failures[1].problems[1].startswith("expected not to contain 'Bob', found at character 54:")


def test_golden_messages_truncate_long_text(prompt):
    template = prompt(template="{{ 'x' * 5000 }}")
    [failure] = run_golden(template, _tests({"variables": {}, "expect": {"contains": ["y"]}}))
    assert "… (5000 characters)" in str(failure) and len(str(failure)) < 400


def test_golden_tests_of_tokenizer_prompts_check_the_user_turn(prompt):
    template = prompt(template="Hi {{ n }}", variables=["n"], chat_format="tokenizer", system="S")
    assert run_golden(template, _tests({"variables": {"n": "x"}, "expect": {"equals": "Hi x"}})) == []


def test_golden_test_with_missing_variables_is_a_prompt_error(prompt):
    template = prompt(template="{{ a }}", variables=["a"])
    with pytest.raises(PromptError, match=r"undefined variable 'a' while rendering tests\[0\]"):
        run_golden(template, _tests({"variables": {}, "expect": {}}))


def test_run_golden_defaults_to_the_specs_tests(prompt):
    template = prompt(
        template="{{ a }}", variables=["a"], tests=[{"variables": {"a": "1"}, "expect": {"equals": "2"}}]
    )
    assert [f.index for f in run_golden(template)] == [0]


@given(text=st.text(max_size=200))
def test_values_are_inserted_verbatim_never_interpreted(text):
    """Row values are data: `{{`, `%}`, HTML and newlines in them come out exactly as written."""
    rendered = TEMPLATE.render({"text": text})
    assert rendered.user == f"Q: {text}\nA:"
    assert rendered.prompt == f"<|im_start|>user\nQ: {text}\nA:<|im_end|>\n<|im_start|>assistant\n"


TEMPLATE = PromptTemplate.from_config(
    {"name": "demo", "template": "Q: {{ text }}\nA:", "variables": ["text"], "chat_format": "chatml"},
    Path("."),
)
