"""How much one render may cost, and the checks that keep a template inside it.

A prompt template is code that someone else may have written: it must not be able to hang a
stage or fill the machine's memory. The sandbox (`sandbox.py`) calls in here at every place
where template code can spend time or make something big: each loop step, call, attribute
lookup, operator, filter and output buffer. Two kinds of check:

* `Budget` (one per render, in a context variable): a deadline, a step count, and a running
  total of the characters and items the template has produced. Cheap enough to run per step.
  Each list, tuple or dict the template makes is also weighed: the characters it would print
  as, counting shared parts each time (`[a, a, a]` of a 1,000-character `a` weighs 3,000), so
  that nesting literals cannot build a value whose text is exponentially large.
* `check_*` functions: look at the arguments of an operation that could make a huge value in
  one go (`'a' * 10**9`, `2 ** 10**10`, `s.center(10**9)`, `'{:>999999999}'.format(x)`) and
  refuse it *before* Python allocates anything.

Everything raises `LimitExceeded`; `sandbox.py` turns it into a `PromptError` naming the
template line.
"""

from __future__ import annotations

import contextvars
import inspect
import re
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_CHARS = 100_000
DEFAULT_TIMEOUT_S = 2.0
MAX_RANGE = 100_000  # items in one range(), as Jinja's own sandbox allows
MAX_STEPS = 10_000_000  # loop steps, calls, lookups in one render
MAX_ITEMS = 100_000  # length of a list or tuple an operator may build
MAX_INT_BITS = 65_536  # Python cannot even print an int beyond ~14,000 bits by default
ALLOCATION_FACTOR = 100  # all intermediate text of a render: this many times max_chars
MAX_JSON_INDENT = 64


class LimitExceeded(Exception):
    """A render went over its time, size or step budget (not a sandbox escape)."""


