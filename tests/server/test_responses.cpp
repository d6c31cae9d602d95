// The Responses API (/v1/responses) over real HTTP, checked against the chat completions
// route for the same conversation, and the SQLite store behind `store` and
// previous_response_id on its own.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "live_server.h"
#include "server/auth.h"
#include "server/generation.h"
#include "server/response_store.h"
#include "server/responses_api.h"

namespace hearth::server {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A fresh path under the temp folder, removed (with its SQLite side files) at the end.
class TempPath {
  public:
    explicit TempPath(const std::string& name)
        : path_(fs::temp_directory_path() /
                ("hearth-" + std::to_string(::getpid()) + "-" + random_id("") + "-" + name)) {}
    ~TempPath() {
        std::error_code ec;
        fs::remove_all(path_, ec);
        for (const char* side : {"-journal", "-wal", "-shm"}) fs::remove(path_.string() + side, ec);
    }
    std::string str() const { return path_.string(); }

  private:
    fs::path path_;
};

const json kWeatherTool = {{"type", "function"},
                           {"name", "get_weather"},
                           {"description", "Weather in a city"},
                           {"parameters",
                            {{"type", "object"},
                             {"properties", {{"city", {{"type", "string"}, {"maxLength", 12}}}}},
                             {"required", {"city"}}}}};

class ResponsesTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        db_ = new TempPath("responses.db");
        ServerOptions o = default_options();
        o.pool.ctx_size = 512;
        o.api_keys = {"key-a", "key-b"};
        o.responses_db = db_->str();
        live_ = new LiveServer(o);
    }
    static void TearDownTestSuite() {
        delete live_;
        delete db_;
    }

    static httplib::Headers auth(const std::string& key) {
        return {{"Authorization", "Bearer " + key}};
    }
    static httplib::Result post(const std::string& path, const json& body,
                                const std::string& key = "key-a") {
        return live_->client().Post(path, auth(key), body.dump(), "application/json");
    }
    static json post_ok(const std::string& path, const json& body, const std::string& key = "key-a") {
        auto res = post(path, body, key);
        EXPECT_TRUE(res) << "no response";
        if (!res) return {};
        EXPECT_EQ(res->status, 200) << res->body;
        return json::parse(res->body);
    }
    static json create(json body, const std::string& key = "key-a") {
        if (!body.contains("temperature")) body["temperature"] = 0;
        return post_ok("/v1/responses", body, key);
    }
    static httplib::Result get(const std::string& id, const std::string& key = "key-a") {
        return live_->client().Get("/v1/responses/" + id, auth(key));
    }
    static httplib::Result del(const std::string& id, const std::string& key = "key-a") {
        return live_->client().Delete("/v1/responses/" + id, auth(key));
    }
    // The OpenAI error shape, with the status, param and (when given) message.
    static void expect_error(const httplib::Result& res, int status, const std::string& param,
                             const std::string& message = {}) {
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, status) << res->body;
        json error = json::parse(res->body)["error"];
        for (const char* key : {"message", "type", "param", "code"})
            EXPECT_TRUE(error.contains(key)) << res->body;
        EXPECT_EQ(error["type"], "invalid_request_error");
        if (param.empty())
            EXPECT_TRUE(error["param"].is_null()) << res->body;
        else
            EXPECT_EQ(error["param"], param) << res->body;
        if (!message.empty()) {
            EXPECT_EQ(error["message"], message);
        }
    }
    // The same conversation through /v1/chat/completions (the oracle).
    static json chat(const json& messages, int max_tokens, json extra = json::object()) {
        json body = {{"messages", messages}, {"max_tokens", max_tokens}, {"temperature", 0}};
        body.update(extra);
        return post_ok("/v1/chat/completions", body);
    }
    // The text of a response's message items.
    static std::string output_text(const json& response) {
        std::string text;
        for (const json& item : response["output"]) {
            if (item["type"] != "message") continue;
            for (const json& part : item["content"]) text += part["text"].get<std::string>();
        }
        return text;
    }

    static TempPath* db_;
    static LiveServer* live_;
};
TempPath* ResponsesTest::db_ = nullptr;
LiveServer* ResponsesTest::live_ = nullptr;

