"""Gate evaluation: a Policy's rules over the evaluation and review results a pipeline wrote.

Shared by the `gate-<policy>` stage (`llmops.runners.gate`), `llmops gate` and `llmops enforce`,
so that the table a reviewer sees, the stage that blocks the pipeline and the check that refuses
a merge reach one verdict from one implementation. Pure: it takes the typed `Policy` and a
function that reads a results file (from disk, or from a git tree), imports no ML library and
writes nothing.
"""

from __future__ import annotations

from llmops.gates.evaluate import evaluate, gate_record, summary
from llmops.gates.results import Reader, Results, disk_reader

__all__ = ["Reader", "Results", "disk_reader", "evaluate", "gate_record", "summary"]
