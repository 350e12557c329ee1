"""`llmops plan --base REF`: read the specs at REF from git, compile both, compare."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath

from llmops.errors import LlmopsError
from llmops.gitrepo import blob_text, find_commit, open_repo


def cmd_plan(args: argparse.Namespace) -> int:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.parse import PROJECT_FILE, load_project, parse_project_file, parse_specs, spec_paths
    from llmops.compiler.plan import make_plan, plan_json, plan_markdown, plan_text

    root = Path(args.project).resolve()
    head_parsed = load_project(root)
    _, head = plan_graph(head_parsed)
    repo, prefix = open_repo(root, "plan compares against a git ref")
    commit = find_commit(repo, args.base)

    blobs = {
        item.path[len(prefix) :]: item
        for item in commit.tree.traverse()
        if item.type == "blob" and item.path.startswith(prefix)
    }

    def text(rel: str) -> str:
        return blob_text(commit.tree, prefix + rel, errors="strict") or ""

    base = None
    base_spec_files: set[str] = set()
    if PROJECT_FILE in blobs:
        try:
            project_file, errors = parse_project_file(text(PROJECT_FILE))
            if project_file is not None and not errors:
                paths = spec_paths(project_file.spec, list(blobs))
                base_spec_files = set(paths)
                _, base = plan_graph(parse_specs(project_file, {p: text(p) for p in paths}))
        except (LlmopsError, UnicodeDecodeError):
            base = None
    changed = _changed_paths(repo, commit, prefix)
    head_specs = {sf.path for sf in head_parsed.specs} | {PROJECT_FILE}
    plan = make_plan(args.base, base, head, changed, head_specs | base_spec_files | {PROJECT_FILE})
    render = {"text": plan_text, "markdown": plan_markdown, "json": plan_json}[args.format]
    sys.stdout.write(render(plan))
    return 0


def _changed_paths(repo, commit, prefix: str) -> dict[str, str]:
    """Paths (relative to the project) that differ between `commit` and the working tree."""
    changed: dict[str, str] = {}
    kinds = {"A": "added", "D": "deleted", "M": "modified", "R": "renamed", "T": "modified"}
    for diff in commit.diff(None):
        for path, status in ((diff.a_path, diff.change_type), (diff.b_path, diff.change_type)):
            if path and path.startswith(prefix):
                changed[str(PurePosixPath(path[len(prefix) :]))] = kinds.get(status, "modified")
    for path in repo.untracked_files:
        if path.startswith(prefix):
            changed[path[len(prefix) :]] = "added"
    return changed
