// Harmony (gpt-oss) replies split into reasoning, content and tool calls, against hand-written
// replies in the grammar of OpenAI's harmony response-format guide (and the form gpt-oss's own
// chat template renders past calls in); the streamed split must equal the whole-reply split
// however the text is cut, and no marker may ever reach the reasoning or the content.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "chat/harmony.h"
#include "chat/tool_calls.h"

namespace hearth::chat {
namespace {

struct Call {
    std::string name, arguments;
};

struct Case {
    const char* what;
    std::string reply;
    std::string reasoning, content;
    std::vector<Call> calls;
};

const Case kCases[] = {
    {"analysis then final (the final's <|return|> ends generation and is not in the text)",
     "<|channel|>analysis<|message|>User asks 2+2. Simple.<|end|>"
     "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.",
     "User asks 2+2. Simple.", "2 + 2 = 4.", {}},
    {"the <|return|> shown", "<|channel|>final<|message|>Hi!<|return|>", "", "Hi!", {}},
    {"a call, recipient in the channel header (the guide's form)",
     "<|channel|>analysis<|message|>Need to use function get_weather.<|end|>"
     "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
     "<|message|>{\"location\":\"San Francisco\"}<|call|>",
     "Need to use function get_weather.", "", {{"get_weather", R"({"location":"San Francisco"})"}}},
    {"a call, recipient after the role (the form the template renders)",
     "<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>"
     "{\"city\": \"Paris\", \"unit\": \"celsius\"}",
     "", "", {{"get_weather", R"({"city":"Paris","unit":"celsius"})"}}},
    {"the reply opens with the call (recipient right after the prompt's role)",
     " to=functions.get_time<|channel|>commentary <|constrain|>json<|message|>{}", "", "",
     {{"get_time", "{}"}}},
    {"two calls in a row",
     "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Oslo\"}"
     "<|call|><|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json"
     "<|message|>{\"city\":\"Lima\"}<|call|>",
     "", "", {{"get_weather", R"({"city":"Oslo"})"}, {"get_time", R"({"city":"Lima"})"}}},
    {"a preamble on the commentary channel is content",
     "<|channel|>analysis<|message|>Check weather.<|end|><|start|>assistant<|channel|>commentary"
     "<|message|>Let me look that up.<|end|><|start|>assistant<|channel|>commentary "
     "to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Rome\"}<|call|>",
     "Check weather.", "Let me look that up.", {{"get_weather", R"({"city":"Rome"})"}}},
    {"two analysis messages join with a blank line",
     "<|channel|>analysis<|message|>one<|end|><|start|>assistant<|channel|>analysis<|message|>two"
     "<|end|><|start|>assistant<|channel|>final<|message|>done",
     "one\n\ntwo", "done", {}},
    {"a stray commentary header before the analysis",
     "<|channel|>commentary to=assistant<|channel|>analysis<|message|>hmm<|end|>"
     "<|start|>assistant<|channel|>final<|message|>ok",
     "hmm", "ok", {}},
    {"cut off while thinking", "<|channel|>analysis<|message|>still thinking", "still thinking",
     "", {}},
    {"cut off inside a header", "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|chan",
     "a", "", {}},
    {"not harmony at all: plain content", "Hello there, no headers.", "",
     "Hello there, no headers.", {}},
    {"plain text with stray markers: the markers are dropped", "Hi<|end|> there<|return|>", "",
     "Hi there", {}},
    {"arguments that are not JSON come back as content",
     "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{city: Paris}",
     "", "{city: Paris}", {}},
    {"arguments that are a JSON array come back as content",
     "<|channel|>commentary to=functions.f<|message|>[1,2]<|call|>", "", "[1,2]", {}},
    {"a call without a function name is content",
     "<|channel|>commentary to=functions. <|constrain|>json<|message|>{}", "", "{}", {}},
    {"a built-in tool we do not run is content, not lost",
     "<|channel|>analysis<|message|>search<|end|><|start|>assistant<|channel|>analysis "
     "to=browser.search<|message|>{\"query\":\"x\"}<|call|>",
     "search", "{\"query\":\"x\"}", {}},
    {"a turn for another role is dropped",
     "<|channel|>final<|message|>Hi.<|end|><|start|>user<|message|>forged question<|end|>", "",
     "Hi.", {}},
    {"a new message without <|end|> still ends the last",
     "<|channel|>analysis<|message|>think<|start|>assistant<|channel|>final<|message|>answer",
     "think", "answer", {}},
    {"text after the last message that is no header is content",
     "<|channel|>final<|message|>A<|end|>B", "", "A\n\nB", {}},
};

void expect_case(const Case& c, const HarmonyReply& r, const std::string& how) {
    EXPECT_EQ(r.reasoning, c.reasoning) << c.what << how;
    EXPECT_EQ(r.content, c.content) << c.what << how;
    ASSERT_EQ(r.calls.size(), c.calls.size()) << c.what << how;
    for (size_t i = 0; i < c.calls.size(); ++i) {
        EXPECT_EQ(r.calls[i].name, c.calls[i].name) << c.what << how;
        EXPECT_EQ(r.calls[i].arguments, c.calls[i].arguments) << c.what << how;
    }
}

HarmonyReply streamed(const std::vector<std::string>& pieces) {
    HarmonyStream s;
    HarmonyReply all;
    auto add = [&](HarmonyReply r) {
        all.reasoning += r.reasoning;
        all.content += r.content;
        for (auto& call : r.calls) all.calls.push_back(std::move(call));
    };
    for (const std::string& p : pieces) {
        HarmonyReply r = s.push(p);
        EXPECT_TRUE(r.calls.empty()) << "calls come at finish()";
        add(std::move(r));
    }
    add(s.finish());
    return all;
}

TEST(Harmony, HandWrittenReplies) {
    for (const Case& c : kCases) expect_case(c, parse_harmony(c.reply), "");
}

TEST(Harmony, StreamedSplitAtEveryByteBoundary) {
    for (const Case& c : kCases) {
        for (size_t cut = 0; cut <= c.reply.size(); ++cut) {
            expect_case(c, streamed({c.reply.substr(0, cut), c.reply.substr(cut)}),
                        " (cut at " + std::to_string(cut) + ")");
        }
        std::vector<std::string> bytes;
        for (char ch : c.reply) bytes.emplace_back(1, ch);
        expect_case(c, streamed(bytes), " (byte by byte)");
    }
}

bool has_marker(const std::string& s) {
    for (const std::string& m : harmony_marker_texts())
        if (s.find(m) != std::string::npos) return true;
    return false;
}

// Random replies built of markers, header words and text: no crash, no marker in the output,
// streamed equal to whole, and every call's arguments a JSON object.
TEST(Harmony, RandomRepliesNeverLeakMarkers) {
    const std::vector<std::string> parts = {
        "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>",
        "<|call|>", "assistant", "user", "analysis", "final", "commentary", " to=functions.f",
        " to=", "json", "{\"a\":1}", "{", "}", "text ", "<|", "|>", " ", "\n", "<", "é"};
    std::mt19937 rng(7);
    for (int round = 0; round < 3000; ++round) {
        std::string reply;
        const int n = static_cast<int>(rng() % 16);
        for (int i = 0; i < n; ++i) reply += parts[rng() % parts.size()];
        const HarmonyReply whole = parse_harmony(reply);
        EXPECT_FALSE(has_marker(whole.reasoning)) << reply;
        EXPECT_FALSE(has_marker(whole.content)) << reply;
        for (const ToolCall& call : whole.calls) {
            EXPECT_EQ(call.name, "f") << reply;
            EXPECT_EQ(call.arguments, R"({"a":1})") << reply;
        }
        std::vector<std::string> pieces;
        for (size_t i = 0; i < reply.size();) {
            const size_t len = 1 + rng() % 5;
            pieces.push_back(reply.substr(i, len));
            i += len;
        }
        const HarmonyReply split = streamed(pieces);
        EXPECT_EQ(split.reasoning, whole.reasoning) << reply;
        EXPECT_EQ(split.content, whole.content) << reply;
        EXPECT_EQ(split.calls.size(), whole.calls.size()) << reply;
    }
}

std::string template_text(const std::string& name) {
    std::ifstream in(std::string(HEARTH_TEST_DATA) + "/templates/" + name + ".jinja");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(Harmony, DetectedFromTheGptOssTemplateOnly) {
    EXPECT_TRUE(template_is_harmony(template_text("openai-gpt-oss-120b")));
    EXPECT_EQ(detect_tool_call_syntax(template_text("openai-gpt-oss-120b")), ToolCallSyntax::Harmony);
    for (const char* other : {"Qwen-Qwen2.5-7B-Instruct", "meta-llama-Llama-3.1-8B-Instruct",
                              "Mistral-Small-3.2-24B-Instruct-2506", "Kimi-K2-Thinking"}) {
        const std::string text = template_text(other);
        ASSERT_FALSE(text.empty()) << other;
        EXPECT_FALSE(template_is_harmony(text)) << other;
    }
}

TEST(Harmony, ToolCallParserReadsHarmonyCalls) {
    ParsedReply r = parse_tool_calls(
        ToolCallSyntax::Harmony,
        "<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>commentary "
        "to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].name, "get_weather");
    EXPECT_EQ(r.calls[0].arguments, R"({"city":"Paris"})");
    EXPECT_EQ(r.content, "");
    // No call: the reply comes back unchanged, as for every syntax.
    const std::string plain = "<|channel|>final<|message|>hi";
    EXPECT_EQ(parse_tool_calls(ToolCallSyntax::Harmony, plain).content, plain);
}

}  // namespace
}  // namespace hearth::chat
