"""The Jinja2 sandbox prompt templates render in, and the errors a template can cause.

Templates come from specs anyone can send in a pull request, and CI renders them, so they are
untrusted code. Jinja's `ImmutableSandboxedEnvironment` already refuses private attributes
(`__class__`, `__globals__`, ...), Python internals and mutation of lists and dicts; on top of
it this module bounds what one render may cost (see `limits.py`):

* output: `generate()` yields the template's output piece by piece; each piece is counted
  against `max_chars`, and nested output (macros, `{% set %}` blocks, filter blocks) goes into
  buffers that count what goes into them;
* time and steps: `range`, every `{% for %}` loop, every call, attribute lookup, filter and
  intercepted operator checks the render's deadline;
* single operations that could build a huge value at once (`'a' * 10**9`, `2 ** 10**10`,
  `s.center(10**9)`, a `~` concatenation, a format width) are refused before they run;
* every list, dict and tuple the template makes (literals, operators, filters, calls) is
  weighed, so nested literals cannot build a value that prints as gigabytes.

The generated Python is changed in a few small places through `code_generator_class`, Jinja's
documented hook for this (`guards.py`): loops iterate through `environment.guard_iter`, `~` joins through
`environment.bounded_join`, slices go through `environment.getslice`, literals through
`environment.admit`, and buffers are `environment.output_buffer()`. `include`, `import`,
`extends` and `block` are refused: a prompt is one template with no loader. The filters
`random` and `urlize` are gone, and `lipsum()` refuses: a prompt must render the same text
every time, and has no use for HTML helpers.

Every failure becomes a `PromptError` naming the template, the line and what went wrong, never
a Python traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import wraps
from types import GeneratorType, TracebackType
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.filters import make_attrgetter, pass_environment
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmops.errors import LlmopsError
from llmops.prompting import limits, shape
from llmops.prompting.guards import (
    BoundedCodeGenerator,
    Buffer,
    PromptNamespace,
    bounded_range,
    no_lipsum,
    ticking,
)
from llmops.prompting.limits import DEFAULT_MAX_CHARS, DEFAULT_TIMEOUT_S, LimitExceeded, tick

# random: a prompt must render the same text every time; urlize: HTML only, and regex-heavy
REMOVED_FILTERS = frozenset({"random", "urlize"})


class PromptError(LlmopsError):
    """A prompt template that cannot be used: syntax, undefined variable, sandbox, limits."""

    exit_code = 2


@dataclass(frozen=True)
class TemplateSource:
    """Where a template came from, so every message can point at it.

    `file` is the template file (for `template_file`) or None for an inline `template`;
    `spec` is the spec file when known (validate knows it; a stage run only has its config);
    `first_line` is the spec file's line holding an inline template's first line, when known.
    """

    prompt: str
    file: str | None = None
    spec: str | None = None
    first_line: int | None = None

    @property
    def filename(self) -> str:
        """The name the compiled template carries, so traceback frames give its lines."""
        if self.file:
            return self.file
        return f"<{self.spec or 'prompt ' + repr(self.prompt)}: template>"

    def at(self, line: int | None) -> str:
        if self.file:
            return f"{self.file}:{line}" if line else self.file
        if not self.spec:
            where = f"prompt '{self.prompt}': template"
        elif self.first_line:
            where = f"{self.spec}:{self.first_line + (line or 1) - 1}: template"
        else:
            where = f"{self.spec}: template"
        return f"{where} line {line}" if line else where

    def error(self, line: int | None, problem: str) -> PromptError:
        owner = f"prompt '{self.prompt}'" + (f", {self.spec}" if self.spec and self.file else "")
        return PromptError(f"{self.at(line)}: {problem} ({owner})")


# -- the environment ----------------------------------------------------------------------


class PromptEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with bounded rendering; one per template, holding its `max_chars`."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = BoundedCodeGenerator

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            optimized=False,  # no constant folding: nothing of the template runs at compile time
            cache_size=0,
        )
        self.max_chars = max_chars
        self.globals["range"] = bounded_range
        self.globals["lipsum"] = no_lipsum
        self.globals["namespace"] = PromptNamespace
        originals = dict(self.filters)
        originals["join"] = _bounded_join_filter
        self.filters = {
            name: self._guard_filter(name, func)
            for name, func in originals.items()
            if name not in REMOVED_FILTERS
        }

    # hooks the generated code calls

    def output_buffer(self) -> list[str]:
        return Buffer()

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Joins a macro's or set block's buffer: the whole must fit in max_chars."""
        items = list(parts)
        limits.check_text(sum(map(len, items)), self.max_chars, "a macro or block's output")
        return "".join(items)

    def bounded_join(self, parts: Iterable[Any]) -> str:
        tick()
        texts = [str(part) for part in parts]
        limits.check_text(sum(map(len, texts)), self.max_chars, "a ~ concatenation")
        result = "".join(texts)
        limits.charge(result)
        return result

    def admit(self, value: Any) -> Any:
        tick()
        limits.charge(value)
        return value

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        return ticking(iterable)

    def getslice(self, obj: Any, start: Any, stop: Any, step: Any) -> Any:
        tick()
        result = obj[slice(start, stop, step)]
        limits.charge(result)
        return result

    # the sandbox's own hooks, with the budget checked

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        tick()
        limits.check_binop(operator, left, right, self.max_chars)
        result = super().call_binop(context, operator, left, right)
        limits.charge(result)
        return result

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        tick()
        args = limits.check_method(obj, args, kwargs, self.max_chars)
        result = super().call(context, obj, *args, **kwargs)
        limits.charge(result)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        value = super().getattr(obj, attribute)
        if isinstance(value, Undefined) and isinstance(attribute, str) and attribute.startswith("_"):
            return self.unsafe_undefined(obj, attribute)  # a probe, even where nothing is there
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        sandboxed = super().wrap_str_format(value)
        if sandboxed is None:
            return None
        fmt, max_chars = value.__self__, self.max_chars

        def checked(*args: Any, **kwargs: Any) -> str:
            tick()
            limits.check_format_string(fmt, max_chars)
            result = sandboxed(*args, **kwargs)
            limits.charge(result)
            return result

        return checked

    def _guard_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        max_chars = self.max_chars

        @wraps(func)  # keeps jinja_pass_arg, so Jinja still passes the context or environment
        def guarded(*args: Any, **kwargs: Any) -> Any:
            tick()
            limits.check_filter(name, func, args, kwargs, max_chars)
            result = func(*args, **kwargs)
            if isinstance(result, GeneratorType):
                return ticking(result)
            limits.charge(result)
            return result

        return guarded


