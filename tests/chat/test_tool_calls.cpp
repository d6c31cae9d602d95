// Tool calls parsed from hand-written model replies in each syntax, the syntax detected from
// real templates, and the streaming parser agreeing with the whole-reply parser.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "chat/tool_calls.h"

using namespace hearth::chat;

namespace {

std::string template_text(const std::string& name) {
    std::ifstream in(std::string(HEARTH_TEST_DATA) + "/templates/" + name + ".jinja");
    std::stringstream s;
    s << in.rdbuf();
    EXPECT_FALSE(s.str().empty()) << name;
    return s.str();
}

void expect_call(const ToolCall& call, const std::string& name, const std::string& arguments) {
    EXPECT_EQ(call.name, name);
    EXPECT_EQ(call.arguments, arguments);
}

void expect_unchanged(ToolCallSyntax syntax, const std::string& reply) {
    ParsedReply r = parse_tool_calls(syntax, reply);
    EXPECT_TRUE(r.calls.empty()) << reply;
    EXPECT_EQ(r.content, reply);
}

TEST(ToolCallSyntax, DetectedFromRealTemplates) {
    EXPECT_EQ(detect_tool_call_syntax(template_text("Qwen-Qwen2.5-7B-Instruct")),
              ToolCallSyntax::Hermes);
    EXPECT_EQ(detect_tool_call_syntax(template_text("NousResearch-Hermes-3-Llama-3.1-8B-tool_use")),
              ToolCallSyntax::Hermes);
    EXPECT_EQ(detect_tool_call_syntax(template_text("meta-llama-Llama-3.1-8B-Instruct")),
              ToolCallSyntax::Llama3Json);
    EXPECT_EQ(detect_tool_call_syntax(template_text("meta-llama-Llama-3.2-3B-Instruct")),
              ToolCallSyntax::Llama3Json);
    EXPECT_EQ(detect_tool_call_syntax(template_text("mistralai-Mistral-Nemo-Instruct-2407")),
              ToolCallSyntax::Mistral);
    EXPECT_EQ(detect_tool_call_syntax(template_text("Mistral-Small-3.2-24B-Instruct-2506")),
              ToolCallSyntax::Mistral);
    EXPECT_EQ(detect_tool_call_syntax(template_text("microsoft-Phi-3.5-mini-instruct")),
              ToolCallSyntax::None);
    EXPECT_EQ(detect_tool_call_syntax(template_text("google-gemma-2-2b-it")), ToolCallSyntax::None);
}

TEST(HermesToolCalls, OneCall) {
    ParsedReply r = parse_tool_calls(ToolCallSyntax::Hermes,
                                     "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                                     "{\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>");
    ASSERT_EQ(r.calls.size(), 1u);
    // Compact, keys in the model's order.
    expect_call(r.calls[0], "get_weather", R"({"city":"Paris","unit":"celsius"})");
    EXPECT_EQ(r.content, "");
}

TEST(HermesToolCalls, SeveralCallsAndText) {
    ParsedReply r = parse_tool_calls(
        ToolCallSyntax::Hermes,
        "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
        "\"Oslo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
        "\"{\\\"city\\\": \\\"Lima\\\"}\"}\n</tool_call>\n");
    ASSERT_EQ(r.calls.size(), 2u);
    expect_call(r.calls[0], "get_weather", R"({"city":"Oslo"})");
    expect_call(r.calls[1], "get_time", R"({"city":"Lima"})");  // arguments given as text
    EXPECT_EQ(r.content, "Let me check.");
}

TEST(HermesToolCalls, LastCallMayLackItsClosingTag) {
    ParsedReply r = parse_tool_calls(ToolCallSyntax::Hermes,
                                     "<tool_call>\n{\"name\": \"ping\", \"arguments\": {}}\n");
    ASSERT_EQ(r.calls.size(), 1u);
    expect_call(r.calls[0], "ping", "{}");
}

TEST(HermesToolCalls, MalformedCallsStayContent) {
    // Broken JSON, no name, a name that is not a string, arguments that are not an object, a
    // second call broken while the first is fine, plain text.
    for (const std::string reply :
         {"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": }\n</tool_call>",
          "<tool_call>{\"arguments\": {}}</tool_call>", "<tool_call>{\"name\": 3}</tool_call>",
          "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>",
          "<tool_call>{\"name\": \"f\", \"arguments\": \"not json\"}</tool_call>",
          "<tool_call>{\"name\": \"f\"}</tool_call><tool_call>{\"name\": </tool_call>",
          "Just an answer, with {\"name\": \"f\"} in it."}) {
        expect_unchanged(ToolCallSyntax::Hermes, reply);
    }
}

TEST(Llama3ToolCalls, BareJsonCalls) {
    ParsedReply r = parse_tool_calls(
        ToolCallSyntax::Llama3Json,
        "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 2}}");
    ASSERT_EQ(r.calls.size(), 1u);
    expect_call(r.calls[0], "get_weather", R"({"city":"Paris","days":2})");
    EXPECT_EQ(r.content, "");

    r = parse_tool_calls(
        ToolCallSyntax::Llama3Json,
        " {\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": "
        "{\"q\": \"x; y } {\"}}\n");
    ASSERT_EQ(r.calls.size(), 2u);
    expect_call(r.calls[0], "a", "{}");
    expect_call(r.calls[1], "b", R"({"q":"x; y } {"})");
}

TEST(Llama3ToolCalls, AnythingElseIsContent) {
    for (const std::string reply :
         {"The weather is fine.", "Call: {\"name\": \"f\", \"parameters\": {}}",
          "{\"name\": \"f\", \"parameters\": {}} and some text", "{\"answer\": 42}",
          "{\"name\": \"f\", \"parameters\": {\"x\": 1}", "{}"}) {
        expect_unchanged(ToolCallSyntax::Llama3Json, reply);
    }
}

TEST(MistralToolCalls, JsonListAfterTheMarker) {
    ParsedReply r = parse_tool_calls(
        ToolCallSyntax::Mistral,
        "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}, \"id\": "
        "\"abc123xyz\"}, {\"name\": \"get_time\", \"arguments\": {\"city\": \"]Lima[\"}}]");
    ASSERT_EQ(r.calls.size(), 2u);
    expect_call(r.calls[0], "get_weather", R"({"city":"Oslo"})");
    expect_call(r.calls[1], "get_time", R"({"city":"]Lima["})");
    EXPECT_EQ(r.content, "");
}

TEST(MistralToolCalls, NamedCallsOfNewerTemplates) {
    ParsedReply r =
        parse_tool_calls(ToolCallSyntax::Mistral,
                         "Sure. [TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}[TOOL_CALLS]"
                         "get_time[CALL_ID]a1b2c3d4e[ARGS]{\"city\": \"Lima\"}");
    ASSERT_EQ(r.calls.size(), 2u);
    expect_call(r.calls[0], "get_weather", R"({"city":"Oslo"})");
    expect_call(r.calls[1], "get_time", R"({"city":"Lima"})");
    EXPECT_EQ(r.content, "Sure.");
}

TEST(MistralToolCalls, ListWithoutTheControlTokenAndMalformedOnes) {
    // [TOOL_CALLS] is a control token, which the decoder does not turn into text.
    ParsedReply r =
        parse_tool_calls(ToolCallSyntax::Mistral, "[{\"name\": \"f\", \"arguments\": {}}]");
    ASSERT_EQ(r.calls.size(), 1u);
    expect_call(r.calls[0], "f", "{}");
    for (const std::string reply :
         {"[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"x\": 1}", "[TOOL_CALLS][]",
          "[TOOL_CALLS]get weather[ARGS]{}", "[TOOL_CALLS]f[ARGS]not json", "[1] A footnote.",
          "No calls here."}) {
        expect_unchanged(ToolCallSyntax::Mistral, reply);
    }
}

TEST(ToolCallSyntaxNone, ParsesNothing) {
    expect_unchanged(ToolCallSyntax::None, "<tool_call>{\"name\": \"f\"}</tool_call>");
}

// Feeds `reply` in pieces of `piece` bytes and returns (streamed content, final parse).
std::pair<std::string, ParsedReply> stream(ToolCallSyntax syntax, const std::string& reply,
                                           size_t piece) {
    ToolCallStream s(syntax);
    std::string content;
    for (size_t i = 0; i < reply.size(); i += piece) content += s.push(reply.substr(i, piece));
    ParsedReply end = s.finish();
    content += end.content;
    return {content, end};
}

TEST(ToolCallStream, AgreesWithTheWholeReplyInEveryPieceSize) {
    const std::vector<std::pair<ToolCallSyntax, std::string>> replies = {
        {ToolCallSyntax::Hermes,
         "I will look.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n"
         "<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>"},
        {ToolCallSyntax::Hermes, "No tools needed: 2 < 3 and <b>bold</b>.\n"},
        {ToolCallSyntax::Hermes, "Broken <tool_call>{\"name\": </tool_call> stays."},
        {ToolCallSyntax::Llama3Json, "\n{\"name\": \"a\", \"parameters\": {\"q\": \"x\"}}"},
        {ToolCallSyntax::Llama3Json, "Plain answer {with braces}."},
        {ToolCallSyntax::Mistral, "Sure. [TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}]"},
        {ToolCallSyntax::Mistral, "Text with [brackets] only.  "},
    };
    for (const auto& [syntax, reply] : replies) {
        ParsedReply whole = parse_tool_calls(syntax, reply);
        for (size_t piece = 1; piece <= reply.size(); ++piece) {
            SCOPED_TRACE(reply + " / piece " + std::to_string(piece));
            auto [content, end] = stream(syntax, reply, piece);
            EXPECT_EQ(content, whole.content);
            ASSERT_EQ(end.calls.size(), whole.calls.size());
            for (size_t i = 0; i < whole.calls.size(); ++i)
                expect_call(end.calls[i], whole.calls[i].name, whole.calls[i].arguments);
        }
    }
}

TEST(ToolCallStream, ReleasesTextAtOnceButNeverPartOfAMarker) {
    ToolCallStream s(ToolCallSyntax::Hermes);
    EXPECT_EQ(s.push("Hello"), "Hello");
    EXPECT_EQ(s.push(" wor"), " wor");
    EXPECT_EQ(s.push("ld <tool_"), "ld");  // " <tool_" might start a call
    EXPECT_EQ(s.push("tip>"), " <tool_tip>");
    EXPECT_EQ(s.push("\n<tool_call>{\"name\": \"f\"}"), "");
    ParsedReply end = s.finish();
    ASSERT_EQ(end.calls.size(), 1u);
    expect_call(end.calls[0], "f", "{}");
}

std::string without_whitespace(std::string s) {
    s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }),
            s.end());
    return s;
}

