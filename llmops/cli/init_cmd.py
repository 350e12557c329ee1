"""`llmops init DIR`: a new project whose example pipeline runs as soon as git is there.

Starters live in `starters/<name>/`, laid over `starters/common/` (DVC and git settings, the
pre-commit hooks). The project is assembled in a staging folder beside DIR and then moved into
place, so an interrupted or failed init leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llmops import DISTRIBUTION
from llmops.errors import UsageError

COMMON = "common"
REMOTE_KINDS = "s3://, gs://, azure://, ssh://, http(s)://, hdfs://, webdav:// or an absolute folder"


@dataclass(frozen=True)
class Starter:
    made: str  # what `created DIR/ with ...` names
    # has a Deployment (or GPU stages): its CI hands results between jobs through a DVC remote,
    # and `llmops compile` refuses such a project without `storage.remote`
    needs_remote: bool
    extras: str  # the llmops extras its `dvc repro` needs, or "" when the plain install does


# The names are the folders under starters/ and the choices of `llmops init --starter` (main.py).
STARTERS = {
    "minimal": Starter("an example Dataset in specs/datasets/faq.yaml", False, ""),
    "lifecycle": Starter(
        "the whole lifecycle on CPU in specs/: Dataset faq, Prompt faq-answer, FineTune faq-tiny "
        "(a tiny Llama built and tuned here), EvalSuite faq-quality, Policy release, Deployment faq",
        True,
        "train,eval,serve",
    ),
}


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.directory)
    place = target.resolve()  # `llmops init .` names the folder it is run in
    starter = STARTERS[args.starter]
    if place.exists() and (not place.is_dir() or any(place.iterdir())):
        raise UsageError(f"{target} exists and is not empty; init only writes into a new or empty folder")
    remote = _remote_url(args.remote) if args.remote else None
    shared_folder = remote is None and starter.needs_remote
    if shared_folder:
        remote = _default_remote(place)
    staging = place.with_name(f".{place.name}.init-tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        starters = resources.files("llmops.cli") / "starters"
        _copy(starters / COMMON, staging)
        _copy(starters / args.starter, staging)
        if remote is not None:
            settings = staging / "llmops.yaml"
            text = with_remote(settings.read_text(encoding="utf-8"), remote, shared_folder)
            settings.write_text(text, encoding="utf-8")
        _put_in_place(staging, place)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"created {target}/ with {starter.made}")
    if remote is not None:
        print(f"storage.remote.url in llmops.yaml: {remote}")
    if shared_folder:
        print(
            "note: that is a shared folder, which only this machine and self-hosted runners that "
            "mount it can reach; for GitHub-hosted runners change it to an s3://, gs://, azure:// or "
            "ssh:// remote (or run `llmops init --remote URL`)"
        )
    if starter.extras:
        print(f'needs: pip install "{DISTRIBUTION}[{starter.extras}]"  (torch first: a CPU or CUDA build)')
    print(f"next: cd {target} && git init && llmops compile && dvc repro")
    return 0


def _put_in_place(staging: Path, place: Path) -> None:
    """A new folder arrives whole, by one rename. An existing empty one is kept (a shell may be
    sitting in it) and gets the entries one by one; if one fails, those already moved go."""
    if not place.exists():
        staging.rename(place)
        return
    moved: list[Path] = []
    try:
        for entry in sorted(staging.iterdir()):
            moved.append(entry.rename(place / entry.name))
    except BaseException:
        for path in moved:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        raise


def _remote_url(value: str) -> str:
    """`--remote` as llmops.yaml holds it: a URL, or a folder made absolute (a relative one would
    mean a different place to every job)."""
    from pydantic import ValidationError

    from llmops.compiler.kinds.project import Remote

    url = value if "://" in value else str(Path(value).expanduser().resolve())
    try:
        Remote.model_validate({"url": url})
    except ValidationError:
        raise UsageError(
            f"--remote {value!r} is not a DVC remote llmops accepts: {REMOTE_KINDS} path, "
            "with no spaces or quotes"
        ) from None
    return url


def _default_remote(place: Path) -> str:
    """A shared-folder remote beside the project: `../<name>-dvc-remote`, absolute, since
    storage.remote.url takes no relative path."""
    folder = place.parent / f"{place.name}-dvc-remote"
    try:
        return _remote_url(str(folder))
    except UsageError:
        raise UsageError(
            f"the default remote {folder} cannot be a storage.remote.url (no spaces or quotes); "
            f"pass --remote URL ({REMOTE_KINDS} path)"
        ) from None


def with_remote(settings: str, url: str, shared_folder: bool) -> str:
    """llmops.yaml text with `storage.remote.url` set to `url`.

    A starter's llmops.yaml keeps `storage:` as its last section (or has none), so the block is
    replaced or appended as text and every comment above it stays as written.
    """
    head, found, _ = settings.partition("\nstorage:\n")
    lines = head.rstrip("\n").split("\n")
    while found and lines[-1].startswith("#"):  # the comment that introduced the old block
        lines.pop()
    note = [
        "# The DVC remote the CI jobs hand stage outputs through; credentials come from secrets.",
    ]
    if shared_folder:
        note += [
            "# A shared folder reaches only this machine and self-hosted runners that mount it:",
            "# for GitHub-hosted runners, use an s3://, gs://, azure:// or ssh:// URL.",
        ]
    block = ["storage:", "  remote:", f"    url: {json.dumps(url)}"]
    return "\n".join([*lines, *note, *block]) + "\n"


def _copy(source, dest: Path) -> None:
    """Copy a starter; names beginning with '_' become dotfiles (wheels drop real ones)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name == "__pycache__":
            continue
        name = "." + item.name[1:] if item.name.startswith("_") else item.name
        if item.is_dir():
            _copy(item, dest / name)
        else:
            (dest / name).write_bytes(item.read_bytes())
