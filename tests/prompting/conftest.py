"""Helpers for the prompt engine tests: a PromptTemplate from a few spec fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops.prompting.render import PromptTemplate


def make_prompt(root: Path | None = None, *, source: str | None = None, **fields: Any) -> PromptTemplate:
    """A PromptTemplate from spec fields, as a stage config holds them."""
    spec = {"name": "demo", **fields}
    return PromptTemplate.from_config(spec, root or Path("."), source=source)


@pytest.fixture
def prompt():
    """make_prompt(root=None, source=None, **spec fields) -> PromptTemplate."""
    return make_prompt
