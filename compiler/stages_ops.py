"""The stages of the governance and operations phases: review, gate, deploy, monitor.

A mixin of the stage builder in `stages.py` (which has the path helpers, `make` and
`model_location` these use), kept apart so that each file holds one part of the lifecycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.compiler.parse import SpecFile
    from llmops.compiler.stages import Stage


class OperationsStages:
    """Review, gate, deploy and monitor stages; `self` is the stage builder."""

    index: Any
    paths: Any

    def guarded_models(self, sf: SpecFile) -> list[str]:
        names = {
            n for n in sf.spec.applies_to.finetunes if self.index.get("FineTune", n).spec.status == "active"
        }
        for dep_name in sf.spec.applies_to.deployments:
            deployment = self.index.get("Deployment", dep_name).spec
            ref = deployment.model
            if ref.finetune and deployment.status == "active":
                names.add(ref.finetune)
        return sorted(names)

    def review(self, sf: SpecFile) -> Stage:
        models = self.guarded_models(sf)
        probes = list(sf.spec.review.security_probes) if sf.spec.review else []
        return self.make(
            "review",
            sf,
            deps=[self.model_dir(m) for m in models] + probes,
            upstream=[f"tune-{m}" for m in models],
            inputs={"models": {m: self.model_dir(m) for m in models}},
            outs=[f"{self.paths.artifacts}/reviews/{sf.name}"],
            metrics=[self.metrics_file(f"review-{sf.name}")],
        )

    def gate(self, sf: SpecFile) -> Stage:
        suites = sorted({r.suite for r in sf.spec.rules if r.suite})
        deps = [self.metrics_file(f"eval-{s}") for s in suites]
        upstream = [f"eval-{s}" for s in suites]
        if sf.spec.review:
            deps.append(self.metrics_file(f"review-{sf.name}"))
            upstream.append(f"review-{sf.name}")
        return self.make(
            "gate",
            sf,
            deps=deps,
            upstream=upstream,
            inputs={"results": deps},
            metrics=[self.metrics_file(f"gate-{sf.name}")],
        )

    def deploy(self, sf: SpecFile) -> Stage:
        """`deploy-<name>`: serve, smoke-test, switch (blue/green). It declares no outputs: what it
        leaves is machine state (the live record and engine logs under `.llmops/serve/<name>/`),
        which must never be committed or cached; `deploy/<name>/` holds the GitOps manifests, which
        `llmops compile` writes from the specs, not this stage."""
        spec = sf.spec
        dep, stage, where = self.model_location(spec.model)
        upstream = [stage] + [f"gate-{p}" for p in spec.policies]
        return self.make(
            "deploy",
            sf,
            deps=[dep],
            upstream=upstream,
            inputs={"model": where, "policies": list(spec.policies)},
            in_pipeline=False,
            environment=spec.environment,
        )

    def monitor(self, sf: SpecFile) -> Stage:
        """The scheduled check of a deployment: the monitoring thresholds of every Policy that
        applies to it (its `policies`, and those whose `applies_to` names it or its environment),
        its training inputs (the FineTune's train split, the prompt's variables) to measure input
        drift against, and the model to embed them with when it is on disk."""
        spec = sf.spec
        applying = set(spec.policies)
        for policy in self.index.all("Policy"):
            scope = policy.spec.applies_to
            if sf.name in scope.deployments or spec.environment in scope.environments:
                applying.add(policy.name)
        thresholds = [
            {"policy": name, "threshold": key, "limit": limit}
            for name in sorted(applying)
            for key, limit in sorted(self.index.get("Policy", name).spec.monitoring.items())
        ]
        model_dep, _, where = self.model_location(spec.model)
        reference = prompt = None
        deps = [model_dep]
        if spec.model.finetune:
            tuned = self.index.get("FineTune", spec.model.finetune).spec
            prompt_spec = self.index.get("Prompt", tuned.prompt).spec
            reference = {
                "path": f"{self.dataset_dir(tuned.dataset)}/train.jsonl",
                "columns": list(prompt_spec.variables),
            }
            prompt = self.result_fields(prompt_spec)
            deps.append(self.dataset_dir(tuned.dataset))
        return self.make(
            "monitor",
            sf,
            deps=deps,  # not a DVC stage: what its job pulls (training data, model) before it runs
            upstream=[f"deploy-{sf.name}"],
            inputs={
                "deployment": sf.name,
                "policies": sorted(applying),
                "thresholds": thresholds,
                "window_days": spec.monitoring.window_days,
                "feedback_db": spec.monitoring.feedback_db,
                "reference": reference,
                "prompt": prompt,
                "model": where,
            },
            metrics=[self.metrics_file(f"monitor-{sf.name}")],
            plots=[f"{self.paths.plots}/monitor-{sf.name}"],
            in_pipeline=False,
            schedule=spec.monitoring.schedule,
        )
