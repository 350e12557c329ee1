from hypothesis import given
from hypothesis import strategies as st

from llmops.compiler.read_yaml import load_text


def test_positions_of_keys_and_values():
    doc, errors = load_text("s.yaml", "kind: Dataset\nsplit:\n  train: 0.8\nsources:\n  - path: a\n")
    assert not errors
    assert doc.position(("split", "train")) == (3, 10)
    assert doc.position(("split", "train"), key=True) == (3, 3)
    assert doc.position(("sources", 0, "path")) == (5, 11)
    assert doc.position(("sources", 0, "missing")) == (5, 5)


def test_yaml_12_scalars():
    doc, _ = load_text("s.yaml", "a: on\nb: no\nc: 1e-4\nd: true\ne: 0x10\nf: ~\ng: '1'\n")
    assert doc.data == {"a": "on", "b": "no", "c": 1e-4, "d": True, "e": 16, "f": None, "g": "1"}


def test_each_bad_document_has_its_own_message():
    cases = {
        "": "the file is empty",
        "# only a comment\n": "the file is empty",
        "- a\n- b\n": "the document is a list, not a mapping",
        "just text\n": "the document is a single value, not a mapping",
        "a: [\n": "YAML syntax error",
        "a: 1\n<<<<<<< HEAD\nb: 2\n": "merge-conflict marker",
        "a: 1\n---\nb: 2\n": "more than one YAML document",
        "a: 1\na: 2\n": "duplicate key 'a'",
    }
    for text, expected in cases.items():
        _, errors = load_text("s.yaml", text)
        assert errors and expected in errors[0].message, (text, errors)


def test_conflict_marker_line_is_reported():
    _, errors = load_text("s.yaml", "a: 1\nb: 2\n=======\n")
    assert (errors[0].line, errors[0].col) == (3, 1)


def test_merge_keys_and_anchors():
    doc, errors = load_text("s.yaml", "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert not errors
    assert doc.data["other"] == {"x": 1, "y": 2}


def test_tags_that_are_not_plain_yaml_are_refused():
    for text in ("!0 a: 1\n", "a: !0 x\n", "a: !0 {b: 1}\n", "a: !!python/object:os.system x\n", "!0 k: v\n"):
        _, errors = load_text("s.yaml", text)
        assert errors, text


# fmt: off
SCALARS = [
    "on", "no", "yes", "true", "False", "~", "null", "", "0x1F", "0o17", "017", "-12", "+3", "1_000",
    "1.5", "1e-4", "-.inf", ".NaN", "1:20", "2001-12-14", "'q'", '"d\\tq"', "!!str 12", "!!int '7'",
    "!!float 1", "!!bool true", "!!null ''", "!!binary aGk=", "!!timestamp 2001-12-14", "&a 5",
]
# fmt: on


@given(
    st.lists(st.one_of(st.sampled_from(SCALARS), st.text(alphabet="ab01.-+:e_x ~", max_size=6)), max_size=6)
)
def test_scalars_are_what_the_yaml_constructor_makes(values):
    """read_yaml builds plain scalars itself; they must equal what PyYAML's constructor builds."""
    import yaml

    from llmops.compiler import read_yaml

    text = "".join(f"k{i}: {v}\n" for i, v in enumerate(values)) + "end: 1\n"
    doc, _ = load_text("s.yaml", text)
    try:
        root = yaml.compose(text, Loader=read_yaml._Loader)
    except yaml.YAMLError:
        assert doc is None
        return
    constructor = yaml.constructor.SafeConstructor()
    expected = {}
    for key, node in root.value:
        try:
            expected[key.value] = constructor.construct_object(node)
        except yaml.YAMLError:
            expected[key.value] = None
    assert doc is not None and doc.data == expected
    assert not read_yaml._SCALARS.constructed_objects  # no node kept after a file is read