const json kStory = {{{"role", "user"}, {"content", "Once upon a time"}}};

TEST_F(ResponsesTest, PlainResponseHasTheDocumentedShapeAndTheChatRoutesText) {
    json r = create({{"input", "Once upon a time"}, {"max_output_tokens", 24}});
    json oracle = chat(kStory, 24);
    EXPECT_EQ(r["object"], "response");
    EXPECT_EQ(r["id"].get<std::string>().rfind("resp_", 0), 0u);
    EXPECT_EQ(r["model"], "stories260K");
    EXPECT_TRUE(r["created_at"].is_number_integer());
    EXPECT_TRUE(r["error"].is_null());
    EXPECT_EQ(r["store"], true);
    ASSERT_EQ(r["output"].size(), 1u);
    const json& message = r["output"][0];
    EXPECT_EQ(message["type"], "message");
    EXPECT_EQ(message["role"], "assistant");
    EXPECT_EQ(message["id"].get<std::string>().rfind("msg_", 0), 0u);
    ASSERT_EQ(message["content"].size(), 1u);
    EXPECT_EQ(message["content"][0]["type"], "output_text");
    EXPECT_EQ(message["content"][0]["annotations"], json::array());
    EXPECT_EQ(output_text(r), oracle["choices"][0]["message"]["content"]);
    const json& usage = r["usage"];
    EXPECT_EQ(usage["input_tokens"], oracle["usage"]["prompt_tokens"]);
    EXPECT_EQ(usage["output_tokens"], oracle["usage"]["completion_tokens"]);
    EXPECT_EQ(usage["total_tokens"], usage["input_tokens"].get<int>() + usage["output_tokens"].get<int>());
    EXPECT_TRUE(usage["input_tokens_details"]["cached_tokens"].is_number_integer());
    EXPECT_EQ(usage["output_tokens_details"]["reasoning_tokens"], 0);
    // The same under the path routing of the other routes.
    json routed = post_ok("/models/stories260K/v1/responses",
                          {{"input", "Once upon a time"}, {"max_output_tokens", 24}, {"temperature", 0}});
    EXPECT_EQ(output_text(routed), output_text(r));
}

TEST_F(ResponsesTest, MaxOutputTokensEndsIncomplete) {
    json r = create({{"input", "Once upon a time"}, {"max_output_tokens", 5}});
    EXPECT_EQ(r["status"], "incomplete");
    EXPECT_EQ(r["incomplete_details"]["reason"], "max_output_tokens");
    EXPECT_EQ(r["usage"]["output_tokens"], 5);
    EXPECT_EQ(r["max_output_tokens"], 5);
    EXPECT_EQ(r["output"][0]["status"], "incomplete");
}

TEST_F(ResponsesTest, InstructionsAndItemsMakeTheSameConversationAsChatMessages) {
    auto part = [](const char* type, const char* text) { return json{{"type", type}, {"text", text}}; };
    json input = json::array();
    input.push_back({{"type", "message"},
                     {"role", "user"},
                     {"content", json::array({part("input_text", "Once upon"), part("input_text", " a time")})}});
    input.push_back({{"type", "message"},
                     {"role", "assistant"},
                     {"content", json::array({part("output_text", "there was a cat")})}});
    input.push_back({{"role", "developer"}, {"content", "Be short."}});
    input.push_back({{"role", "user"}, {"content", "Then?"}});
    json r = create({{"instructions", "Tell stories."}, {"input", input}, {"max_output_tokens", 8}});
    json oracle = chat({{{"role", "system"}, {"content", "Tell stories."}},
                        {{"role", "user"}, {"content", "Once upon a time"}},
                        {{"role", "assistant"}, {"content", "there was a cat"}},
                        {{"role", "developer"}, {"content", "Be short."}},
                        {{"role", "user"}, {"content", "Then?"}}},
                       8);
    EXPECT_EQ(r["usage"]["input_tokens"], oracle["usage"]["prompt_tokens"]);
    EXPECT_EQ(output_text(r), oracle["choices"][0]["message"]["content"]);
}

