"""Smoke tests: the spec's prompts sent to a live engine, each answer checked.

Each test is one chat completion (`temperature: 0`, `max_tokens` from the test) with the test's
prompt as the user message, sent to the engine under test before it takes traffic. A test passes
when the answer contains every `contains` string, none of the `not_contains` strings (both
compared case-insensitively: a model that starts its sentence with a capital still answers about
the "parcel"), and the round trip took at most `max_latency_ms`.

The deployment goes live only when every test passed; a failure names the test (its number and
the start of its prompt) and what was wrong.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.compiler.kinds.deployment import SmokeTest

PROMPT_EXCERPT = 60
ANSWER_EXCERPT = 200


@dataclass
class SmokeResult:
    index: int
    prompt: str
    passed: bool
    latency_ms: float | None = None
    answer: str | None = None
    problems: list[str] = field(default_factory=list)

    def label(self) -> str:
        text = " ".join(self.prompt.split())
        short = text if len(text) <= PROMPT_EXCERPT else text[: PROMPT_EXCERPT - 1] + "…"
        return f"smoke test {self.index + 1} ({short!r})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_smoke_tests(
    url: str,
    model: str,
    tests: list[SmokeTest],
    *,
    timeout_s: float = 120,
    headers: dict[str, str] | None = None,
) -> list[SmokeResult]:
    """Run every test (not stopping at the first failure, so one run shows all that is wrong)."""
    return [_one(url, model, index, test, timeout_s, headers or {}) for index, test in enumerate(tests)]


def failures(results: list[SmokeResult]) -> list[str]:
    return [f"{r.label()}: {'; '.join(r.problems)}" for r in results if not r.passed]


def _one(
    url: str, model: str, index: int, test: SmokeTest, timeout_s: float, headers: dict[str, str]
) -> SmokeResult:
    result = SmokeResult(index=index, prompt=test.prompt, passed=False)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": test.prompt}],
        "max_tokens": test.max_tokens,
        "temperature": 0,
        "stream": False,
    }
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/chat/completions",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            payload = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:300]
        result.problems.append(f"the engine answered HTTP {exc.code}: {detail}")
        return result
    except (urllib.error.URLError, OSError, ValueError) as exc:
        result.problems.append(f"no answer from the engine: {exc}")
        return result
    result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    answer = _answer_text(payload)
    if answer is None:
        result.problems.append(f"the engine's reply has no message content: {json.dumps(payload)[:300]}")
        return result
    result.answer = answer
    lowered = answer.casefold()
    missing = [s for s in test.contains if s.casefold() not in lowered]
    present = [s for s in test.not_contains if s.casefold() in lowered]
    if missing:
        result.problems.append(f"the answer lacks {', '.join(map(repr, missing))}")
    if present:
        result.problems.append(f"the answer contains {', '.join(map(repr, present))}")
    limit = test.max_latency_ms
    if limit is not None and result.latency_ms > limit:
        result.problems.append(f"it took {result.latency_ms:.0f} ms, over the {limit} ms allowed")
    if result.problems:
        shown = answer if len(answer) <= ANSWER_EXCERPT else answer[: ANSWER_EXCERPT - 1] + "…"
        result.problems.append(f"answer: {shown!r}")
    result.passed = not result.problems
    return result


def _answer_text(payload: Any) -> str | None:
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None
