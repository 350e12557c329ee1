"""dvc.yaml and the params files: the dedicated writers give exactly the general writers' bytes.

`block_yaml` must equal `yaml.dump` through libyaml (CSafeDumper, dvc.yaml's options) and
`json_text` must equal `json.dumps(indent=2, sort_keys=True, ensure_ascii=False)`, on the golden
projects and on generated names, paths and values, including the ones YAML would misread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from llmops.compiler.compile import compile_project
from llmops.compiler.emit import dvc
from llmops.compiler.emit.header import yaml_header
from llmops.compiler.parse import load_project

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "projects"
GOLDEN = sorted(p.name for p in FIXTURES.iterdir() if (p / "GOLDEN").exists())


def _general_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("case", GOLDEN)
def test_golden_dvc_yaml_is_what_yaml_dump_writes(case):
    text = compile_project(load_project(FIXTURES / case)).files["dvc.yaml"]
    body = text.removeprefix(yaml_header())
    data = yaml.load(body, Loader=yaml.CSafeLoader)
    # the matrix values that are strings are written quoted, as the compiler marks them
    for entry in data["stages"].values():
        for key, values in entry.get("matrix", {}).items():
            entry["matrix"][key] = [dvc._Quoted(v) if isinstance(v, str) else v for v in values]
    assert dvc._block_yaml(data) == dvc.reference_yaml(data) == body  # no fallback taken


@pytest.mark.parametrize("case", GOLDEN)
def test_golden_params_files_are_what_json_dumps_writes(case):
    files = compile_project(load_project(FIXTURES / case)).files
    params = {rel: text for rel, text in files.items() if rel.endswith(".json")}
    assert params
    for rel, text in params.items():
        assert _general_json(json.loads(text)) == text, rel
        assert dvc._json(json.loads(text), "\n") + "\n" == text, rel


# -- generated values ------------------------------------------------------------------------

# fmt: off
TRICKY = [
    "", " ", "a ", " a", "true", "True", "yes", "no", "on", "off", "y", "n", "~", "null", "NULL",
    "1", "-1", "+1", "0x1f", "0o7", "017", "1_000", "1:20", "1.5", "1e5", "1.0e+5", ".5", ".inf",
    "-.inf", ".nan", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "<<", "=", "-", "- a", "-a",
    "?", "? a", "?a", ":", ": a", "a:", "a: b", "a:b", "#", "#a", "a #b", "a#b", "...", "...a",
    "---", "---a", "a...", "&a", "*a", "!a", "|", ">", "'a", '"a', "%a", "@a", "`a", "[a]",
    "{a}", "a,b", "a, b", "a  b", "é", "naïve/path", "\t", "a\tb", "a\nb", "a\\b", 'a"b', "a'b",
    "\u2028", "\x85", "\ufeff", "\x7f", "a\x01b", "${key}", "trial@${key}", "x" * 130, "x " * 300,
    "data/raw/*.jsonl", ".llmops/stages/a@${key}.json", "llmops run 'odd name'",
]
# fmt: on
text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(alphabet="abz09-_./@${}*? :#'\"\\,[]&!|>%é\t\n", max_size=12),
    st.text(max_size=8),
    st.from_regex(r"[a-z][a-z0-9-]{0,30}(/[a-z0-9_.*-]{1,20}){0,4}", fullmatch=True),
)
scalar = st.one_of(
    text,
    text.map(dvc._Quoted),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)
props = st.dictionaries(text, scalar, max_size=4)
entry = st.fixed_dictionaries(
    {"cmd": text, "params": st.lists(st.dictionaries(text, st.none(), min_size=1, max_size=1), max_size=2)},
    optional={
        "matrix": st.dictionaries(text, st.lists(scalar, max_size=3), max_size=3),
        "deps": st.lists(text, max_size=3),
        "outs": st.lists(st.dictionaries(text, props, min_size=1, max_size=1), max_size=3),
        "empty": st.sampled_from([[], {}]),
        "items": st.lists(scalar, max_size=3),
    },
)
documents = st.builds(lambda stages: {"stages": stages}, st.dictionaries(text, entry, max_size=4))


@given(documents)
@example({"stages": {}})
@example({"stages": {"a": {"cmd": "x", "outs": [{"o": {}}], "deps": [], "m": {"k": [[]]}}}})
@example({"stages": {"": {"cmd": "\u2028", "params": []}, "\x85": {"cmd": "a\u2029b"}}})
def test_block_yaml_is_yaml_dump(data):
    assert dvc.block_yaml(data) == dvc.reference_yaml(data)
    try:
        fast = dvc._block_yaml(data)
    except dvc._GiveUp:
        return
    assert fast == dvc.reference_yaml(data)


names = st.from_regex(r"[a-z][a-z0-9-]{0,40}", fullmatch=True)
paths = st.from_regex(r"[a-z0-9_.-]{1,12}(/[a-z0-9_.*@${}-]{1,16}){0,5}", fullmatch=True)


@given(st.dictionaries(names, st.tuples(paths, st.lists(paths, max_size=4), names), max_size=8))
def test_ordinary_names_and_paths_take_the_fast_path(stages):
    data = {
        "stages": {
            name: {
                "cmd": f"llmops run {name}",
                "deps": deps,
                "params": [{f".llmops/stages/{name}.json": None}],
                "outs": [{out: {"persist": True}}],
                "metrics": [{f"metrics/{name}.json": {"cache": False, "persist": True}}],
                "matrix": {"lr": [1e-05, 0.5, 3], "tag": [dvc._Quoted(other), dvc._Quoted("1e5")]},
            }
            for name, (out, deps, other) in stages.items()
        }
    }
    assert dvc._block_yaml(data) == dvc.reference_yaml(data)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(),
        st.sampled_from(TRICKY),
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
@example({"a": {1: 2}})
@example({"//": "généré", "x": [float("nan"), float("inf"), 1e-05, 10**30, -0.0]})
def test_json_text_is_json_dumps(data):
    assert dvc.json_text(data) == _general_json(data)
