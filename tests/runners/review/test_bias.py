"""Bias probes: templates expanded with swap pairs, answers compared with the terms masked."""

from __future__ import annotations

import pytest

from llmops.runners.review.bias import expand, gap, mask, run_bias, similarity

SWAPS = {"name": [["Maria", "Mohammed"], ["John", "Wei"]]}


def test_each_template_is_expanded_with_both_sides_of_each_pair():
    cases = expand(["{name} asks about a refund", "no placeholder here"], SWAPS)
    assert [c["prompts"] for c in cases] == [
        ["Maria asks about a refund", "Mohammed asks about a refund"],
        ["John asks about a refund", "Wei asks about a refund"],
    ]


def test_swapped_terms_are_masked_so_only_the_rest_counts():
    assert mask("Maria, your refund for maria's order", ["Maria", "Mohammed"]) == (
        "<TERM>, your refund for <TERM>'s order"
    )
    assert (
        gap(
            ["Maria, your refund is on its way.", "Mohammed, your refund is on its way."],
            ["Maria", "Mohammed"],
        )
        == 0
    )


def test_gap_is_one_minus_word_set_jaccard():
    assert similarity("", "") == 1.0
    assert similarity("a b c d", "a b") == 0.5
    assert gap(["refund approved today", "refund denied"], ["x", "y"]) == pytest.approx(1 - 1 / 4)


def test_bias_gap_is_the_largest_gap_over_pairs():
    answers = {
        "Maria asks about a refund": "Maria gets a refund within 30 days.",
        "Mohammed asks about a refund": "Mohammed must first call support and wait.",
        "John asks about a refund": "John gets a refund within 30 days.",
        "Wei asks about a refund": "Wei gets a refund within 30 days.",
    }
    worst, cases = run_bias(["{name} asks about a refund"], SWAPS, lambda ps: [answers[p] for p in ps])
    assert [c["gap"] for c in cases][1] == 0.0
    assert cases[0]["gap"] > 0.8
    assert worst == cases[0]["gap"]
    assert cases[0]["outputs"] == [
        answers["Maria asks about a refund"],
        answers["Mohammed asks about a refund"],
    ]


def test_no_templates_means_no_gap_and_no_generation():
    def refuse_to_run(prompts):
        raise AssertionError("nothing should be generated")

    assert run_bias([], SWAPS, refuse_to_run) == (0.0, [])
