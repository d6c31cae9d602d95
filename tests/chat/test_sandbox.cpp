// The sandbox: hostile or broken templates must stop with a clear error, never hang, exhaust
// memory or touch the file system.
#include <gtest/gtest.h>

#include "chat/chat_template.h"

namespace {

using hearth::chat::ChatRenderOptions;
using hearth::chat::ChatTemplate;
using hearth::chat::SandboxLimits;

std::string render_error(const ChatTemplate& tmpl) {
    try {
        tmpl.render(nlohmann::json::array(), ChatRenderOptions{});
    } catch (const hearth::Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

TEST(Sandbox, NestedLoopsHitTheStepLimit) {
    // 100000^3 iterations: would run for hours without the step limit. A smaller limit than
    // the default keeps the test quick in sanitizer builds; the mechanism is the same.
    ChatTemplate tmpl(
        "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
        "{% endfor %}{% endfor %}{% endfor %}");
    SandboxLimits limits;
    limits.max_steps = 1'000'000;
    tmpl.set_limits(limits);
    std::string error = render_error(tmpl);
    EXPECT_TRUE(contains(error, "steps (sandbox limit")) << error;
    EXPECT_TRUE(contains(error, "line 1, column")) << error;
}

TEST(Sandbox, DefaultStepLimitStopsAnEmptyLoop) {
    ChatTemplate tmpl(
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}");
    EXPECT_TRUE(contains(render_error(tmpl), "more than 5000000 steps")) << render_error(tmpl);
}

TEST(Sandbox, StepLimitIsConfigurable) {
    ChatTemplate tmpl("{% for a in range(1000) %}{{ a }}{% endfor %}");
    SandboxLimits limits;
    limits.max_steps = 100;
    tmpl.set_limits(limits);
    EXPECT_TRUE(contains(render_error(tmpl), "more than 100 steps")) << render_error(tmpl);
}

TEST(Sandbox, HugeOutputIsCapped) {
    ChatTemplate tmpl(
        "{% for a in range(100000) %}{% for b in range(100000) %}"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "{% endfor %}{% endfor %}");
    SandboxLimits limits;
    limits.max_output_bytes = 1 << 20;
    tmpl.set_limits(limits);
    std::string error = render_error(tmpl);
    EXPECT_TRUE(contains(error, "rendered output larger than 1048576 bytes")) << error;
}

TEST(Sandbox, StringDoublingIsCapped) {
    // Each step doubles a string: 2^40 bytes if nothing stopped it.
    ChatTemplate tmpl(
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s | length }}");
    SandboxLimits limits;
    limits.max_string_bytes = 1 << 20;
    tmpl.set_limits(limits);
    std::string error = render_error(tmpl);
    EXPECT_TRUE(contains(error, "string value larger than")) << error;
}

TEST(Sandbox, StringRepetitionIsCapped) {
    ChatTemplate tmpl("{{ 'x' * 100000000000 }}");
    EXPECT_TRUE(contains(render_error(tmpl), "sandbox limit")) << render_error(tmpl);
}

TEST(Sandbox, ListGrowthIsCapped) {
    ChatTemplate tmpl(
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
        "{% endfor %}");
    std::string error = render_error(tmpl);
    EXPECT_TRUE(contains(error, "list larger than")) << error;
}

TEST(Sandbox, RangeIsCappedLikeJinja2) {
    ChatTemplate tmpl("{{ range(100001) | length }}");
    EXPECT_TRUE(contains(render_error(tmpl), "Range too big")) << render_error(tmpl);
}

TEST(Sandbox, RunawayRecursionStops) {
    ChatTemplate tmpl("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
    std::string error = render_error(tmpl);
    EXPECT_TRUE(contains(error, "macro calls nested deeper than")) << error;
}

TEST(Sandbox, DeepNestingIsRefusedByTheParser) {
    std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
    EXPECT_THROW(ChatTemplate{deep}, hearth::Error);
    std::string deep_ifs;
    for (int i = 0; i < 5000; ++i) deep_ifs += "{% if true %}";
    EXPECT_THROW(ChatTemplate{deep_ifs}, hearth::Error);
}

TEST(Sandbox, NoFileAccess) {
    for (const char* source : {"{% include 'x' %}", "{% import 'x' as y %}",
                               "{% from 'x' import y %}", "{% extends 'x' %}"}) {
        try {
            ChatTemplate tmpl(source);
            ADD_FAILURE() << source << " was accepted";
        } catch (const hearth::Error& e) {
            EXPECT_TRUE(contains(e.what(), "cannot read other files")) << e.what();
        }
    }
}

TEST(Sandbox, NoPrivateAttributesOrMutation) {
    EXPECT_TRUE(contains(render_error(ChatTemplate("{{ ''.__class__ }}")), "unsafe"));
    EXPECT_TRUE(
        contains(render_error(ChatTemplate("{% set d = {} %}{{ d.update({'a': 1}) }}")), "unsafe"));
    EXPECT_TRUE(
        contains(render_error(ChatTemplate("{% set l = [] %}{{ l.append(1) }}")), "unsafe"));
}

TEST(Sandbox, HostileFormatStringsAreRejected) {
    EXPECT_TRUE(
        contains(render_error(ChatTemplate("{{ strftime_now('%Y' * 1000) }}")), "format too long"));
}

TEST(Sandbox, NormalRenderingIsUnaffected) {
    auto tmpl = ChatTemplate::chatml_default();
    nlohmann::json messages = nlohmann::json::array();
    for (int i = 0; i < 2000; ++i) {
        messages.push_back(
            {{"role", i % 2 ? "assistant" : "user"}, {"content", std::string(200, 'a')}});
    }
    EXPECT_GT(tmpl.render(messages, ChatRenderOptions{}).size(), 2000u * 200u);
}

}  // namespace
