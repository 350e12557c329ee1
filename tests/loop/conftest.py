"""A copy of the example project whose Deployment closes the loop and has an alert webhook."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DEPLOYMENT = """\
kind: Deployment
name: support
model: {finetune: support-tiny}
environment: staging
monitoring:
  schedule: "0 6 * * *"
  alert_webhook_env: LLMOPS_ALERT_WEBHOOK
  loop: {license: LicenseRef-feedback, min_new_feedback: 2}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "llmops.yaml", root / "llmops.yaml")
    shutil.copytree(REPO / "specs", root / "specs")
    shutil.copytree(REPO / "data" / "raw", root / "data" / "raw")
    (root / "specs" / "deployments" / "support.yaml").write_text(DEPLOYMENT)
    return root
