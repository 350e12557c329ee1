"""Chat formats: the exact text of each, and prompt + completion_text matching a few-shot turn."""

from __future__ import annotations

import pytest

from llmops.prompting.sandbox import PromptError

SPEC = {
    "template": "Q: {{ text }}",
    "variables": ["text"],
    "completion": "answer",
    "system": "Be brief.",
    "few_shot": [{"variables": {"text": "2+2?"}, "completion": "4"}],
}

EXPECTED = {
    "none": "Be brief.\n\nQ: 2+2?4\n\nQ: 3+3?",
    "chatml": (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nQ: 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\nQ: 3+3?<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    "llama-2": "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nQ: 2+2? [/INST] 4 </s><s>[INST] Q: 3+3? [/INST]",
    "zephyr": (
        "<|system|>\nBe brief.</s>\n<|user|>\nQ: 2+2?</s>\n"
        "<|assistant|>\n4</s>\n<|user|>\nQ: 3+3?</s>\n<|assistant|>\n"
    ),
}

TERMINATED = {"none": "6", "chatml": "6<|im_end|>", "llama-2": " 6 </s>", "zephyr": "6</s>", "tokenizer": "6"}


@pytest.mark.parametrize("chat_format", sorted(EXPECTED))
def test_named_formats_render_exactly(prompt, chat_format):
    template = prompt(**SPEC, chat_format=chat_format)
    rendered = template.render({"text": "3+3?"})
    assert rendered.prompt == EXPECTED[chat_format]
    assert rendered.prompt_for(None) == EXPECTED[chat_format]
    assert rendered.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q: 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "Q: 3+3?"},
    ]


@pytest.mark.parametrize("chat_format", sorted(TERMINATED))
def test_completion_text_adds_the_end_of_turn_marker(prompt, chat_format):
    assert prompt(**SPEC, chat_format=chat_format).completion_text("6") == TERMINATED[chat_format]


@pytest.mark.parametrize("chat_format", sorted(EXPECTED))
def test_prompt_plus_completion_is_how_a_few_shot_turn_looks(prompt, chat_format):
    """What a model is trained on (prompt + completion_text) is the text it sees as an example."""
    single = prompt(**{**SPEC, "few_shot": []}, chat_format=chat_format)
    with_shot = prompt(**SPEC, chat_format=chat_format)
    example = single.render({"text": "2+2?"}).prompt + single.completion_text("4")
    assert with_shot.render({"text": "3+3?"}).prompt.startswith(example)


def test_formats_without_system_or_few_shot(prompt):
    bare = {"template": "Hi {{ n }}", "variables": ["n"]}
    cases = {
        "none": "Hi x",
        "chatml": "<|im_start|>user\nHi x<|im_end|>\n<|im_start|>assistant\n",
        "llama-2": "<s>[INST] Hi x [/INST]",
        "zephyr": "<|user|>\nHi x</s>\n<|assistant|>\n",
    }
    for chat_format, text in cases.items():
        assert prompt(**bare, chat_format=chat_format).render({"n": "x"}).prompt == text


def test_none_with_system_only(prompt):
    rendered = prompt(template="Hi", system="S", chat_format="none").render({})
    assert rendered.prompt == "S\n\nHi"


@pytest.fixture(scope="module")
def tokenizer():
    """A real tokenizer built offline: a tiny BPE wrapped in transformers, with a chat template."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    bpe.train_from_iterator(
        ["where is my parcel", "the answer is four", "be brief please"],
        tokenizers.trainers.BpeTrainer(vocab_size=80, special_tokens=["<unk>", "<s>", "</s>"]),
    )
    hf = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    hf.chat_template = (
        "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{{ eos_token }}"
        "{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    return hf


def test_tokenizer_format_uses_the_tokenizers_chat_template(prompt, tokenizer):
    template = prompt(**SPEC, chat_format="tokenizer")
    rendered = template.render({"text": "3+3?"})
    assert rendered.prompt is None
    assert rendered.prompt_for(tokenizer) == (
        "<s>[system] Be brief.</s>[user] Q: 2+2?</s>[assistant] 4</s>[user] Q: 3+3?</s>[assistant] "
    )
    assert template.completion_text("6") == "6"


def test_tokenizer_format_needs_a_tokenizer_with_a_chat_template(prompt, tokenizer):
    rendered = prompt(**SPEC, chat_format="tokenizer").render({"text": "x"})
    with pytest.raises(
        PromptError, match="prompt 'demo': chat_format 'tokenizer' needs the model's tokenizer"
    ):
        rendered.prompt_for(None)

    class Plain:
        chat_template = None

    with pytest.raises(PromptError, match="has no chat_template; give the model one"):
        rendered.prompt_for(Plain())


def test_a_failing_tokenizer_template_is_a_prompt_error(prompt):
    class Broken:
        chat_template = "x"

        def apply_chat_template(self, *args, **kwargs):
            raise ValueError("system role not supported")

    rendered = prompt(**SPEC, chat_format="tokenizer").render({"text": "x"})
    with pytest.raises(PromptError, match="chat_template failed: ValueError: system role not supported"):
        rendered.prompt_for(Broken())
