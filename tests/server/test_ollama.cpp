// Ollama's API (/api/*) over real HTTP: each route's shape, NDJSON framing, the options mapped
// (checked against the OpenAI routes and the single-sequence oracle, which are independent of
// the translation), keep_alive through the pool, pull from a fake hub, and errors as
// {"error": "..."}.
#include <gtest/gtest.h>

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

#include "fake_hub.h"
#include "live_server.h"
#include "server/ollama_api.h"
#include "synthetic_with_vocab.h"

namespace hearth::server {
namespace {

using nlohmann::json;

class Ollama : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        live_ = new LiveServer(default_options());
        oracle_ = new testing::Oracle();
    }
    static void TearDownTestSuite() {
        delete live_;
        delete oracle_;
    }
    static httplib::Result post(const std::string& path, const json& body) {
        return live_->client().Post(path, body.dump(), "application/json");
    }
    static json post_ok(const std::string& path, const json& body) {
        auto res = post(path, body);
        EXPECT_TRUE(res) << "no response";
        if (!res) return {};
        EXPECT_EQ(res->status, 200) << res->body;
        return json::parse(res->body);
    }
    static json get_ok(const std::string& path) {
        auto res = live_->client().Get(path);
        EXPECT_TRUE(res);
        if (!res) return {};
        EXPECT_EQ(res->status, 200) << res->body;
        return json::parse(res->body);
    }
    // Ollama's error shape: {"error": "message"} and nothing else; the message contains `says`.
    static void expect_error(const httplib::Result& res, int status, const std::string& says) {
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, status) << res->body;
        json body = json::parse(res->body);
        ASSERT_TRUE(body.is_object());
        EXPECT_EQ(body.size(), 1u) << res->body;
        ASSERT_TRUE(body["error"].is_string()) << res->body;
        EXPECT_NE(body["error"].get<std::string>().find(says), std::string::npos) << res->body;
    }

    static LiveServer* live_;
    static testing::Oracle* oracle_;
};
LiveServer* Ollama::live_ = nullptr;
testing::Oracle* Ollama::oracle_ = nullptr;

// Each line of an NDJSON body, parsed; a line that is not one JSON object fails the test.
std::vector<json> ndjson_lines(const std::string& body) {
    std::vector<json> out;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
        EXPECT_FALSE(line.empty()) << "blank line in the stream";
        json object = json::parse(line, nullptr, false);
        EXPECT_TRUE(object.is_object()) << line;
        out.push_back(object);
    }
    EXPECT_FALSE(body.empty());
    EXPECT_EQ(body.back(), '\n');
    return out;
}

// The parts of a stream concatenated, after checking that only the last object is done.
std::string streamed_text(const std::vector<json>& lines, const char* field) {
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) {
        EXPECT_EQ(lines[i]["done"], i + 1 == lines.size()) << lines[i];
        const json& part = std::string(field) == "message" ? lines[i]["message"]["content"]
                                                           : lines[i]["response"];
        text += part.get<std::string>();
    }
    return text;
}

TEST_F(Ollama, GenerateIsTheChatTemplatedPromptAndCountsItsTokens) {
    const std::string prompt = "Once upon a time";
    json r = post_ok("/api/generate", {{"model", "stories260K"},
                                       {"prompt", prompt},
                                       {"stream", false},
                                       {"options", {{"temperature", 0}, {"num_predict", 30}}}});
    const auto want = oracle_->run_text(prompt, 30);
    EXPECT_EQ(r["response"], want.text);
    EXPECT_EQ(r["model"], "stories260K");
    EXPECT_EQ(r["done"], true);
    EXPECT_EQ(r["done_reason"], runtime::finish_reason_name(want.finish));
    EXPECT_EQ(r["eval_count"], want.tokens.size());
    EXPECT_EQ(r["prompt_eval_count"], oracle_->tok->encode(prompt, true, false).size());
    for (const char* d : {"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"})
        EXPECT_TRUE(r[d].is_number_integer() && r[d].get<int64_t>() >= 0) << d << r;
    EXPECT_GT(r["total_duration"].get<int64_t>(), 0);
    EXPECT_GE(r["total_duration"].get<int64_t>(), r["eval_duration"].get<int64_t>());
    // created_at is RFC 3339 in UTC: 2026-01-02T03:04:05.123456789Z
    const std::string created = r["created_at"];
    EXPECT_EQ(created.size(), 30u) << created;
    EXPECT_EQ(created.back(), 'Z');
    EXPECT_EQ(created[10], 'T');
}

