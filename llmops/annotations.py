"""GitHub workflow commands that annotate a run: `::error file=...,line=...,title=...::message`.

`llmops gate --annotations` points at the failed rule in its Policy spec and `llmops enforce
--annotations` names each refused check. The runner parses these lines from a step's output,
so the escaping must follow GitHub's rules exactly: written once, here.
"""

from __future__ import annotations


def escape_data(value: str) -> str:
    """A message: `%`, CR and LF are escaped (the command ends at the line's end)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A property value: also `:` and `,`, which separate the properties."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotation(
    message: str,
    *,
    title: str | None = None,
    file: str | None = None,
    line: int | None = None,
    level: str = "error",
) -> str:
    """One `::<level> <properties>::<message>` line; properties left out when not given."""
    props = [
        f"{name}={escape_property(str(value))}"
        for name, value in (("file", file), ("line", line), ("title", title))
        if value is not None
    ]
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{escape_data(message)}"