@pass_environment
def _bounded_join_filter(environment: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """`join` that counts the separator and items before joining (autoescape is off)."""
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    items = [str(item) for item in ticking(value)]
    limits.check_join(items, str(d), environment.max_chars)
    return str(d).join(items)


# -- a compiled template --------------------------------------------------------------------


class SandboxedTemplate:
    """One prompt template, parsed and compiled once, rendered many times within its limits."""

    def __init__(
        self,
        text: str,
        source: TemplateSource,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.source = source
        self.max_chars = max_chars
        self.timeout_s = timeout_s
        self.env = PromptEnvironment(max_chars)
        filename = source.filename
        try:
            shape.check_source(self.env, text, filename)
            tree = self.env.parse(text, name=filename, filename=filename)
            shape.check_tree(tree)
            self._used = _used_names(tree, set(self.env.globals))
            code = self.env.compile(tree, name=filename, filename=filename)
        except TemplateSyntaxError as exc:
            raise source.error(exc.lineno, f"template syntax error: {exc.message}") from None
        except shape.ShapeError as exc:
            raise source.error(exc.line, f"template too complex: {exc}") from None
        except (RecursionError, MemoryError, SyntaxError) as exc:  # past the shape checks: still no traceback
            raise source.error(None, f"template too complex to compile ({type(exc).__name__})") from None
        self._template = self.env.template_class.from_code(self.env, code, self.env.make_globals(None), None)

    def undeclared(self, declared: Iterable[str]) -> dict[str, int]:
        """Variables the template reads that are not declared, with the first line using each."""
        known = set(declared)
        return {name: line for name, line in self._used.items() if name not in known}

    def render(self, variables: Mapping[str, Any], *, during: str = "") -> str:
        """The template's output for these variables; `during` says what was being rendered."""
        budget = limits.Budget(self.max_chars, self.timeout_s)
        token = limits.activate(budget)
        stream = self._template.generate(dict(variables))
        try:
            parts: list[str] = []
            size = 0
            for chunk in stream:
                size += len(chunk)
                limits.check_text(size, self.max_chars, "the rendered prompt")
                budget.tick()
                parts.append(chunk)
            return "".join(parts)
        except Exception as exc:  # every failure of template code becomes a PromptError
            line = _template_line(exc.__traceback__, self.source.filename)
            problem = describe(exc) + (f" while rendering {during}" if during else "")
            raise self.source.error(line, problem) from None
        finally:
            stream.close()
            limits.deactivate(token)


def describe(exc: BaseException) -> str:
    """What went wrong in a render, in words (the location is added by the caller)."""
    text = str(exc).rstrip(".")
    if isinstance(exc, SecurityError):
        return f"sandbox violation: {text}"
    if isinstance(exc, LimitExceeded):
        return f"limit exceeded: {text}"
    if isinstance(exc, UndefinedError):
        match = re.fullmatch(r"'([^']+)' is undefined", text)
        return f"undefined variable '{match.group(1)}'" if match else f"undefined value: {text}"
    if isinstance(exc, RecursionError):
        return "limit exceeded: recursion too deep (a macro calling itself without end?)"
    if isinstance(exc, MemoryError):
        return "limit exceeded: out of memory"
    return f"template error: {type(exc).__name__}: {text}"


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """The last template line in a traceback; Jinja rewrites frames to carry template lines."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _used_names(tree: nodes.Template, builtins: set[str]) -> dict[str, int]:
    """Names the template reads from its context (not set inside it), with their first line."""
    names = find_undeclared_variables(tree) - builtins
    lines: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in names and node.ctx == "load":
            lines[node.name] = min(lines.get(node.name, node.lineno), node.lineno)
    return {name: lines.get(name, 1) for name in sorted(names)}
