"""The documentation site: it builds with `mkdocs build --strict`, its spec reference shows every
field of every spec model, every field says what it does, and the README stays a short front door."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pydantic import BaseModel

from llmops.compiler.kinds import ALL_KINDS

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"
README_MAX_LINES = 200
SETUP_COMMANDS = (
    "bash scripts/example.sh   # set up .venv, then run the example pipeline end to end on CPU",
    "bash scripts/test.sh      # set up .venv, then run the whole test suite (offline, no GPU)",
)
# Spec models whose fields may still lack a `description=`: compiler/kinds/policy.py is being
# rewritten; its reference page explains those fields in prose until they carry descriptions.
UNDESCRIBED_MODULES = {"llmops.compiler.kinds.policy"}
# The page of each kind's reference, under the built site.
KIND_PAGES = {kind: f"reference/{kind.lower()}/index.html" for kind in ALL_KINDS}


def spec_models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """`root` and every model its fields name, at any depth (lists, maps, unions, Annotated)."""
    found: list[type[BaseModel]] = []

    def named(tp: object) -> list[type[BaseModel]]:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return [tp]
        return [m for arg in typing.get_args(tp) for m in named(arg)]

    pending = [root]
    while pending:
        model = pending.pop(0)
        if model not in found:
            found.append(model)
            pending += [m for field in model.model_fields.values() for m in named(field.annotation)]
    return found


class _Tables(HTMLParser):
    """For each heading id, the texts of the first cells of the table rows that follow it."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.heading = ""
        self.cell: list[str] | None = None
        self.column = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self.heading = dict(attrs).get("id") or ""
        elif tag == "tr":
            self.column = 0
        elif tag == "td":
            self.column += 1
            if self.column == 1:
                self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            self.rows.setdefault(self.heading, []).append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    assert MKDOCS.is_file(), f"{MKDOCS} is missing: install the dev extra (pip install -e '.[dev]')"
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out, result


def test_the_site_builds_strictly(site):
    out, result = site
    assert result.returncode == 0, result.stdout + result.stderr
    for page in KIND_PAGES.values():
        assert (out / page).is_file(), f"{page} was not built"


@pytest.mark.parametrize("kind", list(ALL_KINDS))
def test_the_reference_shows_every_field_of_every_model(site, kind):
    out, result = site
    assert result.returncode == 0, result.stdout + result.stderr
    tables = _Tables()
    tables.feed((out / KIND_PAGES[kind]).read_text(encoding="utf-8"))
    missing = []
    for model in spec_models(ALL_KINDS[kind]):
        anchor = f"ref-{model.__name__.lower()}"
        shown = {
            name
            for heading, names in tables.rows.items()
            if re.fullmatch(rf"{anchor}(-\d+)?", heading)
            for name in names
        }
        missing += [f"{model.__name__}.{name}" for name in model.model_fields if name not in shown]
    assert not missing, f"fields missing from {KIND_PAGES[kind]}: {', '.join(missing)}"


def test_every_spec_field_says_what_it_does():
    missing = sorted(
        {
            f"{model.__module__}.{model.__name__}.{name}"
            for kind in ALL_KINDS.values()
            for model in spec_models(kind)
            if model.__module__ not in UNDESCRIBED_MODULES
            for name, field in model.model_fields.items()
            if not (field.description or "").strip()
        }
    )
    assert not missing, "give these fields a Field(description=...): " + ", ".join(missing)


def test_the_readme_is_short_and_keeps_the_two_set_up_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move details to docs/"
    for command in SETUP_COMMANDS:
        assert command in lines


def test_the_readme_links_to_docs_pages_that_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#\s]+)", text)
    assert links
    assert [link for link in links if not (ROOT / link).is_file()] == []
