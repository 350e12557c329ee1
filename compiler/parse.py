"""Parse: project sources ({relative path: text}) -> validated spec models.

Reading files is the caller's job (`read_sources`, or git for `plan --base`), so that parsing
is a pure function that reports every problem in every file in one pass.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from llmops.compiler.diagnose import from_validation_error, suggest
from llmops.compiler.gcpause import paused_gc
from llmops.compiler.kinds import ALL_KINDS, SPEC_KINDS, Project
from llmops.compiler.read_yaml import SourceDoc, load_text
from llmops.errors import Diagnostic, SpecError, UsageError

PROJECT_FILE = "llmops.yaml"
SPEC_SUFFIXES = (".yaml", ".yml")

# A spec file's path reaches generated files (the `# source:` header, a KServe annotation, the
# stage sources list), so it is a spec value like any other: folders and a name of letters,
# digits and `_ . + @ = -`, no space, no newline, no quote. A newline in a name could otherwise add
# lines, even whole YAML documents, to a generated manifest.
_SEGMENT = r"[A-Za-z0-9_.][A-Za-z0-9_.+@=-]{0,199}"
SPEC_PATH = re.compile(rf"(?:{_SEGMENT}/){{0,31}}{_SEGMENT}")
SPEC_PATH_MAX = 400

# Whether the project holds a file at a relative path. Builders ask it about the few files beside
# the specs a stage reads by a name that is not a path (a custom metric's `module:function`).
FileProbe = Callable[[str], bool]


@dataclass(frozen=True)
class SpecFile:
    """A validated spec and the YAML it came from (for positions in later errors)."""

    spec: Any
    doc: SourceDoc

    @property
    def kind(self) -> str:
        return str(self.spec.kind)

    @property
    def name(self) -> str:
        return str(self.spec.name)

    @property
    def path(self) -> str:
        return self.doc.path

    def at(self, *loc: str | int, message: str, field: str = "", hint: str = "") -> Diagnostic:
        line, col = self.doc.position(loc)
        label = field or ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc)
        return Diagnostic(self.path, line, col, label.replace(".[", "["), message, hint)


@dataclass(frozen=True)
class ParsedProject:
    """Valid specs, plus what went wrong elsewhere: resolving reports both in one pass."""

    project: Project
    project_file: SpecFile
    specs: tuple[SpecFile, ...]
    errors: tuple[Diagnostic, ...] = ()
    broken: frozenset[tuple[str, str]] = frozenset()
    # None when the specs were read without the files beside them (text handed in, a git tree)
    is_file: FileProbe | None = None


def spec_paths(project: Project, all_paths: list[str]) -> list[str]:
    """The spec files among all of a tree's files, in a stable order."""
    found = []
    for path in all_paths:
        if not path.endswith(SPEC_SUFFIXES) or path == PROJECT_FILE:
            continue
        for root in project.paths.specs:
            root = root.rstrip("/")
            if fnmatch.fnmatchcase(path, root) or path.startswith(root + "/"):
                found.append(path)
                break
    return sorted(found)


def parse_project_file(text: str) -> tuple[SpecFile | None, list[Diagnostic]]:
    doc, errors = load_text(PROJECT_FILE, text)
    if doc is None:
        return None, errors
    spec, more = _validate(doc, expect_project=True)
    return (SpecFile(spec, doc) if spec is not None else None), errors + more


def parse_specs(
    project_file: SpecFile,
    sources: dict[str, str],
    unreadable: tuple[Diagnostic, ...] = (),
    *,
    is_file: FileProbe | None = None,
) -> ParsedProject:
    """Validate every spec, keeping going after a bad one so one run reports everything.

    Names of specs that failed validation are kept in `broken`, so references to them are
    not reported a second time as unknown. `is_file` answers for the project's other files
    (see `FileProbe`); give it whenever they can be read (the folder, the commit's tree).
    """
    with paused_gc():
        return _parse_all(project_file, sources, unreadable, is_file)


def _parse_all(
    project_file: SpecFile,
    sources: dict[str, str],
    unreadable: tuple[Diagnostic, ...],
    is_file: FileProbe | None,
) -> ParsedProject:
    errors: list[Diagnostic] = list(unreadable)
    specs: list[SpecFile] = []
    broken: set[tuple[str, str]] = set()
    for path in sorted(sources):
        bad_name = spec_path_problem(path)
        if bad_name is not None:
            errors.append(bad_name)
            doc, _ = load_text(shown_path(path), sources[path])
            if doc is not None and isinstance(doc.data, dict):
                kind, name = doc.data.get("kind"), doc.data.get("name")
                if isinstance(kind, str) and isinstance(name, str):
                    broken.add((kind, name))  # its references are not reported a second time
            continue
        doc, problems = load_text(path, sources[path])
        errors.extend(problems)
        if doc is None:
            continue
        if problems and not isinstance(doc.data, dict):
            continue  # already reported; there is nothing to validate
        spec, more = _validate(doc, expect_project=False)
        errors.extend(more)
        if spec is not None and not problems:
            specs.append(SpecFile(spec, doc))
        elif isinstance(doc.data.get("kind"), str) and isinstance(doc.data.get("name"), str):
            broken.add((doc.data["kind"], doc.data["name"]))
    return ParsedProject(
        project_file.spec, project_file, tuple(specs), tuple(errors), frozenset(broken), is_file
    )


