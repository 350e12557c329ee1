"""Every error in every file in one run, with file:line:col, as a user sees it."""

from pathlib import Path

import pytest

from llmops.compiler.compile import plan_graph
from llmops.compiler.parse import load_project
from llmops.errors import SpecError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"


def _errors(case: str) -> str:
    with pytest.raises(SpecError) as info:
        plan_graph(load_project(FIXTURES / case))
    return str(info.value) + "\n"


@pytest.mark.parametrize("case", ["broken", "cycle"])
def test_broken_fixture_messages_are_exact(case):
    expected = (FIXTURES / case / "expected_errors.txt").read_text(encoding="utf-8")
    assert _errors(case) == expected


def test_broken_fixture_reports_every_file():
    text = _errors("broken")
    files = {line.split(":")[0] for line in text.splitlines()[:-1]}
    assert {f"specs/{n}.yaml" for n in "abcdefgh"} <= files
    assert "specs/i-refs.yaml" in files and "specs/n-values.yaml" in files


def test_did_you_mean_for_keys_values_kinds_and_references():
    text = _errors("broken")
    assert "unknown field 'bach_size' (did you mean 'batch_size'?)" in text
    assert "unknown kind 'Promt' (did you mean 'Prompt'?)" in text
    assert "unknown Prompt 'answr' (did you mean 'answer'?)" in text
    assert "(did you mean 'lora'?)" in text


def test_duplicates_name_every_file():
    text = _errors("broken")
    assert text.count("duplicate Prompt name 'answer' (defined in specs/j-dup.yaml, specs/k-dup.yaml)") == 2


def test_cycle_names_every_member_and_nothing_else():
    text = _errors("cycle")
    assert all(f"specs/{n}.yaml" in text for n in "abc")
    assert "specs/ok.yaml" not in text


def test_missing_project_file_is_a_usage_error(tmp_path):
    from llmops.errors import UsageError

    with pytest.raises(UsageError, match=r"no llmops\.yaml"):
        load_project(tmp_path)


def test_project_file_of_wrong_kind(tmp_path):
    (tmp_path / "llmops.yaml").write_text("kind: Dataset\nname: x\n")
    with pytest.raises(SpecError, match=r"llmops\.yaml must be kind Project"):
        load_project(tmp_path)


def test_project_spec_outside_root_is_refused(tmp_path):
    (tmp_path / "llmops.yaml").write_text("kind: Project\nname: x\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "p.yaml").write_text("kind: Project\nname: y\n")
    with pytest.raises(SpecError, match=r"belongs in llmops\.yaml"):
        plan_graph(load_project(tmp_path))


def test_missing_spec_folder(tmp_path):
    (tmp_path / "llmops.yaml").write_text("kind: Project\nname: x\npaths: {specs: [nowhere]}\n")
    with pytest.raises(SpecError, match="'nowhere' does not exist"):
        load_project(tmp_path)


def test_non_utf8_file(tmp_path):
    (tmp_path / "llmops.yaml").write_text("kind: Project\nname: x\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "bad.yaml").write_bytes(b"kind: Dataset\nname: \xff\n")
    with pytest.raises(SpecError, match=r"specs/bad.yaml:2:1: not UTF-8"):
        plan_graph(load_project(tmp_path))
