"""KServe InferenceService manifests: valid against KServe's CRD schema, true to the spec,
byte-identical across compiles, and written only for active deployments with Kubernetes on."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from llmops.compiler.compile import compile_project
from llmops.compiler.emit.header import HEADER_TEXT
from llmops.compiler.parse import load_project

SCHEMA_FILE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "kserve" / "inferenceservice-v1beta1.schema.json"
)
# Kubernetes label syntax (k8s.io/apimachinery validation: qualified names and label values)
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _strict(schema: dict) -> dict:
    """The API server silently prunes fields a CRD does not know; forbid them, so a misspelt or
    misplaced field fails here instead of vanishing in the cluster. `metadata` stays open:
    Kubernetes validates ObjectMeta itself (see the label checks below)."""
    schema = copy.deepcopy(schema)

    def walk(node: dict, path: str) -> None:
        if isinstance(node.get("properties"), dict):
            if path != "metadata":
                node.setdefault("additionalProperties", False)
            for key, child in node["properties"].items():
                walk(child, key if not path else f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], path)

    walk(schema, "")
    return schema


VALIDATOR = jsonschema.Draft7Validator(_strict(json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))))


def _validate(manifest: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    meta = manifest["metadata"]
    assert DNS_1035.match(meta["name"]) and DNS_1035.match(meta["namespace"])
    for key, value in meta["labels"].items():
        assert LABEL_KEY.match(key) and LABEL_VALUE.match(value), (key, value)
    for key in meta["annotations"]:
        assert LABEL_KEY.match(key), key


def _compile(root: Path) -> dict[str, str]:
    return compile_project(load_project(root)).files


def _manifest(files: dict[str, str], name: str = "prod") -> dict:
    return yaml.safe_load(files[f"deploy/{name}/inferenceservice.yaml"])


def _edit_prod(root: Path, kubernetes: str, extra: str = "") -> None:
    path = root / "specs/deploy/prod.yaml"
    text = path.read_text().replace("kubernetes: {enabled: true, namespace: llm, runtime: vllm}", kubernetes)
    path.write_text(text + extra)


def test_the_full_project_gets_a_valid_vllm_manifest_for_prod_only(fixture_project):
    files = _compile(fixture_project("full"))
    assert [p for p in files if p.startswith("deploy/")] == ["deploy/prod/inferenceservice.yaml"]
    text = files["deploy/prod/inferenceservice.yaml"]
    assert text.startswith(f"# {HEADER_TEXT}\n# source: specs/deploy/prod.yaml\n")
    manifest = yaml.safe_load(text)
    _validate(manifest)
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1" and manifest["kind"] == "InferenceService"
    assert manifest["metadata"]["namespace"] == "llm"
    assert manifest["metadata"]["labels"]["llmops/deployment"] == "prod"
    assert manifest["metadata"]["annotations"]["llmops/spec"] == "specs/deploy/prod.yaml"
    model = manifest["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "vLLM"}
    assert model["args"] == [
        "--served-model-name=prod",
        "--dtype=auto",
        "--gpu-memory-utilization=0.9",
        "--tensor-parallel-size=1",
    ]
    assert model["storageUri"] == "pvc://llmops-models/prod"
    assert model["resources"]["limits"] == {"cpu": "2", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert model["resources"]["requests"] == model["resources"]["limits"]


def test_huggingface_runtime_with_vllm_backend_on_gpus_and_storage_settings(fixture_project):
    root = fixture_project("full")
    _edit_prod(
        root,
        "kubernetes: {enabled: true, namespace: llm, runtime: huggingface, storage_uri: 's3://models/prod',"
        " cpu: '8', memory: 64Gi, service_account: model-reader}",
    )
    text = (root / "specs/deploy/prod.yaml").read_text()
    text = text.replace(
        "engine: {type: vllm, tensor_parallel_size: 1, lora: multi}",
        "engine: {type: vllm, tensor_parallel_size: 2, max_model_len: 4096, dtype: bfloat16}",
    )
    (root / "specs/deploy/prod.yaml").write_text(text.replace("gpus: 1", "gpus: 2"))
    manifest = _manifest(_compile(root))
    _validate(manifest)
    predictor = manifest["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "model-reader"
    assert predictor["model"]["modelFormat"] == {"name": "huggingface"}
    assert predictor["model"]["args"] == [
        "--model_name=prod",
        "--model_dir=/mnt/models",
        "--backend=vllm",
        "--dtype=bfloat16",
        "--gpu-memory-utilization=0.9",
        "--tensor-parallel-size=2",
        "--max-model-len=4096",
    ]
    assert predictor["model"]["storageUri"] == "s3://models/prod"
    assert predictor["model"]["resources"]["limits"] == {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "2"}


def test_cpu_deployment_of_a_hub_model_uses_the_transformers_backend(fixture_project):
    root = fixture_project("full")
    path = root / "specs/deploy/prod.yaml"
    text = path.read_text().replace(
        "model: {finetune: tiny}", "model: {hub: example-org/base-7b, revision: abc123}"
    )
    text = text.replace("resources: {runner: gpu, gpus: 1}", "resources: {runner: cpu}")
    path.write_text(text.replace("runtime: vllm}", "runtime: huggingface}"))
    (root / "specs/policies/release.yaml").write_text(
        (root / "specs/policies/release.yaml").read_text().replace("deployments: [prod]", "deployments: []")
    )
    manifest = _manifest(_compile(root))
    _validate(manifest)
    model = manifest["spec"]["predictor"]["model"]
    assert model["args"] == [
        "--model_name=prod",
        "--model_dir=/mnt/models",
        "--backend=huggingface",
        "--dtype=auto",
    ]
    assert model["storageUri"] == "hf://example-org/base-7b:abc123"
    assert "nvidia.com/gpu" not in model["resources"]["limits"]


def test_no_manifest_without_kubernetes_or_when_retired(fixture_project):
    root = fixture_project("full")
    old = root / "specs/deploy/old.yaml"
    old.write_text(old.read_text() + "kubernetes: {enabled: true}\n")  # retired: Kubernetes or not
    _edit_prod(root, "kubernetes: {enabled: false, namespace: llm}")
    assert not [p for p in _compile(root) if p.startswith("deploy/")]
    old.write_text(old.read_text().replace("status: retired", "status: active"))
    assert [p for p in _compile(root) if p.startswith("deploy/")] == ["deploy/old/inferenceservice.yaml"]


def test_manifests_are_byte_identical_across_compiles(fixture_project):
    root = fixture_project("full")
    assert (
        _compile(root)["deploy/prod/inferenceservice.yaml"]
        == _compile(root)["deploy/prod/inferenceservice.yaml"]
    )


def test_the_strict_schema_rejects_a_misplaced_field():
    """The validation can fail: storageUri belongs to the model, not the predictor; a format needs a name."""
    bad = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "prod"},
        "spec": {"predictor": {"storageUri": "s3://x", "model": {"modelFormat": {}}}},
    }
    messages = [e.message for e in VALIDATOR.iter_errors(bad)]
    assert any("'storageUri' was unexpected" in m for m in messages)
    assert any("'name' is a required property" in m for m in messages)
    assert list(VALIDATOR.iter_errors({"apiVersion": "x", "kind": "InferenceService", "spec": {}}))


@pytest.mark.parametrize(
    "field,value", [("cpu", "two"), ("memory", "16 GB"), ("storage_uri", "s3://b/$(rm)")]
)
def test_bad_kubernetes_values_are_spec_errors(fixture_project, field, value):
    from llmops.errors import SpecError

    root = fixture_project("full")
    _edit_prod(root, f"kubernetes: {{enabled: true, {field}: '{value}'}}")
    with pytest.raises(SpecError, match=f"kubernetes.{field}"):
        _compile(root)


def test_llmops_compile_writes_the_manifest_and_check_keeps_it_true(fixture_project, capsys):
    from llmops.cli.main import main

    root = fixture_project("full")
    assert main(["-C", str(root), "compile"]) == 0
    written = root / "deploy/prod/inferenceservice.yaml"
    assert written.read_text() == _compile(root)["deploy/prod/inferenceservice.yaml"]
    assert main(["-C", str(root), "compile", "--check"]) == 0
    _edit_prod(root, "kubernetes: {enabled: true, namespace: llm, runtime: vllm, memory: 32Gi}")
    assert main(["-C", str(root), "compile", "--check"]) == 1
    assert "changed: deploy/prod/inferenceservice.yaml" in capsys.readouterr().err
