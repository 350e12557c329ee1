"""Reading one commit's tree without checking it out: blobs, spec documents, where the specs
and metrics live (from that commit's llmops.yaml), and the gate results and metrics committed
there. Shared by the audit (`history.py`) and enforcement (`enforce.py`); never raises on a
file that does not parse, since history holds broken commits too.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

SPEC_SUFFIXES = (".yaml", ".yml")
PROJECT_FILE = "llmops.yaml"
# The figures an audit row shows; the full files stay in git for whoever needs more.
TUNE_METRICS = ("eval_loss", "eval_perplexity", "train_loss", "steps")
_SKIP_EVAL = re.compile(r"(_ci_(low|high)|^n)$")


def load_yaml(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def blob_text(tree, path: str) -> str | None:
    try:
        blob = tree / path
    except KeyError:
        return None
    if blob.type != "blob":
        return None
    return blob.data_stream.read().decode("utf-8", "replace")


def spec_doc(tree, path: str) -> tuple[bool, dict | None]:
    """(exists, document): document is None when the file is missing or does not parse as a mapping
    with a kind and a name."""
    text = blob_text(tree, path)
    if text is None:
        return False, None
    try:
        doc = load_yaml(text)
    except Exception:
        return True, None
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or not doc.get("name"):
        return True, None
    return True, doc


def spec_roots(tree, prefix: str) -> list[str]:
    text = blob_text(tree, prefix + PROJECT_FILE)
    roots: Any = None
    if text is not None:
        try:
            doc = load_yaml(text)
            roots = ((doc or {}).get("paths") or {}).get("specs") if isinstance(doc, dict) else None
        except Exception:
            roots = None
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        roots = ["specs"]
    return [prefix + r.rstrip("/") for r in roots]


def metrics_dir(tree, prefix: str) -> str:
    text = blob_text(tree, prefix + PROJECT_FILE)
    try:
        doc = load_yaml(text) if text is not None else None
        value = ((doc or {}).get("paths") or {}).get("metrics") if isinstance(doc, dict) else None
    except Exception:
        value = None
    return prefix + (value.rstrip("/") if isinstance(value, str) and value else "metrics")


def is_spec(path: str, roots: list[str], prefix: str) -> bool:
    if not path.endswith(SPEC_SUFFIXES) or path == prefix + PROJECT_FILE:
        return False
    return any(path == r or path.startswith(r + "/") or PurePosixPath(path).match(r) for r in roots)


def json_blob(tree, path: str) -> Any:
    text = blob_text(tree, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def finetune_of(kind: str | None, doc: dict | None, name: str) -> str | None:
    if kind == "FineTune":
        return name
    if kind == "Deployment" and doc and isinstance(doc.get("model"), dict):
        value = doc["model"].get("finetune")
        return value if isinstance(value, str) else None
    return None


class TreeFacts:
    """Gate results and metrics of one commit's tree, read once and shared by its rows."""

    def __init__(self, tree, prefix: str, roots: list[str]) -> None:
        self.tree = tree
        self.mdir = metrics_dir(tree, prefix)
        self.roots = roots
        self._files: dict[str, Any] | None = None
        self._policies: dict[str, dict] | None = None

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

    def policies(self) -> dict[str, dict]:
        """Policy specs in this tree by name (for `applies_to`); unparseable ones are left out."""
        if self._policies is None:
            self._policies = {}
            for root in self.roots:
                try:
                    folder = self.tree / root
                except KeyError:
                    continue
                if folder.type != "tree":
                    continue
                for item in folder.traverse():
                    if item.type == "blob" and item.path.endswith(SPEC_SUFFIXES):
                        _, doc = spec_doc(self.tree, item.path)
                        if doc and doc.get("kind") == "Policy":
                            self._policies[str(doc["name"])] = doc
        return self._policies

    def gate(self, kind: str | None, name: str, doc: dict | None) -> dict[str, str]:
        result: dict[str, str] = {}
        for key, record in sorted(self.files().items()):
            if not key.startswith("gate-"):
                continue
            policy = key[len("gate-") :]
            if not self._applies(policy, kind, name, doc):
                continue
            if isinstance(record, dict) and isinstance(record.get("passed"), bool):
                result[policy] = "passed" if record["passed"] else "failed"
            else:
                result[policy] = "unreadable"
        return result

    def _applies(self, policy: str, kind: str | None, name: str, doc: dict | None) -> bool:
        if kind == "Deployment" and doc and policy in (doc.get("policies") or []):
            return True
        spec = self.policies().get(policy)
        applies = spec.get("applies_to") if spec else None
        if not isinstance(applies, dict) or not any(applies.values()):
            return True  # unknown or unrestricted policies are shown: better too much than too little
        if kind == "FineTune":
            return name in (applies.get("finetunes") or [])
        if kind == "Deployment":
            env = doc.get("environment") if doc else None
            return name in (applies.get("deployments") or []) or env in (applies.get("environments") or [])
        return False

    def metrics(self, kind: str | None, name: str, doc: dict | None) -> dict[str, Any]:
        finetune = finetune_of(kind, doc, name)
        if finetune is None:
            return {}
        files = self.files()
        found: dict[str, Any] = {}
        tune = files.get(f"tune-{finetune}")
        if isinstance(tune, dict):
            for key in TUNE_METRICS:
                if key in tune:
                    found[f"tune.{key}"] = tune[key]
        label = f"finetune:{finetune}"
        for key, record in sorted(files.items()):
            if not key.startswith("eval-") or not isinstance(record, dict):
                continue
            scores = (record.get("models") or {}).get(label)
            if not isinstance(scores, dict):
                continue
            suite = key[len("eval-") :]
            for metric, value in sorted(scores.items()):
                if isinstance(value, int | float) and not _SKIP_EVAL.search(metric):
                    found[f"{suite}.{metric}"] = value
        return found
