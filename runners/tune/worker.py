"""Entry point of each process that `accelerate launch` starts for a multi-GPU tune stage: the
tune stage's config as the launching process wrote it (JSON), validated again here."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from llmops.runners.registry import typed_config
    from llmops.runners.tune.run import train_stage

    config = typed_config(json.loads(Path(argv[0]).read_text(encoding="utf-8")), where=argv[0])
    train_stage(config, Path(argv[1]))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
