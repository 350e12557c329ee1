"""Transformers generation shared by the eval and review stages: where a prediction stops."""

from __future__ import annotations

from llmops.hf.generate import cut_at_stop


def test_cut_at_the_first_stop_sequence():
    assert cut_at_stop(" Parcel 3 ships.\nQuestion: more", ["\nQuestion:", "###"]) == "Parcel 3 ships."
    assert cut_at_stop("a ### b \nQuestion:", ["\nQuestion:", "###"]) == "a"
    assert cut_at_stop("no stop here ", []) == "no stop here"
