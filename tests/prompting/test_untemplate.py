"""Taking a Prompt's template back off logged requests."""

from __future__ import annotations

from pathlib import Path

from llmops.prompting.untemplate import Untemplater


def test_rendered_prompt_gives_back_the_variable(tmp_path: Path, prompt_fields) -> None:
    u = Untemplater.from_prompt(prompt_fields(), tmp_path)
    assert u.variables_of("Question: Where is my parcel?\nAnswer:\n") == {"text": "Where is my parcel?"}
    assert u.user_text("Question: line one\nline two\nAnswer:") == "line one\nline two"
    assert u.user_text("Where is my parcel?") == "Where is my parcel?"  # not the shape: kept


def test_chat_contents_joined_with_a_system_message(tmp_path: Path, prompt_fields) -> None:
    u = Untemplater.from_prompt(prompt_fields(system="Be brief.", chat_format="chatml"), tmp_path)
    assert u.user_text("Be brief.\nQuestion: Refund?\nAnswer:") == "Refund?"
    assert u.user_text(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQuestion: Refund?\nAnswer:"
    ) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQuestion: Refund?\nAnswer:"
    )  # a truncated chatml prompt matches no shape


def test_two_variables_and_a_repeat(tmp_path: Path, prompt_fields) -> None:
    p = prompt_fields(template="[{{ topic }}] {{ text }} ({{ topic }})", variables=["topic", "text"])
    u = Untemplater.from_prompt(p, tmp_path)
    assert u.variables_of("[billing] Charged twice? (billing)") == {
        "topic": "billing",
        "text": "Charged twice?",
    }
    assert u.variables_of("[billing] Charged twice? (shipping)") is None


def test_a_broken_template_compares_raw_text(tmp_path: Path, prompt_fields) -> None:
    u = Untemplater.from_prompt(prompt_fields(template="{{ text "), tmp_path)
    assert u.patterns == () and u.user_text("anything") == "anything"