@dataclass
class Budget:
    """The running cost of one render; `tick` and `charge` are called from template code."""

    max_chars: int
    timeout_s: float
    deadline: float = 0.0
    steps: int = 0
    allocated: int = 0
    allocation_limit: int = field(init=False)
    weights: dict[int, tuple[Any, int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout_s
        self.allocation_limit = self.max_chars * ALLOCATION_FACTOR

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise LimitExceeded(f"the template took more than {MAX_STEPS:,} steps")
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"rendering took longer than timeout_s={self.timeout_s:g}s")

    def charge(self, value: Any) -> None:
        """Count a value the template made; refuse when the render has made too much in all."""
        size = _size(value)
        if not size:
            return
        if isinstance(value, _CONTAINERS):
            self.weigh(value)
        self.allocated += size
        if self.allocated > self.allocation_limit:
            raise LimitExceeded(
                f"the template built more than {self.allocation_limit:,} characters of "
                f"intermediate text ({ALLOCATION_FACTOR} x max_chars={self.max_chars:,})"
            )

    def weigh(self, value: Any) -> int:
        """About how many characters `value` prints as; refuse a container over the limit.

        Containers are remembered by identity (with a reference, so the id stays theirs) for
        the render: the template cannot change a list or dict, so a weight stays true.
        """
        if isinstance(value, str | bytes | bytearray):
            return len(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value.bit_length() // 3 + 1
        if not isinstance(value, _CONTAINERS):
            return 1
        known = self.weights.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        total = 2
        children = (x for pair in value.items() for x in pair) if isinstance(value, dict) else value
        for child in children:
            total += self.weigh(child) + 2
            if total > self.allocation_limit:
                raise LimitExceeded(
                    f"a value the template built would print as more than {self.allocation_limit:,} "
                    f"characters ({ALLOCATION_FACTOR} x max_chars={self.max_chars:,})"
                )
        self.weights[id(value)] = (value, total)
        return total


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("llmops_prompt_budget", default=None)


def current() -> Budget | None:
    return _CURRENT.get()


def activate(budget: Budget) -> contextvars.Token[Budget | None]:
    return _CURRENT.set(budget)


def deactivate(token: contextvars.Token[Budget | None]) -> None:
    _CURRENT.reset(token)


def tick() -> None:
    budget = _CURRENT.get()
    if budget is not None:
        budget.tick()


def charge(value: Any) -> None:
    budget = _CURRENT.get()
    if budget is not None:
        budget.charge(value)


_CONTAINERS = (list, tuple, dict, set, frozenset)


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | bytearray | list | tuple | dict | set | frozenset):
        return len(value)
    return 0


# -- checks before an operation runs ---------------------------------------------------------


def check_text(length: int, max_chars: int, what: str) -> None:
    if length > max_chars:
        raise LimitExceeded(f"{what} would be {length:,} characters, over max_chars={max_chars:,}")


def check_binop(operator: str, left: Any, right: Any, max_chars: int) -> None:
    """Refuse `*`, `**`, `+` and `%` whose result would be too big, before computing it."""
    if operator == "**":
        big = _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1
        if big and abs(left).bit_length() * right > MAX_INT_BITS:
            raise LimitExceeded(
                f"a power of about {abs(left).bit_length() * right:,} bits is too large a number"
            )
    elif operator == "*":
        if _is_int(left) and _is_int(right):
            if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise LimitExceeded("the product is too large a number")
            return
        seq, times = (left, right) if _is_int(right) else (right, left)
        if _is_int(times) and times > 0 and _size(seq):
            _check_sequence(seq, len(seq) * times, max_chars, "repeating a value")
    elif operator == "+":
        if _size(left) and _size(right):
            _check_sequence(left, len(left) + len(right), max_chars, "the sum")
    elif operator == "%" and isinstance(left, str | bytes | bytearray):
        text = left if isinstance(left, str) else bytes(left).decode("latin-1")
        check_percent_format(text, right, max_chars)


def _check_sequence(seq: Any, length: int, max_chars: int, what: str) -> None:
    if isinstance(seq, str | bytes | bytearray):
        check_text(length, max_chars, what)
    elif length > MAX_ITEMS:
        raise LimitExceeded(f"{what} would hold {length:,} items, over {MAX_ITEMS:,}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def check_percent_format(fmt: str, args: Any, max_chars: int) -> None:
    """`'%0999999999d' % 1` makes a gigabyte: refuse widths over max_chars and `*` widths."""
    for match in _PERCENT.finditer(fmt):
        for part in match.groups():
            if part == "*":
                raise LimitExceeded("'*' widths in %-formatting are not allowed in templates")
            if part:
                check_text(int(part), max_chars, "a %-format field")


def check_format_string(fmt: str, max_chars: int) -> None:
    """`'{:>999999999}'.format(x)`: refuse widths and precisions over max_chars, nested fields."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error with a better message
    for _literal, _field, spec, _conversion in parsed:
        if not spec:
            continue
        if "{" in spec:
            raise LimitExceeded("nested replacement fields in format specs are not allowed in templates")
        for number in re.findall(r"\d+", spec):
            check_text(int(number), max_chars, "a format field")


def check_method(
    method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], max_chars: int
) -> tuple[Any, ...]:
    """String methods that can multiply their input (`center`, `replace`, `join`, ...).

    Returns the arguments to call with: `sep.join(items)` gets its items as a list, counted.
    """
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if _is_int(owner) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        if _is_int(length):
            check_text(length, max_chars, "int.to_bytes()")
        return args
    if not isinstance(owner, str | bytes | bytearray):
        return args
    if name == "join" and len(args) == 1:
        items = list(args[0])
        check_join(items, owner, max_chars)
        return (items,)
    if name in {"center", "ljust", "rjust", "zfill"}:
        width = args[0] if args else kwargs.get("width", 0)
        if _is_int(width):
            check_text(width, max_chars, f"{name}()")
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if _is_int(tabsize):
            check_text(
                len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * tabsize,
                max_chars,
                "expandtabs()",
            )
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        check_replace(owner, args[0], args[1], count, max_chars)
    elif name == "translate":
        raise LimitExceeded("translate() is not allowed in templates")
    return args


def check_join(items: Sequence[Any], separator: Any, max_chars: int) -> None:
    """Joining n items repeats the separator n - 1 times: count before joining."""
    total = len(separator) * max(len(items) - 1, 0)
    check_text(total, max_chars, "join()")
    for item in items:
        total += len(item) if isinstance(item, str | bytes | bytearray) else 0
        check_text(total, max_chars, "join()")


def check_replace(s: Any, old: Any, new: Any, count: Any, max_chars: int) -> None:
    if not isinstance(s, str | bytes | bytearray) or not isinstance(new, type(s)):
        return
    if not isinstance(old, type(s)):
        return
    hits = s.count(old) if old else len(s) + 1
    if _is_int(count) and count >= 0:
        hits = min(hits, count)
    check_text(len(s) + hits * max(len(new) - len(old), 0), max_chars, "replace()")


# -- filters --------------------------------------------------------------------------------

_SIGNATURES: dict[Callable[..., Any], inspect.Signature] = {}


def check_filter(
    name: str, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], max_chars: int
) -> None:
    """Filters that can multiply their input, checked on their bound arguments."""
    if name not in _FILTER_CHECKS:
        return
    signature = _SIGNATURES.get(func)
    if signature is None:
        signature = _SIGNATURES[func] = inspect.signature(func)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return  # the call itself fails with Python's message
    bound.apply_defaults()
    _FILTER_CHECKS[name](bound.arguments, max_chars)


def _center(a: dict[str, Any], max_chars: int) -> None:
    if _is_int(a["width"]):
        check_text(a["width"], max_chars, "center()")


def _indent(a: dict[str, Any], max_chars: int) -> None:
    s, width = str(a["s"]), a["width"]
    unit = len(width) if isinstance(width, str) else width if _is_int(width) else 0
    check_text(len(s) + (s.count("\n") + 1) * unit, max_chars, "indent()")


def _replace(a: dict[str, Any], max_chars: int) -> None:
    count = a.get("count")
    check_replace(str(a["s"]), a["old"], a["new"], -1 if count is None else count, max_chars)


def _format(a: dict[str, Any], max_chars: int) -> None:
    check_percent_format(str(a["value"]), a.get("args"), max_chars)


def _wordwrap(a: dict[str, Any], max_chars: int) -> None:
    s, wrap = str(a["s"]), a.get("wrapstring") or "\n"
    if isinstance(wrap, str):
        check_text(len(s) + (len(s) + 1) * len(wrap), max_chars, "wordwrap()")


def _count_arg(key: str, what: str) -> Callable[[dict[str, Any], int], None]:
    def check(a: dict[str, Any], max_chars: int) -> None:
        if _is_int(a[key]) and a[key] > MAX_ITEMS:
            raise LimitExceeded(f"{what}({a[key]:,}) is over {MAX_ITEMS:,}")

    return check


def _sum(a: dict[str, Any], max_chars: int) -> None:
    if not isinstance(a.get("start", 0), int | float):
        raise LimitExceeded("sum() of sequences is not allowed in templates; use join")


def _tojson(a: dict[str, Any], max_chars: int) -> None:
    if _is_int(a.get("indent")) and a["indent"] > MAX_JSON_INDENT:
        raise LimitExceeded(f"tojson indent over {MAX_JSON_INDENT}")


_FILTER_CHECKS: dict[str, Callable[[dict[str, Any], int], None]] = {
    "center": _center,
    "indent": _indent,
    "replace": _replace,
    "format": _format,
    "wordwrap": _wordwrap,
    "batch": _count_arg("linecount", "batch"),
    "slice": _count_arg("slices", "slice"),
    "sum": _sum,
    "tojson": _tojson,
}