// SSE frames "event: TYPE\ndata: JSON", the data's type equal to the event's name.
std::vector<json> named_events(const std::string& body) {
    std::vector<json> out;
    size_t pos = 0;
    while (pos < body.size()) {
        size_t end = body.find("\n\n", pos);
        EXPECT_NE(end, std::string::npos) << "unterminated event";
        if (end == std::string::npos) break;
        std::string frame = body.substr(pos, end - pos);
        pos = end + 2;
        size_t newline = frame.find('\n');
        EXPECT_EQ(frame.rfind("event: ", 0), 0u) << frame;
        EXPECT_EQ(frame.compare(newline + 1, 6, "data: "), 0) << frame;
        json data = json::parse(frame.substr(newline + 7));
        EXPECT_EQ(data["type"], frame.substr(7, newline - 7));
        out.push_back(std::move(data));
    }
    return out;
}

// The sequence OpenAI documents for one text message ("Streaming API responses").
TEST_F(ResponsesTest, StreamFollowsTheDocumentedEventSequence) {
    json body = {{"input", "Once upon a time"}, {"max_output_tokens", 20}, {"temperature", 0}};
    json whole = create(body);
    body["stream"] = true;
    auto res = post("/v1/responses", body);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    std::vector<json> events = named_events(res->body);
    ASSERT_GE(events.size(), 9u);
    for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i]["sequence_number"], i);
    std::vector<std::string> types;
    for (const json& e : events) {
        const std::string t = e["type"];
        if (t != "response.output_text.delta" || types.back() != t) types.push_back(t);
    }
    const std::vector<std::string> expected = {
        "response.created",           "response.in_progress",      "response.output_item.added",
        "response.content_part.added", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done",  "response.output_item.done", "response.incomplete"};
    EXPECT_EQ(types, expected);
    EXPECT_EQ(events[0]["response"]["status"], "in_progress");
    EXPECT_EQ(events[0]["response"]["output"], json::array());
    std::string deltas;
    const std::string item_id = events[2]["item"]["id"];
    for (const json& e : events) {
        if (e["type"] == "response.output_text.delta") {
            deltas += e["delta"].get<std::string>();
            EXPECT_EQ(e["item_id"], item_id);
            EXPECT_EQ(e["output_index"], 0);
            EXPECT_EQ(e["content_index"], 0);
        }
    }
    const json& done = events[events.size() - 4];
    EXPECT_EQ(done["text"], deltas);
    EXPECT_EQ(deltas, output_text(whole));
    const json& final = events.back()["response"];
    EXPECT_EQ(final["status"], "incomplete");
    EXPECT_EQ(output_text(final), deltas);
    EXPECT_EQ(final["usage"]["output_tokens"], 20);
    EXPECT_EQ(final["output"][0]["id"], item_id);
    // A streamed response is stored like any other.
    auto stored = get(final["id"]);
    ASSERT_EQ(stored->status, 200);
    EXPECT_EQ(json::parse(stored->body), final);
}

TEST_F(ResponsesTest, PreviousResponseIdContinuesTheStoredConversation) {
    json first = create({{"input", "Once upon a time"}, {"instructions", "ignored later"}, {"max_output_tokens", 10}});
    json second = create({{"previous_response_id", first["id"]}, {"input", "And then?"}, {"max_output_tokens", 6}});
    EXPECT_EQ(second["previous_response_id"], first["id"]);
    // OpenAI does not carry instructions over: the conversation is the input and output only.
    const json conversation = {{{"role", "user"}, {"content", "Once upon a time"}},
                               {{"role", "assistant"}, {"content", output_text(first)}},
                               {{"role", "user"}, {"content", "And then?"}}};
    json oracle = chat(conversation, 6);
    EXPECT_EQ(second["usage"]["input_tokens"], oracle["usage"]["prompt_tokens"]);
    EXPECT_EQ(output_text(second), oracle["choices"][0]["message"]["content"]);
    // A chain of three.
    json third = create({{"previous_response_id", second["id"]}, {"input", "The end."}, {"max_output_tokens", 4}});
    json longer = conversation;
    longer.push_back({{"role", "assistant"}, {"content", output_text(second)}});
    longer.push_back({{"role", "user"}, {"content", "The end."}});
    EXPECT_EQ(third["usage"]["input_tokens"], chat(longer, 4)["usage"]["prompt_tokens"]);
}

