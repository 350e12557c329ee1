"""Bounds on a template's shape, checked before Jinja parses or compiles it.

Jinja's parser recurses once per nested parenthesis, block or prefix operator, and its code
generator once per level of the parsed tree (a chain of 5,000 filters is 5,000 levels). A
template of 150 nested parentheses, 300 nested `{% if %}` or 5,000 chained filters would die
with a RecursionError in `llmops validate`, and 25 nested loops make Python itself refuse the
generated code. So the template is lexed first (Jinja's lexer is iterative) and its nesting
counted, then the parsed tree's depth is measured without recursion; anything past a bound
is a `ShapeError` naming the template line. The bounds are far above what a prompt needs.
"""

from __future__ import annotations

from jinja2 import nodes
from jinja2.environment import Environment

MAX_TEMPLATE_CHARS = 100_000  # the same bound as an inline `template:` in a spec
MAX_BLOCK_DEPTH = 16  # {% if %}, {% for %}, {% macro %}, ... inside each other
MAX_BRACKET_DEPTH = 32  # ( [ { inside each other in one expression
MAX_PREFIX_RUN = 32  # `not`, `-`, `+` in a row
MAX_TREE_DEPTH = 64  # levels of the parsed template (chained filters, tests, operators); Jinja's
# optimizer costs the cube of a chain's length, so 64 chained filters already compile in ~0.2 s

_OPENING_TAGS = frozenset({"if", "for", "macro", "call", "filter", "with", "autoescape", "trans", "block"})
_OPEN, _CLOSE = frozenset({"lparen", "lbracket", "lbrace"}), frozenset({"rparen", "rbracket", "rbrace"})
_PREFIX = frozenset({"sub", "add"})
_HINT = "split it into smaller parts with {% set %} or a macro"


class ShapeError(Exception):
    """A template too big or too deeply nested to parse safely; `line` is where it went over."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line


def check_source(env: Environment, text: str, filename: str) -> None:
    """Refuse a template whose size or nesting would exhaust the parser (before parsing)."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ShapeError(None, f"the template is longer than {MAX_TEMPLATE_CHARS:,} characters")
    blocks = brackets = prefix = 0
    after_begin = False
    set_line: int | None = None
    set_assigns = False
    for token in env.lexer.tokenize(text, filename=filename):
        kind, value, line = token.type, token.value, token.lineno
        if after_begin and kind == "name":
            if value.startswith("end"):
                blocks -= 1
            elif value in _OPENING_TAGS:
                blocks += 1
            elif value == "set":
                set_line, set_assigns = line, False
        after_begin = kind == "block_begin"
        if set_line is not None:
            set_assigns = set_assigns or kind == "assign"
            if kind == "block_end":
                blocks += 0 if set_assigns else 1  # `{% set x %}...{% endset %}` is a block
                set_line = None
        if kind in _OPEN:
            brackets += 1
        elif kind in _CLOSE:
            brackets -= 1
        elif kind in ("variable_end", "block_end"):
            brackets = 0
        prefix = prefix + 1 if kind in _PREFIX or (kind == "name" and value == "not") else 0
        if blocks > MAX_BLOCK_DEPTH:
            raise ShapeError(line, f"blocks nested more than {MAX_BLOCK_DEPTH} deep; {_HINT}")
        if brackets > MAX_BRACKET_DEPTH:
            raise ShapeError(line, f"brackets nested more than {MAX_BRACKET_DEPTH} deep; {_HINT}")
        if prefix > MAX_PREFIX_RUN:
            raise ShapeError(line, f"more than {MAX_PREFIX_RUN} prefix operators in a row")


def check_tree(tree: nodes.Template) -> None:
    """Refuse a parsed template deeper than MAX_TREE_DEPTH, measured without recursion."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise ShapeError(
                getattr(node, "lineno", None),
                f"an expression nested more than {MAX_TREE_DEPTH} levels deep (chained filters, "
                f"tests or operators); {_HINT}",
            )
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
