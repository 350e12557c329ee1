"""What template code runs through: the code generator's hooks and the helpers they call.

`sandbox.PromptEnvironment` sets `BoundedCodeGenerator` as its `code_generator_class` (Jinja's
documented hook for changing the Python a template compiles to) and puts these helpers where
template code finds them: `range` is `bounded_range`, `namespace` is `PromptNamespace`,
`lipsum` is `no_lipsum`, nested output collects in a `Buffer`. Each of them checks the current
render's budget (`limits.py`) as it goes, which is what lets a render stop on time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace

from llmops.prompting import limits
from llmops.prompting.limits import LimitExceeded, tick

NOT_ALLOWED = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport, nodes.Block)


class Buffer(list):  # type: ignore[type-arg]
    """The list Jinja collects nested output in (macros, set blocks), counting what goes in."""

    __slots__ = ()

    def append(self, item: Any) -> None:
        tick()
        limits.charge(item)
        super().append(item)

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)


class BoundedRange:
    """`range()` for templates: at most MAX_RANGE items, and every step checks the budget.

    A class rather than a bare generator so `|length`, `loop.length` and `|reverse` still work.
    """

    __slots__ = ("_range",)

    def __init__(self, rng: range) -> None:
        self._range = rng

    def __iter__(self) -> Iterator[int]:
        return ticking(self._range)

    def __reversed__(self) -> Iterator[int]:
        return ticking(reversed(self._range))

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: Any) -> Any:
        item = self._range[index]
        return BoundedRange(item) if isinstance(item, range) else item

    def __contains__(self, value: Any) -> bool:
        return value in self._range

    def __repr__(self) -> str:
        return repr(self._range)


def ticking(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        tick()
        yield item


def bounded_range(*args: int) -> BoundedRange:
    rng = range(*args)
    if len(rng) > limits.MAX_RANGE:
        raise LimitExceeded(f"range() of {len(rng):,} items is over {limits.MAX_RANGE:,}")
    return BoundedRange(rng)


class PromptNamespace(Namespace):
    """`namespace()` whose text does not show its contents: it can change after it was weighed."""

    def __repr__(self) -> str:
        return "<namespace>"


def no_lipsum(*args: Any, **kwargs: Any) -> str:
    raise SecurityError("lipsum() is not available: a prompt must render the same text every time")


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator with the four hooks described in the module docstring."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for bad in node.find_all(NOT_ALLOWED):
            tag = type(bad).__name__.lower().replace("fromimport", "from ... import")
            self.fail(f"'{tag}' is not available in prompt templates (a prompt is one template)", bad.lineno)
        for loop in list(node.find_all(nodes.For)):
            guard = nodes.EnvironmentAttribute("guard_iter", lineno=loop.iter.lineno)
            loop.iter = nodes.Call(guard, [loop.iter], [], None, None, lineno=loop.iter.lineno)
        node.set_environment(self.environment)
        super().visit_Template(node, frame)

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._admitted(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._admitted(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "load":
            self._admitted(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)

    def _admitted(self, visit: Callable[[Any, Frame], None], node: nodes.Node, frame: Frame) -> None:
        """A literal list, dict or tuple is weighed when made (see limits.Budget.weigh)."""
        self.write("environment.admit(")
        visit(node, frame)
        self.write(")")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.getslice(")
        self.visit(node.node, frame)
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            self.write(", ")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write(")")