TEST(ToolCallStream, RandomRepliesNeverThrowAndLoseNoText) {
    // Replies stitched from the syntaxes' pieces, valid or not. Streaming may place whitespace
    // around calls differently from the whole-reply parse, but no other text may differ, and
    // the calls must be the same.
    const std::vector<std::string> pieces = {
        "<tool_call>", "</tool_call>",  "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]",  "{", "}", "[", "]",
        "\"name\"",    "\"arguments\"", ": ",           ", ",     "\"x\\\"y\"", "1", ";", " ", "\n",
        "text",        "<tool",         "[TOOL"};
    const std::vector<std::string> calls = {
        "<tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>",
        "<tool_call>\n{\"name\": \"h\", \"arguments\": {\"a\": \"}\"}}\n</tool_call>",
        "[TOOL_CALLS][{\"name\": \"h\", \"arguments\": {\"a\": 1}}]",
        "[TOOL_CALLS]k[ARGS]{\"b\": [1, \"]\"]}", "{\"name\": \"g\", \"parameters\": {}}"};
    std::mt19937 rng(12345);
    int with_calls = 0;
    for (ToolCallSyntax syntax : {ToolCallSyntax::Hermes, ToolCallSyntax::Llama3Json,
                                  ToolCallSyntax::Mistral, ToolCallSyntax::None}) {
        for (int round = 0; round < 3000; ++round) {
            std::string reply;
            const int n = static_cast<int>(rng() % 6);
            for (int i = 0; i < n; ++i)
                reply +=
                    rng() % 3 == 0 ? calls[rng() % calls.size()] : pieces[rng() % pieces.size()];
            ParsedReply whole = parse_tool_calls(syntax, reply);
            const size_t piece = 1 + rng() % 5;
            auto [content, end] = stream(syntax, reply, piece);
            SCOPED_TRACE(reply + " / piece " + std::to_string(piece));
            EXPECT_EQ(without_whitespace(content), without_whitespace(whole.content));
            ASSERT_EQ(end.calls.size(), whole.calls.size());
            for (size_t i = 0; i < whole.calls.size(); ++i)
                expect_call(end.calls[i], whole.calls[i].name, whole.calls[i].arguments);
            if (whole.calls.empty()) {
                EXPECT_EQ(whole.content, reply);
            } else {
                ++with_calls;
            }
        }
    }
    EXPECT_GT(with_calls, 1000);  // the mix does hold well-formed calls (1613 of 12000)
}

}  // namespace