TEST_F(Ollama, GenerateStreamsNdjsonWithTheSameText) {
    json body = {{"model", "stories"},
                 {"prompt", "The little dog"},
                 {"options", {{"temperature", 0}, {"num_predict", 20}}}};
    auto res = post("/api/generate", body);  // stream is the default
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/x-ndjson");
    auto lines = ndjson_lines(res->body);
    ASSERT_GE(lines.size(), 2u);
    EXPECT_EQ(streamed_text(lines, "response"), oracle_->run_text("The little dog", 20).text);
    const json& last = lines.back();
    EXPECT_EQ(last["done_reason"], "length");
    EXPECT_EQ(last["eval_count"], 20);
    EXPECT_EQ(last["model"], "stories");  // the name the client used
}

// The same sampling through /v1/chat/completions is the oracle: seed, temperature, top_k,
// top_p, min_p, penalties and stop must all reach the sampler the same way.
TEST_F(Ollama, ChatOptionsSampleAsTheOpenAiFieldsDo) {
    json messages = {{{"role", "user"}, {"content", "Once upon a time"}}};
    json openai = post_ok("/v1/chat/completions",
                          {{"model", "stories260K"},
                           {"messages", messages},
                           {"max_tokens", 40},
                           {"temperature", 0.9},
                           {"top_k", 20},
                           {"top_p", 0.9},
                           {"min_p", 0.05},
                           {"repeat_penalty", 1.1},
                           {"presence_penalty", 0.3},
                           {"frequency_penalty", 0.2},
                           {"seed", 1234},
                           {"stop", {"Lily"}}});
    json options = {{"temperature", 0.9},   {"top_k", 20},        {"top_p", 0.9},
                    {"min_p", 0.05},        {"repeat_penalty", 1.1}, {"presence_penalty", 0.3},
                    {"frequency_penalty", 0.2}, {"seed", 1234},   {"num_predict", 40},
                    {"stop", {"Lily"}},     {"num_ctx", 4096}};
    json whole = post_ok("/api/chat", {{"model", "stories260K"},
                                       {"messages", messages},
                                       {"stream", false},
                                       {"options", options}});
    const std::string want = openai["choices"][0]["message"]["content"];
    EXPECT_EQ(whole["message"]["role"], "assistant");
    EXPECT_EQ(whole["message"]["content"], want);
    EXPECT_EQ(whole["eval_count"], openai["usage"]["completion_tokens"]);
    EXPECT_EQ(whole["prompt_eval_count"], openai["usage"]["prompt_tokens"]);
    const std::string finish = openai["choices"][0]["finish_reason"];
    EXPECT_EQ(whole["done_reason"], finish);

    auto res = post("/api/chat", {{"model", "stories260K"}, {"messages", messages}, {"options", options}});
    ASSERT_TRUE(res);
    EXPECT_EQ(streamed_text(ndjson_lines(res->body), "message"), want);

    // A different seed samples differently (so the equality above says something).
    options["seed"] = 99;
    json other = post_ok("/api/chat", {{"model", "stories260K"},
                                       {"messages", messages},
                                       {"stream", false},
                                       {"options", options}});
    EXPECT_NE(other["message"]["content"], want);
}

TEST_F(Ollama, RawGenerateIsTheCompletionsPrompt) {
    json openai = post_ok("/v1/completions", {{"prompt", "Tom had"}, {"max_tokens", 15},
                                              {"temperature", 0.7}, {"seed", 5}});
    json r = post_ok("/api/generate", {{"model", "stories260K"},
                                       {"prompt", "Tom had"},
                                       {"raw", true},
                                       {"stream", false},
                                       {"options", {{"temperature", 0.7}, {"seed", 5}, {"num_predict", 15}}}});
    EXPECT_EQ(r["response"], openai["choices"][0]["text"]);
}

