"""The spec language: one pydantic model per kind, discriminated on `kind`."""

from __future__ import annotations

from llmops.compiler.kinds.dataset import Dataset
from llmops.compiler.kinds.deployment import Deployment
from llmops.compiler.kinds.evalsuite import EvalSuite
from llmops.compiler.kinds.finetune import FineTune
from llmops.compiler.kinds.knowledge_index import KnowledgeIndex
from llmops.compiler.kinds.policy import Policy
from llmops.compiler.kinds.project import Project
from llmops.compiler.kinds.prompt import Prompt

# The one list of spec kinds: parsing, the JSON schema and the docs read it; the catalog
# (compiler/catalog.py) says which stages each kind becomes.
SPEC_KINDS: dict[str, type] = {
    cls.__name__: cls for cls in (Dataset, KnowledgeIndex, Prompt, FineTune, EvalSuite, Policy, Deployment)
}
ALL_KINDS: dict[str, type] = {"Project": Project, **SPEC_KINDS}

__all__ = [
    "ALL_KINDS",
    "SPEC_KINDS",
    "Dataset",
    "Deployment",
    "EvalSuite",
    "FineTune",
    "KnowledgeIndex",
    "Policy",
    "Project",
    "Prompt",
]
