// Small pieces of the server: keys, request fields, chat prompts.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "server/api_error.h"
#include "server/auth.h"
#include "server/chat_prompt.h"
#include "server/model_pool.h"
#include "server/openai_request.h"
#include "server/tool_grammar.h"
#include "chat/harmony.h"
#include "chat/tool_calls.h"
#include "runtime/grammar_matcher.h"
#include "runtime/json_schema.h"
#include "test_helpers.h"

namespace hearth::server {
namespace {

using nlohmann::json;

TEST(Auth, KeyListsEnvFilesAndKeyFiles) {
    EXPECT_EQ(parse_key_list(" a, b ,,c"), (std::vector<std::string>{"a", "b", "c"}));
    const std::string env = ::testing::TempDir() + "/hearth_test.env";
    std::ofstream(env) << "# comment\nOTHER=1\nexport HEARTH_API_KEYS=\"k1,k2\"\n";
    EXPECT_EQ(read_env_file_value(env, "HEARTH_API_KEYS"), "k1,k2");
    EXPECT_EQ(read_env_file_value(env, "MISSING"), std::nullopt);
    EXPECT_EQ(read_env_file_value("/nonexistent/.env", "HEARTH_API_KEYS"), std::nullopt);
    const std::string keys = ::testing::TempDir() + "/hearth_test.keys";
    std::ofstream(keys) << "one\n\n# two\nthree\n";
    EXPECT_EQ(read_key_file(keys), (std::vector<std::string>{"one", "three"}));
}

TEST(Auth, AcceptsOnlyBearerWithAKnownKey) {
    ApiKeys keys({"secret", "other"});
    EXPECT_TRUE(keys.accepts("Bearer secret"));
    EXPECT_TRUE(keys.accepts("Bearer other"));
    EXPECT_FALSE(keys.accepts("Bearer secre"));
    EXPECT_FALSE(keys.accepts("Bearer secrets"));
    EXPECT_FALSE(keys.accepts("secret"));
    EXPECT_FALSE(keys.accepts("Basic secret"));
    EXPECT_FALSE(keys.accepts(""));
}

int status_of(const json& body, bool chat) {
    try {
        parse_generation_request(body, chat, {});
        return 200;
    } catch (const ApiError& e) {
        return e.status();
    }
}

TEST(Request, WrongTypesAre400sAndUnknownFieldsAreIgnored) {
    const json ok = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    EXPECT_EQ(status_of(ok, true), 200);
    json unknown = ok;
    unknown["some_future_field"] = {1, 2, 3};
    EXPECT_EQ(status_of(unknown, true), 200);
    for (const auto& [field, value] :
         std::vector<std::pair<std::string, json>>{{"temperature", "hot"},
                                                   {"temperature", 3},
                                                   {"max_tokens", 1.5},
                                                   {"max_tokens", 0},
                                                   {"n", 0},
                                                   {"stop", 5},
                                                   {"stream", "yes"},
                                                   {"seed", "x"},
                                                   {"top_p", 2},
                                                   {"model", 7},
                                                   {"stream_options", 1},
                                                   {"top_logprobs", 3},
                                                   {"messages", json::array()}}) {
        json bad = ok;
        bad[field] = value;
        EXPECT_EQ(status_of(bad, true), 400) << field << "=" << value.dump();
    }
    EXPECT_EQ(status_of(json::array(), true), 400);
    EXPECT_EQ(status_of({{"prompt", 5}}, false), 400);
    EXPECT_EQ(status_of({{"prompt", "x"}, {"logprobs", 2}}, false), 200);
    auto r = parse_generation_request({{"prompt", "x"},
                                       {"max_tokens", 5},
                                       {"max_completion_tokens", 7},
                                       {"stop", "a"},
                                       {"temperature", nullptr}},
                                      false, {});
    EXPECT_EQ(r.max_tokens, 7);
    EXPECT_EQ(r.stop, std::vector<std::string>{"a"});
    EXPECT_FALSE(r.sampling.temperature.has_value());
}

TEST(ChatPrompt, ModelWithoutTemplateGetsThePlainMessageTexts) {
    testing::Oracle oracle;
    json messages = {{{"role", "system"}, {"content", "Tell a story."}},
                     {{"role", "user"},
                      {"content", json::array({{{"type", "text"}, {"text", "Once upon"}},
                                               {{"type", "text"}, {"text", " a time"}}})}}};
    ChatPrompt p = render_chat_prompt(*oracle.model, *oracle.tok, messages);
    EXPECT_EQ(p.text, "Tell a story.\nOnce upon a time");
    EXPECT_FALSE(p.parse_special);
    EXPECT_THROW(render_chat_prompt(*oracle.model, *oracle.tok,
                                    json{{{"role", "wizard"}, {"content", "x"}}}),
                 ApiError);
    EXPECT_THROW(render_chat_prompt(*oracle.model, *oracle.tok, json{{{"content", "x"}}}),
                 ApiError);
}

// Structured output for a thinking model: free reasoning inside <think>...</think>, then the
// answer's grammar; hand-written replies decide.
TEST(ToolGrammar, AnswerAfterThinking) {
    const std::string answer = runtime::json_schema_to_gbnf(
        json{{"type", "object"},
             {"properties", {{"ok", {{"type", "boolean"}}}}},
             {"required", {"ok"}},
             {"additionalProperties", false}});
    auto accepts = [](const std::string& gbnf, const std::string& text) {
        runtime::GrammarMatcher m(runtime::Grammar::parse_gbnf(gbnf));
        return m.accept_bytes(text) && m.can_end();
    };
    const std::string free = after_thinking(answer, /*opened=*/false);
    const std::string opened = after_thinking(answer, /*opened=*/true);
    EXPECT_TRUE(accepts(free, "{\"ok\":true}"));
    EXPECT_TRUE(accepts(free, "<think>a < b, so </thin k> yes</think>\n\n{\"ok\":false}"));
    EXPECT_FALSE(accepts(free, "<think>a</think> x</think>{\"ok\":true}"));
    EXPECT_FALSE(accepts(free, "<think>never closed {\"ok\":true}"));
    EXPECT_FALSE(accepts(free, "{\"ok\":1}"));
    EXPECT_TRUE(accepts(opened, "the prompt opened it</think>\n{\"ok\":true}"));
    EXPECT_FALSE(accepts(opened, "{\"ok\":true}"));
}

// Forced calls in Mistral's newer [TOOL_CALLS]name[ARGS]{...} form: what the grammar allows,
// the tool-call parser (written apart from it) reads back as calls.
TEST(ToolGrammar, MistralArgsFormParsesBack) {
    const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(R"([
        {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
          "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
          "required": ["a", "b"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
          "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": false}}}])");
    const std::string gbnf = forced_tool_call_gbnf(chat::ToolCallSyntax::Mistral, tools, "",
                                                   /*parallel=*/true, /*mistral_args=*/true);
    auto accepts = [&](const std::string& text) {
        runtime::GrammarMatcher m(runtime::Grammar::parse_gbnf(gbnf));
        return m.accept_bytes(text) && m.can_end();
    };
    const std::string two =
        "[TOOL_CALLS]add[ARGS]{\"a\":1,\"b\":2}[TOOL_CALLS]get_weather[ARGS]{\"city\":\"Oslo\"}";
    ASSERT_TRUE(accepts(two));
    chat::ParsedReply reply = chat::parse_tool_calls(chat::ToolCallSyntax::Mistral, two);
    ASSERT_EQ(reply.calls.size(), 2u);
    EXPECT_EQ(reply.calls[0].name, "add");
    EXPECT_EQ(json::parse(reply.calls[0].arguments), json({{"a", 1}, {"b", 2}}));
    EXPECT_EQ(reply.calls[1].name, "get_weather");
    EXPECT_FALSE(accepts("[TOOL_CALLS]nope[ARGS]{}"));
    EXPECT_FALSE(accepts("[TOOL_CALLS]add[ARGS]{\"a\":\"x\",\"b\":2}"));
    const std::string only_add = forced_tool_call_gbnf(chat::ToolCallSyntax::Mistral, tools, "add",
                                                       /*parallel=*/false, /*mistral_args=*/true);
    runtime::GrammarMatcher m(runtime::Grammar::parse_gbnf(only_add));
    EXPECT_FALSE(m.accept_bytes("[TOOL_CALLS]get_weather"));
}

