"""Each runner's version. Bump one when its outputs would change for the same inputs: the
version is part of every stage's params, so DVC reruns exactly the stages whose runner changed.

Kept apart from the runners themselves so the compiler can read it without importing them.
"""

RUNNER_VERSIONS: dict[str, int] = {
    "data": 2,
    "prompt": 1,
    "base": 1,
    "tune": 1,
    "select": 1,
    "eval": 1,
    "review": 1,
    "gate": 1,
    "deploy": 1,
    "monitor": 1,
}
