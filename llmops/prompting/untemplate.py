"""Take a Prompt's template back off a logged request, recovering the variables a user filled in.

Clients of a deployment may send the whole rendered prompt (`/v1/completions` with
"Question: ...\\nAnswer:\\n") or chat messages (logged by the gateway as their contents joined by
newlines). Training data holds the variables (`text`), not the rendered prompt, so drift and the
feedback export compare and write like for like only after the template is taken off.

The template is rendered once with a unique placeholder per variable; the literal text around
the placeholders becomes a regular expression that a logged request must match whole. A request
that matches none of the prompt's shapes (full prompt, joined chat contents, the user turn) is
kept as it is: it is then the user's own text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: never in a real template


@dataclass(frozen=True)
class Untemplater:
    variables: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def from_prompt(cls, prompt: dict[str, Any], root: Path) -> Untemplater:
        """From the prompt's spec fields as stage configs carry them. A template that cannot be
        rendered here (or reshapes its variables with filters) gives no patterns: texts stay as
        they are rather than failing a monitoring run."""
        from llmops.prompting.render import PromptTemplate

        try:
            template = PromptTemplate.from_config(prompt, root)
            marks = {name: f"{_OPEN}{i}{_CLOSE}" for i, name in enumerate(template.variables)}
            rendered = template.render(marks)
        except Exception:
            return cls(tuple(prompt.get("variables") or ()), ())
        shapes = [rendered.user, "\n".join(m["content"] for m in rendered.messages)]
        if rendered.prompt is not None:
            shapes.insert(0, rendered.prompt)
        names = tuple(template.variables)
        patterns = []
        for shape in dict.fromkeys(shapes):  # unique, in order
            pattern = _pattern(shape, names)
            if pattern is not None:
                patterns.append(pattern)
        return cls(names, tuple(patterns))

    def variables_of(self, text: str) -> dict[str, str] | None:
        """The variables a logged request filled in, or None when it matches no shape."""
        for pattern in self.patterns:
            match = pattern.fullmatch(text.strip())
            if match:
                return {name: match.group(f"v{i}") for i, name in enumerate(self.variables)}
        return None

    def user_text(self, text: str) -> str:
        """The variables joined by newlines (as training inputs are), else the text itself."""
        found = self.variables_of(text)
        if found is None:
            return text
        return "\n".join(found[name] for name in self.variables if found[name])


def _pattern(shape: str, names: tuple[str, ...]) -> re.Pattern[str] | None:
    mark = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
    shape = shape.strip()
    parts, seen, last = [], set(), 0
    for match in mark.finditer(shape):
        parts.append(re.escape(shape[last : match.start()]))
        index = int(match.group(1))
        parts.append(f"(?P=v{index})" if index in seen else f"(?P<v{index}>.*?)")
        seen.add(index)
        last = match.end()
    parts.append(re.escape(shape[last:]))
    if seen != set(range(len(names))):
        return None  # a variable was dropped or reshaped: its value cannot be read back
    return re.compile("".join(parts), re.DOTALL)
