"""KServe `InferenceService` manifests for Deployments with `kubernetes.enabled`.

GitOps: the manifests are generated from the specs and committed under
`deploy/<deployment>/inferenceservice.yaml`, where Argo CD or OpenShift GitOps syncs them into the
cluster; `llmops compile --check` keeps them true to the specs. Retired deployments get none, so
deleting the file (pruned by the GitOps tool) is how a retirement reaches the cluster.

Two runtimes:

* `vllm`: a vLLM ServingRuntime (`modelFormat: vLLM`, as OpenShift AI ships it): the args are
  vLLM's own engine arguments; the runtime adds `--model=/mnt/models` and the port.
* `huggingface`: KServe's Hugging Face server (`modelFormat: huggingface`), with its vLLM backend
  on GPUs (`--backend=vllm` plus vLLM's engine arguments) or its Transformers backend on CPUs.

Where the weights come from (`storageUri`): `kubernetes.storage_uri` when set; for a hub model
`hf://<id>:<revision>`; else `pvc://llmops-models/<deployment>`, the folder a publishing step
copies the (merged) model into. KServe serves full models from storage: a LoRA fine-tune is
published merged.

Pure: a function of the specs; the same specs give byte-identical manifests.
"""

from __future__ import annotations

from typing import Any

import yaml

from llmops.compiler.emit.header import yaml_header
from llmops.compiler.parse import SpecFile

API_VERSION = "serving.kserve.io/v1beta1"
DEFAULT_PVC = "llmops-models"
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def manifest_path(deployment: str) -> str:
    return f"deploy/{deployment}/inferenceservice.yaml"


def emit_kserve(deployments: list[SpecFile]) -> dict[str, str]:
    """{path: manifest} for every active Deployment with Kubernetes enabled."""
    files = {}
    for sf in deployments:
        spec = sf.spec
        if spec.status == "active" and spec.kubernetes.enabled:
            files[manifest_path(sf.name)] = manifest_text(sf)
    return files


def manifest_text(sf: SpecFile) -> str:
    body = yaml.dump(
        inference_service(sf), Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return yaml_header(sf.path) + body


def inference_service(sf: SpecFile) -> dict[str, Any]:
    spec = sf.spec
    k8s = spec.kubernetes
    resources: dict[str, Any] = {"cpu": k8s.cpu, "memory": k8s.memory}
    if spec.resources.gpus:
        resources["nvidia.com/gpu"] = str(spec.resources.gpus)
    model: dict[str, Any] = {
        "modelFormat": {"name": "vLLM" if k8s.runtime == "vllm" else "huggingface"},
        "args": runtime_args(spec),
        "storageUri": storage_uri(spec),
        "resources": {"requests": dict(resources), "limits": dict(resources)},
    }
    predictor: dict[str, Any] = {}
    if k8s.service_account:
        predictor["serviceAccountName"] = k8s.service_account
    predictor["model"] = model
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": {
            "name": sf.name,
            "namespace": k8s.namespace,
            "labels": {
                "app.kubernetes.io/name": sf.name,
                "app.kubernetes.io/managed-by": "llmops",
                "llmops/deployment": sf.name,
                "llmops/environment": spec.environment,
            },
            "annotations": {
                "llmops/spec": sf.path,
                "llmops/model": spec.model.label,
            },
        },
        "spec": {"predictor": predictor},
    }


def runtime_args(spec: Any) -> list[str]:
    """Container args: the served name and the engine settings of the spec, as `--flag=value`."""
    engine = spec.engine
    vllm = [
        f"--dtype={engine.dtype}",
        f"--gpu-memory-utilization={format(engine.gpu_memory_utilization, 'g')}",
        f"--tensor-parallel-size={engine.tensor_parallel_size}",
    ]
    if engine.max_model_len:
        vllm.append(f"--max-model-len={engine.max_model_len}")
    if spec.kubernetes.runtime == "vllm":
        return [f"--served-model-name={spec.name}", *vllm]
    head = [f"--model_name={spec.name}", "--model_dir=/mnt/models"]
    if spec.resources.gpus:
        return [*head, "--backend=vllm", *vllm]
    return [*head, "--backend=huggingface", f"--dtype={engine.dtype}"]


def storage_uri(spec: Any) -> str:
    if spec.kubernetes.storage_uri:
        return str(spec.kubernetes.storage_uri)
    if spec.model.hub:
        return f"hf://{spec.model.hub}" + (f":{spec.model.revision}" if spec.model.revision else "")
    return f"pvc://{DEFAULT_PVC}/{spec.name}"
