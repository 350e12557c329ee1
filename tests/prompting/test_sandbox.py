"""The sandbox: escapes refused, renders bounded in size and time, errors that point at a line."""

from __future__ import annotations

import time

import pytest

from llmops.errors import LlmopsError
from llmops.prompting.sandbox import PromptError, SandboxedTemplate, TemplateSource

SOURCE = TemplateSource("demo", spec="specs/prompts/demo.yaml")


def render(text: str, variables: dict | None = None, **limits) -> str:
    return SandboxedTemplate(text, SOURCE, **limits).render(variables or {"name": "Ada"})


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum() }}",
    "{{ range.__globals__ }}",
    "{{ ''.format.__self__ }}",
    "{{ '{0.__class__}'.format(name) }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(name) }}",
    "{{ ''.format_map.__self__ }}",
    "{{ name|attr('__class__') }}",
    "{{ dict.mro() }}",
    "{{ (range(3)|map('string')).gi_frame.f_globals }}",
    "{% set x = [].append(1) %}",
    "{% set d = {} %}{{ d.update(a=1) }}",
    "{% set d = {} %}{{ d.setdefault('a', 1) }}",
    "{{ [].pop() }}",
    "{{ name.__len__() }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_escape_payloads_are_sandbox_violations(payload):
    with pytest.raises(PromptError) as info:
        render(payload)
    message = str(info.value)
    assert isinstance(info.value, LlmopsError) and info.value.exit_code == 2
    assert "sandbox violation" in message
    assert message.startswith("specs/prompts/demo.yaml: template line 1:")
    assert "prompt 'demo'" in message
    assert "Traceback" not in message and info.value.__cause__ is None


@pytest.mark.parametrize("payload", ["{{ config }}", "{{ request.application }}", "{{ config.items() }}"])
def test_framework_globals_do_not_exist(payload):
    with pytest.raises(PromptError, match=r"undefined variable '(config|request)'"):
        render(payload)


@pytest.mark.parametrize(
    "payload",
    [
        "{% include 'x.j2' %}",
        "{% import 'x.j2' as x %}",
        "{% from 'x.j2' import y %}",
        "{% extends 'base.j2' %}",
        "{% block b %}x{% endblock %}",
    ],
)
def test_other_templates_are_not_reachable(payload):
    with pytest.raises(PromptError, match="is not available in prompt templates"):
        render(payload)


def test_nested_loops_stop_at_the_deadline():
    text = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(PromptError, match=r"limit exceeded: rendering took longer than timeout_s=0.3s"):
        render(text, timeout_s=0.3)
    assert time.monotonic() - started < 2


def test_loops_over_anything_check_the_deadline():
    loop = "{% for _ in 'x' * 1000 %}"
    text = loop * 3 + "{% endfor %}" * 3
    with pytest.raises(PromptError, match=r"took longer than timeout_s=0\.2s"):
        render(text, timeout_s=0.2)


def test_recursive_macros_check_the_deadline():
    text = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    with pytest.raises(PromptError, match=r"took longer than timeout_s=0\.2s"):
        render(text, timeout_s=0.2)


def test_endless_recursion_is_a_prompt_error():
    with pytest.raises(PromptError, match="recursion too deep"):
        render("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")


@pytest.mark.parametrize(
    "payload",
    [
        "{{ 'a' * 100000000 }}",
        "{{ 100000000 * 'a' }}",
        "{{ [0] * 100000000 }}",
        "{{ 2 ** (10 ** 10) }}",
        "{{ (2 ** 60000) * (2 ** 60000) }}",
        "{{ 'x'|center(1000000000) }}",
        "{{ 'x'.center(1000000000) }}",
        "{{ 'x'.zfill(1000000000) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%0999999999d'|format(1) }}",
        "{{ (5).to_bytes(1000000000, 'big') }}",
        "{{ range(1000000000) }}",
        "{% set s = 'a' * 100000 %}{{ s|replace('a', 'aa') }}",
        "{% set s = 'a' * 100000 %}{{ s ~ s }}",
        "{% set s = 'a' * 100000 %}{{ s + s }}",
        "{% set s = 'a' * 100000 %}{{ ([s] * 100000)|join }}",
        "{% set s = 'a' * 1000 %}{{ s.join(range(100000)|map('string')) }}",
        "{% set s = 'a' * 50000 %}{% macro m() %}{% for i in range(100000) %}{{ s ~ i }}{% endfor %}"
        "{% endmacro %}{{ m()|length }}",
        "{% for i in range(100000) %}{{ 'aaaa' }}{% endfor %}",
        "{{ range(3)|batch(1000000000, 'x')|list }}",
        "{{ 'x'|indent(1000000000, true) }}",
        "{{ [[0] * 100000] * 100000 }}",
        "{% set a = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1] %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c, c, c] %}"
        "{% set e = {'x': d, 'y': d, 'z': (d, d, d, d, d, d, d, d)} %}{% set f = [e, e, e, e, e, e, e] %}"
        "{% set g = [f, f, f, f, f, f, f, f, f, f] %}{{ g|length }}",
    ],
)
def test_results_too_large_are_refused_before_they_are_built(payload):
    started = time.monotonic()
    with pytest.raises(PromptError, match="limit exceeded"):
        render(payload)
    assert time.monotonic() - started < 2


