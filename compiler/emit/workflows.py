"""GitHub Actions workflows from the stage graph: pull request, main branch, monitoring.

The workflows are rendered from Jinja2 templates (`workflow-templates/*.j2`). Two rules keep them safe
whatever a spec says:

* every value that comes from the project reaches a template through a filter that writes it
  as a JSON-quoted scalar (JSON strings are valid YAML), so no value can add YAML structure;
* `run:` scripts are fixed text in the templates. They read values only from `env:` as
  double-quoted "$VARS", and no `${{ ... }}` expression ever appears inside one, so neither a
  spec nor an event payload can become shell code (the template-injection class of bugs).

`emit_workflows` re-parses what it rendered and checks both rules before returning, so a future
template edit that breaks one fails the compile instead of shipping.

Each pipeline stage is one job, except the trials of a sweep: their names hold '@' and '.',
which a job id cannot, so they run as one job named after the sweep (`trial-<finetune>`) with a
`strategy.matrix` over the trial names, handed to the script through `env:` like any stage name.

The pull-request workflow ends with one more job, `metrics-diff`, when any stage writes metrics:
after the stage jobs it runs `llmops metrics diff` against the base commit of the pull request
(`github.event.pull_request.base.sha`, through `env:`) into the job summary.

In the pull-request workflow a gate stage's job (`gate-<policy>`) has one more step, run
whatever the stage did (unless cancelled): `llmops gate` writes the policy's rule table into the
job summary and an `::error` annotation per failed rule at the rule's line in the Policy spec.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

import llmops
from llmops.compiler.catalog import stage_kind
from llmops.compiler.emit.header import yaml_header
from llmops.compiler.graph import StageGraph
from llmops.compiler.kinds.project import Project
from llmops.compiler.resolve import Index
from llmops.compiler.stages import Stage

PR_WORKFLOW = ".github/workflows/llmops-pr.yml"
MAIN_WORKFLOW = ".github/workflows/llmops-main.yml"
MONITOR_WORKFLOW = ".github/workflows/llmops-monitor.yml"
# Stage job ids are `<kind>-<name>` with a stage kind, so none can be this one.
METRICS_JOB = "metrics-diff"

TEMPLATES = Path(__file__).parent / "workflow-templates"
SELF_HOSTED = "self-hosted"
# Pull requests from forks run code nobody has reviewed yet: keep it off self-hosted runners
# (GPU machines, often with cached credentials); their stages are skipped rather than run.
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
_EXPRESSION = "${{"
_JOB_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Job:
    """What a template needs to know about one job; every field is a plain value to quote."""

    id: str
    name: str
    stage: str
    needs: tuple[str, ...]
    runs_on: tuple[str, ...]
    timeout_minutes: int
    environment: str | None = None
    concurrency_group: str | None = None
    condition: str | None = None
    matrix: tuple[str, ...] = ()  # stage names, one matrix job each (the trials of a sweep)
    extras: tuple[str, ...] = ()  # llmops extras the stage's runner needs (train, eval, qlora, ...)
    policy: str | None = None  # a gate stage's Policy: the PR job also writes its table and annotations
    read_reviews: bool = False  # a deploy job: its enforcement reads the pull request's reviews
    pull: str = ""  # a monitor job: the DVC-tracked paths it pulls first, space-separated


def emit_workflows(index: Index, graph: StageGraph) -> dict[str, str]:
    """{path: text} for the generated workflows; llmops-monitor.yml only when something is watched."""
    project: Project = index.parsed.project
    context = _project_context(project)
    pipeline = graph.pipeline
    job_of = {s.name: job_id(s) for s in pipeline}

    def needs(stage: Stage) -> tuple[str, ...]:
        return ("validate", *dict.fromkeys(job_of[u] for u in stage.upstream if u in job_of))

    units = _units(pipeline)
    stage_jobs = [_job(s, f"Stage {job_id(s)}", needs(s), matrix=m) for s, m in units]
    pr_stage_jobs = [
        _job(
            s,
            f"Stage {job_id(s)}",
            needs(s),
            condition=SAME_REPO if SELF_HOSTED in s.runs_on else None,
            matrix=m,
            policy=s.spec.name if s.kind == "gate" else None,
        )
        for s, m in units
    ]
    on_main = f"github.ref == {_expr_literal('refs/heads/' + project.governance.main_branch)}"
    deploy_jobs = [
        _job(
            s,
            f"Deploy {s.spec.name} to {s.environment}",
            needs(s),
            condition=on_main,
            environment=s.environment,
            concurrency_group=f"llmops-deploy-{s.spec.name}",
            read_reviews=True,
        )
        for s in graph.order
        if s.kind == "deploy"
    ]
    files = {
        PR_WORKFLOW: _render(
            "llmops-pr.yml.j2",
            **context,
            stage_jobs=pr_stage_jobs,
            metrics_job=_metrics_job(project, pipeline, ("validate", *dict.fromkeys(job_of.values()))),
        ),
        MAIN_WORKFLOW: _render(
            "llmops-main.yml.j2", **context, stage_jobs=stage_jobs, deploy_jobs=deploy_jobs
        ),
    }
    monitors = [s for s in graph.order if s.kind == "monitor"]
    if monitors:
        schedules = sorted({s.schedule for s in monitors if s.schedule})
        monitor_jobs = [
            _job(
                s,
                f"Monitor {s.spec.name}",
                (),
                condition="github.event_name == 'workflow_dispatch' || "
                f"github.event.schedule == {_expr_literal(s.schedule or '')}",
                pull=_pull_paths(s),
            )
            for s in monitors
        ]
        files[MONITOR_WORKFLOW] = _render(
            "llmops-monitor.yml.j2", **context, schedules=schedules, monitor_jobs=monitor_jobs
        )
    for path, text in files.items():
        check_workflow(path, text)
    return files


def llmops_requirement(project: Project) -> str:
    """The pip requirement CI installs: the configured one, else exactly this llmops version."""
    return project.ci.llmops_requirement or f"{llmops.DISTRIBUTION}=={llmops.__version__}"


def check_workflow(path: str, text: str) -> None:
    """Refuse a rendered workflow with an expression inside a `run:` script.

    A line scan rather than a YAML load: the templates write `run:` either as one line or as a
    `run: |` block, so this is exact for our output and linear in its size.
    """
    block_indent: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block_indent is not None and (indent > block_indent or not stripped):
            script = stripped
        elif stripped.startswith(("run:", "- run:")):
            block_indent = indent if stripped.rstrip().endswith("|") else None
            script = stripped.split("run:", 1)[1]
        else:
            block_indent = None
            continue
        if _EXPRESSION in script:
            raise AssertionError(f"{path}:{number}: an expression inside a run: script")


def job_id(stage: Stage) -> str:
    """The job that runs a stage: the stage's name, or its sweep's for a trial."""
    return stage.matrix.group if stage.matrix else stage.name


def _units(pipeline: tuple[Stage, ...]) -> list[tuple[Stage, tuple[str, ...]]]:
    """(stage, matrix) per job, in graph order: each sweep's trials become one job at its first,
    with the trial names in sweep order."""
    trials: dict[str, list[str]] = {}
    units: list[tuple[Stage, list[str] | None]] = []
    for stage in pipeline:
        if stage.matrix is None:
            units.append((stage, None))
        elif stage.matrix.group in trials:
            trials[stage.matrix.group].append(stage.name)
        else:
            trials[stage.matrix.group] = [stage.name]
            units.append((stage, trials[stage.matrix.group]))
    index = {s.name: s.matrix.index for s in pipeline if s.matrix}
    return [(stage, tuple(sorted(names or (), key=index.__getitem__))) for stage, names in units]


# -- context for the templates ----------------------------------------------------------------


def _project_context(project: Project) -> dict[str, Any]:
    return {
        "header": yaml_header(),
        "main_branch": project.governance.main_branch,
        "cpu_labels": tuple(project.defaults.runners.cpu),
        "python": project.ci.python,
        "requirement": llmops_requirement(project),
        "remote": (
            {"name": project.storage.remote.name, "url": project.storage.remote.url}
            if project.storage.remote is not None
            else None
        ),
    }


def _job(
    stage: Stage,
    name: str,
    needs: tuple[str, ...],
    *,
    condition: str | None = None,
    environment: str | None = None,
    concurrency_group: str | None = None,
    matrix: tuple[str, ...] = (),
    policy: str | None = None,
    read_reviews: bool = False,
    pull: str = "",
) -> Job:
    if not _JOB_ID.match(job_id(stage)):
        raise ValueError(f"stage name {job_id(stage)!r} is not a valid job id")
    return Job(
        id=job_id(stage),
        name=name,
        stage=stage.name,
        needs=needs,
        runs_on=stage.runs_on,
        timeout_minutes=stage.timeout_minutes,
        environment=environment,
        concurrency_group=concurrency_group,
        condition=condition,
        matrix=matrix,
        extras=runner_extras(stage),
        policy=policy,
        read_reviews=read_reviews,
        pull=pull,
    )


def _pull_paths(stage: Stage) -> str:
    """What a job outside the DVC pipeline (monitoring) pulls before it runs: its deps that DVC
    tracks, as one space-separated value (project paths hold no whitespace: the specs refuse it)."""
    paths = [d for d in stage.deps if d]
    if any(ch.isspace() for p in paths for ch in p):
        raise ValueError(f"a dependency path of {stage.name} holds whitespace: {paths!r}")
    return " ".join(paths)


def runner_extras(stage: Stage) -> tuple[str, ...]:
    """The optional dependencies a stage's runner imports: a CI job installs only those."""
    extras = set(stage_kind(stage.kind).extras)
    spec = stage.config.spec if stage.config is not None else None
    method = getattr(spec, "method", None)
    resources = getattr(spec, "resources", None)
    if stage.kind == "tune" and method is not None and method.type == "qlora":
        extras.add("qlora")
    if (
        stage.kind == "tune"
        and stage.gpus > 1
        and resources is not None
        and resources.strategy == "deepspeed"
    ):
        extras.add("deepspeed")
    if stage.kind in ("eval", "deploy") and stage.gpus > 0:
        extras.add("gpu")
    return tuple(sorted(extras))


