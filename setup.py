"""Package discovery for the three source roots that install under the `llmops` namespace.

`llmops/` is the package root; `compiler/` and `runners/` stay at the top of the repository
(each an independent layer) and install as `llmops.compiler` and `llmops.runners`.
pyproject.toml holds everything else; this file only finds the packages under each root.
"""

from setuptools import find_packages, setup

ROOTS = {"llmops": "llmops", "llmops.compiler": "compiler", "llmops.runners": "runners"}


def _packages() -> list[str]:
    found: list[str] = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return sorted(found)


setup(packages=_packages())
