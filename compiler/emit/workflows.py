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

How CI runs the pipeline (README "How CI runs your pipeline"):

* With a DVC remote (`storage.remote`), the pull-request workflow runs each stage in its own job
  on the labels it asks for: `llmops results pull` fetches what the stages above computed (found
  by key in the remote, never recomputed), `dvc repro --single-item` runs only this stage and
  `llmops results push` records it. The trials of a sweep run as one job with a matrix.
* Without a remote (a CPU-only project on GitHub-hosted runners, the embedded default) one job
  runs the whole `dvc repro`. A project that needs a remote (a stage on other runners, or a
  Deployment, which must pull its approved weights) and has none is refused here.
* Either way the job named `llmops results` (the check enforcement looks for) ends the pull
  request: it gathers every stage's results, runs the gates and the metrics diff on them, and
  fails when the head commit does not carry exactly those results, handing the difference as a
  patch to `commit-results`, the one job with write access, which runs no project code.
* On the main branch, `llmops enforce` runs first; deploy jobs pull the approved weights from
  the remote and `llmops run deploy-<name>` checks them against dvc.lock before acting.
* Pull requests from forks never run project code on runners outside GitHub's hosted set
  (labels compared case-insensitively): those jobs carry the same-repository guard.
"""

from __future__ import annotations

import dataclasses
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
from llmops.compiler.layout import RESULTS_AUTHOR, RESULTS_CHECK, RESULTS_EMAIL, RESULTS_JOB
from llmops.compiler.resolve import Index
from llmops.compiler.stages import Stage
from llmops.errors import Diagnostic, SpecError

PR_WORKFLOW = ".github/workflows/llmops-pr.yml"
MAIN_WORKFLOW = ".github/workflows/llmops-main.yml"
MONITOR_WORKFLOW = ".github/workflows/llmops-monitor.yml"
# Stage job ids are `<kind>-<name>` with a stage kind, so neither can be one of them.
COMMIT_JOB = "commit-results"

TEMPLATES = Path(__file__).parent / "workflow-templates"
# The labels of GitHub-hosted runners (docs.github.com, "GitHub-hosted runners"). A job whose
# labels are not all among them runs on a machine the project owns (self-hosted, a GPU box, a
# larger runner with a custom label): fork code must never reach it.
GITHUB_HOSTED = frozenset(
    {
        "ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04", "ubuntu-20.04",
        "ubuntu-24.04-arm", "ubuntu-22.04-arm",
        "windows-latest", "windows-2025", "windows-2022", "windows-2019", "windows-11-arm",
        "macos-latest", "macos-15", "macos-14", "macos-13",
        "macos-latest-large", "macos-15-large", "macos-14-large", "macos-13-large",
        "macos-latest-xlarge", "macos-15-xlarge", "macos-14-xlarge", "macos-13-xlarge",
        "ubuntu-slim", "ubuntu-26.04", "macos-26", "macos-15-intel",
    }
)  # fmt: skip
# Pull requests from forks run code nobody has reviewed yet: keep it off the project's own
# runners (GPU machines, often with cached credentials); those jobs are skipped rather than run.
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
_EXPRESSION = "${{"
_JOB_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_SECRET = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def github_hosted(labels: tuple[str, ...] | list[str]) -> bool:
    """Whether `runs-on` picks a GitHub-hosted runner (labels are case-insensitive on GitHub)."""
    return bool(labels) and all(label.lower() in GITHUB_HOSTED for label in labels)


# The llmops extra that installs the DVC plugin for a remote's URL scheme (pyproject).
REMOTE_EXTRAS = {"s3": "s3", "gs": "gs", "azure": "azure", "ssh": "ssh", "hdfs": "hdfs", "webdav": "webdav"}


def remote_extra(project: Project) -> tuple[str, ...]:
    """The extra a job that talks to the remote installs, as a 0- or 1-tuple."""
    remote = project.storage.remote
    if remote is None or "://" not in remote.url:
        return ()
    extra = REMOTE_EXTRAS.get(remote.url.split("://", 1)[0])
    return (extra,) if extra else ()


def _with_remote(job: Job, project: Project) -> Job:
    extras = tuple(sorted(set(job.extras) | set(remote_extra(project))))
    return dataclasses.replace(job, extras=extras)


def _with_loop(job: Job, stage: Stage) -> Job:
    """A monitor job with its Deployment's alert webhook and feedback loop (`monitoring.loop`,
    `monitoring.alert_webhook_env`). Every monitor job annotates a failure (`llmops loop alert`);
    the webhook and the pull request only where the Deployment configures them."""
    monitoring = stage.spec.spec.monitoring
    return dataclasses.replace(
        job,
        deployment=stage.spec.name,
        alert_webhook_env=monitoring.alert_webhook_env,
        open_pr=monitoring.loop is not None,
    )


def _fork_guard(labels: tuple[str, ...]) -> str | None:
    return None if github_hosted(labels) else SAME_REPO


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
    read_reviews: bool = False  # enforcement: reads the pull request, its reviews and check runs
    pull: str = ""  # deploy and monitor jobs: the DVC-tracked paths they pull, space-separated
    pr: bool = False  # a pull-request job: checks out the head commit
    write_contents: bool = False  # the commit job: pushes CI's results to the pull request
    # monitor jobs: the Deployment's name, its alert webhook secret, and whether it closes the loop
    # (`monitoring.loop`: push a branch and open a pull request, the only writes it may make)
    deployment: str = ""
    alert_webhook_env: str | None = None
    open_pr: bool = False
    # repository secrets the stage reads from its environment (an eval's judge endpoint and key)
    secrets: tuple[str, ...] = ()


def emit_workflows(index: Index, graph: StageGraph) -> dict[str, str]:
    """{path: text} for the generated workflows; llmops-monitor.yml only when something is watched."""
    project: Project = index.parsed.project
    _require_remote(index, graph)
    context = _project_context(project)
    remote = context["remote"]
    pipeline = graph.pipeline
    job_of = {s.name: job_id(s) for s in pipeline}
    cpu = tuple(project.defaults.runners.cpu)

    def needs(stage: Stage) -> tuple[str, ...]:
        return ("validate", *dict.fromkeys(job_of[u] for u in stage.upstream if u in job_of))

    units = _units(pipeline)
    stage_jobs = (
        [
            _job(
                s,
                f"Stage {job_id(s)}",
                needs(s),
                condition=_fork_guard(s.runs_on),
                matrix=m,
                policy=s.spec.name if s.kind == "gate" else None,
                pr=True,
            )
            for s, m in units
        ]
        if remote
        else []
    )
    stage_jobs = [_with_remote(job, project) for job in stage_jobs]
    guard = _fork_guard(cpu)
    validate = _plain_job("validate", "Validate specs and generated files", (), cpu, 30, guard, pr=True)
    extras = () if remote else tuple(sorted({e for s in pipeline for e in runner_extras(s)}))
    results = _plain_job(
        RESULTS_JOB,
        RESULTS_CHECK,
        ("validate", *dict.fromkeys(job.id for job in stage_jobs)),
        cpu,
        30 if remote else 360,
        " && ".join(c for c in ("!cancelled()", "needs.validate.result == 'success'", guard) if c),
        extras=tuple(sorted(set(extras) | set(remote_extra(project)))),
        pr=True,
    )
    # The one job with write access runs only git, on a fresh GitHub-hosted machine: never on a
    # persistent runner where the pull request's code just ran and could have left hooks behind.
    commit = _plain_job(
        COMMIT_JOB,
        "Commit CI's results to the pull request",
        (RESULTS_JOB,),
        ("ubuntu-latest",),
        10,
        f"!cancelled() && needs.{RESULTS_JOB}.outputs.patch != '' && {SAME_REPO}",
        write_contents=True,
    )
    on_main = f"github.ref == {_expr_literal('refs/heads/' + project.governance.main_branch)}"
    deploy_jobs = [
        _job(
            s,
            f"Deploy {s.spec.name} to {s.environment}",
            ("validate",),
            condition=on_main,
            environment=s.environment,
            concurrency_group=f"llmops-deploy-{s.spec.name}",
            read_reviews=True,
            pull=_pull_paths(s),
        )
        for s in graph.order
        if s.kind == "deploy"
    ]
    deploy_jobs = [_with_remote(job, project) for job in deploy_jobs]
    paths = project.paths
    files = {
        PR_WORKFLOW: _render(
            "llmops-pr.yml.j2",
            **context,
            validate_job=validate,
            stage_jobs=stage_jobs,
            results_job=results,
            commit_job=commit,
            policies=sorted(s.spec.name for s in pipeline if s.kind == "gate"),
            result_dirs=" ".join(dict.fromkeys((paths.metrics, paths.plots, paths.reports))),
            results_author=RESULTS_AUTHOR,
            results_email=RESULTS_EMAIL,
        ),
        MAIN_WORKFLOW: _render(
            "llmops-main.yml.j2",
            **context,
            validate_job=_plain_job(
                "validate", "Validate specs and generated files", (), cpu, 30, None, read_reviews=True
            ),
            deploy_jobs=deploy_jobs,
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
        monitor_jobs = [_with_remote(job, project) if job.pull else job for job in monitor_jobs]
        monitor_jobs = [_with_loop(job, s) for job, s in zip(monitor_jobs, monitors, strict=True)]
        files[MONITOR_WORKFLOW] = _render(
            "llmops-monitor.yml.j2", **context, schedules=schedules, monitor_jobs=monitor_jobs
        )
    for path, text in files.items():
        check_workflow(path, text)
    return files


def _require_remote(index: Index, graph: StageGraph) -> None:
    """Refuse a project whose jobs must hand results through a remote it does not have: a stage
    on runners outside GitHub's hosted set (a GPU or self-hosted stage needs its own job; the one
    pipeline job runs every hosted stage on the cpu labels), or a Deployment (its job pulls the
    approved weights)."""
    project: Project = index.parsed.project
    if project.storage.remote is not None:
        return
    reasons = [
        f"stage {s.name} runs on {list(s.runs_on)}" for s in graph.pipeline if not github_hosted(s.runs_on)
    ]
    reasons += [f"Deployment {s.spec.name} deploys from CI" for s in graph.order if s.kind == "deploy"]
    if not reasons:
        return
    sf = index.parsed.project_file
    line, col = sf.doc.position(("storage",), key=True)
    shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
    raise SpecError(
        [
            Diagnostic(
                sf.path,
                line,
                col,
                "storage.remote",
                f"the generated workflows need a DVC remote to hand results from job to job ({shown})",
                "set `storage: {remote: {url: ...}}` in llmops.yaml: s3://, gs://, azure://, ssh:// "
                "or a folder every runner shares",
            )
        ]
    )


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
    remote = project.storage.remote
    secrets = remote.secret_names() if remote is not None else []
    for name in secrets:
        if not _SECRET.match(name):
            raise ValueError(f"not a secret name: {name!r}")
    return {
        "header": yaml_header(),
        "main_branch": project.governance.main_branch,
        "ci": {
            "install": project.ci.install,
            "python": project.ci.python,
            "requirement": llmops_requirement(project),
            "version": llmops.__version__,
        },
        "remote": (
            {"name": remote.name, "url": remote.url, "secrets": secrets} if remote is not None else None
        ),
    }


def _plain_job(
    id: str,
    name: str,
    needs: tuple[str, ...],
    runs_on: tuple[str, ...],
    timeout_minutes: int,
    condition: str | None,
    **flags: Any,
) -> Job:
    """A job that runs no single stage (validate, results, commit-results)."""
    return Job(
        id=id,
        name=name,
        stage="",
        needs=needs,
        runs_on=runs_on,
        timeout_minutes=timeout_minutes,
        condition=condition,
        **flags,
    )


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
    pr: bool = False,
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
        secrets=runner_secrets(stage),
        policy=policy,
        read_reviews=read_reviews,
        pull=pull,
        pr=pr,
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
    objective = getattr(spec, "objective", None)
    if stage.kind == "tune" and objective is not None and objective.preference:
        extras.add("preference")  # TRL's DPO/ORPO/KTO/SimPO trainers
    if (
        stage.kind == "tune"
        and stage.gpus > 1
        and resources is not None
        and resources.strategy == "deepspeed"
    ):
        extras.add("deepspeed")
    if stage.kind in ("eval", "deploy") and stage.gpus > 0:
        extras.add("gpu")
    if stage.kind == "eval" and getattr(spec, "harness", None) is not None:
        extras.add("harness")  # lm-evaluation-harness tasks
    if getattr(getattr(stage.config, "inputs", None), "retrieval_index", None):
        extras.add("rag")  # its prompt retrieves: the embedding model and the vector index load here
    return tuple(sorted(extras))


def runner_secrets(stage: Stage) -> tuple[str, ...]:
    """The environment variables an eval stage's judges read (`judge.url_env`, `judge.key_env`,
    faithfulness's `judge_url_env`/`judge_key_env`): each comes from the repository secret of the
    same name. The names are checked identifiers; the URL and key never appear in the spec."""
    spec = stage.config.spec if stage.config is not None else None
    if stage.kind != "eval" or spec is None:
        return ()
    names = set()
    judge = getattr(spec, "judge", None)
    if judge is not None:
        names.update(n for n in (judge.url_env, judge.key_env) if n)
    for metric in getattr(spec, "metrics", None) or ():
        names.update(str(metric.args[k]) for k in ("judge_url_env", "judge_key_env") if metric.args.get(k))
    return tuple(sorted(n for n in names if _SECRET.match(n)))


_SECRET = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_REQUIREMENT = re.compile(r"^(?P<name>\.|[A-Za-z0-9._-]+)(?:\[(?P<extras>[A-Za-z0-9,_-]*)\])?(?P<rest>.*)$")


def with_extras(requirement: str, extras: tuple[str, ...]) -> str:
    """`llmops-gitops==0.2` + (train,) -> `llmops-gitops[train]==0.2`; `.` -> `.[train]`; extras merge."""
    match = _REQUIREMENT.match(requirement)
    if not extras or match is None:
        return requirement
    have = {e for e in (match["extras"] or "").split(",") if e}
    return f"{match['name']}[{','.join(sorted(have | set(extras)))}]{match['rest']}"


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


def _secret_name(value: object) -> str:
    """A secret's name, written bare into an expression: only an identifier passes."""
    if not isinstance(value, str) or not _SECRET.match(value):
        raise ValueError(f"not a secret name: {value!r}")
    return value


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
    env.filters.update(
        q=_quote,
        qlist=_quote_list,
        num=_number,
        comment=_comment,
        extras=with_extras,
        secret_name=_secret_name,
    )
    return env


def _render(template: str, **context: Any) -> str:
    """The rendered workflow without blank lines (macros that write nothing leave one; no
    script of ours holds one)."""
    text = _environment().get_template(template).render(**context)
    return "".join(line for line in text.splitlines(keepends=True) if line.strip())
