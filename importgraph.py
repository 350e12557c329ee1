"""import-linter contracts checked against llmops as it is installed, not as its folders lie.

llmops has three source roots installed as one package (setup.py): `llmops/`, `compiler/` as
`llmops.compiler` and `runners/` as `llmops.runners`. Grimp, which import-linter builds its
graph with, only walks the folder of the root package, so it never sees the compiler or the
runners, and a contract that names them fails with "Module ... does not exist".

The two contract types here are import-linter's own `independence` and `forbidden`, checked
against a graph of all three roots instead: every module under its import path, every import
found with `ast` wherever it is (an import inside a function counts: that is how runners load
their heavy libraries). pyproject.toml registers them under the built-in names, so the
contracts there read like any others. (The report's "Analyzed N files" line still counts
grimp's graph of `llmops/` alone; the contracts are checked against all three roots.) This file
sits at the repository root, outside the package: it is a tool for `lint-imports` (which puts
the working folder on `sys.path`), and the installed package never needs it.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import grimp
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract

ROOTS = ("llmops", "llmops.compiler", "llmops.runners")  # as setup.py installs them


def source_folders() -> dict[str, Path]:
    """Each root package and the folder it is imported from (an editable install maps them)."""
    folders = {}
    for name in ROOTS:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"{name} is not installed as a package; run pip install -e .")
        folders[name] = Path(next(iter(spec.submodule_search_locations)))
    return folders


def module_files(folders: dict[str, Path]) -> dict[str, Path]:
    """Module name -> file, for every module in a package (a folder with `__init__.py`)."""
    found: dict[str, Path] = {}
    claimed = set(folders)

    def walk(package: str, folder: Path) -> None:
        if not (folder / "__init__.py").is_file():
            return  # data folders (schema-migrations, metric-modules) are not importable
        found[package] = folder / "__init__.py"
        for child in sorted(folder.iterdir()):
            name = f"{package}.{child.stem}"
            if child.is_dir() and child.name.isidentifier() and name not in claimed:
                walk(name, child)
            elif child.suffix == ".py" and child.stem != "__init__" and child.stem.isidentifier():
                found[name] = child

    for package, folder in folders.items():
        walk(package, folder)
    return found


def imports_of(module: str, path: Path, modules: set[str]) -> Iterator[tuple[str, int, str]]:
    """(imported module, line number, line) for each import of a module in `modules`."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            imported = _nearest_module(target, modules)
            if imported is not None and imported != module:
                yield imported, node.lineno, lines[node.lineno - 1].strip()


def _nearest_module(name: str, modules: set[str]) -> str | None:
    """`name` or its closest parent that is a module (`from a import b` where b is a function)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


@functools.cache
def full_graph() -> grimp.ImportGraph:
    """The import graph of all three source roots, built once per `lint-imports` run."""
    files = module_files(source_folders())
    graph = grimp.ImportGraph()
    for module in files:
        graph.add_module(module)
    for module, path in files.items():
        for imported, line, text in imports_of(module, path, set(files)):
            graph.add_import(importer=module, imported=imported, line_number=line, line_contents=text)
    return graph


class Independence(IndependenceContract):
    """import-linter's `independence`, over the full graph."""

    def check(self, graph: grimp.ImportGraph, verbose: bool):  # type: ignore[no-untyped-def]
        return super().check(copy.deepcopy(full_graph()), verbose)


class Forbidden(ForbiddenContract):
    """import-linter's `forbidden`, over the full graph."""

    def check(self, graph: grimp.ImportGraph, verbose: bool):  # type: ignore[no-untyped-def]
        return super().check(copy.deepcopy(full_graph()), verbose)
