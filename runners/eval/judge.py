"""Faithfulness graded by a model: an OpenAI-compatible chat endpoint reads the question, the
retrieved passages and the answer, and scores on a fixed 1-5 rubric, scaled to 0..1.

The endpoint's base URL comes from the environment variable the metric names (`judge_url_env`,
e.g. `http://judge:8000/v1`), never from the spec, so a spec in a pull request cannot point CI at
an address of its choosing; an API key likewise (`judge_key_env`, optional). The rubric is
fixed and the temperature 0 so that two runs grade alike. Any failure (unreachable endpoint, an
HTTP error, a reply with no score) stops the stage with a message naming the endpoint: a metric
a gate may read must not silently become a guess.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

from llmops.errors import StageFailed

RUBRIC = (
    "You grade whether an answer is supported by the given passages. Score 1 to 5:\n"
    "5: every claim in the answer is stated in or directly follows from the passages;\n"
    "4: nearly all claims are supported, one minor detail is not;\n"
    "3: about half of the claims are supported;\n"
    "2: most claims are not in the passages;\n"
    "1: the answer is unsupported by or contradicts the passages.\n"
    "Reply with the score digit only."
)
DEFAULT_TIMEOUT_S = 60.0
MAX_REPLY_BYTES = 1 << 20  # a verdict is a few tokens: a bigger reply is not a chat completion
PASSAGE_CHARS = 2000  # of each passage, so one long chunk cannot blow the judge's context
_SCORE = re.compile(r"\b([1-5])\b")


def judge_messages(question: str, answer: str, passages: list[dict[str, Any]]) -> list[dict[str, str]]:
    shown = "\n".join(
        f"[{p.get('id', i + 1)}] {str(p.get('text', ''))[:PASSAGE_CHARS]}" for i, p in enumerate(passages)
    )
    user = f"Question:\n{question}\n\nPassages:\n{shown or '(none)'}\n\nAnswer:\n{answer}"
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}]


def parse_score(text: str) -> float | None:
    """The first 1-5 digit of the reply, scaled to 0..1 (1 -> 0, 5 -> 1); None without one."""
    found = _SCORE.search(text or "")
    return None if found is None else (int(found.group(1)) - 1) / 4


def judge_faithfulness(
    args: dict[str, Any], questions: list[str], answers: list[str], passages: list[list[dict[str, Any]]]
) -> tuple[list[float], str]:
    """One graded score per answer, and the source (`judge:<model>`)."""
    url_env, model = args.get("judge_url_env"), args.get("judge_model")
    if not url_env or not model:
        raise StageFailed(
            "metric faithfulness with method: judge needs judge_url_env (an environment variable holding "
            "the OpenAI-compatible base URL) and judge_model"
        )
    base = os.environ.get(str(url_env), "").strip()
    if not base:
        raise StageFailed(
            f"metric faithfulness: the environment variable {url_env} (judge_url_env) is not set; "
            "set it to the judge's base URL, e.g. http://localhost:8000/v1"
        )
    key_env = args.get("judge_key_env")
    key = os.environ.get(str(key_env), "") if key_env else ""
    timeout = float(args.get("timeout_s", DEFAULT_TIMEOUT_S))
    endpoint = base.rstrip("/") + "/chat/completions"
    scores = []
    for i, (question, answer, chosen) in enumerate(zip(questions, answers, passages, strict=True)):
        reply = _ask(endpoint, key, str(model), judge_messages(question, answer, chosen), timeout)
        score = parse_score(reply)
        if score is None:
            raise StageFailed(
                f"metric faithfulness: the judge at {endpoint} (from {url_env}) gave no 1-5 score for "
                f"example {i + 1}: {reply[:120]!r}"
            )
        scores.append(score)
    return scores, f"judge:{model}"


def _ask(endpoint: str, key: str, model: str, messages: list[dict[str, str]], timeout: float) -> str:
    return chat_completion(endpoint, key, model, messages, timeout, what="metric faithfulness")


def chat_completion(
    endpoint: str,
    key: str,
    model: str,
    messages: list[dict[str, str]],
    timeout: float,
    *,
    max_tokens: int = 4,
    temperature: float = 0.0,
    what: str,
) -> str:
    """One OpenAI-compatible chat completion's text; any failure is a StageFailed naming `what`
    and the endpoint (never the key). Shared by faithfulness and the judged metrics (judged.py)."""
    body = json.dumps(
        {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
    ).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(MAX_REPLY_BYTES + 1)
        if len(raw) > MAX_REPLY_BYTES:
            raise StageFailed(f"{what}: the judge at {endpoint} sent more than {MAX_REPLY_BYTES} bytes")
        data = json.loads(raw.decode("utf-8"))
        return str(data["choices"][0]["message"]["content"])
    except urllib.error.HTTPError as exc:
        raise StageFailed(f"{what}: the judge at {endpoint} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise StageFailed(f"{what}: cannot reach the judge at {endpoint}: {exc}") from None
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise StageFailed(
            f"{what}: the judge at {endpoint} gave no chat completion ({type(exc).__name__}: {exc})"
        ) from None