_REQUIREMENT = re.compile(r"^(?P<name>\.|[A-Za-z0-9._-]+)(?:\[(?P<extras>[A-Za-z0-9,_-]*)\])?(?P<rest>.*)$")


def with_extras(requirement: str, extras: tuple[str, ...]) -> str:
    """`llmops-gitops==0.2` + (train,) -> `llmops-gitops[train]==0.2`; `.` -> `.[train]`; extras merge."""
    match = _REQUIREMENT.match(requirement)
    if not extras or match is None:
        return requirement
    have = {e for e in (match["extras"] or "").split(",") if e}
    return f"{match['name']}[{','.join(sorted(have | set(extras)))}]{match['rest']}"


def _metrics_job(project: Project, pipeline: tuple[Stage, ...], needs: tuple[str, ...]) -> Job | None:
    """The pull request's last job, `llmops metrics diff` into the job summary; None when no
    stage writes metrics. It waits for every stage job and runs whatever they did (a failed or
    skipped stage still leaves a diff worth seeing), on the CPU labels."""
    if not any(stage.metrics for stage in pipeline):
        return None
    return Job(
        id=METRICS_JOB,
        name="Metrics diff against the base branch",
        stage="",
        needs=needs,
        runs_on=tuple(project.defaults.runners.cpu),
        timeout_minutes=30,
        condition="!cancelled()",
    )


def _expr_literal(value: str) -> str:
    """A string literal for a GitHub expression: single-quoted, with quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


# -- rendering -----------------------------------------------------------------------------------


def _quote(value: object) -> str:
    """One scalar as a JSON string: YAML reads it back verbatim, whatever it holds."""
    if not isinstance(value, str):
        raise TypeError(f"refusing to quote a {type(value).__name__} as a string: {value!r}")
    if _EXPRESSION in value:
        raise ValueError(f"refusing a value with a workflow expression: {value!r}")
    return json.dumps(value, ensure_ascii=False)


def _quote_list(values: object) -> str:
    """A list of strings as a JSON (= YAML flow) sequence of quoted scalars."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise TypeError(f"expected a list of strings, got {values!r}")
    return "[" + ", ".join(_quote(v) for v in values) + "]"


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return json.dumps(value)


def _comment(text: object) -> str:
    """Lines that are already YAML comments (the generated-file header), checked as such."""
    if not isinstance(text, str) or not all(line.startswith("# ") for line in text.splitlines()):
        raise ValueError(f"not a block of YAML comment lines: {text!r}")
    return text


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(q=_quote, qlist=_quote_list, num=_number, comment=_comment, extras=with_extras)
    return env


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
