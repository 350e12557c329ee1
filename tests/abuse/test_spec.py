"""The Deployment's abuse fields and the Policy's abuse thresholds: validation, and that a
Deployment which sets none of them compiles to the same stage config as before."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmops.compiler.kinds.deployment import Serving
from llmops.compiler.kinds.policy import Policy


def test_defaults_are_left_out_of_the_dump() -> None:
    assert Serving().model_dump(mode="json") == {"host": "127.0.0.1", "port": 8000, "api_key_env": None}


def test_rate_limit_per_key_names_a_key_of_the_deployment() -> None:
    ok = Serving.model_validate(
        {
            "api_keys_env": {"web": "WEB_KEY"},
            "rate_limit": {"requests_per_minute": 60, "per_key": {"web": {"requests_per_minute": 5}}},
        }
    )
    assert ok.rate_limit is not None and ok.rate_limit.per_key["web"].burst == 10
    with pytest.raises(ValidationError, match=r"rate_limit\.per_key names bot, not a key"):
        Serving.model_validate(
            {
                "api_keys_env": {"web": "WEB_KEY"},
                "rate_limit": {"requests_per_minute": 60, "per_key": {"bot": {"requests_per_minute": 5}}},
            }
        )
    with pytest.raises(ValidationError, match="names a key `default`"):
        Serving.model_validate({"api_key_env": "KEY", "api_keys_env": {"default": "OTHER"}})


def test_a_classifier_is_a_local_folder_or_a_pinned_hub_model() -> None:
    with pytest.raises(ValidationError, match="pinned"):
        Serving.model_validate(
            {"abuse": {"classifier": {"hub_id": "protectai/deberta-v3-base-prompt-injection-v2"}}}
        )
    with pytest.raises(ValidationError, match="either `path`"):
        Serving.model_validate({"abuse": {"classifier": {}}})
    ok = Serving.model_validate({"abuse": {"classifier": {"path": "models/guard"}}})
    assert ok.abuse.classifier is not None and ok.abuse.classifier.labels["INJECTION"] == "prompt_injection"


def test_abuse_rates_are_shares_and_key_counts_are_not() -> None:
    base = {"apiVersion": "llmops/v1", "kind": "Policy", "name": "abuse"}
    policy = Policy.model_validate(
        {**base, "monitoring": {"max_injection_rate": 0.01, "max_rate_anomaly_keys": 2}}
    )
    assert policy.monitoring["max_rate_anomaly_keys"] == 2
    with pytest.raises(ValidationError, match="share of requests"):
        Policy.model_validate({**base, "monitoring": {"max_jailbreak_rate": 3}})
