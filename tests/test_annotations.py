"""GitHub workflow annotations: escaping by GitHub's rules, properties in order, left out when absent."""

from __future__ import annotations

from llmops.annotations import annotation, escape_data, escape_property


def test_escaping_follows_github_rules():
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    assert annotation("line1\nline2", file="specs/p, q.yaml", line=3, title="r: x") == (
        "::error file=specs/p%2C q.yaml,line=3,title=r%3A x::line1%0Aline2"
    )


def test_properties_are_optional_and_the_level_can_change():
    assert annotation("refused", title="llmops enforce: approvals") == (
        "::error title=llmops enforce%3A approvals::refused"
    )
    assert annotation("50% done") == "::error::50%25 done"
    assert annotation("slow", level="warning", file="a.yaml") == "::warning file=a.yaml::slow"