TEST_F(ResponsesTest, GetDeleteAndStoreFalse) {
    json r = create({{"input", "Once upon a time"}, {"max_output_tokens", 4}});
    const std::string id = r["id"];
    auto got = get(id);
    ASSERT_EQ(got->status, 200);
    EXPECT_EQ(json::parse(got->body), r);
    EXPECT_EQ(live_->client().Get("/models/stories260K/v1/responses/" + id, auth("key-a"))->status, 200);
    auto deleted = del(id);
    ASSERT_EQ(deleted->status, 200);
    EXPECT_EQ(json::parse(deleted->body), (json{{"id", id}, {"object", "response"}, {"deleted", true}}));
    expect_error(get(id), 404, "", "Response with id '" + id + "' not found.");
    expect_error(del(id), 404, "");
    expect_error(get("resp_unknown"), 404, "", "Response with id 'resp_unknown' not found.");

    json unstored = create({{"input", "Once upon a time"}, {"max_output_tokens", 4}, {"store", false}});
    EXPECT_EQ(unstored["store"], false);
    expect_error(get(unstored["id"]), 404, "");
    expect_error(post("/v1/responses", {{"previous_response_id", unstored["id"]}, {"input", "x"}}), 404,
                 "previous_response_id");
}

TEST_F(ResponsesTest, AKeyNeverSeesAnotherKeysResponses) {
    json r = create({{"input", "Once upon a time"}, {"max_output_tokens", 4}});
    const std::string id = r["id"];
    const std::string missing = "Response with id '" + id + "' not found.";
    expect_error(get(id, "key-b"), 404, "", missing);
    expect_error(del(id, "key-b"), 404, "", missing);
    expect_error(post("/v1/responses", {{"previous_response_id", id}, {"input", "x"}}, "key-b"), 404,
                 "previous_response_id");
    EXPECT_EQ(get(id, "key-a")->status, 200);  // still there for its own key
    // The key itself is nowhere in the files (the database and its write-ahead log); its id is.
    std::string bytes;
    for (const std::string& name : {db_->str(), db_->str() + "-wal"}) {
        std::ifstream file(name, std::ios::binary);
        bytes.append(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
    EXPECT_EQ(bytes.find("key-a"), std::string::npos);
    EXPECT_NE(bytes.find(ApiKeys::key_id("key-a")), std::string::npos);
}

TEST_F(ResponsesTest, BadRequestsAre400NamingTheField) {
    const std::vector<std::pair<json, std::string>> cases = {
        {json::object(), "input"},
        {{{"input", 42}}, "input"},
        {{{"input", {{{"type", "web_search_call"}, {"id", "ws_1"}}}}}, "input[0].type"},
        {{{"input", {{{"role", "user"}, {"content", {{{"type", "input_image"}, {"image_url", "x"}}}}}}}},
         "input[0].content[0].type"},
        {{{"input", {{{"role", "robot"}, {"content", "hi"}}}}}, "input[0].role"},
        {{{"input", {"hi"}}}, "input[0]"},
        {{{"input", {{{"type", "function_call_output"}, {"output", "x"}}}}}, "input[0].call_id"},
        {{{"input", "hi"}, {"tools", {{{"type", "web_search"}}}}}, "tools[0].type"},
        {{{"input", "hi"}, {"tools", {{{"type", "function"}}}}}, "tools[0].name"},
        {{{"input", "hi"}, {"tools", {kWeatherTool}}, {"tool_choice", {{"type", "web_search_preview"}}}}, "tool_choice"},
        {{{"input", "hi"}, {"tools", {kWeatherTool}}, {"tool_choice", {{"type", "function"}, {"name", "nope"}}}}, "tool_choice"},
        {{{"input", "hi"}, {"text", {{"format", {{"type", "yaml"}}}}}}, "text.format.type"},
        {{{"input", "hi"}, {"text", {{"format", {{"type", "json_schema"}, {"name", "x"}}}}}}, "text.format.schema"},
        {{{"input", "hi"}, {"max_output_tokens", 0}}, "max_output_tokens"},
        {{{"input", "hi"}, {"store", "yes"}}, "store"},
        {{{"input", "hi"}, {"previous_response_id", 7}}, "previous_response_id"},
        {{{"input", "hi"}, {"reasoning", {{"effort", "huge"}}}}, "reasoning.effort"},
        {{{"input", "hi"}, {"background", true}}, "background"},
        {{{"input", "hi"}, {"model", "nope"}}, "model"},
    };
    for (const auto& [body, param] : cases) {
        auto res = post("/v1/responses", body);
        SCOPED_TRACE(body.dump());
        expect_error(res, param == "model" ? 404 : 400, param);
    }
}

TEST_F(ResponsesTest, ForcedFunctionCallAndItsOutputRoundTrip) {
    json r = create({{"input", "Weather in Paris?"},
                     {"tools", {kWeatherTool}},
                     {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}},
                     {"parallel_tool_calls", false},  // one call, then the grammar ends
                     {"max_output_tokens", 200}});
    json call;
    for (const json& item : r["output"])
        if (item["type"] == "function_call") call = item;
    ASSERT_FALSE(call.is_null()) << r.dump();
    EXPECT_EQ(call["name"], "get_weather");
    EXPECT_EQ(call["status"], "completed");
    EXPECT_EQ(call["id"].get<std::string>().rfind("fc_", 0), 0u);
    EXPECT_EQ(call["call_id"].get<std::string>().rfind("call_", 0), 0u);
    EXPECT_TRUE(json::parse(call["arguments"].get<std::string>()).is_object());
    EXPECT_EQ(r["tools"][0]["name"], "get_weather");
    EXPECT_EQ(r["status"], "completed");

    // The call and its output sent back as items mean the chat route's tool call + tool message.
    json input = {{{"role", "user"}, {"content", "Weather in Paris?"}},
                  call,
                  {{"type", "function_call_output"}, {"call_id", call["call_id"]}, {"output", "21 C"}}};
    json next = create({{"input", input}, {"tools", {kWeatherTool}}, {"max_output_tokens", 6}});
    json chat_tool = {{"type", "function"},
                      {"function",
                       {{"name", "get_weather"},
                        {"description", kWeatherTool["description"]},
                        {"parameters", kWeatherTool["parameters"]}}}};
    json oracle = chat({{{"role", "user"}, {"content", "Weather in Paris?"}},
                        {{"role", "assistant"},
                         {"content", ""},
                         {"tool_calls",
                          {{{"id", call["call_id"]},
                            {"type", "function"},
                            {"function", {{"name", "get_weather"}, {"arguments", call["arguments"]}}}}}}},
                        {{"role", "tool"}, {"tool_call_id", call["call_id"]}, {"content", "21 C"}}},
                       6, {{"tools", {chat_tool}}});
    EXPECT_EQ(next["usage"]["input_tokens"], oracle["usage"]["prompt_tokens"]);
    EXPECT_EQ(output_text(next), oracle["choices"][0]["message"]["content"]);

    // Streamed: the call's item, its arguments' delta and done, the item done.
    auto res = post("/v1/responses", {{"input", "Weather in Paris?"},
                                      {"tools", {kWeatherTool}},
                                      {"tool_choice", "required"},
                                      {"parallel_tool_calls", false},
                                      {"max_output_tokens", 200},
                                      {"temperature", 0},
                                      {"stream", true}});
    ASSERT_EQ(res->status, 200);
    std::vector<json> events = named_events(res->body);
    std::string args_delta, args_done;
    for (const json& e : events) {
        if (e["type"] == "response.function_call_arguments.delta") args_delta += e["delta"].get<std::string>();
        if (e["type"] == "response.function_call_arguments.done") args_done = e["arguments"];
    }
    EXPECT_FALSE(args_done.empty()) << res->body;
    EXPECT_EQ(args_delta, args_done);
    EXPECT_EQ(events.back()["type"], "response.completed");
    EXPECT_EQ(events.back()["response"]["output"].back()["arguments"], args_done);
}

TEST_F(ResponsesTest, TextFormatJsonSchemaIsEnforced) {
    json schema = {{"type", "object"},
                   {"properties", {{"name", {{"type", "string"}, {"maxLength", 8}}}}},
                   {"required", {"name"}},
                   {"additionalProperties", false}};
    json r = create({{"input", "Once upon a time"},
                     {"text", {{"format", {{"type", "json_schema"}, {"name", "hero"}, {"schema", schema}, {"strict", true}}}}},
                     {"max_output_tokens", 60}});
    EXPECT_EQ(r["text"]["format"]["name"], "hero");
    json parsed = json::parse(output_text(r), nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << output_text(r);
    ASSERT_TRUE(parsed["name"].is_string());
    EXPECT_EQ(parsed.size(), 1u);
    EXPECT_LE(parsed["name"].get<std::string>().size(), 8u);
}

// stories260K behind a template that leaves a <think> open: the whole reply is reasoning, a
// reasoning item with reasoning_text content. The oracle is the same prompt text sent to
// /v1/completions.
TEST(ResponsesReasoning, ThinkPartBecomesAReasoningItem) {
    ModelEntry entry = stories_entry();
    entry.chat_template = "{{ messages[-1]['content'] }}<think>{# </think> #}";
    LiveServer live(default_options(), entry);
    auto c = live.client();
    auto oracle = c.Post("/v1/completions",
                         json{{"prompt", "Once upon a time<think>"}, {"max_tokens", 20}, {"temperature", 0}}.dump(),
                         "application/json");
    ASSERT_TRUE(oracle);
    const std::string text = json::parse(oracle->body)["choices"][0]["text"];
    ASSERT_FALSE(text.empty());
    json body = {{"input", "Once upon a time"}, {"max_output_tokens", 20}, {"temperature", 0}};
    auto res = c.Post("/v1/responses", body.dump(), "application/json");
    ASSERT_EQ(res->status, 200) << res->body;
    json r = json::parse(res->body);
    ASSERT_EQ(r["output"].size(), 1u) << r.dump();
    const json& item = r["output"][0];
    EXPECT_EQ(item["type"], "reasoning");
    EXPECT_EQ(item["id"].get<std::string>().rfind("rs_", 0), 0u);
    EXPECT_EQ(item["summary"], json::array());
    EXPECT_EQ(item["content"], json::array({{{"type", "reasoning_text"}, {"text", text}}}));

    body["stream"] = true;
    auto streamed = c.Post("/v1/responses", body.dump(), "application/json");
    ASSERT_EQ(streamed->status, 200);
    std::vector<std::string> types;
    std::string deltas;
    json last;
    for (const json& e : named_events(streamed->body)) {
        const std::string t = e["type"];
        if (t == "response.reasoning_text.delta") deltas += e["delta"].get<std::string>();
        if (t != "response.reasoning_text.delta" || types.back() != t) types.push_back(t);
        last = e;
    }
    const std::vector<std::string> expected = {
        "response.created",           "response.in_progress",         "response.output_item.added",
        "response.content_part.added", "response.reasoning_text.delta", "response.reasoning_text.done",
        "response.content_part.done",  "response.output_item.done",    "response.incomplete"};
    EXPECT_EQ(types, expected);
    EXPECT_EQ(deltas, text);
    ASSERT_EQ(last["response"]["output"].size(), 1u);
    EXPECT_EQ(last["response"]["output"][0]["content"], item["content"]);
}

// The translation alone, against the chat messages written out by hand: a reasoning item rides
// on the next assistant turn, calls join the assistant message before them, outputs become
// tool messages, and the stored history comes after the instructions and before the input.
TEST(ResponsesTranslation, ItemsBecomeChatMessages) {
    using ojson = nlohmann::ordered_json;
    const ojson history = ojson::parse(R"([
        {"type": "message", "role": "user", "content": "Weather?"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "ask the tool"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
    ])");
    const ojson body = ojson::parse(R"({
        "model": "m", "instructions": "Be brief.", "max_output_tokens": 9, "temperature": 0.5,
        "input": [{"type": "function_call_output", "call_id": "call_1", "output": "21 C"},
                  {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "now answer"}], "summary": []},
                  {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"}],
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}}
    })");
    ResponsesTranslation t = responses_to_openai(body, history);
    const ojson expected = ojson::parse(R"({
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."}], "reasoning_content": "ask the tool",
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
            {"role": "assistant", "content": "", "reasoning_content": "now answer",
             "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}
        ],
        "max_tokens": 9,
        "temperature": 0.5,
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}, "strict": true}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}}
    })");
    EXPECT_EQ(t.chat_body, expected) << t.chat_body.dump(1);
    // What is stored for the next turn: the history, then this input as sent.
    ASSERT_EQ(t.items.size(), 7u);
    EXPECT_EQ(t.items[4], body["input"][0]);
}