TEST_F(Ollama, FormatJsonAndSchemaGiveParsableObjects) {
    json schema = {{"type", "object"},
                   {"properties", {{"ok", {{"type", "boolean"}}}}},
                   {"required", {"ok"}}};
    json r = post_ok("/api/generate", {{"model", "stories260K"},
                                       {"prompt", "Once upon a time"},
                                       {"stream", false},
                                       {"format", schema},
                                       {"options", {{"temperature", 0}, {"num_predict", 60}}}});
    ASSERT_EQ(r["done_reason"], "stop") << r;
    json parsed = json::parse(r["response"].get<std::string>());
    ASSERT_TRUE(parsed.is_object()) << r;
    EXPECT_TRUE(parsed["ok"].is_boolean()) << r;

    json any = post_ok("/api/chat", {{"model", "stories260K"},
                                     {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                     {"stream", false},
                                     {"format", "json"},
                                     {"options", {{"temperature", 0}, {"num_predict", 100}}}});
    if (any["done_reason"] == "stop")
        EXPECT_TRUE(json::parse(any["message"]["content"].get<std::string>()).is_object()) << any;
    else  // cut at num_predict: still the start of an object
        EXPECT_EQ(any["message"]["content"].get<std::string>().rfind('{', 0), 0u) << any;
}

TEST_F(Ollama, ModelNamesAndTags) {
    // name:latest is the name; another tag is not quietly another model.
    json r = post_ok("/api/generate", {{"model", "stories260K:latest"},
                                       {"prompt", "Once"},
                                       {"stream", false},
                                       {"options", {{"num_predict", 2}}}});
    EXPECT_EQ(r["model"], "stories260K:latest");
    expect_error(post("/api/generate", {{"model", "stories260K:7b"}, {"prompt", "Once"}}), 404,
                 "stories260K:7b");
    expect_error(post("/api/chat", {{"model", "nope"}, {"messages", json::array()}}), 404, "nope");
}

TEST_F(Ollama, BadInputIsAnErrorObject) {
    auto c = live_->client();
    expect_error(c.Post("/api/chat", "{not json", "application/json"), 400, "not valid JSON");
    expect_error(post("/api/generate", {{"prompt", "x"}}), 400, "model");
    json base = {{"model", "stories260K"}, {"prompt", "Once"}};
    auto with = [&](const char* key, json value) {
        json b = base;
        b[key] = std::move(value);
        return post("/api/generate", b);
    };
    expect_error(with("options", {{"temperature", "hot"}}), 400, "options.temperature");
    expect_error(with("options", {{"top_k", 2.5}}), 400, "options.top_k");
    expect_error(with("options", {{"num_predict", 0}}), 400, "options.num_predict");
    expect_error(with("options", {{"num_ctx", "big"}}), 400, "options.num_ctx");
    expect_error(with("options", {{"temperature", 9}}), 400, "temperature");
    expect_error(with("options", json::array()), 400, "options");
    expect_error(with("format", "yaml"), 400, "format");
    expect_error(with("keep_alive", "soon"), 400, "keep_alive");
    expect_error(with("stream", "yes"), 400, "stream");
    expect_error(with("images", {"aGVsbG8="}), 400, "images");
    expect_error(with("think", "very"), 400, "think");
    expect_error(post("/api/chat", {{"model", "stories260K"}, {"messages", {{{"content", "x"}}}}}),
                 400, "role");
    expect_error(post("/api/show", {{"model", "nope"}}), 404, "nope");
    expect_error(post("/api/embed", {{"model", "stories260K"}, {"input", "x"}}), 400,
                 "cannot produce embeddings");
    expect_error(c.Get("/api/chat"), 405, "POST");
    // The server still answers.
    post_ok("/api/generate", {{"model", "stories260K"}, {"prompt", "Once"}, {"stream", false},
                              {"options", {{"num_predict", 1}}}});
}

TEST_F(Ollama, TagsShowAndVersion) {
    json tags = get_ok("/api/tags");
    ASSERT_EQ(tags["models"].size(), 1u);
    const json& m = tags["models"][0];
    EXPECT_EQ(m["name"], "stories260K");
    EXPECT_EQ(m["model"], "stories260K");
    EXPECT_EQ(m["size"], std::filesystem::file_size(testing::stories_path()));
    EXPECT_EQ(m["digest"].get<std::string>().size(), 64u);
    EXPECT_EQ(m["details"]["format"], "gguf");
    EXPECT_EQ(m["details"]["family"], "llama");
    // 292,800 elements in its 48 tensors (summed by a separate Python read of the header; the
    // reference engine prints "292.80 K"), written as Ollama writes sizes.
    EXPECT_EQ(m["details"]["parameter_size"], "293K");

    json show = post_ok("/api/show", {{"model", "stories"}});
    EXPECT_EQ(show["details"]["family"], "llama");
    EXPECT_EQ(show["model_info"]["general.architecture"], "llama");
    EXPECT_EQ(show["capabilities"], json({"completion"}));
    EXPECT_TRUE(show["template"].is_string());

    json version = get_ok("/api/version");
    EXPECT_EQ(version["version"], kOllamaApiVersion);
}

TEST(OllamaKeepAlive, DurationsParseAsOllamaReadsThem) {
    EXPECT_EQ(parse_keep_alive(json("5m")), 300000);
    EXPECT_EQ(parse_keep_alive(json("1h30m")), 5400000);
    EXPECT_EQ(parse_keep_alive(json("300ms")), 300);
    EXPECT_EQ(parse_keep_alive(json("1.5s")), 1500);
    EXPECT_EQ(parse_keep_alive(json(30)), 30000);
    EXPECT_EQ(parse_keep_alive(json(0)), 0);
    EXPECT_EQ(parse_keep_alive(json("0")), 0);
    EXPECT_EQ(parse_keep_alive(json(-1)), LoadedModel::kKeepForever);
    EXPECT_EQ(parse_keep_alive(json("-1m")), LoadedModel::kKeepForever);
    for (json bad : {json("5 minutes"), json("m"), json(""), json("5x"), json(true), json::array()})
        EXPECT_THROW(parse_keep_alive(bad), ApiError) << bad;
}

// Seconds from now to an RFC 3339 UTC time (ollama_time's format).
double seconds_until(const std::string& rfc3339) {
    std::tm tm{};
    std::istringstream in(rfc3339.substr(0, 19));
    in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
    const auto t = std::chrono::system_clock::from_time_t(timegm(&tm));
    return std::chrono::duration<double>(t - std::chrono::system_clock::now()).count();
}

TEST(OllamaKeepAlive, LoadKeepAndUnloadThroughPs) {
    LiveServer live(default_options());
    auto c = live.client();
    auto ps = [&] { return json::parse(c.Get("/api/ps")->body)["models"]; };
    EXPECT_TRUE(ps().empty());
    // An empty prompt only loads the model.
    json load = json::parse(
        c.Post("/api/generate", json({{"model", "stories260K"}, {"keep_alive", "5m"}}).dump(),
               "application/json")->body);
    EXPECT_EQ(load["done"], true);
    EXPECT_EQ(load["done_reason"], "load");
    json models = ps();
    ASSERT_EQ(models.size(), 1u);
    EXPECT_EQ(models[0]["name"], "stories260K");
    EXPECT_GT(models[0]["size"].get<uint64_t>(), 0u);
    const double left = seconds_until(models[0]["expires_at"]);
    EXPECT_GT(left, 290);
    EXPECT_LT(left, 310);
    // Negative: kept loaded (a far-future expiry).
    c.Post("/api/chat", json({{"model", "stories260K"}, {"messages", json::array()}, {"keep_alive", -1}}).dump(),
           "application/json");
    EXPECT_GT(seconds_until(ps()[0]["expires_at"]), 100.0 * 365 * 24 * 3600);
    // 0 on a generation: unloaded right after it.
    json r = json::parse(c.Post("/api/generate",
                                json({{"model", "stories260K"}, {"prompt", "Once"}, {"stream", false},
                                      {"keep_alive", 0}, {"options", {{"num_predict", 3}}}}).dump(),
                                "application/json")->body);
    EXPECT_EQ(r["eval_count"], 3);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!ps().empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(ps().empty());
    // An empty prompt with 0 unloads at once, without loading first.
    c.Post("/api/generate", json({{"model", "stories260K"}, {"keep_alive", "1m"}}).dump(), "application/json");
    ASSERT_EQ(ps().size(), 1u);
    json unload = json::parse(
        c.Post("/api/generate", json({{"model", "stories260K"}, {"keep_alive", 0}}).dump(),
               "application/json")->body);
    EXPECT_EQ(unload["done_reason"], "unload");
    EXPECT_TRUE(ps().empty());
}

TEST(OllamaEmbed, EmbedAndLegacyEmbeddingsEqualTheOpenAiRoute) {
    ModelEntry bge;
    bge.name = "bge";
    bge.path = synthetic_model_file_with_vocab("bert", "bert-bge");
    LiveServer live(default_options(), bge);
    auto c = live.client();
    auto post = [&](const std::string& path, const json& body) {
        auto res = c.Post(path, body.dump(), "application/json");
        EXPECT_EQ(res->status, 200) << res->body;
        return json::parse(res->body);
    };
    json openai = post("/v1/embeddings", {{"model", "bge"}, {"input", {"hello world", "a cat"}}});
    json embed = post("/api/embed", {{"model", "bge"}, {"input", {"hello world", "a cat"}}});
    ASSERT_EQ(embed["embeddings"].size(), 2u);
    EXPECT_EQ(embed["embeddings"][0], openai["data"][0]["embedding"]);
    EXPECT_EQ(embed["embeddings"][1], openai["data"][1]["embedding"]);
    EXPECT_EQ(embed["prompt_eval_count"], openai["usage"]["prompt_tokens"]);
    json one = post("/api/embed", {{"model", "bge"}, {"input", "a cat"}});
    EXPECT_EQ(one["embeddings"][0], openai["data"][1]["embedding"]);
    json legacy = post("/api/embeddings", {{"model", "bge"}, {"prompt", "a cat"}});
    EXPECT_EQ(legacy["embedding"], openai["data"][1]["embedding"]);
    auto bad = c.Post("/api/embed", json({{"model", "bge"}, {"input", {1, 2}}}).dump(), "application/json");
    EXPECT_EQ(bad->status, 400);
    EXPECT_TRUE(json::parse(bad->body)["error"].is_string());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

TEST(OllamaPull, StreamsProgressInstallsAndServesTheModel) {
    fake::FakeHub hub;
    fake::FakeRepo repo;
    const std::string bytes = read_file(testing::stories_path());
    repo.files["tiny-Q8_0.gguf"] = {bytes, ""};
    hub.add_repo("someone/tiny-GGUF", repo);
    setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
    const auto dir = std::filesystem::temp_directory_path() /
                     ("hearth-ollama-pull-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    ServerOptions options = default_options();
    options.models_dir = dir.string();
    LiveServer live(options);
    auto c = live.client();

    auto res = c.Post("/api/pull", json({{"model", "someone/tiny-GGUF/tiny-Q8_0.gguf"}}).dump(),
                      "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    auto lines = ndjson_lines(res->body);
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines.front()["status"], "pulling manifest");
    EXPECT_EQ(lines.back(), json({{"status", "success"}}));
    const std::string sha = fake::sha256_hex(bytes);
    bool complete = false;
    for (const json& line : lines) {
        if (!line.contains("digest")) continue;
        EXPECT_EQ(line["digest"], "sha256:" + sha);
        EXPECT_EQ(line["total"], bytes.size());
        EXPECT_LE(line["completed"].get<uint64_t>(), bytes.size());
        complete |= line["completed"] == bytes.size();
    }
    EXPECT_TRUE(complete) << res->body;

    // The pool serves it now, under the name `hearth pull` gives it.
    json tags = json::parse(c.Get("/api/tags")->body);
    std::string name;
    for (const json& m : tags["models"]) {
        if (m["name"] != "stories260K") name = m["name"];
    }
    ASSERT_FALSE(name.empty()) << tags;
    json r = json::parse(c.Post("/api/generate",
                                json({{"model", name}, {"prompt", "Once upon a time"}, {"stream", false},
                                      {"options", {{"temperature", 0}, {"num_predict", 12}}}}).dump(),
                                "application/json")->body);
    testing::Oracle oracle;
    EXPECT_EQ(r["response"], oracle.run_text("Once upon a time", 12).text);

    // Not on the hub: the stream ends with an error object; without streaming, a 500.
    auto missing = c.Post("/api/pull", json({{"model", "someone/absent-GGUF"}}).dump(), "application/json");
    auto missing_lines = ndjson_lines(missing->body);
    EXPECT_TRUE(missing_lines.back()["error"].is_string()) << missing->body;
    auto whole = c.Post("/api/pull", json({{"model", "someone/absent-GGUF"}, {"stream", false}}).dump(),
                        "application/json");
    EXPECT_GE(whole->status, 400);
    EXPECT_TRUE(json::parse(whole->body)["error"].is_string());
    unsetenv("HF_ENDPOINT");
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hearth::server

namespace hearth::server {
namespace {

// The translation, against the OpenAI body written out by hand from both APIs' documentation.
TEST(OllamaTranslation, MessagesToolsAndOptionsBecomeTheOpenAiBody) {
    nlohmann::ordered_json body = nlohmann::ordered_json::parse(R"({
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": "", "thinking": "call the tool",
             "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "content": "22C", "tool_name": "get_weather"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "format": "json",
        "think": false,
        "stream": false,
        "options": {"num_predict": -1, "num_ctx": 8192, "top_k": 5, "stop": ["\n\n"], "mirostat": 2}
    })");
    bool chat = false;
    nlohmann::ordered_json out = ollama_to_openai(body, /*is_chat_route=*/true, chat);
    EXPECT_TRUE(chat);
    nlohmann::ordered_json want = nlohmann::ordered_json::parse(R"({
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": "", "reasoning_content": "call the tool",
             "tool_calls": [{"id": "call_2_0", "type": "function",
                             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "content": "22C", "name": "get_weather"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "top_k": 5,
        "stop": ["\n\n"],
        "response_format": {"type": "json_object"},
        "chat_template_kwargs": {"enable_thinking": false},
        "stream": false
    })");
    EXPECT_EQ(out, want) << out.dump(2);
    // The body the one reader accepts.
    GenerationRequest r = read_generation_request(out, true, RequestLimits{});
    EXPECT_EQ(r.tool_count, 1u);
    EXPECT_TRUE(r.json_object);
    EXPECT_FALSE(r.max_tokens.has_value());

    nlohmann::ordered_json generate = {{"model", "m"}, {"prompt", "hi"}, {"system", "sys"},
                                       {"options", {{"num_predict", 7}}}};
    out = ollama_to_openai(generate, false, chat);
    EXPECT_TRUE(chat);
    EXPECT_EQ(out["messages"], nlohmann::ordered_json::parse(
                                   R"([{"role":"system","content":"sys"},{"role":"user","content":"hi"}])"));
    EXPECT_EQ(out["max_tokens"], 7);
    EXPECT_EQ(out["stream"], true);
    generate["raw"] = true;
    out = ollama_to_openai(generate, false, chat);
    EXPECT_FALSE(chat);
    EXPECT_EQ(out["prompt"], "hi");
    EXPECT_FALSE(out.contains("messages"));
}

}  // namespace
}  // namespace hearth::server

namespace hearth::server {
namespace {

// stories260K behind a template that opens a <think> block unless enable_thinking is false:
// with think true the whole reply is message.thinking (thinking on generate), with think false
// it is all content. The oracle is the same prompt text sent to /v1/completions.
TEST(OllamaThink, ThinkOpensTheReasoningAndItComesBackAsThinking) {
    ModelEntry entry = stories_entry();
    entry.chat_template =
        "{{ messages[-1]['content'] }}{% if enable_thinking is not defined or enable_thinking %}"
        "<think>{% endif %}{# </think> #}";
    LiveServer live(default_options(), entry);
    auto c = live.client();
    auto post = [&](const std::string& path, const json& body) {
        auto res = c.Post(path, body.dump(), "application/json");
        EXPECT_EQ(res->status, 200) << res->body;
        return res->body;
    };
    auto completion = [&](const std::string& prompt) {
        return json::parse(post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 20},
                                                    {"temperature", 0}}))["choices"][0]["text"]
            .get<std::string>();
    };
    const std::string thought = completion("Once upon a time<think>");
    const std::string said = completion("Once upon a time");
    ASSERT_FALSE(thought.empty());
    json options = {{"temperature", 0}, {"num_predict", 20}};
    json messages = {{{"role", "user"}, {"content", "Once upon a time"}}};
    json on = json::parse(post("/api/chat", {{"model", "stories260K"}, {"messages", messages},
                                             {"think", true}, {"stream", false}, {"options", options}}));
    EXPECT_EQ(on["message"]["thinking"], thought);
    EXPECT_EQ(on["message"]["content"], "");
    json off = json::parse(post("/api/chat", {{"model", "stories260K"}, {"messages", messages},
                                              {"think", false}, {"stream", false}, {"options", options}}));
    EXPECT_FALSE(off["message"].contains("thinking"));
    EXPECT_EQ(off["message"]["content"], said);
    // Streamed generate: the thinking arrives in `thinking` pieces.
    std::string streamed;
    std::istringstream lines(post("/api/generate", {{"model", "stories260K"}, {"prompt", "Once upon a time"},
                                                    {"think", true}, {"options", options}}));
    for (std::string line; std::getline(lines, line);) {
        json piece = json::parse(line);
        EXPECT_EQ(piece["response"], "") << line;
        if (piece.contains("thinking")) streamed += piece["thinking"].get<std::string>();
    }
    EXPECT_EQ(streamed, thought);
}

}  // namespace
}  // namespace hearth::server

namespace hearth::server {
namespace {

// A conversation with a past call and its result, in Ollama's shape and in OpenAI's: the same
// prompt (apply-template on the OpenAI twin is the oracle; /api/chat's prompt_eval_count must
// be its token count).
TEST(OllamaTools, PastCallsAndResultsMakeTheSamePromptAsTheOpenAiTwin) {
    ServerOptions o = default_options();
    o.pool.ctx_size = 2048;
    LiveServer live(o, qwen_like());
    auto c = live.client();
    auto post = [&](const std::string& path, const json& body) {
        auto res = c.Post(path, body.dump(), "application/json");
        EXPECT_EQ(res->status, 200) << res->body;
        return json::parse(res->body);
    };
    const json tool = {{"type", "function"},
                       {"function",
                        {{"name", "get_weather"},
                         {"description", "Get the weather"},
                         {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}};
    const json ollama_messages = {
        {{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"}, {"content", ""},
         {"tool_calls", {{{"function", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}}}}},
        {{"role", "tool"}, {"content", "21 C"}, {"tool_name", "get_weather"}},
        {{"role", "user"}, {"content", "And tomorrow?"}}};
    const json openai_messages = {
        {{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"}, {"content", ""},
         {"tool_calls", {{{"id", "call_1"}, {"type", "function"},
                          {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "21 C"}},
        {{"role", "user"}, {"content", "And tomorrow?"}}};
    json want = post("/apply-template", {{"messages", openai_messages}, {"tools", {tool}}});
    bool chat = false;
    nlohmann::ordered_json translated = ollama_to_openai(
        nlohmann::ordered_json::parse(json({{"model", "qwen-like"}, {"messages", ollama_messages},
                                            {"tools", {tool}}}).dump()),
        true, chat);
    json got = post("/apply-template", json::parse(translated.dump()));
    EXPECT_EQ(got["prompt"], want["prompt"]);
    EXPECT_NE(want["prompt"].get<std::string>().find("21 C"), std::string::npos);
    json openai = post("/v1/chat/completions", {{"messages", openai_messages}, {"tools", {tool}}, {"max_tokens", 1}});
    json r = post("/api/chat", {{"model", "qwen-like"}, {"messages", ollama_messages}, {"tools", {tool}},
                                {"stream", false}, {"options", {{"num_predict", 1}}}});
    EXPECT_EQ(r["prompt_eval_count"], openai["usage"]["prompt_tokens"]);
}

}  // namespace
}  // namespace hearth::server
