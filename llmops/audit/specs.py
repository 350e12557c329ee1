"""One commit's specs, parsed as `llmops compile` parses them, without checking the commit out.

Enforcement and the audit decide from specs (which Policies govern a change, how many approvals
it needs, where a Deployment runs, where results live), so they read them with the compiler's
own loader and models: the defaults they act on are the models' defaults, never a second copy.

History holds commits that no longer parse with this llmops (a YAML error that was fixed later,
a field the spec language has since changed). Such a commit is read leniently and says so: a
spec that does not validate keeps the values that do, the model's defaults stand in for the
rest (an unreadable `applies_to` governs everything, unreadable approvals need the default
count), and it carries its problems for the verdict's or the audit row's notes; llmops.yaml the
same. A whole number written `2.0` or `"2"` where an integer is asked is read as that number,
never dropped for a default. A spec whose YAML is broken, or that lacks a required field, is
known by its path (and by its kind and name when the YAML says them) but has no typed spec.
Enforcement reads the rules of a base commit strictly (`llmops.audit.rules`): there, any of
this refuses.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from llmops.compiler.kinds import SPEC_KINDS, Policy, Project
from llmops.compiler.parse import PROJECT_FILE, SpecFile, parse_project_file, parse_specs, spec_paths
from llmops.compiler.read_yaml import SourceDoc, load_text
from llmops.gitrepo import blob_text

_GLOB = set("*?[")


@dataclass(frozen=True)
class SpecEntry:
    """One spec file at one commit."""

    path: str  # relative to the project
    kind: str | None  # from the YAML, even when the spec does not validate
    name: str | None
    data: dict[str, Any] | None  # the YAML mapping; None when the file is not one
    spec: Any | None  # the typed spec: validated, or salvaged when `problems`
    problems: tuple[str, ...] = ()  # why `llmops compile` would refuse it

    @property
    def parses(self) -> bool:
        return self.spec is not None and not self.problems


@dataclass(frozen=True)
class CommitSpecs:
    """llmops.yaml and every spec file of one commit's tree, by project-relative path."""

    project: Project
    entries: dict[str, SpecEntry]
    project_problems: tuple[str, ...] = ()
    _by_kind: dict[str, list[SpecEntry]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries.values():
            if entry.spec is not None:
                self._by_kind.setdefault(entry.kind or "", []).append(entry)

    def of_kind(self, kind: str) -> list[SpecEntry]:
        """The entries of `kind` that have a typed spec (validated or salvaged), by path."""
        return list(self._by_kind.get(kind, []))

    def find(self, kind: str, name: str) -> SpecEntry | None:
        """The entry of that kind and name, typed or not (a spec that is there but unreadable)."""
        found = [e for e in self.entries.values() if e.kind == kind and e.name == name]
        return next((e for e in found if e.spec is not None), found[0] if found else None)

    def policies(self) -> dict[str, Policy]:
        return {e.spec.name: e.spec for e in self.of_kind("Policy")}

    def project_notes(self) -> list[str]:
        """Whether llmops.yaml was read leniently (then the models' defaults stand in for the
        fields that do not parse: where specs and metrics live, the governance settings)."""
        return [
            f"{PROJECT_FILE} does not parse with this llmops ({p}): read leniently"
            for p in self.project_problems[:1]
        ]

    def notes(self) -> list[str]:
        """What was read leniently, one line per file, for a verdict."""
        entries = sorted(self.entries.values(), key=lambda e: e.path)
        return self.project_notes() + [entry_note(e) for e in entries if e.problems]


def entry_note(entry: SpecEntry) -> str:
    how = "read leniently" if entry.spec is not None else "left out"
    return f"{entry.path} does not parse with this llmops ({entry.problems[0]}): {how}"


def read_commit_specs(tree, prefix: str = "") -> CommitSpecs:
    """The specs of a git tree (gitpython `Tree`) under `prefix` (the project's folder, "" or
    ending in "/")."""
    project, project_problems = _project(tree, prefix)
    candidates = _candidate_paths(tree, prefix, project)
    sources: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for rel in spec_paths(project, candidates):
        try:
            sources[rel] = blob_text(tree, prefix + rel, errors="strict") or ""
        except UnicodeDecodeError as exc:
            unreadable[rel] = f"not UTF-8 text ({exc.reason})"
    project_file = SpecFile(project, SourceDoc(PROJECT_FILE, {}))
    parsed = parse_specs(project_file, sources)
    problems: dict[str, list[str]] = {}
    for diagnostic in parsed.errors:
        problems.setdefault(diagnostic.file, []).append(str(diagnostic))
    entries: dict[str, SpecEntry] = {}
    for sf in parsed.specs:
        if sf.path not in problems:
            entries[sf.path] = SpecEntry(sf.path, sf.kind, sf.name, sf.doc.data, sf.spec)
    for rel in sorted(set(problems) | set(unreadable)):
        why = problems.get(rel) or [f"{rel}: {unreadable[rel]}"]
        entries[rel] = _lenient(rel, sources.get(rel), tuple(why))
    return CommitSpecs(project, dict(sorted(entries.items())), tuple(project_problems))


def main_branch(tree, prefix: str = "") -> str:
    """The main branch a commit's llmops.yaml names (`governance.main_branch`); the model's
    default without a commit (`tree` None)."""
    project = _project(tree, prefix)[0] if tree is not None else _salvaged_project({})
    return project.governance.main_branch


def salvage(model: type[BaseModel], data: dict[str, Any]) -> BaseModel | None:
    """`data` as `model`, leaving out each value that does not validate (the smallest: one key
    of a mapping, one item of a list; for a missing field, the mapping that lacks it) so that the
    model's defaults stand in for them; None when a required top-level field is lost. A whole
    number where a strict integer is asked (`2.0`, `"2"`: an approval count) is read as that
    number rather than dropped: a count dropped for the default would loosen the rule."""
    data = copy.deepcopy(data)
    for _ in range(_MAX_SALVAGE):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            if not (_whole_number(data, error) or _drop(data, error["loc"])):
                return None
    return None


_MAX_SALVAGE = 200
_TAG_KEYS = ("kind", "step", "type")
_DIGITS = re.compile(r"^\s*[+-]?\d+\s*$")


def _locate(data: dict[str, Any], loc: tuple[str | int, ...]) -> list[tuple[Any, str | int]]:
    """The (container, key) steps from `data` down a validation error's location, as far as the
    data goes."""
    path: list[tuple[Any, str | int]] = []
    node: Any = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            path.append((node, part))
        elif isinstance(node, dict) and part in [node.get(k) for k in _TAG_KEYS]:
            continue  # the member of a discriminated union pydantic tried: not a key
        else:
            break  # past the data: a missing field (drop what lacks it)
        node = node[part]
    return path


def _whole_number(data: dict[str, Any], error: Any) -> bool:
    """Replace a strict integer field's `2.0` or `"2"` by 2; False when the error is another."""
    value = error.get("input")
    if error.get("type") != "int_type" or isinstance(value, bool):
        return False
    whole = isinstance(value, float) and value.is_integer()
    if not (whole or (isinstance(value, str) and _DIGITS.match(value))):
        return False
    number = int(value)
    path = _locate(data, error["loc"])
    if not path:
        return False
    container, key = path[-1]
    if type(container[key]) is not type(value) or container[key] != value:
        return False  # the error points past the data: not this value
    container[key] = number
    return True


def _drop(data: dict[str, Any], loc: tuple[str | int, ...]) -> bool:
    """Remove the value a validation error points at; False when that is the whole spec."""
    path = _locate(data, loc)
    if not path:
        return False
    container, key = path[-1]
    del container[key]
    return True


# -- reading ---------------------------------------------------------------------------------


def _project(tree, prefix: str) -> tuple[Project, list[str]]:
    """llmops.yaml as the compiler reads it; leniently (and saying why) when it does not parse."""
    try:
        text = blob_text(tree, prefix + PROJECT_FILE, errors="strict")
    except UnicodeDecodeError as exc:
        return _salvaged_project({}), [f"{PROJECT_FILE}: not UTF-8 text ({exc.reason})"]
    if text is None:
        return _salvaged_project({}), [f"{PROJECT_FILE} is missing"]
    project_file, errors = parse_project_file(text)
    if project_file is not None and not errors:
        return project_file.spec, []
    doc, _ = load_text(PROJECT_FILE, text)
    return _salvaged_project(doc.data if doc is not None else {}), [str(e) for e in errors]


def _salvaged_project(data: Any) -> Project:
    data = dict(data) if isinstance(data, dict) else {}
    for name in (data.get("name"), "project"):
        project = salvage(Project, {**data, "kind": "Project", "name": name})
        if isinstance(project, Project):
            return project
    return Project(kind="Project", name="project")


def _lenient(rel: str, text: str | None, problems: tuple[str, ...]) -> SpecEntry:
    doc = load_text(rel, text)[0] if text is not None else None
    data = doc.data if doc is not None and isinstance(doc.data, dict) else None
    kind = data.get("kind") if data and isinstance(data.get("kind"), str) else None
    name = data.get("name") if data and isinstance(data.get("name"), str) else None
    model = SPEC_KINDS.get(kind or "") or None
    spec = salvage(model, data) if model is not None and data is not None and name else None
    return SpecEntry(rel, kind, name, data, spec, problems)


def _candidate_paths(tree, prefix: str, project: Project) -> list[str]:
    """Project-relative paths of the blobs under the spec folders (all of them for a glob)."""
    found: set[str] = set()
    for root in project.paths.specs:
        root = root.rstrip("/")
        start = prefix.rstrip("/") if _GLOB & set(root) else prefix + root
        try:
            node = tree / start if start else tree
        except KeyError:
            continue
        if node.type == "blob":
            found.add(node.path[len(prefix) :])
            continue
        for item in node.traverse():
            if item.type == "blob" and item.path.startswith(prefix):
                found.add(item.path[len(prefix) :])
    return sorted(found)
