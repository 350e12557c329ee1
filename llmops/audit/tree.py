"""Reading one commit's tree without checking it out: blobs, and the gate results and metrics
committed there (under that commit's `paths.metrics`). Shared by the audit (`history.py`) and
enforcement (`enforce.py`); never raises on a file that does not parse, since history holds
broken commits too. The specs themselves are read by `llmops.audit.specs`, through the compiler.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llmops import yamlsafe
from llmops.audit.specs import CommitSpecs
from llmops.compiler.catalog import spec_of_stage, stage_name
from llmops.compiler.governance import policies_governing
from llmops.compiler.kinds import Deployment, Policy
from llmops.compiler.kinds.common import ModelRef
from llmops.gitrepo import blob_text

# The figures an audit row shows; the full files stay in git for whoever needs more.
TUNE_METRICS = ("eval_loss", "eval_perplexity", "train_loss", "steps")
_SKIP_EVAL = re.compile(r"(_ci_(low|high)|^n)$")


def load_yaml(text: str, path: str = "dvc.lock") -> Any:
    """A YAML file of a commit as plain data, through the bomb-proof reader history needs;
    raises YamlError (a ValueError) for one that cannot be read or would cost too much to."""
    return yamlsafe.load(text, path)


def json_blob(tree, path: str) -> Any:
    text = blob_text(tree, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def finetune_of(kind: str | None, spec: Any, name: str) -> str | None:
    """The FineTune whose figures an audit row shows: itself, or what a Deployment serves."""
    if kind == "FineTune":
        return name
    if isinstance(spec, Deployment):
        return spec.model.finetune
    return None


class TreeFacts:
    """Gate results and metrics of one commit's tree, read once and shared by its rows."""

    def __init__(self, tree, prefix: str, specs: CommitSpecs) -> None:
        self.tree = tree
        self.mdir = prefix + specs.project.paths.metrics.rstrip("/")
        self.specs = specs
        self.prefix = prefix
        self._files: dict[str, Any] | None = None
        self._stale: list[str] | None = None

    def files(self) -> dict[str, Any]:
        if self._files is None:
            self._files = {}
            try:
                folder = self.tree / self.mdir
            except KeyError:
                return self._files
            for item in folder.traverse():
                if item.type == "blob" and item.name.endswith(".json"):
                    self._files[item.name[: -len(".json")]] = json_blob(self.tree, item.path)
        return self._files

    def stale(self) -> list[str]:
        """Why this tree's dvc.lock is not the result of its own specs and inputs (empty: it is)."""
        if self._stale is None:
            from llmops.audit.results_check import stale_results

            self._stale = stale_results(self.tree, self.prefix)
        return self._stale

    def policies(self) -> dict[str, Policy]:
        """Policy specs in this tree by name (for `applies_to`); unreadable ones are left out."""
        return self.specs.policies()

    def gate(self, kind: str | None, name: str, spec: Any) -> dict[str, str]:
        """The committed gate records of the policies that govern this FineTune or Deployment,
        and of any policy whose spec is gone: better too much than too little."""
        policies = self.policies()
        governing = {p.name for p in _governing(policies, kind, name, spec)}
        result: dict[str, str] = {}
        for key, record in sorted(self.files().items()):
            policy = spec_of_stage("gate", key)
            if policy is None:
                continue
            if policy in policies and policy not in governing:
                continue
            if isinstance(record, dict) and isinstance(record.get("passed"), bool):
                result[policy] = "passed" if record["passed"] else "failed"
            else:
                result[policy] = "unreadable"
        return result

    def metrics(self, kind: str | None, name: str, spec: Any) -> dict[str, Any]:
        finetune = finetune_of(kind, spec, name)
        if finetune is None:
            return {}
        files = self.files()
        found: dict[str, Any] = {}
        tune = files.get(stage_name("tune", finetune))
        if isinstance(tune, dict):
            for key in TUNE_METRICS:
                if key in tune:
                    found[f"tune.{key}"] = tune[key]
        label = ModelRef.model_construct(finetune=finetune).label  # as the eval stage names it
        for key, record in sorted(files.items()):
            suite = spec_of_stage("eval", key)
            if suite is None or not isinstance(record, dict):
                continue
            scores = (record.get("models") or {}).get(label)
            if not isinstance(scores, dict):
                continue
            for metric, value in sorted(scores.items()):
                if isinstance(value, int | float) and not _SKIP_EVAL.search(metric):
                    found[f"{suite}.{metric}"] = value
        return found


def _governing(policies: dict[str, Policy], kind: str | None, name: str, spec: Any) -> list[Policy]:
    """The policies governing one audit row: a FineTune, or a Deployment (its own `policies`,
    and those naming it or its environment); any other row only the unrestricted ones."""
    if kind == "FineTune":
        return policies_governing(policies.values(), finetunes=[name])
    if kind == "Deployment" and isinstance(spec, Deployment):
        return policies_governing(
            policies.values(), deployments=[name], environments=[spec.environment], named=spec.policies
        )
    if kind == "Deployment":
        return policies_governing(policies.values(), deployments=[name])
    return policies_governing(policies.values())
