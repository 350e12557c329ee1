"""Which files importing a custom metric's module loads, checked to lie inside the project.

A custom metric (`module.path:function`) is "a function in this repository": the module is
imported with the project root first on `sys.path`. Python follows symlinks when it imports, so
a module file or package folder that links out of the project would run code from elsewhere;
and a name the project has no file for would quietly import an installed module (`os:system`).
Both are refused before anything is imported, with the same lookup the compiler makes
(`compiler/stages/eval.py`): the package `a/b/__init__.py` wins over the module `a/b.py`, and
each parent package's `__init__.py` runs first.
"""

from __future__ import annotations

from pathlib import Path

from llmops.paths import inside


def module_files(module: str, root: Path) -> list[str] | None:
    """The project files importing `module` runs, each checked to resolve inside the project
    (`llmops.paths.PathOutsideProject` otherwise); None when the project has no such module."""
    parts = module.split(".")
    where = "/".join(parts)
    found = [f"{'/'.join(parts[:n])}/__init__.py" for n in range(1, len(parts))]
    found = [rel for rel in found if _exists(root, rel)]
    if _exists(root, f"{where}/__init__.py"):
        found += [where, f"{where}/__init__.py"]
    elif _exists(root, f"{where}.py"):
        found.append(f"{where}.py")
    else:
        return None
    for n in range(1, len(parts)):  # the package folders on the way, which may be links too
        found.append("/".join(parts[:n]))
    for rel in found:
        inside(root, rel, f"custom metric module {module}")
    return found


def _exists(root: Path, rel: str) -> bool:
    path = root / rel
    return path.is_file() or path.is_symlink()


def not_found(module: str) -> str:
    where = module.replace(".", "/")
    return f"ModuleNotFoundError: the project has neither {where}.py nor {where}/__init__.py"