// ---- the store alone ----

StoredResponse stored(const std::string& id, const std::string& key, int64_t created_at) {
    return {id, key, created_at, "[]", "[]", json{{"id", id}}.dump()};
}

TEST(ResponseStore, KeepsEachKeysRowsApartAndSurvivesAReopen) {
    TempPath path("store.db");
    {
        ResponseStore store(path.str(), {});
        store.put(stored("resp_1", "a", unix_time()));
        EXPECT_TRUE(store.get("resp_1", "a"));
        EXPECT_FALSE(store.get("resp_1", "b"));
        EXPECT_FALSE(store.remove("resp_1", "b"));
    }
    ResponseStore reopened(path.str(), {});
    auto row = reopened.get("resp_1", "a");
    ASSERT_TRUE(row);
    EXPECT_EQ(row->response, R"({"id":"resp_1"})");
    EXPECT_TRUE(reopened.remove("resp_1", "a"));
    EXPECT_FALSE(reopened.get("resp_1", "a"));
}

TEST(ResponseStore, CountBoundDropsTheOldest) {
    ResponseStore store("", {.max_age_seconds = 3600, .max_count = 3});
    const int64_t now = unix_time();
    for (int i = 0; i < 5; ++i) store.put(stored("resp_" + std::to_string(i), "k", now - 50 + i));
    EXPECT_EQ(store.count(), 3);
    EXPECT_FALSE(store.get("resp_0", "k"));
    EXPECT_FALSE(store.get("resp_1", "k"));
    for (int i = 2; i < 5; ++i) EXPECT_TRUE(store.get("resp_" + std::to_string(i), "k"));
}

