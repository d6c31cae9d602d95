#!/usr/bin/python3
"""Render every template in tests/data/templates the way Hugging Face transformers does.

The outputs become the goldens in tests/data/chat_goldens/, which hearth's own Jinja interpreter
must reproduce byte for byte (tests/chat/test_chat_goldens.cpp). Run with Debian's python3-jinja2:

    /usr/bin/python3 scripts/gen_template_goldens.py

Layout written:
    chat_goldens/conversations.json        the inputs (messages, tools, extra variables)
    chat_goldens/<template>/<conv>.gp.txt  rendered with add_generation_prompt=true
    chat_goldens/<template>/<conv>.nogp.txt                        ...=false
    chat_goldens/<template>/<conv>.gp.error   instead of .txt when jinja2 raises (holds the message)
    chat_goldens/tokens.json               bos/eos token strings chosen per template
"""
import json
import os
import shutil
import sys
from datetime import datetime, timezone

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = os.path.join(ROOT, "tests", "data", "templates")
GOLDENS = os.path.join(ROOT, "tests", "data", "chat_goldens")

# Fixed so that templates calling strftime_now render the same date on every run
# (2024-07-14 23:33:20 UTC).
SOURCE_DATE_EPOCH = 1721000000

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current local time of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

CONVERSATIONS = {
    "simple": {
        "messages": [{"role": "user", "content": "Hello, who are you?"}],
    },
    "system_multi_turn": {
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And times 3?"},
        ],
    },
    "unicode": {
        "messages": [
            {"role": "user", "content": "Grüße! 日本語で答えて 🙂 — \"quoted\" and \\ backslash\n  indented"},
            {"role": "assistant", "content": "Hallo! こんにちは 👋"},
            {"role": "user", "content": "Ça va?"},
        ],
    },
    "tools": {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "What is the weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_0001",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_0001", "name": "get_weather",
             "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
            {"role": "assistant", "content": "It is 21 °C and clear in Paris."},
            {"role": "user", "content": "Thanks!"},
        ],
    },
    "reasoning": {
        "messages": [
            {"role": "user", "content": "Is 17 prime?"},
            {"role": "assistant", "reasoning_content": "17 has no divisors other than 1 and 17.",
             "content": "Yes, 17 is prime."},
            {"role": "user", "content": "And 21?"},
        ],
    },
    "parallel_tool_calls": {
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "messages": [
            {"role": "user", "content": "Weather and time in Oslo and Lima?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_a", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
                    {"id": "call_b", "type": "function",
                     "function": {"name": "get_time", "arguments": "{\"city\": \"Lima\"}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "name": "get_weather", "content": "-3 C, snow"},
            {"role": "tool", "tool_call_id": "call_b", "name": "get_time", "content": "09:41"},
        ],
    },
    # parallel_tool_calls as hearth hands it to templates: OpenAI clients send each call's
    # arguments as JSON text, which hearth parses into the dict templates expect
    # (tests/server/test_chat_prompt.cpp renders the original through the server's path).
    "parallel_tool_calls_parsed": {
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "messages": [
            {"role": "user", "content": "Weather and time in Oslo and Lima?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_a", "type": "function",
                     "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
                    {"id": "call_b", "type": "function",
                     "function": {"name": "get_time", "arguments": {"city": "Lima"}}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "name": "get_weather", "content": "-3 C, snow"},
            {"role": "tool", "tool_call_id": "call_b", "name": "get_time", "content": "09:41"},
        ],
    },
    "content_parts": {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Part one."},
                                         {"type": "text", "text": "Part two."}]},
        ],
    },
    # Harmony's (gpt-oss) own shape of a turn with two calls: the reasoning in "thinking", one
    # call per assistant message, each followed by its result (the server turns OpenAI's shape,
    # parallel calls and reasoning_content, into this one).
    "harmony_calls": {
        "messages": [
            {"role": "user", "content": "Weather in Oslo and the time in Lima?"},
            {"role": "assistant", "content": "", "thinking": "Two lookups: weather, then time.",
             "tool_calls": [{"id": "call_a", "type": "function",
                             "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
            {"role": "tool", "tool_call_id": "call_a", "name": "get_weather", "content": "-3 C, snow"},
            {"role": "assistant", "content": "",
             "tool_calls": [{"id": "call_b", "type": "function",
                             "function": {"name": "get_time", "arguments": {"city": "Lima"}}}]},
            {"role": "tool", "tool_call_id": "call_b", "name": "get_time", "content": "09:41"},
        ],
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "extra_vars": {"reasoning_effort": "high"},
    },
    "thinking_off": {
        "messages": [{"role": "user", "content": "Hi"}],
        "extra_vars": {"enable_thinking": False, "reasoning_effort": "low"},
    },
}


def pick_tokens(source):
    """bos/eos strings a model with this template would most likely carry."""
    candidates = [
        ("<|begin_of_text|>", "<|begin_of_text|>", "<|eot_id|>"),
        ("<｜begin▁of▁sentence｜>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
        ("<|im_start|>", "", "<|im_end|>"),
        ("<start_of_turn>", "<bos>", "<eos>"),
        ("<|turn>", "<bos>", "<eos>"),
        ("<|START_OF_TURN_TOKEN|>", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
        ("<|start|>", "<|startoftext|>", "<|return|>"),
    ]
    for marker, bos, eos in candidates:
        if marker in source:
            return bos, eos
    return "<s>", "</s>"


class GenerationTracker(Extension):
    """HF's {% generation %} block: renders its body unchanged."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # Same signature and defaults as transformers' chat-template tojson (no key sorting).
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.fromtimestamp(SOURCE_DATE_EPOCH, tz=timezone.utc).strftime(fmt)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    env = make_env()
    if os.path.isdir(GOLDENS):
        shutil.rmtree(GOLDENS)
    os.makedirs(GOLDENS)
    with open(os.path.join(GOLDENS, "conversations.json"), "w", encoding="utf-8") as f:
        json.dump(CONVERSATIONS, f, ensure_ascii=False, indent=2)
        f.write("\n")
    tokens = {}
    n_ok = n_err = 0
    for name in sorted(os.listdir(TEMPLATES)):
        if not name.endswith(".jinja"):
            continue
        stem = name[: -len(".jinja")]
        with open(os.path.join(TEMPLATES, name), encoding="utf-8") as f:
            source = f.read()
        bos, eos = pick_tokens(source)
        tokens[stem] = {"bos_token": bos, "eos_token": eos}
        out_dir = os.path.join(GOLDENS, stem)
        os.makedirs(out_dir)
        try:
            template = env.from_string(source)
        except jinja2.TemplateError as e:
            template = None
            parse_error = f"{type(e).__name__}: {e}"
        for conv_name, conv in CONVERSATIONS.items():
            for gp in (True, False):
                base = os.path.join(out_dir, f"{conv_name}.{'gp' if gp else 'nogp'}")
                # As transformers' render_jinja_template: tools and documents are always passed
                # (None when absent), then the special tokens and the caller's extra variables.
                variables = dict(messages=conv["messages"], tools=conv.get("tools"), documents=None,
                                 add_generation_prompt=gp, bos_token=bos, eos_token=eos)
                variables.update(conv.get("extra_vars", {}))
                try:
                    if template is None:
                        raise jinja2.TemplateError(parse_error)
                    text = template.render(**variables)
                except Exception as e:  # every jinja2 failure becomes an expected-error golden
                    with open(base + ".error", "w", encoding="utf-8") as f:
                        f.write(f"{type(e).__name__}: {e}\n")
                    n_err += 1
                    continue
                with open(base + ".txt", "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                n_ok += 1
    with open(os.path.join(GOLDENS, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump(tokens, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"jinja2 {jinja2.__version__}: {n_ok} renderings, {n_err} expected errors", file=sys.stderr)


if __name__ == "__main__":
    main()
