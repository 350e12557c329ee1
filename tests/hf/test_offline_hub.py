"""A hub model or data set that is not in the local cache fails at once without network: cache
first, then (unless HF_HUB_OFFLINE) one metadata request without retries, never a minute of
backoff. No test here touches the network: the one request is replaced."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmops.errors import StageFailed
from llmops.hf import hub
from llmops.hf.hub import HubUnavailable, cache_first

OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


@pytest.fixture
def online(monkeypatch):
    """No offline variable set; the hub's one request fails as it does with no network."""
    for name in OFFLINE:
        monkeypatch.delenv(name, raising=False)
    probes: list[str] = []

    def unreachable(repo, revision, kind):
        probes.append(repo)
        raise ConnectionError("[Errno -2] Name or service not known")

    monkeypatch.setattr(hub, "probe", unreachable)
    return probes


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "probe", lambda *a: pytest.fail("offline, the hub must not be asked"))


def _loader(cached: bool):
    calls: list[bool] = []

    def load(local_only: bool) -> str:
        calls.append(local_only)
        if local_only and not cached:
            raise OSError("not in the cache")
        return "model"

    return load, calls


def test_cached_model_never_asks_the_hub(online):
    load, calls = _loader(cached=True)
    assert cache_first(load, "org/m", "abc", "model") == "model"
    assert calls == [True] and online == []


def test_missing_model_with_no_network_fails_after_one_request(online):
    load, calls = _loader(cached=False)
    with pytest.raises(
        HubUnavailable, match=r"hub model org/m@abc is not in the local Hugging Face cache"
    ) as e:
        cache_first(load, "org/m", "abc", "model")
    assert "ConnectionError" in str(e.value) and "hf download org/m --revision abc" in str(e.value)
    assert calls == [True] and online == ["org/m"]
    assert e.value.exit_code == StageFailed.exit_code


def test_missing_model_when_the_hub_answers_is_downloaded(online, monkeypatch):
    monkeypatch.setattr(hub, "probe", lambda *a: None)
    load, calls = _loader(cached=False)
    assert cache_first(load, "org/m", "abc", "model") == "model"
    assert calls == [True, False]


def test_offline_variable_is_read_at_call_time(offline):
    load, calls = _loader(cached=False)
    with pytest.raises(HubUnavailable, match="HF_HUB_OFFLINE is set"):
        cache_first(load, "org/m", "abc", "model")
    assert calls == [True]


def test_other_errors_are_not_cache_misses(online):
    def load(local_only: bool):
        raise ValueError("a broken config")

    with pytest.raises(ValueError, match="broken config"):
        cache_first(load, "org/m", "abc", "model")
    assert online == []


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_transformers_hub_model_fails_at_once(request, mode):
    pytest.importorskip("transformers")
    request.getfixturevalue(mode)
    from llmops.hf.loading import load_causal_lm, load_tokenizer

    loads = (
        lambda: load_causal_lm("org/missing", "abc123", Path(".")),
        lambda: load_tokenizer("org/missing", "abc123"),
    )
    for load in loads:
        started = time.monotonic()
        with pytest.raises(HubUnavailable, match=r"hub model org/missing@abc123 is not in the local"):
            load()
        assert time.monotonic() - started < 8  # was ~58 s of HTTP retries


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_hub_dataset_fails_at_once(request, mode):
    pytest.importorskip("datasets")
    request.getfixturevalue(mode)
    started = time.monotonic()
    with pytest.raises(HubUnavailable, match=r"hub dataset org/missing@abc123 is not in the local"):
        hub.load_hub_dataset("org/missing", "abc123", "train")
    assert time.monotonic() - started < 8  # was 23 s of HTTP retries
