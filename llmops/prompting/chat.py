"""Chat formats: the messages of a prompt, and the exact text a model sees for them.

A prompt is always built as chat messages first — the system text, then each few-shot example
as a user turn (the template rendered with the example's variables) and an assistant turn (its
completion), then the user turn for this row — so every format starts from the same thing.

Each named format then writes the conversation as text up to the point where the model's answer
starts, and says what follows an answer (`completion_text`). The two are made for each other:
`prompt + completion_text(answer)` is exactly how the same exchange looks as a few-shot turn,
so a model is trained on the text it will be prompted with.

* `none`: system, few-shot blocks (`user + completion`, nothing between them: end the template
  with the separator you want, such as "Answer: " or a newline) and the prompt, joined by a
  blank line. Nothing follows the answer.
* `chatml`: `<|im_start|>role\\ncontent<|im_end|>\\n` per message, then `<|im_start|>assistant\\n`;
  an answer ends with `<|im_end|>`.
* `llama-2`: Meta's format, `<s>[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user} [/INST]`; an
  answer is ` {answer} </s>` (with the spaces), and the next turn starts `<s>[INST] `. Contents
  are used as written (Meta's reference template strips them; we keep exactly what you wrote).
* `zephyr`: `<|role|>\\ncontent</s>\\n` per message, then `<|assistant|>\\n`; an answer ends
  with `</s>`.
* `tokenizer`: the model's own `chat_template`, applied by its tokenizer: there is no text until
  a tokenizer is at hand (`apply_tokenizer`), and the tokenizer's template decides what follows
  an answer, so `completion_text` adds nothing (a fine-tuning runner renders the whole
  conversation with `apply_chat_template(messages + [assistant message])`).

No model library is imported here: the tokenizer is whatever object the caller passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Message = dict[str, str]

FORMATS = ("none", "tokenizer", "chatml", "llama-2", "zephyr")

# what goes before and after an answer, so that prompt + before + answer + after is one turn
_ANSWER_AFFIXES: dict[str, tuple[str, str]] = {
    "none": ("", ""),
    "tokenizer": ("", ""),
    "chatml": ("", "<|im_end|>"),
    "llama-2": (" ", " </s>"),
    "zephyr": ("", "</s>"),
}


class ChatFormatError(ValueError):
    """A conversation a format cannot write (the caller names the prompt)."""


def build_messages(system: str | None, shots: Sequence[tuple[str, str]], user: str) -> list[Message]:
    """[system?] + (user, assistant) per few-shot example + the user turn."""
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    for shot_user, shot_answer in shots:
        messages.append({"role": "user", "content": shot_user})
        messages.append({"role": "assistant", "content": shot_answer})
    messages.append({"role": "user", "content": user})
    return messages


def completion_text(chat_format: str, completion: str) -> str:
    """The answer as it follows the prompt, with the format's end-of-turn marker."""
    before, after = _ANSWER_AFFIXES[chat_format]
    return f"{before}{completion}{after}"


def format_prompt(chat_format: str, messages: Sequence[Message]) -> str | None:
    """The text up to where the model's answer starts; None for `tokenizer` (see module doc)."""
    if chat_format == "tokenizer":
        return None
    if chat_format == "none":
        return _none(messages)
    if chat_format == "chatml":
        turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return turns + "<|im_start|>assistant\n"
    if chat_format == "zephyr":
        turns = "".join(f"<|{m['role']}|>\n{m['content']}</s>\n" for m in messages)
        return turns + "<|assistant|>\n"
    if chat_format == "llama-2":
        return _llama2(messages)
    raise ChatFormatError(f"unknown chat_format {chat_format!r}; one of {', '.join(FORMATS)}")


def _none(messages: Sequence[Message]) -> str:
    blocks: list[str] = []
    pending_user: str | None = None
    for message in messages:
        if message["role"] == "system":
            blocks.append(message["content"])
        elif message["role"] == "user":
            if pending_user is not None:
                blocks.append(pending_user)
            pending_user = message["content"]
        else:
            blocks.append((pending_user or "") + completion_text("none", message["content"]))
            pending_user = None
    if pending_user is not None:
        blocks.append(pending_user)
    return "\n\n".join(blocks)


def _llama2(messages: Sequence[Message]) -> str:
    system = None
    rest = list(messages)
    if rest and rest[0]["role"] == "system":
        system = rest.pop(0)["content"]
    out: list[str] = []
    for index, message in enumerate(rest):
        if message["role"] == "user":
            content = message["content"]
            if index == 0 and system:
                content = f"<<SYS>>\n{system}\n<</SYS>>\n\n{content}"
            out.append(f"<s>[INST] {content} [/INST]")
        elif message["role"] == "assistant":
            out.append(completion_text("llama-2", message["content"]))
        else:
            raise ChatFormatError("llama-2 has a system message only at the start")
    return "".join(out)


def apply_tokenizer(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The tokenizer's chat template over the messages, ending where the answer starts."""
    if tokenizer is None:
        raise ChatFormatError("chat_format 'tokenizer' needs the model's tokenizer to write the prompt")
    if not getattr(tokenizer, "chat_template", None):
        raise ChatFormatError(
            f"the tokenizer ({type(tokenizer).__name__}) has no chat_template; give the model one, "
            "or pick a named chat_format (chatml, llama-2, zephyr, none)"
        )
    try:
        text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # the tokenizer's template is Jinja code of its own
        raise ChatFormatError(f"the tokenizer's chat_template failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(text, str):
        raise ChatFormatError("the tokenizer's apply_chat_template did not return text")
    return text
