// The Anthropic Messages API over real HTTP. The oracle for what a request means is the
// OpenAI chat route: an Anthropic conversation must give the same prompt (token counts) and,
// greedy, the same text as the OpenAI conversation it stands for.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "live_server.h"
#include "server/anthropic_api.h"
#include "synthetic_with_vocab.h"

namespace hearth::server {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

json post_json(LiveServer& live, const std::string& path, const json& body,
               int want_status = 200, const httplib::Headers& headers = {}) {
    auto res = live.client().Post(path, headers, body.dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, want_status) << path << ": " << res->body;
    return json::parse(res->body, nullptr, false);
}

// Anthropic's error shape: {"type": "error", "error": {"type", "message"}}.
void expect_anthropic_error(const json& body, const std::string& type, const std::string& says) {
    EXPECT_EQ(body["type"], "error") << body.dump();
    EXPECT_EQ(body["error"]["type"], type) << body.dump();
    EXPECT_NE(body["error"]["message"].get<std::string>().find(says), std::string::npos)
        << body.dump();
}

// Named SSE events: (name, data) pairs, the name checked against the data's type.
std::vector<std::pair<std::string, json>> named_events(const std::string& body) {
    std::vector<std::pair<std::string, json>> out;
    size_t pos = 0;
    while (pos < body.size()) {
        size_t end = body.find("\n\n", pos);
        if (end == std::string::npos) {
            ADD_FAILURE() << "unterminated event";
            break;
        }
        const std::string event = body.substr(pos, end - pos);
        pos = end + 2;
        const size_t nl = event.find('\n');
        EXPECT_EQ(event.rfind("event: ", 0), 0u) << event;
        EXPECT_EQ(event.compare(nl + 1, 6, "data: "), 0) << event;
        std::string name = event.substr(7, nl - 7);
        json data = json::parse(event.substr(nl + 7));
        EXPECT_EQ(data["type"], name);
        out.emplace_back(std::move(name), std::move(data));
    }
    return out;
}

const json kStory = json::array({{{"role", "user"}, {"content", "Once upon a time"}}});

TEST(AnthropicApi, GreedyMessageEqualsTheChatRoute) {
    LiveServer live(default_options());
    json chat = post_json(live, "/v1/chat/completions",
                          {{"messages", kStory}, {"max_tokens", 24}, {"temperature", 0}});
    json m = post_json(live, "/v1/messages",
                       {{"model", "stories"}, {"messages", kStory}, {"max_tokens", 24}, {"temperature", 0}});
    EXPECT_EQ(m["type"], "message");
    EXPECT_EQ(m["role"], "assistant");
    EXPECT_EQ(m["model"], "stories260K");
    ASSERT_EQ(m["content"].size(), 1u);
    EXPECT_EQ(m["content"][0]["type"], "text");
    EXPECT_EQ(m["content"][0]["text"], chat["choices"][0]["message"]["content"]);
    EXPECT_EQ(m["stop_reason"], "max_tokens");
    EXPECT_TRUE(m["stop_sequence"].is_null());
    EXPECT_EQ(m["usage"]["output_tokens"], 24);
    EXPECT_EQ(m["usage"]["input_tokens"].get<int64_t>() +
                  m["usage"]["cache_read_input_tokens"].get<int64_t>(),
              chat["usage"]["prompt_tokens"]);

    // A stop sequence ends the text before it and is named.
    json stopped = post_json(live, "/v1/messages",
                             {{"messages", kStory}, {"max_tokens", 40}, {"temperature", 0},
                              {"stop_sequences", {" little", "zzz"}}});
    EXPECT_EQ(stopped["content"][0]["text"], ", there was a");
    EXPECT_EQ(stopped["stop_reason"], "stop_sequence");
    EXPECT_EQ(stopped["stop_sequence"], " little");
}

TEST(AnthropicApi, StreamFollowsTheDocumentedEventSequence) {
    LiveServer live(default_options());
    json body = {{"messages", kStory}, {"max_tokens", 20}, {"temperature", 0}};
    json whole = post_json(live, "/v1/messages", body);
    body["stream"] = true;
    auto res = live.client().Post("/v1/messages", body.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    auto events = named_events(res->body);
    ASSERT_GE(events.size(), 7u);
    EXPECT_EQ(events[0].first, "message_start");
    EXPECT_EQ(events[0].second["message"]["content"], json::array());
    EXPECT_EQ(events[1].first, "ping");
    EXPECT_EQ(events[2].first, "content_block_start");
    EXPECT_EQ(events[2].second["content_block"]["type"], "text");
    std::string text;
    size_t i = 3;
    for (; i < events.size() && events[i].first == "content_block_delta"; ++i) {
        EXPECT_EQ(events[i].second["index"], 0);
        text += events[i].second["delta"]["text"].get<std::string>();
    }
    ASSERT_EQ(i + 3, events.size());
    EXPECT_EQ(events[i].first, "content_block_stop");
    EXPECT_EQ(events[i + 1].first, "message_delta");
    EXPECT_EQ(events[i + 1].second["delta"]["stop_reason"], "max_tokens");
    EXPECT_EQ(events[i + 1].second["usage"]["output_tokens"], 20);
    EXPECT_EQ(events[i + 2].first, "message_stop");
    EXPECT_EQ(text, whole["content"][0]["text"]);
}

TEST(AnthropicApi, ThinkingBecomesAThinkingBlock) {
    // As ServerReasoning: a template that opens <think> makes the whole reply reasoning.
    ModelEntry entry = stories_entry();
    entry.chat_template = "{{ messages[0]['content'] }}<think>{# </think> #}";
    LiveServer live(default_options(), entry);
    json oracle = post_json(live, "/v1/completions",
                            {{"prompt", "Once upon a time<think>"}, {"max_tokens", 12}, {"temperature", 0}});
    json m = post_json(live, "/v1/messages", {{"messages", kStory}, {"max_tokens", 12}, {"temperature", 0}});
    ASSERT_EQ(m["content"].size(), 1u) << m.dump();
    EXPECT_EQ(m["content"][0]["type"], "thinking");
    EXPECT_EQ(m["content"][0]["thinking"], oracle["choices"][0]["text"]);
    auto res = live.client().Post(
        "/v1/messages",
        json{{"messages", kStory}, {"max_tokens", 12}, {"temperature", 0}, {"stream", true}}.dump(),
        "application/json");
    ASSERT_TRUE(res);
    std::string thinking;
    for (const auto& [name, data] : named_events(res->body)) {
        if (name == "content_block_start") EXPECT_EQ(data["content_block"]["type"], "thinking");
        if (name == "content_block_delta") thinking += data["delta"]["thinking"].get<std::string>();
    }
    EXPECT_EQ(thinking, oracle["choices"][0]["text"]);
}

TEST(AnthropicApi, BadRequestsAreAnsweredInAnthropicsShape) {
    LiveServer live(default_options());
    const json story = {{"messages", kStory}, {"max_tokens", 4}};
    auto with = [&](json patch) {
        json body = story;
        body.merge_patch(patch);
        return body;
    };
    expect_anthropic_error(post_json(live, "/v1/messages", {{"messages", kStory}}, 400),
                           "invalid_request_error", "max_tokens");
    expect_anthropic_error(post_json(live, "/v1/messages", with({{"model", "nope"}}), 404),
                           "not_found_error", "nope");
    expect_anthropic_error(
        post_json(live, "/v1/messages",
                  with({{"messages", {{{"role", "user"}, {"content", {{{"type", "video"}}}}}}}}), 400),
        "invalid_request_error", "messages.0.content.0.type");
    expect_anthropic_error(
        post_json(live, "/v1/messages",
                  with({{"messages", {{{"role", "user"}, {"content", {{{"type", "image"}}}}}}}}), 400),
        "invalid_request_error", "text only");
    expect_anthropic_error(
        post_json(live, "/v1/messages", with({{"messages", {{{"role", "system"}, {"content", "x"}}}}}), 400),
        "invalid_request_error", "messages.0.role");
    expect_anthropic_error(
        post_json(live, "/v1/messages",
                  with({{"tools", {{{"type", "web_search_20250305"}, {"name", "web_search"}}}}}), 400),
        "invalid_request_error", "tools.0.type");
    expect_anthropic_error(
        post_json(live, "/v1/messages", with({{"tool_choice", {{"type", "tool"}}}}), 400),
        "invalid_request_error", "tool_choice.name");
    expect_anthropic_error(post_json(live, "/v1/messages", with({{"max_tokens", "many"}}), 400),
                           "invalid_request_error", "max_tokens");
    auto malformed = live.client().Post("/v1/messages", "{\"messages\": [", "application/json");
    ASSERT_TRUE(malformed);
    EXPECT_EQ(malformed->status, 400);
    expect_anthropic_error(json::parse(malformed->body), "invalid_request_error", "not valid JSON");
    // OpenAI's routes keep OpenAI's shape.
    json openai = post_json(live, "/v1/chat/completions", {{"model", "nope"}, {"messages", kStory}}, 404);
    EXPECT_EQ(openai["error"]["code"], "model_not_found");
    // And the server still answers.
    post_json(live, "/v1/messages", story);
}

TEST(AnthropicApi, KeysAreAcceptedAsXApiKeyOrBearer) {
    ServerOptions o = default_options();
    o.api_keys = {"sk-one"};
    LiveServer live(o);
    const json body = {{"messages", kStory}, {"max_tokens", 2}};
    post_json(live, "/v1/messages", body, 200, {{"x-api-key", "sk-one"}});
    post_json(live, "/v1/messages", body, 200, {{"Authorization", "Bearer sk-one"}});
    post_json(live, "/v1/chat/completions", body, 200, {{"x-api-key", "sk-one"}});
    expect_anthropic_error(post_json(live, "/v1/messages", body, 401, {{"x-api-key", "sk-two"}}),
                           "authentication_error", "API key");
    expect_anthropic_error(post_json(live, "/v1/messages", body, 401), "authentication_error",
                           "API key");
}

// ---- tools: a template that lists them (Qwen2.5's), on a random model (qwen_like) ----

const json kAnthropicWeather = {
    {"name", "get_weather"},
    {"description", "Get the weather"},
    {"input_schema", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}};
const json kOpenAiWeather = {
    {"type", "function"},
    {"function",
     {{"name", "get_weather"},
      {"description", "Get the weather"},
      {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}};

TEST(AnthropicTools, ConversationsWithToolsMakeTheSamePromptAsTheirOpenAiTwin) {
    ServerOptions o = default_options();
    o.pool.ctx_size = 2048;
    LiveServer live(o, qwen_like());
    const json anthropic_messages = {
        {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Weather in Paris?"}}}}},
        {{"role", "assistant"},
         {"content",
          {{{"type", "text"}, {"text", "Let me look."}},
           {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "get_weather"}, {"input", {{"city", "Paris"}}}}}}},
        {{"role", "user"},
         {"content",
          {{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "21 C"}},
           {{"type", "text"}, {"text", "And tomorrow?"}}}}}};
    const json openai_messages = {
        {{"role", "system"}, {"content", "Be brief."}},
        {{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"},
         {"content", "Let me look."},
         {"tool_calls",
          {{{"id", "toolu_1"},
            {"type", "function"},
            {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "toolu_1"}, {"content", "21 C"}},
        {{"role", "user"}, {"content", "And tomorrow?"}}};
    json counted = post_json(live, "/v1/messages/count_tokens",
                             {{"system", {{{"type", "text"}, {"text", "Be brief."}}}},
                              {"messages", anthropic_messages},
                              {"tools", {kAnthropicWeather}}});
    json chat = post_json(live, "/v1/chat/completions",
                          {{"messages", openai_messages}, {"tools", {kOpenAiWeather}}, {"max_tokens", 1}});
    EXPECT_EQ(counted["input_tokens"], chat["usage"]["prompt_tokens"]);
    // The rendered prompts themselves agree, token for token: apply-template is the oracle.
    json openai_prompt = post_json(live, "/apply-template",
                                   {{"messages", openai_messages}, {"tools", {kOpenAiWeather}}});
    ojson translated = anthropic_to_openai(
        ojson{{"system", "Be brief."}, {"messages", anthropic_messages}, {"tools", {kAnthropicWeather}}},
        /*counting=*/true);
    json translated_prompt = post_json(live, "/apply-template", json::parse(translated.dump()));
    EXPECT_EQ(translated_prompt["prompt"], openai_prompt["prompt"]);
    // tool_choice none hides the tools, as on the OpenAI route.
    json none = post_json(live, "/v1/messages/count_tokens",
                          {{"messages", anthropic_messages}, {"tools", {kAnthropicWeather}},
                           {"tool_choice", {{"type", "none"}}}});
    json without = post_json(live, "/v1/messages/count_tokens", {{"messages", anthropic_messages}});
    EXPECT_EQ(none["input_tokens"], without["input_tokens"]);
}

TEST(AnthropicTools, AForcedToolComesBackAsToolUseWholeAndStreamed) {
    ServerOptions o = default_options();
    o.pool.ctx_size = 2048;
    LiveServer live(o, qwen_like());
    json body = {{"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
                 {"tools", {kAnthropicWeather}},
                 {"tool_choice", {{"type", "tool"}, {"name", "get_weather"}, {"disable_parallel_tool_use", true}}},
                 {"max_tokens", 300},
                 {"temperature", 0}};
    json m = post_json(live, "/v1/messages", body);
    ASSERT_EQ(m["stop_reason"], "tool_use") << m.dump();
    const json& call = m["content"].back();
    EXPECT_EQ(call["type"], "tool_use");
    EXPECT_EQ(call["name"], "get_weather");
    EXPECT_TRUE(call["input"].is_object());
    EXPECT_EQ(call["id"].get<std::string>().rfind("toolu_", 0), 0u);
    // The OpenAI route, forced the same way, makes the same call (the body written in the
    // order the translation writes it: templates print tools with their keys in order).
    const ojson openai_tool = {
        {"type", "function"},
        {"function",
         {{"name", "get_weather"},
          {"description", "Get the weather"},
          {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}};
    const ojson openai_body = {
        {"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
        {"max_tokens", 300},
        {"temperature", 0},
        {"tools", {openai_tool}},
        {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}},
        {"parallel_tool_calls", false}};
    auto chat_res = live.client().Post("/v1/chat/completions", openai_body.dump(), "application/json");
    ASSERT_TRUE(chat_res);
    json chat = json::parse(chat_res->body);
    ASSERT_TRUE(chat["choices"][0]["message"].contains("tool_calls")) << chat.dump();
    const json& openai_call = chat["choices"][0]["message"]["tool_calls"][0]["function"];
    EXPECT_EQ(call["input"], json::parse(openai_call["arguments"].get<std::string>()));
    EXPECT_EQ(m["usage"]["output_tokens"], chat["usage"]["completion_tokens"]);

    body["stream"] = true;
    auto res = live.client().Post("/v1/messages", body.dump(), "application/json");
    ASSERT_TRUE(res);
    std::string partial_json;
    std::string stop_reason;
    for (const auto& [name, data] : named_events(res->body)) {
        if (name == "content_block_start" && data["content_block"]["type"] == "tool_use")
            EXPECT_EQ(data["content_block"]["name"], "get_weather");
        if (name == "content_block_delta" && data["delta"]["type"] == "input_json_delta")
            partial_json += data["delta"]["partial_json"].get<std::string>();
        if (name == "message_delta") stop_reason = data["delta"]["stop_reason"];
    }
    EXPECT_EQ(json::parse(partial_json), call["input"]);
    EXPECT_EQ(stop_reason, "tool_use");
}

}  // namespace
}  // namespace hearth::server
