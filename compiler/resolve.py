"""Resolve: names -> specs. Every duplicate and dangling reference is reported in one pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from llmops.compiler.diagnose import suggest
from llmops.compiler.parse import ParsedProject, SpecFile
from llmops.compiler.retrieval_checks import retrieval_consistency
from llmops.errors import Diagnostic, SpecError

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Index:
    """Specs by kind and name; what the graph and the emitters look things up in."""

    parsed: ParsedProject
    by_kind: dict[str, dict[str, SpecFile]]

    def get(self, kind: str, name: str) -> SpecFile:
        return self.by_kind[kind][name]

    def all(self, kind: str) -> list[SpecFile]:
        return [self.by_kind[kind][n] for n in sorted(self.by_kind.get(kind, {}))]


def resolve(parsed: ParsedProject) -> Index:
    errors: list[Diagnostic] = list(parsed.errors)
    by_kind: dict[str, dict[str, SpecFile]] = {}
    seen: dict[tuple[str, str], list[SpecFile]] = {}
    for sf in parsed.specs:
        seen.setdefault((sf.kind, sf.name), []).append(sf)
    for (kind, name), files in seen.items():
        by_kind.setdefault(kind, {})[name] = files[0]
        if len(files) > 1:
            others = ", ".join(f.path for f in files)
            for sf in files:
                errors.append(sf.at("name", message=f"duplicate {kind} name '{name}' (defined in {others})"))
    for sf in parsed.specs:
        for loc, kind, name in references(sf):
            target = by_kind.get(kind, {}).get(name)
            if target is None and (kind, name) in parsed.broken:
                continue
            if target is None:
                known = set(by_kind.get(kind, {})) | {n for k, n in parsed.broken if k == kind}
                hint = suggest(name, known)
                errors.append(sf.at(*loc, message=f"unknown {kind} '{name}'", hint=hint))
            elif _retired(target) and loc[0] != "applies_to" and not _retired(sf):
                # A Policy may keep naming a retired spec (it governs nothing then), and a
                # retired spec may point at another; building on, serving or comparing
                # against a retired one is an error.
                errors.append(
                    sf.at(
                        *loc,
                        message=f"{kind} '{name}' is retired ({target.path})",
                        hint="point at an active one, or retire this spec too",
                    )
                )
        errors.extend(_consistency(sf, by_kind))
    if errors:
        raise SpecError(errors)
    return Index(parsed, by_kind)


def _retired(sf: SpecFile) -> bool:
    return getattr(sf.spec, "status", "active") == "retired"


def references(sf: SpecFile) -> Iterator[tuple[Loc, str, str]]:
    """Every (location, kind, name) a spec points at: each spec model lists its own."""
    yield from sf.spec.references()


def _consistency(sf: SpecFile, by_kind: dict[str, dict[str, SpecFile]]) -> list[Diagnostic]:
    """Cross-spec rules that a single model cannot check on its own."""
    found = []
    if sf.kind == "FineTune":
        prompt = by_kind.get("Prompt", {}).get(sf.spec.prompt)
        # a preference FineTune renders the prompt its parent was tuned with over its own pairs
        # (what is preferred is judged on the prompt that is served), so another dataset is fine
        preference = sf.spec.objective.preference
        if prompt and prompt.spec.dataset and prompt.spec.dataset != sf.spec.dataset and not preference:
            found.append(
                sf.at(
                    "prompt",
                    message=f"Prompt '{prompt.name}' renders Dataset '{prompt.spec.dataset}', "
                    f"but this FineTune trains on '{sf.spec.dataset}'",
                    hint="use a prompt for the same dataset",
                )
            )
    found.extend(retrieval_consistency(sf, by_kind))
    return found
