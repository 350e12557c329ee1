"""The spec language: one pydantic model per kind, discriminated on `kind`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from llmops.compiler.kinds.dataset import Dataset
from llmops.compiler.kinds.deployment import Deployment
from llmops.compiler.kinds.evalsuite import EvalSuite
from llmops.compiler.kinds.finetune import FineTune
from llmops.compiler.kinds.policy import Policy
from llmops.compiler.kinds.project import Project
from llmops.compiler.kinds.prompt import Prompt

SPEC_KINDS: dict[str, type] = {
    cls.__name__: cls for cls in (Dataset, Prompt, FineTune, EvalSuite, Policy, Deployment)
}
ALL_KINDS: dict[str, type] = {"Project": Project, **SPEC_KINDS}

Spec = Annotated[Dataset | Prompt | FineTune | EvalSuite | Policy | Deployment, Field(discriminator="kind")]

__all__ = [
    "ALL_KINDS",
    "SPEC_KINDS",
    "Dataset",
    "Deployment",
    "EvalSuite",
    "FineTune",
    "Policy",
    "Project",
    "Prompt",
    "Spec",
]