// Forced calls and JSON answers for a harmony (gpt-oss) model: analysis messages may come
// first; what the grammar allows, the harmony reader (written apart from it) reads back.
TEST(ToolGrammar, HarmonyCallAfterAnalysisParsesBack) {
    const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(R"([
        {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
          "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
          "required": ["a", "b"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
          "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": false}}}])");
    const std::string gbnf = forced_tool_call_gbnf(chat::ToolCallSyntax::Harmony, tools, "",
                                                   /*parallel=*/true);
    auto accepts = [](const std::string& grammar, const std::string& text) {
        runtime::GrammarMatcher m(runtime::Grammar::parse_gbnf(grammar));
        return m.accept_bytes(text) && m.can_end();
    };
    const std::string thought_then_call =
        "<|channel|>analysis<|message|>User wants weather; a < b.<|end|><|start|>assistant"
        "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
        "{\"city\":\"Oslo\"}";
    ASSERT_TRUE(accepts(gbnf, thought_then_call));
    chat::HarmonyReply reply = chat::parse_harmony(thought_then_call);
    EXPECT_EQ(reply.reasoning, "User wants weather; a < b.");
    EXPECT_EQ(reply.content, "");
    ASSERT_EQ(reply.calls.size(), 1u);
    EXPECT_EQ(reply.calls[0].name, "get_weather");
    EXPECT_EQ(json::parse(reply.calls[0].arguments), json({{"city", "Oslo"}}));
    // A call with no analysis before it; two analysis messages.
    EXPECT_TRUE(accepts(gbnf, "<|channel|>commentary to=functions.add <|constrain|>json<|message|>"
                              "{\"a\":1,\"b\":2}"));
    EXPECT_TRUE(accepts(gbnf, "<|channel|>analysis<|message|>x<|end|><|start|>assistant"
                              "<|channel|>analysis<|message|>y<|end|><|start|>assistant"
                              "<|channel|>commentary to=functions.add <|constrain|>json<|message|>"
                              "{\"a\":1,\"b\":2}"));
    // Not allowed: a final answer, an unknown tool, bad arguments, a second call (<|call|>
    // ends the reply), a marker inside the analysis.
    EXPECT_FALSE(accepts(gbnf, "<|channel|>final<|message|>hi"));
    EXPECT_FALSE(accepts(gbnf, "<|channel|>commentary to=functions.nope <|constrain|>json<|message|>{}"));
    EXPECT_FALSE(accepts(gbnf, "<|channel|>commentary to=functions.add <|constrain|>json<|message|>"
                               "{\"a\":\"x\",\"b\":2}"));
    EXPECT_FALSE(accepts(gbnf, "<|channel|>commentary to=functions.add <|constrain|>json<|message|>"
                               "{\"a\":1,\"b\":2}<|end|><|start|>assistant<|channel|>commentary "
                               "to=functions.add <|constrain|>json<|message|>{\"a\":1,\"b\":2}"));
    EXPECT_FALSE(accepts(gbnf, "<|channel|>analysis<|message|>a<|channel|>b<|end|><|start|>assistant"
                               "<|channel|>commentary to=functions.add <|constrain|>json<|message|>"
                               "{\"a\":1,\"b\":2}"));
    const std::string only_add = forced_tool_call_gbnf(chat::ToolCallSyntax::Harmony, tools, "add",
                                                       /*parallel=*/false);
    runtime::GrammarMatcher m(runtime::Grammar::parse_gbnf(only_add));
    EXPECT_FALSE(m.accept_bytes("<|channel|>commentary to=functions.get_weather"));

    // response_format for a harmony model: the JSON is the final message, after the analysis.
    const std::string final_json = harmony_final(runtime::json_schema_to_gbnf(
        json{{"type", "object"}, {"properties", {{"ok", {{"type", "boolean"}}}}},
             {"required", {"ok"}}, {"additionalProperties", false}}));
    const std::string answer =
        "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>"
        "{\"ok\":true}";
    ASSERT_TRUE(accepts(final_json, answer));
    reply = chat::parse_harmony(answer);
    EXPECT_EQ(reply.reasoning, "Easy.");
    EXPECT_EQ(reply.content, "{\"ok\":true}");
    EXPECT_TRUE(accepts(final_json, "<|channel|>final <|constrain|>json<|message|>{\"ok\":false}"));
    EXPECT_EQ(chat::parse_harmony("<|channel|>final <|constrain|>json<|message|>{\"ok\":false}").content,
              "{\"ok\":false}");
    EXPECT_FALSE(accepts(final_json, "{\"ok\":true}"));
    EXPECT_FALSE(accepts(final_json, "<|channel|>final<|message|>{\"ok\":1}"));
    EXPECT_FALSE(accepts(final_json, "<|channel|>commentary<|message|>{\"ok\":true}"));
}

