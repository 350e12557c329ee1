"""The `llmops` command line. Only argparse at import time: `llmops --help` must start fast,
so every command imports what it needs (pydantic, gitpython, runners) when it runs."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence

from llmops import __version__

COMMANDS = {
    "init": "llmops.cli.init_cmd",
    "validate": "llmops.cli.commands",
    "compile": "llmops.cli.generated",
    "schema": "llmops.cli.commands",
    "graph": "llmops.cli.commands",
    "plan": "llmops.cli.plan_cmd",
    "run": "llmops.cli.run_cmd",
    "gate": "llmops.cli.gate_cmd",
    "metrics": "llmops.cli.metrics_cmd",
    "audit": "llmops.cli.audit_cmd",
    "register": "llmops.cli.audit_cmd",
    "enforce": "llmops.cli.enforce_cmd",
    "results": "llmops.cli.results_cmd",
    "serve": "llmops.cli.serve_cmd",
    "feedback": "llmops.cli.feedback_cmd",
    "loop": "llmops.cli.loop_cmd",
}
# Commands that read the specs and write text: they build one large structure without cycles
# that lives until they exit, which the cyclic garbage collector would only scan over and over
# (a tenth of a large compile). They run with it paused; reference counting frees the rest.
NO_GC = {"validate", "compile", "graph", "schema"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmops",
        description="A git repository as the control plane for the whole life of an LLM: "
        "specs in, a DVC pipeline and GitHub Actions workflows out.",
    )
    parser.add_argument("--version", action="version", version=f"llmops {__version__}")
    parser.add_argument(
        "-C", "--project", metavar="DIR", default=".", help="project root (default: current folder)"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-C", "--project", metavar="DIR", default=argparse.SUPPRESS, help="project root")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    p = command("init", "start a new project with a working example")
    p.add_argument("directory", help="folder to create (must be empty or missing)")
    p.add_argument(
        "--starter",
        choices=("minimal", "lifecycle"),
        default="minimal",
        help="minimal: one Dataset; lifecycle: data, prompt, a tiny fine-tune, its eval, a policy "
        "and a deployment, all on CPU (default: minimal)",
    )
    p.add_argument(
        "--remote",
        metavar="URL",
        help="DVC remote for CI (storage.remote.url): s3://, gs://, azure://, ssh://, ... or a folder; "
        "lifecycle default: a shared folder ../DIR-dvc-remote",
    )

    command("validate", "check llmops.yaml and every spec; exit 2 on any problem")

    p = command("compile", "write dvc.yaml and the workflows from the specs")
    p.add_argument("--check", action="store_true", help="exit 1 if committed files are stale")

    p = command("plan", "specs changed since a git ref, and the stages that will rerun")
    p.add_argument("--base", required=True, metavar="REF", help="git ref to compare with")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")

    p = command("graph", "the stage graph as Mermaid or DOT")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")

    p = command("schema", "JSON Schema of the spec language, for editors")
    p.add_argument("--out", metavar="FILE", help="write here instead of standard output")

    p = command("run", "run one stage (what `dvc repro` and CI call)")
    p.add_argument("stage", help="stage name, e.g. data-support")

    p = command("gate", "check Policy rules against the metrics on disk; exit 1 if any fails")
    p.add_argument("policies", nargs="*", metavar="POLICY", help="policies to check (default: all)")
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    p.add_argument(
        "--annotations",
        action="store_true",
        help="also write a GitHub ::error annotation per failed rule (to standard error)",
    )

    p = command("metrics", "the pipeline's metrics (DVC metrics files)")
    actions = p.add_subparsers(dest="metrics_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "diff",
        help="metrics of the workspace against a git ref, better or worse per metric",
        parents=[common],
    )
    p.add_argument("--base", default="HEAD", metavar="REF", help="git ref to compare with (default: HEAD)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--all", action="store_true", dest="show_all", help="show unchanged metrics too")

    p = command("audit", "who changed which model or deployment, through which PR, approved by whom")
    p.add_argument("--branch", default="main", help="branch whose first-parent history to read")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.add_argument("--name", metavar="NAME", help="only this FineTune, Deployment or registry model")
    p.add_argument("--github", metavar="OWNER/REPO", help="read PR reviews from GitHub (needs GITHUB_TOKEN)")

    p = command(
        "enforce",
        "refuse (exit 1) unless a commit reached main through an approved, gate-passing pull request",
    )
    p.add_argument("ref", nargs="?", default="HEAD", metavar="REF", help="commit to check (default: HEAD)")
    p.add_argument("--branch", help="the main branch (default: llmops.yaml governance.main_branch)")
    p.add_argument("--deployment", metavar="NAME", help="check for deploying this Deployment")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--github",
        metavar="OWNER/REPO",
        help="verify through the GitHub API (needs GITHUB_TOKEN; the default inside GitHub Actions)",
    )
    source.add_argument(
        "--trailers",
        action="store_true",
        help="trust the commit's Approved-by:/Reviewed-by: trailers (local checks; "
        "LLMOPS_TRUST_TRAILERS=1 does the same, also for `llmops run deploy-*`)",
    )
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    p.add_argument(
        "--annotations", action="store_true", help="also write a GitHub ::error annotation per refusal"
    )

    p = command("results", "hand stage results between CI jobs through the DVC remote")
    actions = p.add_subparsers(dest="results_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "pull", help="before a stage runs: the results of the stages above it", parents=[common]
    )
    p.add_argument("stage", metavar="STAGE", help="the stage about to run")
    p = actions.add_parser("push", help="after stages ran: record their results", parents=[common])
    p.add_argument("stages", nargs="*", metavar="STAGE", help="stages to record")
    p.add_argument(
        "--all", action="store_true", help="every stage whose dvc.lock entry matches this checkout"
    )
    actions.add_parser(
        "collect",
        help="dvc.lock, metrics, plots and reports of every stage, from the remote",
        parents=[common],
    )
    p = actions.add_parser(
        "diff",
        help="result files here against the commit checked out; exit 1 if they differ",
        parents=[common],
    )
    p.add_argument("--patch", metavar="FILE", help="also write the difference as a git patch")

    p = command("register", "register a model version (and assign it to an environment) as git tags")
    p.add_argument("model", metavar="MODEL", help="model name, e.g. the FineTune's name")
    p.add_argument("--version", metavar="vX.Y.Z", help="version to register (default: next patch)")
    p.add_argument("--env", metavar="ENV", help="also assign the version to this environment")
    p.add_argument("--ref", default="HEAD", metavar="REF", help="commit to register (default: HEAD)")
    p.add_argument("-m", "--message", help="a note kept in the tag message")

    p = command("serve", "serve a Deployment locally: its engine plus the logging gateway, in the foreground")
    p.add_argument("deployment", metavar="DEPLOYMENT", help="the Deployment's name")
    p.add_argument("--host", help="gateway address (default: the Deployment's serving.host)")
    p.add_argument("--port", type=int, help="gateway port (default: the Deployment's serving.port)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--engine-url", metavar="URL", help="front an engine already running here")
    where.add_argument(
        "--follow", action="store_true", help="front the engine the deploy stage made live (live.json)"
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help="SQLAlchemy URL of the request/feedback store "
        "(default: $LLMOPS_FEEDBACK_DB_URL or .llmops/serve/<deployment>/gateway.sqlite3)",
    )

    p = command("feedback", "human feedback from a deployment's gateway, back into training data")
    actions = p.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "export",
        help="corrections and well-rated answers as a Dataset source (JSONL + provenance)",
        parents=[common],
    )
    p.add_argument("deployment", metavar="DEPLOYMENT", help="the Deployment whose feedback to export")
    p.add_argument(
        "--min-rating", type=int, default=4, metavar="N", help="lowest rating kept (1-5, default: 4)"
    )
    p.add_argument("--since", metavar="DATE", help="only feedback given since this date or ISO time (UTC)")
    p.add_argument(
        "--out", metavar="PATH", help="JSONL file to write (default: data/feedback/<deployment>.jsonl)"
    )
    p.add_argument("--add-to", metavar="DATASET", help="add the file as a source of this Dataset spec")
    p.add_argument("--license", metavar="ID", help="license recorded in the source's provenance")
    p.add_argument(
        "--preferences",
        action="store_true",
        help="also write preference pairs (<out>-pairs.jsonl) and good/bad labels (<out>-unpaired.jsonl)",
    )
    p.add_argument(
        "--add-preferences-to",
        metavar="DATASET",
        help="add the pairs file as a source of this Dataset spec (implies --preferences)",
    )
    p.add_argument(
        "--min-new",
        type=int,
        metavar="N",
        help="write nothing (exit 0) unless at least N rows are new to the files already there",
    )
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary (messages: stderr)")
    p = command("loop", "the scheduled monitor job's follow-up: feedback pull requests and alerts")
    actions = p.add_subparsers(dest="loop_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "open-pr",
        help="export new feedback (monitoring.loop) and open a pull request adding it to the training data",
        parents=[common],
    )
    p.add_argument("deployment", metavar="DEPLOYMENT", help="the Deployment whose feedback to propose")
    p.add_argument("--repo", metavar="OWNER/REPO", help="the GitHub repository (default: $GITHUB_REPOSITORY)")
    p.add_argument("--remote", default="origin", help="git remote to push the branch to (default: origin)")
    p = actions.add_parser(
        "alert",
        help="annotations for a failed monitoring run, and the webhook (monitoring.alert_webhook_env)",
        parents=[common],
    )
    p.add_argument("deployment", metavar="DEPLOYMENT", help="the Deployment whose monitoring failed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from importlib import import_module

    from llmops.errors import LlmopsError

    pause = args.command in NO_GC and gc.isenabled()
    if pause:
        gc.disable()
    try:
        module = import_module(COMMANDS[args.command])
        handler = getattr(module, "cmd_" + args.command)
        return int(handler(args) or 0)
    except LlmopsError as exc:
        print(_prefix(exc) + str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("llmops: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if pause:
            gc.enable()


def _prefix(exc: Exception) -> str:
    from llmops.errors import SpecError

    return "" if isinstance(exc, SpecError) else "llmops: error: "


if __name__ == "__main__":
    sys.exit(main())
