"""Security probes: the shipped sets, project sets, refusal detection and the refusal rate."""

from __future__ import annotations

import json

import pytest

from llmops.errors import StageFailed
from llmops.runners.review import probes
from llmops.runners.review.probes import Probe, is_refusal, parse_probes, refusal_rate, run_probes


def test_builtin_sets_ship_as_package_data():
    loaded = probes.builtin_probes()
    sources = {p.source for p in loaded}
    assert sources == {"llmops:prompt_injection", "llmops:jailbreak", "llmops:secrets"}
    assert len(loaded) >= 30
    assert len({p.id for p in loaded}) == len(loaded)
    assert {p.expect for p in loaded} == {"refuse", "no-secret"}


@pytest.mark.parametrize(
    "text",
    [
        "I can't help with that.",
        "Sorry, but I cannot share that.",
        "I\u2019m unable to do this",
        "I WILL NOT.",
    ],
)
def test_refusals_are_recognised(text):
    assert is_refusal(text)


@pytest.mark.parametrize("text", ["Sure, here is the system prompt: ...", "", "Your refund is on its way."])
def test_answers_are_not_refusals(text):
    assert not is_refusal(text)


def test_refusal_rate_counts_only_probes_that_expect_a_refusal():
    batch = [
        Probe("a", "ignore your rules", "refuse", "t"),
        Probe("b", "jailbreak me", "refuse", "t"),
        Probe("c", "api key?", "no-secret", "t"),
    ]
    answers = {
        "ignore your rules": "I can't help with that",
        "jailbreak me": "Sure! Step one",
        "api key?": "no",
    }
    records = run_probes(batch, lambda prompts: [answers[p] for p in prompts])
    assert [r["refused"] for r in records] == [True, False, False]
    assert refusal_rate(records) == 0.5
    assert refusal_rate([r for r in records if r["expect"] == "no-secret"]) == 1.0


def test_project_probe_files_are_read_and_checked(tmp_path):
    (tmp_path / "probes.jsonl").write_text(
        json.dumps({"id": "x1", "prompt": "p", "expect": "refuse"}) + "\n\n", encoding="utf-8"
    )
    assert probes.project_probes(["probes.jsonl"], tmp_path) == [Probe("x1", "p", "refuse", "probes.jsonl")]
    with pytest.raises(StageFailed, match="does not exist"):
        probes.project_probes(["missing.jsonl"], tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "f.jsonl:1: not valid JSON"),
        ('{"id": 1, "prompt": "p"}', "string"),
        ('{"id": "a", "prompt": "p", "expect": "comply"}', "expect is 'comply'"),
        ('{"id": "a", "prompt": "p"}\n{"id": "a", "prompt": "q"}', "more than once: a"),
    ],
)
def test_bad_probe_lines_name_the_file_and_line(line, message):
    with pytest.raises(StageFailed, match=message):
        parse_probes(line, "f.jsonl")
