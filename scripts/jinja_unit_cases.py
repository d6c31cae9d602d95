#!/usr/bin/python3
"""Computes, with jinja2 in Hugging Face's configuration, the expected value of every interpreter
unit case and writes them as tests/chat/jinja_cases.inc (included by tests/chat/test_jinja.cpp).

    SOURCE_DATE_EPOCH is fixed by gen_template_goldens (2024-07-15 UTC); run:
    /usr/bin/python3 scripts/jinja_unit_cases.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_template_goldens as g  # noqa: E402
env = g.make_env()
cases = [
 # whitespace control
 ("ws_dash", "a  {%- if true -%}  b  {%- endif -%}  c", {}),
 ("ws_trim_blocks", "{% if true %}\nyes\n{% endif %}\nend", {}),
 ("ws_lstrip_blocks", "x\n    {% if true %}\n    y\n    {% endif %}\nz", {}),
 ("ws_plus_disables_lstrip", "x\n    {%+ if true %}y{% endif %}", {}),
 ("ws_comment", "a\n  {# note #}\nb", {}),
 ("ws_var_no_trim", "{{ 'a' }}\n{{ 'b' }}\n", {}),
 ("ws_raw", "{% raw %}{{ not evaluated }}{% endraw %}", {}),
 # expressions
 ("arith", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1.5 + 1 }}", {}),
 ("floats", "{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 3.0 * 2 }} {{ 1e-5 }}", {}),
 ("concat_tilde", "{{ 'a' ~ 1 ~ none ~ true }}", {}),
 ("compare", "{{ 1 < 2 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'x' != 'y' }}", {}),
 ("logic_values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ none or [] }} {{ not 0 }}", {}),
 ("in_operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }}", {}),
 ("conditional_expr", "{{ 'yes' if x else 'no' }} {{ 'a' if false }}|", {"x": 1}),
 ("print_python_repr", "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ \"it's\" }} {{ ['it\\'s'] }}", {}),
 ("string_literal_escapes", "{{ 'a\\nb\\tc\\\\d\\'e' }}|{{ \"\\u00e9\\x41\" }}", {}),
 ("slicing", "{{ [1,2,3,4][1:3] }} {{ [1,2,3,4][::-1] }} {{ 'héllo'[1:3] }} {{ 'abc'[-1] }} {{ [1,2,3][-2:] }} {{ [1,2,3,4,5][::2] }}", {}),
 ("subscript_missing", "{{ d.missing is defined }} {{ d['missing'] is defined }} {{ [1][5] is defined }}|{{ d.missing }}|", {"d": {}}),
 # statements
 ("for_loop_vars", "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}", {}),
 ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
 ("for_filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}{{ loop.last }},{% endfor %}", {}),
 ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": 2}}),
 ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
 ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
 ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
 ("set_scoping", "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}{% if true %}{% set x = 3 %}{% endif %}{{ x }}", {}),
 ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
 ("set_block", "{% set body %}Hello {{ name }}!{% endset %}[{{ body }}]", {"name": "Ann"}),
 ("set_block_filter", "{% set body | upper %}abc{% endset %}{{ body }}", {}),
 ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}", {}),
 ("macro_defaults", "{% macro greet(name, greeting='Hi') %}{{ greeting }}, {{ name }}{% endmacro %}{{ greet('Bo') }}|{{ greet('Al', greeting='Yo') }}|{{ greet(greeting='Hey', name='Cy') }}", {}),
 ("macro_sees_globals", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ bos_token }}{% endmacro %}{{ m() }}", {"bos_token": "<s>"}),
 ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
 ("call_block", "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inner{% endcall %}", {}),
 ("call_block_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each([1,2]) %}<{{ v }}>{% endcall %}", {}),
 ("filter_block", "{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
 ("generation_block", "a{% generation %}b{{ 1 }}{% endgeneration %}c", {}),
 # filters
 ("f_tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}|{{ [] | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}", {"d": {"z": [1, 2.5, None, True], "a": {"x": "ü"}}}),
 ("f_tojson_separators", "{{ d | tojson(separators=(',', ':')) }}", {"d": {"a": [1, 2]}}),
 ("f_trim_length", "[{{ '  x y  ' | trim }}] {{ 'héllo' | length }} {{ [1,2] | length }} {{ {'a':1} | count }} {{ 'xxaxx' | trim('x') }}", {}),
 ("f_list_join", "{{ 'abc' | list }} {{ [1, 2, 3] | join('-') }} {{ d | list }} {{ users | join(', ', attribute='name') }}", {"d": {"k": 1}, "users": [{"name": "a"}, {"name": "b"}]}),
 ("f_case", "{{ 'Hello World' | upper }} {{ 'Hello World' | lower }} {{ 'hello world-foo' | title }} {{ 'hELLO' | capitalize }}", {}),
 ("f_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}", {}),
 ("f_select", "{{ xs | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }} {{ xs | rejectattr('role', 'equalto', 'user') | list | length }} {{ [0, 1, 2, none] | select | list }} {{ [1,2,3,4] | reject('odd') | list }} {{ xs | selectattr('x') | list }}", {"xs": [{"role": "user", "c": 1}, {"role": "bot", "c": 2, "x": True}, {"role": "user", "c": 3}]}),
 ("f_map", "{{ ['a', 'b'] | map('upper') | join }} {{ xs | map(attribute='n.v', default='?') | list }}", {"xs": [{"n": {"v": 1}}, {"n": {}}]}),
 ("f_first_last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} [{{ [] | first }}]", {}),
 ("f_default", "{{ missing | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }} {{ missing | d('x') }}", {}),
 ("f_string_int_float", "{{ 12 | string }} {{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 3 | float }}", {}),
 ("f_items_dictsort", "{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %} {{ d | dictsort }} {{ d | dictsort(reverse=true) }} {{ d | dictsort(by='value') }}", {"d": {"b": 1, "A": 3, "c": 2}}),
 ("f_safe_markup", "{{ 'a<' | safe + '<b>' }} {{ '<x>' | escape }} {{ '<b>' + 'x' | safe }}", {}),
 ("f_indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'x\\n' | indent(4) }}|", {}),
 ("f_unique_sort", "{{ ['b', 'A', 'a', 'c'] | unique | list }} {{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ xs | sort(attribute='n') | map(attribute='n') | list }}", {"xs": [{"n": 2}, {"n": 1}]}),
 ("f_misc", "{{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ [1, 2, 3] | sum }} {{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ 'a b  c' | wordcount }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }}", {}),
 ("f_format_center", "{{ '%s-%d' | format('a', 3) }}|{{ 'ab' | center(6) }}|{{ '%s and %s' % ('x', 'y') }}", {}),
 # tests
 ("tests_types", "{{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ true is boolean }} {{ 1 is integer }} {{ 1.0 is float }} {{ none is none }} {{ x is defined }} {{ y is undefined }} {{ x is not none }}", {"x": 1}),
 ("tests_values", "{{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 'a' is equalto 'a' }} {{ 2 is in [1, 2] }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ x is sameas none }} {{ true is true }} {{ 0 is false }} {{ 3 is gt 2 }} {{ 3 is ge 4 }}", {"x": None}),
 # methods
 ("m_strip_split", "[{{ '  a  '.strip() }}][{{ 'xxaxx'.lstrip('x') }}][{{ 'xxaxx'.rstrip('x') }}] {{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }}", {}),
 ("m_starts_ends", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('x') }}", {}),
 ("m_case_format", "{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'aB'.upper() }}{{ 'aB'.lower() }} {{ '{} and {}'.format('x', 1) }} {{ '{name}!'.format(name='N') }} {{ '{0}{0}'.format('r') }} {{ '{{}}'.format() }}", {}),
 ("m_misc_str", "{{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.rfind('a') }} {{ 'aaa'.count('a') }} {{ '-'.join(['a', 'b']) }} {{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'a-b'.replace('-', '+') }}", {}),
 ("m_dict", "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} {{ d['a'] }} {{ d.a }}", {"d": {"a": 1, "b": 2}}),
 ("m_list", "{{ [1, 2, 3].index(2) }} {{ [1, 1, 2].count(1) }}", {}),
 ("globals", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }}", {}),
 ("strftime", "{{ strftime_now('%Y-%m-%d %H:%M %b %B %A') }}", {}),
 ("int_dict_keys", "{% set d = {1: 'one', 2: 'two'} %}{{ d[1] }} {{ d | dictsort }} {{ d | tojson }} {{ 1 in d }}", {}),
 ("unicode_strings", "{{ 'ß日本🙂' | length }} {{ 'ß日本🙂'[2] }} {{ 'ß日本🙂' | list }} {{ 'ß日本🙂' | reverse }}", {}),
 ("loop_iteration_scope", "{% for i in [1,2] %}{{ x|default('u') }}{% set x = i %}{% endfor %}{{ x|default('out') }}|{% for m in [1,2,3] %}{% if loop.first %}{% set y = 'f' %}{% endif %}{{ y|default('-') }}{% endfor %}", {}),
 ("macro_late_binding", "{% macro m() %}{{ late }}{% endmacro %}{% set late = 'L' %}{{ m() }}", {}),
 ("chained_compare", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1 == 1 }} {{ 'a' in 'abc' in ['abc'] }}", {}),
 ("trailing_newline_dropped", "text\n", {}),
 ("crlf_normalized", "a\r\nb\rc", {}),
]
errors = [
 ("e_raise", "{{ raise_exception('custom failure') }}", {}),
 ("e_undefined_attr", "{{ missing.attr }}", {}),
 ("e_add_types", "{{ 'a' + 1 }}", {}),
 ("e_unsafe_append", "{% set xs = [] %}{{ xs.append(1) }}", {}),
 ("e_unknown_filter", "{{ x | nosuchfilter }}", {}),
 ("e_unknown_tag", "{% frobnicate %}", {}),
 ("e_unclosed_if", "{% if true %}never closed", {}),
 ("e_range_too_big", "{{ range(1000000) | length }}", {}),
 ("e_generator_tojson", "{{ [1] | map('string') | tojson }}", {}),
 ("e_none_iter", "{% for x in none %}{% endfor %}", {}),
 ("e_len_none", "{{ none | length }}", {}),
]


def cpp_raw(text):
    if "\r" not in text and ")J\"" not in text:
        return 'R"J(' + text + ')J"'
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped + '"'


def main():
    env = g.make_env()
    lines = ["// Generated by scripts/jinja_unit_cases.py from jinja2 " + __import__("jinja2").__version__ +
             " (Hugging Face configuration). Do not edit.", ""]
    lines.append("const JinjaCase kJinjaCases[] = {")
    for name, src, variables in cases:
        expected = env.from_string(src).render(**variables)
        lines.append(f"    {{{cpp_raw(name)}, {cpp_raw(src)}, {cpp_raw(json.dumps(variables, ensure_ascii=False))}, {cpp_raw(expected)}}},")
    lines.append("};")
    lines.append("")
    lines.append("const JinjaErrorCase kJinjaErrorCases[] = {")
    for name, src, variables in errors:
        try:
            env.from_string(src).render(**variables)
            raise SystemExit(f"{name}: jinja2 did not raise")
        except SystemExit:
            raise
        except Exception as e:  # the jinja2 message, for the reader
            message = f"{type(e).__name__}: {e}"
        lines.append(f"    {{{cpp_raw(name)}, {cpp_raw(src)}, {cpp_raw(json.dumps(variables))}, {cpp_raw(message)}}},")
    lines.append("};")
    out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "chat", "jinja_cases.inc")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