def test_max_chars_bounds_the_output():
    assert render("{{ 'a' * 50 }}", max_chars=50) == "a" * 50
    with pytest.raises(PromptError, match="the rendered prompt would be 51 characters, over max_chars=50"):
        render("{{ 'a' * 50 }}b", max_chars=50)


def test_ordinary_templates_still_work():
    text = (
        "{% for x in items %}{{ loop.index }}/{{ loop.length }} {{ x|upper }}{{ ', ' if not loop.last }}"
        "{% endfor %}|{{ range(4)|reverse|join('-') }}|{{ items[1:]|join }}|{{ 'a' ~ 1 }}|"
        "{{ '{} {}'.format('x', 2) }}|{{ '%s!'|format('y') }}|{{ ', '.join(items) }}|"
        "{% set ns = namespace(n=0) %}{% for x in items %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}|"
        "{% macro m(v) %}<{{ v }}>{% endmacro %}{{ m('z') }}|{% filter upper %}f{% endfilter %}|"
        "{{ row._source }}|{{ 2 ** 10 }}|{{ text|truncate(9) }}|{{ text|wordcount }}"
    )
    variables = {"items": ["a", "b", "c"], "row": {"_source": "s.jsonl"}, "text": "one two three four"}
    assert SandboxedTemplate(text, SOURCE).render(variables) == (
        "1/3 A, 2/3 B, 3/3 C|3-2-1-0|bc|a1|x 2|y!|a, b, c|3|<z>|F|s.jsonl|1024|one...|4"
    )


def test_trailing_newline_is_kept_and_nothing_is_escaped():
    assert render("<{{ name }}> & co\n") == "<Ada> & co\n"


@pytest.mark.parametrize("name", ["random", "urlize"])
def test_random_and_html_filters_are_gone(name):
    with pytest.raises(PromptError, match=f"No filter named '{name}'"):
        render(f"{{{{ 'x'|{name} }}}}")


def test_a_namespace_prints_without_its_contents():
    text = "{% set ns = namespace(a=1) %}{% set xs = [ns] * 3 %}{% set ns.a = 'x' * 99 %}"
    text += "{{ xs }} {{ ns.a|length }}"
    assert render(text) == "[<namespace>, <namespace>, <namespace>] 99"


def test_undefined_variable_names_inline_template_line_and_variable():
    with pytest.raises(PromptError) as info:
        render("Hello\n{{ name }}\n{{ missing_var }}")
    assert str(info.value) == (
        "specs/prompts/demo.yaml: template line 3: undefined variable 'missing_var' (prompt 'demo')"
    )


def test_undefined_variable_in_a_template_file_names_file_and_line():
    source = TemplateSource("answer", file="prompts/answer.j2", spec="specs/prompts/answer.yaml")
    template = SandboxedTemplate("Q: {{ text }}\n\n{% if flag %}x{% endif %}\n", source)
    with pytest.raises(PromptError) as info:
        template.render({"text": "hi"}, during="tests[0]")
    assert str(info.value) == (
        "prompts/answer.j2:3: undefined variable 'flag' while rendering tests[0] "
        "(prompt 'answer', specs/prompts/answer.yaml)"
    )


def test_inline_template_with_known_position_gives_the_spec_file_line():
    source = TemplateSource("demo", spec="specs/demo.yaml", first_line=7)
    with pytest.raises(PromptError, match=r"^specs/demo.yaml:8: template line 2: undefined variable 'x'"):
        SandboxedTemplate("a\n{{ x }}", source).render({})


def test_without_a_spec_file_the_prompt_is_named():
    with pytest.raises(PromptError, match=r"^prompt 'demo': template line 1: undefined variable 'x'"):
        SandboxedTemplate("{{ x }}", TemplateSource("demo")).render({})


def test_missing_attribute_is_an_undefined_value():
    with pytest.raises(PromptError, match="line 1: undefined value: 'dict object' has no attribute 'nope'"):
        render("{{ row.nope }}", {"row": {}})


def test_syntax_error_names_file_and_line():
    source = TemplateSource("answer", file="prompts/answer.j2")
    with pytest.raises(PromptError, match=r"^prompts/answer.j2:2: template syntax error: .*'end of print"):
        SandboxedTemplate("ok\n{{ x \n", source)


def test_runtime_errors_are_prompt_errors():
    with pytest.raises(PromptError, match="line 2: template error: ZeroDivisionError: division by zero"):
        render("\n{{ 1 / 0 }}")


def test_static_check_lists_undeclared_variables_with_their_first_line():
    template = SandboxedTemplate(
        "{{ a }}\n{% set b = 1 %}{{ b }}{{ c }}\n"
        "{% for x in xs %}{{ x }}{{ c }}{% endfor %}{{ range(2)|list }}",
        SOURCE,
    )
    assert template.undeclared([]) == {"a": 1, "c": 2, "xs": 3}
    assert template.undeclared(["a", "xs", "unused"]) == {"c": 2}
