"""A registry of model versions and environment assignments kept as annotated git tags.

The tag names are GTO's (https://dvc.org/doc/gto), so `gto show` / `gto history` read the same
registry:

- `<model>@v<semver>`       registers a version at a commit
- `<model>#<env>#<n>`       assigns the version at that commit to an environment; `n` counts up
                             over every counted tag of the model, so the latest assignment wins
- `<model>@v<semver>!` / `<model>#<env>!#<n>`   deregister / unassign (read, not written here)

Tags are annotated: the tagger is who registered or assigned, the tag date is when, and the
message says what (GTO's wording, plus an optional note).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from llmops.errors import UsageError

# GTO's grammar (gto/constants.py), without the `dirname:` part llmops never writes.
NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
SEMVER = (
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
NAME_RE = re.compile(f"^{NAME}$")
VERSION_RE = re.compile(f"^v{SEMVER}$")
TAG_RE = re.compile(
    rf"^(?P<artifact>{NAME})(((#(?P<stage>{NAME})|@(?P<version>v{SEMVER}))(?P<cancel>!?))"
    rf"|@((?P<deprecated>deprecated)|(?P<created>created)))(#(?P<counter>[0-9]+))?$"
)


@dataclass
class RegistryEvent:
    tag: str
    model: str
    action: str  # register | deregister | assign | unassign | deprecate
    commit: str
    date: str
    by: str
    message: str
    version: str | None = None
    environment: str | None = None
    counter: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_tag(name: str) -> dict[str, Any] | None:
    match = TAG_RE.match(name)
    if not match:
        return None
    parsed: dict[str, Any] = {"model": match["artifact"], "counter": None}
    if match["counter"]:
        parsed["counter"] = int(match["counter"])
    if match["deprecated"] or match["created"]:
        parsed["action"] = "deprecate" if match["deprecated"] else "create"
    elif match["version"]:
        parsed["action"] = "deregister" if match["cancel"] else "register"
        parsed["version"] = match["version"]
    else:
        parsed["action"] = "unassign" if match["cancel"] else "assign"
        parsed["environment"] = match["stage"]
    return parsed


def normalize_version(version: str) -> str:
    value = version if version.startswith("v") else "v" + version
    if not VERSION_RE.match(value):
        raise UsageError(f"'{version}' is not a semantic version like v1.2.3")
    return value


def _semver_key(version: str) -> tuple:
    match = re.match(SEMVER, version.lstrip("v"))
    if not match:
        return (0, 0, 0, 0, "")
    major, minor, patch, pre = match.group(1), match.group(2), match.group(3), match.group(4)
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


def _iso(dt) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def events(repo) -> list[RegistryEvent]:
    """Every registry tag in the repository, oldest first (by tag date, then counter)."""
    found: list[RegistryEvent] = []
    for ref in repo.tags:
        parsed = parse_tag(ref.name)
        if parsed is None or parsed["action"] == "create":
            continue
        try:
            commit = ref.commit
        except ValueError:
            continue  # a tag on a tree or blob is not a registry entry
        tag = ref.tag
        if tag is not None:
            by = f"{tag.tagger.name} <{tag.tagger.email}>"
            date = _iso(
                datetime.fromtimestamp(tag.tagged_date, timezone(timedelta(seconds=-tag.tagger_tz_offset)))
            )
            message = tag.message.strip()
        else:  # lightweight: the commit says who and when, as GTO falls back to
            by = f"{commit.committer.name} <{commit.committer.email}>"
            date = _iso(commit.committed_datetime)
            message = ""
        found.append(
            RegistryEvent(
                tag=ref.name,
                model=parsed["model"],
                action=parsed["action"],
                commit=commit.hexsha,
                date=date,
                by=by,
                message=message,
                version=parsed.get("version"),
                environment=parsed.get("environment"),
                counter=parsed["counter"],
            )
        )
    found.sort(key=lambda e: (e.date, e.counter or 0, e.tag))
    _fill_versions(found)
    return found


def _fill_versions(found: list[RegistryEvent]) -> None:
    """An assignment names a commit; the version is the one registered at that commit."""
    at: dict[tuple[str, str], str] = {}
    for event in found:
        if event.action == "register":
            at[(event.model, event.commit)] = event.version
    for event in found:
        if event.action in ("assign", "unassign") and event.version is None:
            event.version = at.get((event.model, event.commit))


def state(found: list[RegistryEvent]) -> dict[str, Any]:
    """Per model: its registered versions (newest first) and what each environment runs now."""
    models: dict[str, dict[str, Any]] = {}
    deregistered: set[tuple[str, str]] = set()
    for event in found:
        model = models.setdefault(event.model, {"versions": {}, "environments": {}, "deprecated": False})
        if event.action == "register":
            model["versions"][event.version] = {"commit": event.commit, "date": event.date, "by": event.by}
        elif event.action == "deregister":
            deregistered.add((event.model, event.version))
        elif event.action == "deprecate":
            model["deprecated"] = True
        elif event.action == "assign":
            model["environments"][event.environment] = {
                "version": event.version,
                "commit": event.commit,
                "since": event.date,
                "by": event.by,
                "tag": event.tag,
            }
        elif event.action == "unassign":
            model["environments"].pop(event.environment, None)
    out: dict[str, Any] = {}
    for name, model in sorted(models.items()):
        versions = {v: info for v, info in model["versions"].items() if (name, v) not in deregistered}
        out[name] = {
            "versions": [
                {"version": v, **versions[v]} for v in sorted(versions, key=_semver_key, reverse=True)
            ],
            "environments": dict(sorted(model["environments"].items())),
            "deprecated": model["deprecated"],
        }
    return out


def tags_by_commit(found: list[RegistryEvent]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for event in found:
        out.setdefault(event.commit, []).append(event.tag)
    return out


def register(
    repo,
    model: str,
    *,
    version: str | None = None,
    environment: str | None = None,
    ref: str = "HEAD",
    note: str | None = None,
) -> list[str]:
    """Register a version of `model` at `ref` (reusing the one already there) and, with an
    environment, assign it there. Returns the tags created."""
    import git

    if not NAME_RE.match(model):
        raise UsageError(f"'{model}' is not a valid model name (letters, digits, '-', '_', '/')")
    if environment is not None and not NAME_RE.match(environment):
        raise UsageError(f"'{environment}' is not a valid environment name")
    if version is not None:
        version = normalize_version(version)
    try:
        commit = repo.commit(ref)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UsageError(f"unknown git ref '{ref}'") from None
    found = [e for e in events(repo) if e.model == model]
    registered = state(found).get(model, {"versions": []})["versions"]
    here = [v["version"] for v in registered if v["commit"] == commit.hexsha]
    created: list[str] = []
    extra = f"\n\n{note.strip()}" if note and note.strip() else ""
    if here:
        if version is not None and version != here[0]:
            raise UsageError(f"{commit.hexsha[:8]} is registered as {model}@{here[0]} already")
        if environment is None:
            raise UsageError(f"{model}@{here[0]} is registered at {commit.hexsha[:8]} already")
        version = here[0]
    else:
        if version is not None and any(v["version"] == version for v in registered):
            raise UsageError(f"{model}@{version} is registered already, at another commit")
        if version is None:
            version = _bump(registered)
        tag = f"{model}@{version}"
        if tag in repo.tags:
            raise UsageError(f"git tag {tag} exists already")
        repo.create_tag(tag, ref=commit, message=f"Registering artifact {model} version {version}{extra}")
        created.append(tag)
    if environment is not None:
        counters = [e.counter for e in found if e.counter is not None]
        tag = f"{model}#{environment}#{max(counters, default=0) + 1}"
        repo.create_tag(
            tag,
            ref=commit,
            message=f"Assigning stage {environment} to artifact {model} version {version}{extra}",
        )
        created.append(tag)
    return created


def _bump(registered: list[dict[str, Any]]) -> str:
    if not registered:
        return "v0.0.1"  # GTO's first version
    major, minor, patch, *_ = _semver_key(registered[0]["version"])
    return f"v{major}.{minor}.{patch + 1}"
