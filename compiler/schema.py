"""JSON Schema of the spec language, so editors can complete and check specs as you type."""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from llmops.compiler.emit.header import HEADER_TEXT
from llmops.compiler.kinds import ALL_KINDS

SCHEMA_PATH = ".llmops/schema.json"


def spec_schema() -> dict[str, Any]:
    any_spec = Annotated[Union[tuple(ALL_KINDS.values())], Field(discriminator="kind")]  # noqa: UP007
    schema = TypeAdapter(any_spec).json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": HEADER_TEXT,
        "title": "llmops spec (llmops.yaml or a file under specs/)",
        **schema,
    }


@cache
def schema_text() -> str:
    return json.dumps(spec_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