TEST(ResponseStore, AgeBoundHidesAndThenDeletesExpiredRows) {
    ResponseStore store("", {.max_age_seconds = 100, .max_count = 10});
    const int64_t now = unix_time();
    store.put(stored("resp_old", "k", now - 1000));  // deleted by its own write
    EXPECT_EQ(store.count(), 0);
    store.put(stored("resp_edge", "k", now - 90));
    EXPECT_TRUE(store.get("resp_edge", "k"));
    ResponseStore strict("", {.max_age_seconds = 0, .max_count = 10});
    strict.put(stored("resp_new", "k", now - 5));
    EXPECT_FALSE(strict.get("resp_new", "k"));
}

TEST(ResponseStore, CorruptOrUnwritableFileIsAClearError) {
    TempPath corrupt("corrupt.db");
    {
        std::ofstream out(corrupt.str(), std::ios::binary);
        for (int i = 0; i < 200; ++i) out << "this is not an SQLite database. ";
    }
    try {
        ResponseStore store(corrupt.str(), {});
        FAIL() << "a corrupt file was opened";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(corrupt.str()), std::string::npos) << what;
        EXPECT_NE(what.find("not a database"), std::string::npos) << what;
        EXPECT_NE(what.find("--responses-db"), std::string::npos) << what;
    }
    TempPath folder("folder");
    fs::create_directories(folder.str());
    try {
        ResponseStore store(folder.str(), {});  // a directory, not a file
        FAIL() << "a directory was opened as the store";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--responses-db"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace hearth::server
