"""`monitoring.loop` / `monitoring.alert_webhook_env` in the spec and in llmops-monitor.yml: only
the looping job may write (contents, pull requests), tokens and the webhook arrive through env,
and zizmor finds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmops.cli.main import main
from llmops.compiler.compile import compile_project
from llmops.compiler.emit.workflows import MONITOR_WORKFLOW, check_workflow
from llmops.compiler.parse import load_project
from tests.compiler.emit.workflow_project import run_tool

SPEC = "specs/deployments/support.yaml"


def edit(project: Path, old: str, new: str) -> None:
    path = project / SPEC
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('  schedule: "0 6 * * *"\n', "", "set monitoring.schedule"),
        ("min_new_feedback: 2}", "min_new_feedback: 2, dataset: nope}", "nope"),
        ("license: LicenseRef-feedback", "license: 'a b; rm'", "license"),
        (
            "{finetune: support-tiny}",
            "{hub: sshleifer/tiny-gpt2, revision: main}",
            "set monitoring.loop.dataset",
        ),
    ],
)
def test_bad_loop_specs_are_refused(project: Path, capsys, old: str, new: str, says: str) -> None:
    edit(project, old, new)
    assert main(["-C", str(project), "validate"]) == 2
    assert says in capsys.readouterr().err


def test_the_looping_monitor_job(project: Path, tmp_path: Path) -> None:
    files = compile_project(load_project(project)).files
    text = files[MONITOR_WORKFLOW]
    check_workflow(MONITOR_WORKFLOW, text)
    doc = yaml.safe_load(text)
    assert doc["permissions"] == {}
    job = doc["jobs"]["monitor-support"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    steps = {s["name"]: s for s in job["steps"]}
    assert steps["Monitor"]["id"] == "monitor"
    loop = steps["Propose the new feedback as a pull request"]
    assert loop["run"] == 'llmops loop open-pr "$LLMOPS_DEPLOYMENT"'
    assert loop["env"]["GITHUB_TOKEN"] == "${{ secrets.LLMOPS_LOOP_TOKEN || github.token }}"
    assert loop["if"].startswith("!cancelled()")
    alert = steps["Alert"]
    assert alert["if"] == "failure()" and alert["run"] == 'llmops loop alert "$LLMOPS_DEPLOYMENT"'
    assert alert["env"] == {
        "LLMOPS_DEPLOYMENT": "support",
        "LLMOPS_ALERT_WEBHOOK": "${{ secrets.LLMOPS_ALERT_WEBHOOK }}",
    }
    written = tmp_path / "wf" / MONITOR_WORKFLOW
    written.parent.mkdir(parents=True)
    written.write_text(text)
    for persona in ("regular", "pedantic"):
        proc = run_tool("zizmor", "--offline", "--no-progress", "--persona", persona, str(written))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_tool("actionlint", str(written))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_without_loop_or_webhook_the_job_stays_read_only(project: Path) -> None:
    edit(project, "  alert_webhook_env: LLMOPS_ALERT_WEBHOOK\n", "")
    edit(project, "  loop: {license: LicenseRef-feedback, min_new_feedback: 2}\n", "")
    job = yaml.safe_load(compile_project(load_project(project)).files[MONITOR_WORKFLOW])["jobs"][
        "monitor-support"
    ]
    assert job["permissions"] == {"contents": "read"}
    # every monitor job annotates its failure; without a loop there is no pull request step and no
    # webhook secret in its environment
    names = [s["name"] for s in job["steps"]]
    assert names[-2:] == ["Monitor", "Alert"] and "id" not in job["steps"][-2]
    assert job["steps"][-1]["if"] == "failure()"
    assert set(job["steps"][-1]["env"]) == {"LLMOPS_DEPLOYMENT"}
