"""Golden tests: a Prompt spec's own examples of what its template must produce.

Each test renders the prompt with its variables and checks the text: `equals` (exactly),
`contains` and `not_contains`. The text checked is the full prompt the model sees (system,
few-shot turns and chat markers included), or for chat_format tokenizer, whose text depends on a
tokenizer, the rendered user turn.

They run in two places: `llmops validate` (`check_specs`, so a broken prompt fails on the pull
request, before any stage runs) and the prompt stage (so outputs are never written for a prompt
whose tests fail). A failing test is a check that found a problem (exit 1); a template that
cannot render at all is an invalid spec (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.compiler.kinds.prompt import GoldenTest
from llmops.errors import CheckFailed
from llmops.prompting.render import PromptTemplate, Rendered
from llmops.prompting.sandbox import PromptError

SHOWN = 160  # characters of rendered text a failure message shows


@dataclass(frozen=True)
class GoldenFailure:
    """One failed test, with every expectation it missed."""

    index: int
    name: str | None
    problems: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"tests[{self.index}]" + (f" ({self.name})" if self.name else "")

    def __str__(self) -> str:
        return f"{self.label}: " + "; ".join(self.problems)


def checked_text(rendered: Rendered) -> str:
    return rendered.prompt if rendered.prompt is not None else rendered.user


def run_test(
    template: PromptTemplate, test: GoldenTest, index: int, *, where: str = ""
) -> GoldenFailure | None:
    """Render one test and compare; a render error is raised as the PromptError it is."""
    during = f"tests[{index}]" + (f" at {where}" if where else "")
    text = checked_text(template.render(test.variables, during=during))
    problems: list[str] = []
    expect = test.expect
    if expect.equals is not None and text != expect.equals:
        problems.append(_differs(expect.equals, text))
    for needle in expect.contains:
        if needle not in text:
            problems.append(f"expected to contain {_show(needle)}, got {_show(text)}")
    for needle in expect.not_contains:
        at = text.find(needle)
        if at >= 0:
            problems.append(
                f"expected not to contain {_show(needle)}, found at character {at}: "
                f"{_show(_around(text, at))}"
            )
    return GoldenFailure(index, test.name, tuple(problems)) if problems else None


def run_golden(template: PromptTemplate, tests: Sequence[GoldenTest] | None = None) -> list[GoldenFailure]:
    """Every test of the prompt (or the ones given); the failures, in order."""
    chosen = template.spec.tests if tests is None else tests
    return [f for index, test in enumerate(chosen) if (f := run_test(template, test, index)) is not None]


def _differs(expected: str, got: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), None)
    if at is None:
        at = min(len(expected), len(got))
    return (
        f"expected exactly {_show(_around(expected, at))}, got {_show(_around(got, at))} "
        f"(they differ at character {at}; expected {len(expected)} characters, got {len(got)})"
    )


def _around(text: str, at: int) -> str:
    """A window of the text around a position, marked where it was cut."""
    start = max(0, at - 40)
    end = start + SHOWN
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _show(text: str) -> str:
    if len(text) > SHOWN:
        return repr(text[:SHOWN]) + f"… ({len(text)} characters)"
    return repr(text)


# -- llmops validate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptCheck:
    prompts: int
    tests: int


def check_specs(spec_files: Iterable[Any], root: Path) -> PromptCheck:
    """Compile every Prompt spec, check its variables, run its golden tests.

    Reports everything in one pass: template problems (syntax, undeclared or undefined
    variables, sandbox violations, limits) raise a PromptError (exit 2) listing each with its
    file and line, together with any failed tests; failed tests alone raise CheckFailed (exit 1),
    each at the line of its entry under `tests:` in the spec file.
    """
    errors: list[str] = []
    failures: list[str] = []
    prompts = tests = 0
    for sf in spec_files:
        if sf.kind != "Prompt":
            continue
        prompts += 1
        try:
            template = PromptTemplate.from_config(
                sf.spec.model_dump(mode="json"),
                root,
                source=sf.path,
                template_line=_inline_template_line(sf, root),
            )
        except PromptError as exc:
            errors.append(str(exc))
            continue
        for index, test in enumerate(sf.spec.tests):
            tests += 1
            line = sf.doc.position(("tests", index))[0]
            try:
                failure = run_test(template, test, index, where=f"{sf.path}:{line}")
            except PromptError as exc:
                errors.append(str(exc))
                continue
            if failure is not None:
                failures.append(f"{sf.path}:{line}: {failure}")
    if errors:
        summary = f"{len(errors)} error{'s' if len(errors) != 1 else ''} in prompt templates"
        raise PromptError("\n".join([*errors, *failures, summary]))
    if failures:
        summary = f"{len(failures)} of {tests} golden test{'s' if tests != 1 else ''} failed"
        raise CheckFailed("\n".join([*failures, summary]))
    return PromptCheck(prompts, tests)


def _inline_template_line(sf: Any, root: Path) -> int | None:
    """The spec file line of an inline template's first line (after `|` or `>` for blocks)."""
    if not sf.spec.template:
        return None
    line, col = sf.doc.position(("template",))
    try:
        text = (root / sf.path).read_text(encoding="utf-8").splitlines()[line - 1]
    except (OSError, UnicodeDecodeError, IndexError):
        return None
    return line + 1 if text[col - 1 : col] in ("|", ">") else line
