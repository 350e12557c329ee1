"""A local judge's verdict by likelihood: the option the model finds most probable after the prompt.

A small judge asked to *write* "A", "B" or "tie" often writes something else, and a parsed reply
that is not there is a guess the stage must refuse. Scoring each allowed option as a continuation
of the judge prompt (what lm-evaluation-harness does for multiple choice) always gives one of
them, from the same model and prompt: nothing to parse, nothing unparseable. The option text
follows the prompt after one space (" A"), so it is tokenized as it would be generated.
"""

from __future__ import annotations

from typing import Any


def option_logprobs(
    model: Any, tokenizer: Any, prompts: list[str], options: list[str]
) -> list[dict[str, float]]:
    """For each prompt, every option's summed token log-probability as its continuation."""
    import torch

    device = next(model.parameters()).device
    found = []
    with torch.inference_mode():
        for prompt in prompts:
            context = tokenizer(prompt, add_special_tokens=True)["input_ids"]
            scores = {}
            for option in options:
                tail = tokenizer(" " + option, add_special_tokens=False)["input_ids"]
                ids = torch.tensor([context + tail], device=device)
                logits = model(input_ids=ids).logits[0, len(context) - 1 : -1].float()
                logprobs = torch.log_softmax(logits, dim=-1)
                scores[option] = logprobs.gather(1, torch.tensor(tail, device=device)[:, None]).sum().item()
            found.append(scores)
    return found


def swapped_preference(first: dict[str, float], second: dict[str, float]) -> float:
    """How much the judge prefers the model's answer, with its position bias cancelled.

    The model's answer is A in the first order and B in the second. If the judge adds a bias `b`
    to "A" over "B" whatever the answers, the first order gives logP(A) - logP(B) = q + b and the
    second logP(B) - logP(A) = q - b, so their mean is the preference `q` alone: a judge that
    always leans to one position still ranks the answers by what it reads."""
    return ((first["A"] - first["B"]) + (second["B"] - second["A"])) / 2
