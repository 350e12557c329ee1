"""`llmops run <stage>` runs a pipeline stage from its own config and sources files: it parses
only the spec files the stage came from, and refuses a config the specs no longer give."""

from __future__ import annotations

import pytest

from llmops.cli.main import main


@pytest.fixture
def echo_project(echo_kind):
    for n in range(30):  # specs the stage does not come from: never read by `llmops run`
        (echo_kind / f"specs/other-{n}.yaml").write_text(f"kind: Echo\nname: other-{n}\nsource: notes.txt\n")
    assert main(["-C", str(echo_kind), "compile"]) == 0
    return echo_kind


def test_a_stage_runs_without_compiling_the_project(echo_project, monkeypatch):
    import llmops.compiler.compile as compile_module
    import llmops.compiler.parse as parse_module

    def refuse(*args, **kwargs):
        raise AssertionError("llmops run compiled the whole project")

    monkeypatch.setattr(parse_module, "load_project", refuse)
    monkeypatch.setattr(compile_module, "plan_graph", refuse)
    read = []
    real = parse_module.parse_files
    monkeypatch.setattr(
        parse_module, "parse_files", lambda root, paths, **kw: read.extend(paths) or real(root, paths, **kw)
    )
    assert main(["-C", str(echo_project), "run", "echo-first"]) == 0
    assert read == ["llmops.yaml", "specs/first.yaml"]
    assert (echo_project / "artifacts/echo/first.txt").read_text() == "HELLO, CATALOG\n"


def test_a_changed_result_field_is_refused_until_compiled(echo_project, capsys):
    spec = echo_project / "specs/first.yaml"
    spec.write_text(spec.read_text().replace("source: notes.txt", "source: notes.txt\nshout: false"))
    assert main(["-C", str(echo_project), "run", "echo-first"]) == 2
    assert ".llmops/stages/echo-first.json does not match the specs" in capsys.readouterr().err
    assert not (echo_project / "artifacts/echo/first.txt").exists()
    assert main(["-C", str(echo_project), "compile"]) == 0
    assert main(["-C", str(echo_project), "run", "echo-first"]) == 0
    assert (echo_project / "artifacts/echo/first.txt").read_text() == "hello, catalog\n"


def test_a_new_description_or_comment_needs_no_compile(echo_project):
    spec = echo_project / "specs/first.yaml"
    spec.write_text("# a comment\n" + spec.read_text().replace("copies notes.txt", "copies the notes"))
    assert main(["-C", str(echo_project), "run", "echo-first"]) == 0


def test_a_hand_edited_config_is_refused(echo_project, capsys):
    config = echo_project / ".llmops/stages/echo-first.json"
    config.write_text(config.read_text().replace('"shout": true', '"shout": false'))
    assert main(["-C", str(echo_project), "run", "echo-first"]) == 2
    assert "does not match the specs" in capsys.readouterr().err


def test_a_sources_file_cannot_point_outside_the_project(echo_project, tmp_path):
    """A tampered sources file that names files outside the project is not read: the stage
    falls back to compiling the project, which gives the exact answer."""
    from llmops.compiler.parse import parse_files

    outside = tmp_path / "outside.yaml"
    outside.write_text("kind: Echo\nname: first\nsource: notes.txt\n")
    assert parse_files(echo_project, [str(outside)]) is None
    assert parse_files(echo_project, ["../outside.yaml"]) is None
    sources = echo_project / ".llmops/sources/echo-first.json"
    sources.write_text(sources.read_text().replace('"specs/first.yaml"', f'"{outside}"'))
    assert main(["-C", str(echo_project), "run", "echo-first"]) == 0