def spec_path_problem(path: str) -> Diagnostic | None:
    """A diagnostic for a spec file whose path is not a safe name (see `SPEC_PATH`), else None."""
    parts = path.split("/")
    if len(path) <= SPEC_PATH_MAX and SPEC_PATH.fullmatch(path) and not {".", ".."} & set(parts):
        return None
    odd = sorted({c for c in path if not (c.isascii() and (c.isalnum() or c in "_.+@=-/"))})
    what = ", ".join(ascii(c) for c in odd[:5]) if odd else "a '.' or '..' folder, or its length"
    return Diagnostic(
        shown_path(path),
        0,
        0,
        "",
        f"not a spec file name llmops accepts (because of {what}): a spec file's path goes into "
        "generated files, so it may hold only letters, digits and _ . + @ = - in each folder and name",
        "rename the file",
    )


def shown_path(path: str) -> str:
    """A path as an error message can show it on one line: odd characters escaped."""
    return ascii(path[:SPEC_PATH_MAX])[1:-1]


def _validate(doc: SourceDoc, *, expect_project: bool) -> tuple[BaseModel | None, list[Diagnostic]]:
    if not isinstance(doc.data, dict):
        return None, [
            Diagnostic(doc.path, 1, 1, "", "expected a mapping with kind, name and the kind's fields")
        ]
    kind = doc.data.get("kind")
    line, col = doc.position(("kind",))
    kinds = ["Project"] if expect_project else sorted(SPEC_KINDS)
    if kind is None:
        hint = "add `kind: Project`" if expect_project else f"one of {', '.join(kinds)}"
        return None, [Diagnostic(doc.path, 1, 1, "kind", "field required", hint)]
    if kind not in kinds:
        if expect_project:
            msg, hint = f"llmops.yaml must be kind Project, not '{kind}'", ""
        elif kind == "Project":
            msg, hint = "a Project spec belongs in llmops.yaml at the project root", ""
        else:
            msg = f"unknown kind '{kind}'"
            hint = suggest(str(kind), ALL_KINDS) or f"one of {', '.join(kinds)}"
        return None, [Diagnostic(doc.path, line, col, "kind", msg, hint)]
    model = ALL_KINDS[kind]
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        return None, from_validation_error(doc, model, exc)


def read_sources(root: Path) -> tuple[SpecFile, dict[str, str], tuple[Diagnostic, ...]]:
    """I/O edge: read llmops.yaml and every spec file under the project's spec folders."""
    project_path = root / PROJECT_FILE
    if not project_path.is_file():
        raise UsageError(f"{project_path}: no llmops.yaml here; run `llmops init DIR` to start one")
    project_file, errors = parse_project_file(_read(project_path, PROJECT_FILE))
    if project_file is None or errors:
        raise SpecError(errors)
    all_paths = []
    for spec_root in project_file.spec.paths.specs:
        base = root / spec_root
        if base.is_file():
            all_paths.append(spec_root)
        elif base.is_dir():
            all_paths.extend(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())
        else:
            line, col = project_file.doc.position(("paths", "specs"))
            raise SpecError(
                [Diagnostic(PROJECT_FILE, line, col, "paths.specs", f"'{spec_root}' does not exist")]
            )
    sources, unreadable = {}, []
    for rel in spec_paths(project_file.spec, all_paths):
        try:
            sources[rel] = _read(root / rel, rel)
        except SpecError as exc:
            unreadable.extend(exc.diagnostics)
    return project_file, sources, tuple(unreadable)


def _read(path: Path, label: str) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError([Diagnostic(label, line, 1, "", f"not UTF-8 text ({exc.reason})")]) from None


def load_project(root: Path) -> ParsedProject:
    return parse_specs(*read_sources(root), is_file=lambda rel: (root / rel).is_file())


def parse_files(root: Path, paths: list[str], *, project: str = PROJECT_FILE) -> list[SpecFile] | None:
    """I/O edge: parse just these files (llmops.yaml among them as the Project); None when one
    is missing or no longer a valid spec. What `llmops run` reads to check a stage is fresh."""
    files = []
    for rel in paths:
        path = root / rel
        if spec_path_problem(rel) is not None or not path.is_file():
            return None
        doc, errors = load_text(rel, _read(path, rel))
        if doc is None or errors:
            return None
        spec, problems = _validate(doc, expect_project=rel == project)
        if spec is None or problems:
            return None
        files.append(SpecFile(spec, doc))
    return files