TEST(ToolGrammar, PrefixRuleNamesLeavesLiteralsClassesAndBoundsAlone) {
    EXPECT_EQ(prefix_rule_names("root ::= a{1,2} \"b c\\\"\" [d-e\\]] # x y\na ::= \"q\"\n", "p-"),
              "p-root ::= p-a{1,2} \"b c\\\"\" [d-e\\]] # x y\np-a ::= \"q\"\n");
}

// The KV pool's size, by hand: 1 KiB a token makes a 32-token block 32 KiB.
TEST(KvPoolSize, FromTheBudgetOrFromSlotsCappedByMaxMemory) {
    const uint64_t kib = 1024, mib = 1024 * kib;
    // --kv-budget: whole blocks of it.
    EXPECT_EQ(kv_pool_tokens(mib, kib, 4, 100, 0, 0), 1024);
    EXPECT_EQ(kv_pool_tokens(mib + 31 * kib, kib, 4, 100, 0, 0), 1024);
    EXPECT_EQ(kv_pool_tokens(2 * mib, kib, 4, 100, mib, 100 * mib), 2048);  // the budget wins
    try {
        kv_pool_tokens(16 * kib, kib, 4, 100, 0, 0);
        FAIL() << "half a block";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--kv-budget"), std::string::npos) << e.what();
    }
    // Default: --parallel x --ctx-size, each sequence rounded up to whole blocks (100 -> 128).
    EXPECT_EQ(kv_pool_tokens(0, kib, 4, 100, 0, 0), 512);
    // ... capped by what --max-memory leaves after the weights: 256 KiB = 8 blocks.
    EXPECT_EQ(kv_pool_tokens(0, kib, 4, 100, 10 * mib + 256 * kib, 10 * mib), 256);
    EXPECT_EQ(kv_pool_tokens(0, kib, 4, 100, 100 * mib, 10 * mib), 512);
    // ... but never under a block per sequence, even when the weights alone exceed it.
    EXPECT_EQ(kv_pool_tokens(0, kib, 4, 100, 10 * mib + 64 * kib, 10 * mib), 128);
    EXPECT_EQ(kv_pool_tokens(0, kib, 4, 100, mib, 10 * mib), 128);
}

}  // namespace
}  // namespace hearth::server
