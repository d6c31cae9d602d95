// The server over real HTTP on loopback: routes, errors, auth, SSE framing, and the batched
// output checked against the single-sequence oracle.
#include <gtest/gtest.h>

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "live_server.h"
#include "server/cors.h"
#include "live_server.h"
#include "server/server.h"
#include "live_server.h"
#include "synthetic_with_vocab.h"
#include "test_helpers.h"

namespace hearth::server {
namespace {

using nlohmann::json;

class ServerTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        live_ = new LiveServer(default_options(), stories_entry());
        oracle_ = new testing::Oracle();
    }
    static void TearDownTestSuite() {
        delete live_;
        delete oracle_;
    }

    static httplib::Result post(const std::string& path, const json& body) {
        return live_->post(path, body);
    }
    static json post_ok(const std::string& path, const json& body) {
        return ok_json(post(path, body));
    }
    static void expect_error(const httplib::Result& res, int status, const std::string& code = {}) {
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, status) << res->body;
        json body = json::parse(res->body);
        ASSERT_TRUE(body.contains("error")) << res->body;
        for (const char* key : {"message", "type", "param", "code"})
            EXPECT_TRUE(body["error"].contains(key));
        if (!code.empty()) {
            EXPECT_EQ(body["error"]["code"], code) << res->body;
        }
    }
    static size_t active_sequences() {
        size_t n = 0;
        for (const auto& m : live_->server().pool().loaded()) n += m.stats.active + m.stats.queued;
        return n;
    }

    static LiveServer* live_;
    static testing::Oracle* oracle_;
};
LiveServer* ServerTest::live_ = nullptr;
testing::Oracle* ServerTest::oracle_ = nullptr;

TEST_F(ServerTest, HealthReadyModelsAndMetrics) {
    auto c = live_->client();
    auto health = c.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(c.Get("/readyz")->status, 200);
    json models = json::parse(c.Get("/v1/models")->body);
    EXPECT_EQ(models["object"], "list");
    ASSERT_EQ(models["data"].size(), 1u);
    EXPECT_EQ(models["data"][0]["id"], "stories260K");
    EXPECT_EQ(models["data"][0]["object"], "model");
    // "created" is the file's modification time in Unix seconds, as the filesystem reports it.
    const auto mtime = std::filesystem::last_write_time(hearth::testing::stories_path());
    const auto unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::file_clock::to_sys(mtime).time_since_epoch());
    EXPECT_EQ(models["data"][0]["created"].get<int64_t>(), unix_seconds.count());
    EXPECT_EQ(c.Get("/v1/models/stories260K")->status, 200);
    expect_error(c.Get("/v1/models/nope"), 404, "model_not_found");
    expect_error(c.Get("/no/such/route"), 404);
    post_ok("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}});
    auto metrics = c.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 200);
    for (const char* name :
         {"hearth_requests_total", "hearth_completion_tokens_total", "hearth_prompt_tokens_total",
          "hearth_completion_tokens_per_second", "hearth_time_to_first_token_seconds_bucket",
          "hearth_queue_depth", "hearth_models_loaded 1", "hearth_process_resident_memory_bytes"}) {
        EXPECT_NE(metrics->body.find(name), std::string::npos) << name;
    }
}

TEST_F(ServerTest, GreedyCompletionEqualsTheSingleSequenceLoop) {
    for (const std::string prompt : {"Once upon a time", "The little dog", "Tom had a red ball"}) {
        json r = post_ok(
            "/v1/completions",
            {{"model", "stories260K"}, {"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0}});
        auto want = oracle_->run_text(prompt, 40);
        EXPECT_EQ(r["choices"][0]["text"], want.text);
        EXPECT_EQ(r["choices"][0]["finish_reason"], runtime::finish_reason_name(want.finish));
        EXPECT_EQ(r["usage"]["completion_tokens"], want.tokens.size());
        EXPECT_EQ(r["object"], "text_completion");
    }
    json r = post_ok("/v1/completions",
                     {{"prompt", "Once upon a time"}, {"max_tokens", 12}, {"temperature", 0}});
    EXPECT_EQ(
        r["choices"][0]["text"].get<std::string>().rfind(", there was a little girl named Lily", 0),
        0u);
}

TEST_F(ServerTest, GreedyChatEqualsTheSingleSequenceLoop) {
    json r = post_ok("/v1/chat/completions",
                     {{"model", "stories"},
                      {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                      {"max_tokens", 30},
                      {"temperature", 0}});
    EXPECT_EQ(r["object"], "chat.completion");
    EXPECT_EQ(r["model"], "stories260K");
    EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(r["choices"][0]["message"]["content"],
              oracle_->run_text("Once upon a time", 30).text);
    EXPECT_EQ(r["usage"]["prompt_tokens"],
              oracle_->tok->encode("Once upon a time", true, false).size());
}

TEST_F(ServerTest, ConcurrentRequestsEachEqualTheirOracle) {
    const std::vector<std::string> prompts = {"Once upon a time", "The cat sat", "Lily went",
                                              "One day, Tom",     "The sun",     "A bird",
                                              "Mom said",         "They played"};
    std::vector<std::future<json>> futures;
    for (const auto& p : prompts) {
        futures.push_back(std::async(std::launch::async, [p] {
            return post_ok("/v1/completions",
                           {{"prompt", p}, {"max_tokens", 30}, {"temperature", 0}});
        }));
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
        EXPECT_EQ(futures[i].get()["choices"][0]["text"], oracle_->run_text(prompts[i], 30).text)
            << prompts[i];
    }
}

TEST_F(ServerTest, SeedGivesTheSameTextAndNChoicesUseConsecutiveSeeds) {
    json body = {
        {"prompt", "Once upon a time"}, {"max_tokens", 25}, {"temperature", 1.0}, {"seed", 42}};
    json a = post_ok("/v1/completions", body);
    json b = post_ok("/v1/completions", body);
    EXPECT_EQ(a["choices"][0]["text"], b["choices"][0]["text"]);
    runtime::SamplingParams s;
    s.temperature = 1.0f;
    s.seed = 42;
    EXPECT_EQ(a["choices"][0]["text"], oracle_->run_text("Once upon a time", 25, s).text);

    body["n"] = 3;
    json n3 = post_ok("/v1/completions", body);
    ASSERT_EQ(n3["choices"].size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(n3["choices"][i]["index"], i);
        s.seed = 42 + static_cast<uint64_t>(i);
        EXPECT_EQ(n3["choices"][i]["text"], oracle_->run_text("Once upon a time", 25, s).text);
    }
}

TEST_F(ServerTest, StopSequencesEndTheTextBeforeThem) {
    json r = post_ok("/v1/chat/completions",
                     {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                      {"max_tokens", 40},
                      {"temperature", 0},
                      {"stop", {" little", "zzz"}}});
    EXPECT_EQ(r["choices"][0]["message"]["content"], ", there was a");
    EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
    json len = post_ok("/v1/completions",
                       {{"prompt", "Once upon a time"}, {"max_tokens", 3}, {"temperature", 0}});
    EXPECT_EQ(len["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(len["usage"]["completion_tokens"], 3);
}

TEST_F(ServerTest, LogprobsForChatAndCompletions) {
    json chat = post_ok("/v1/chat/completions",
                        {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                         {"max_tokens", 3},
                         {"temperature", 0},
                         {"logprobs", true},
                         {"top_logprobs", 2}});
    const json& content = chat["choices"][0]["logprobs"]["content"];
    ASSERT_EQ(content.size(), 3u);
    EXPECT_EQ(content[0]["token"], ",");
    EXPECT_LE(content[0]["logprob"].get<double>(), 0.0);
    EXPECT_EQ(content[0]["top_logprobs"].size(), 2u);
    EXPECT_EQ(content[0]["top_logprobs"][0]["token"], ",");
    json comp = post_ok(
        "/v1/completions",
        {{"prompt", "Once upon a time"}, {"max_tokens", 3}, {"temperature", 0}, {"logprobs", 1}});
    EXPECT_EQ(comp["choices"][0]["logprobs"]["tokens"].size(), 3u);
    EXPECT_EQ(comp["choices"][0]["logprobs"]["top_logprobs"][0].size(), 1u);
}

TEST_F(ServerTest, ChatStreamIsFramedAsOpenAIFramesIt) {
    json body = {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                 {"max_tokens", 20},
                 {"temperature", 0},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}}};
    auto res = post("/v1/chat/completions", body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    auto payloads = sse_payloads(res->body);
    ASSERT_GE(payloads.size(), 4u);
    EXPECT_EQ(payloads.back(), "[DONE]");
    json first = json::parse(payloads[0]);
    EXPECT_EQ(first["object"], "chat.completion.chunk");
    EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
    std::string text;
    std::string id = first["id"];
    for (size_t i = 1; i + 3 < payloads.size() + 1 && i < payloads.size() - 3; ++i) {
        json chunk = json::parse(payloads[i]);
        EXPECT_EQ(chunk["id"], id);
        EXPECT_TRUE(chunk["finish_reason"].is_null() || !chunk.contains("finish_reason"));
        EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
        EXPECT_TRUE(chunk["usage"].is_null());
        text += chunk["choices"][0]["delta"]["content"].get<std::string>();
    }
    json last = json::parse(payloads[payloads.size() - 3]);
    EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
    EXPECT_TRUE(last["choices"][0]["delta"].empty());
    json usage = json::parse(payloads[payloads.size() - 2]);
    EXPECT_TRUE(usage["choices"].empty());
    EXPECT_EQ(usage["usage"]["completion_tokens"], 20);
    EXPECT_EQ(text, oracle_->run_text("Once upon a time", 20).text);
}

TEST_F(ServerTest, CompletionStreamWithoutUsage) {
    auto res = post(
        "/v1/completions",
        {{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 0}, {"stream", true}});
    ASSERT_TRUE(res);
    auto payloads = sse_payloads(res->body);
    EXPECT_EQ(payloads.back(), "[DONE]");
    std::string text;
    for (size_t i = 0; i + 1 < payloads.size(); ++i) {
        json chunk = json::parse(payloads[i]);
        EXPECT_EQ(chunk["object"], "text_completion");
        EXPECT_FALSE(chunk.contains("usage"));
        text += chunk["choices"][0]["text"].get<std::string>();
    }
    EXPECT_EQ(json::parse(payloads[payloads.size() - 2])["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(text, oracle_->run_text("Once upon a time", 10).text);
}

TEST_F(ServerTest, ClientThatDisconnectsFreesItsSlot) {
    for (int round = 0; round < 3; ++round) {
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/completions";
        req.body = json{
            {"prompt", "Once upon a time"},
            {"max_tokens", 120},
            {"temperature", 1.0},
            {"stream",
             true}}.dump();
        req.set_header("Content-Type", "application/json");
        int chunks = 0;
        req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
            return ++chunks < 2;
        };
        auto c = live_->client();
        auto res = c.send(req);
        EXPECT_GE(chunks, 1);
    }
    // The slots empty once the server notices the closed sockets.
    for (int i = 0; i < 100 && active_sequences() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(active_sequences(), 0u);
    post_ok("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}});
}

TEST_F(ServerTest, PathRoutingWinsOverTheBody) {
    json r = post_ok("/models/stories260K/v1/completions",
                     {{"model", "not-this-one"}, {"prompt", "Once"}, {"max_tokens", 2}});
    EXPECT_EQ(r["model"], "stories260K");
    EXPECT_EQ(live_->client().Get("/models/stories260K/v1/models")->status, 200);
    expect_error(post("/models/nope/v1/chat/completions",
                      {{"messages", {{{"role", "user"}, {"content", "x"}}}}}),
                 404, "model_not_found");
}

TEST_F(ServerTest, InputErrorsAre4xxAndTheServerKeepsAnswering) {
    auto c = live_->client();
    expect_error(c.Post("/v1/chat/completions", "{\"model\": ", "application/json"), 400);
    post_ok("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}});
    expect_error(post("/v1/chat/completions",
                      {{"model", "nope"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}),
                 404, "model_not_found");
    expect_error(
        post("/v1/chat/completions",
             {{"temperature", "hot"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}),
        400);
    expect_error(post("/v1/chat/completions", {{"model", "stories260K"}}), 400);
    const json user_x = {{{"role", "user"}, {"content", "x"}}};
    // A story model answers a JSON schema only through the grammar.
    const json schema = {{"type", "object"},
                         {"properties", {{"ok", {{"type", "boolean"}}}}},
                         {"required", {"ok"}},
                         {"additionalProperties", false}};
    for (int seed : {1, 2, 3}) {
        json r = post_ok("/v1/chat/completions",
                         {{"messages", user_x},
                          {"seed", seed},
                          {"temperature", 1},
                          {"max_tokens", 60},
                          {"response_format",
                           {{"type", "json_schema"},
                            {"json_schema", {{"name", "flag"}, {"schema", schema}}}}}});
        json answer = json::parse(r["choices"][0]["message"]["content"].get<std::string>());
        ASSERT_TRUE(answer.is_object());
        EXPECT_EQ(answer.size(), 1u);
        EXPECT_TRUE(answer["ok"].is_boolean());
        EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
    }
    expect_error(post("/v1/chat/completions",
                      {{"messages", user_x},
                       {"response_format",
                        {{"type", "json_schema"},
                         {"json_schema", {{"name", "x"}, {"schema", {{"type", "object"}, {"not", json::object()}}}}}}}}),
                 400);
    expect_error(post("/v1/completions", {{"prompt", "x"}, {"grammar", "root ::= ("}}), 400);
    expect_error(post("/v1/chat/completions", {{"messages", user_x}, {"response_format", "json"}}),
                 400);
    post_ok("/v1/chat/completions",
            {{"messages", user_x}, {"max_tokens", 1}, {"response_format", {{"type", "text"}}}});
    expect_error(post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1000000}}), 400);
    expect_error(post("/v1/completions", {{"prompt", {1, 2, 99999}}}), 400);
    std::string long_prompt;
    for (int i = 0; i < 200; ++i) long_prompt += "Once upon a time ";
    expect_error(post("/v1/completions", {{"prompt", long_prompt}}), 400,
                 "context_length_exceeded");
    expect_error(post("/v1/embeddings", {{"model", "stories260K"}, {"input", "hello"}}), 400,
                 "model_not_supported");
    expect_error(post("/v1/embeddings", {{"model", "nope"}, {"input", "hello"}}), 404,
                 "model_not_found");
    expect_error(c.Post("/v1/completions", std::string(100 * 1024, ' '), "application/json"), 413);
    post_ok("/v1/chat/completions",
            {{"messages", {{{"role", "user"}, {"content", "Once"}}}}, {"max_tokens", 2}});
}

// ---- /tokenize, /detokenize, /apply-template ----

json stories_reference() {
    std::ifstream in(std::string(HEARTH_TEST_DATA) +
                     "/reference/stories260K-once-upon-a-time.json");
    return json::parse(in);
}

// The reference engine's ids and pieces for the same text (llama_tokenize with BOS).
TEST_F(ServerTest, TokenizeGivesTheReferenceEnginesIds) {
    const json ref = stories_reference();
    json got = post_ok("/tokenize", {{"content", ref["prompt"]}, {"add_special", true}});
    EXPECT_EQ(got["tokens"], ref["tokens"]);
    got = post_ok("/tokenize", {{"content", ref["prompt"]}, {"add_special", true},
                                {"with_pieces", true}, {"model", "stories"}});
    ASSERT_EQ(got["tokens"].size(), ref["tokens"].size());
    for (size_t i = 0; i < ref["tokens"].size(); ++i) {
        EXPECT_EQ(got["tokens"][i]["id"], ref["tokens"][i]);
        EXPECT_EQ(got["tokens"][i]["piece"], ref["token_pieces"][i]);
    }
    // Without add_special (llama-server's default) there is no BOS.
    got = post_ok("/tokenize", {{"content", ref["prompt"]}});
    EXPECT_EQ(got["tokens"], json(std::vector<int>(ref["tokens"].begin() + 1, ref["tokens"].end())));
    // Control tokens written in the text are parsed unless the client says not to.
    EXPECT_EQ(post_ok("/tokenize", {{"content", "<s>"}})["tokens"], json({1}));
    EXPECT_NE(post_ok("/tokenize", {{"content", "<s>"}, {"parse_special", false}})["tokens"],
              json({1}));
}

// The reference engine's greedy continuation: its ids detokenize to its text.
TEST_F(ServerTest, DetokenizeGivesTheReferenceEnginesText) {
    const json ref = stories_reference();
    EXPECT_EQ(post_ok("/detokenize", {{"tokens", ref["greedy_ids"]}})["content"],
              ref["greedy_text"]);
    EXPECT_EQ(post_ok("/models/stories/detokenize", {{"tokens", json::array()}})["content"], "");
}

TEST_F(ServerTest, TokenizeAndDetokenizeRefuseBadInput) {
    expect_error(post("/tokenize", {{"text", "x"}}), 400);
    expect_error(post("/tokenize", {{"content", 5}}), 400);
    expect_error(post("/tokenize", {{"content", "x"}, {"with_pieces", "yes"}}), 400);
    expect_error(post("/tokenize", {{"content", "x"}, {"model", "nope"}}), 404, "model_not_found");
    expect_error(post("/detokenize", {{"tokens", {1, 512}}}), 400);  // the vocabulary has 512
    expect_error(post("/detokenize", {{"tokens", {1, -1}}}), 400);
    expect_error(post("/detokenize", {{"tokens", {1.5}}}), 400);
    expect_error(post("/detokenize", {{"tokens", "1 2"}}), 400);
    expect_error(live_->client().Post("/tokenize", "{\"content\": ", "application/json"), 400);
    // A model without a template joins the messages' texts.
    EXPECT_EQ(post_ok("/apply-template", {{"messages", {{{"role", "user"}, {"content", "a"}},
                                                        {{"role", "user"}, {"content", "b"}}}}})
                  ["prompt"],
              "a\nb");
    expect_error(post("/apply-template", {{"messages", "hi"}}), 400);
}

TEST_F(ServerTest, RepeatedPromptReusesTheCachedPrefix) {
    json body = {{"prompt", "Once upon a time, in a big forest, there lived"},
                 {"max_tokens", 5},
                 {"temperature", 0}};
    json a = post_ok("/v1/completions", body);
    json b = post_ok("/v1/completions", body);
    EXPECT_EQ(a["choices"][0]["text"], b["choices"][0]["text"]);
    EXPECT_EQ(b["usage"]["prompt_tokens_details"]["cached_tokens"],
              b["usage"]["prompt_tokens"].get<int>() - 1);
}

// --prompt-cache-dir: a restarted server loads a long prompt's blocks from the disk and
// answers as the single-sequence loop does.
TEST(ServerPromptCache, SurvivesARestart) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("hearth-server-prompt-cache-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    ServerOptions o = default_options();
    o.pool.ctx_size = 512;
    o.pool.prompt_cache = {.dir = dir.string(), .max_bytes = 1ull << 30, .min_tokens = 64};
    std::string prompt;
    for (int i = 0; i < 6; ++i) prompt += "Once upon a time, there was a little girl named Lily. ";
    const json body = {{"prompt", prompt + "One day"}, {"max_tokens", 16}, {"temperature", 0}};
    testing::Oracle oracle;
    const std::string want = oracle.run_text(prompt + "One day", 16).text;
    {
        LiveServer first(o);
        const json a = ok_json(first.post("/v1/completions", body));
        EXPECT_EQ(a["choices"][0]["text"], want);
        EXPECT_EQ(a["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    }
    LiveServer second(o);
    const json b = ok_json(second.post("/v1/completions", body));
    EXPECT_EQ(b["choices"][0]["text"], want);
    const int prompt_tokens = b["usage"]["prompt_tokens"].get<int>();
    ASSERT_GT(prompt_tokens, 64);
    EXPECT_EQ(b["usage"]["prompt_tokens_details"]["cached_tokens"], (prompt_tokens - 1) / 32 * 32);
    std::filesystem::remove_all(dir);
}

TEST(ServerAuth, KeysAreRequiredExceptForHealth) {
    ServerOptions o = default_options();
    o.api_keys = {"sk-test-1", "sk-test-2"};
    LiveServer live(o, stories_entry());
    auto c = live.client();
    EXPECT_EQ(c.Get("/health")->status, 200);
    EXPECT_EQ(c.Get("/readyz")->status, 200);
    auto no_key = c.Get("/v1/models");
    ASSERT_TRUE(no_key);
    EXPECT_EQ(no_key->status, 401);
    json err = json::parse(no_key->body)["error"];
    EXPECT_EQ(err["code"], "invalid_api_key");
    EXPECT_EQ(err["type"], "invalid_request_error");
    EXPECT_EQ(c.Get("/metrics")->status, 401);
    EXPECT_EQ(c.Get("/v1/models", {{"Authorization", "Bearer sk-wrong"}})->status, 401);
    EXPECT_EQ(c.Get("/v1/models", {{"Authorization", "Bearer sk-test-2"}})->status, 200);
    auto post = c.Post("/v1/completions", {{"Authorization", "Bearer sk-test-1"}},
                       json{{"prompt", "Once"}, {"max_tokens", 2}}.dump(), "application/json");
    EXPECT_EQ(post->status, 200);
}

TEST(ServerBusy, FullQueueIs429WithRetryAfter) {
    ServerOptions o = default_options();
    o.pool.max_queue = 0;
    LiveServer live(o, stories_entry());
    auto res = live.client().Post(
        "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 2}}.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 429);
    EXPECT_EQ(res->get_header_value("Retry-After"), "1");
    EXPECT_EQ(json::parse(res->body)["error"]["code"], "rate_limit_exceeded");
}

TEST(ServerPool, IdleModelsUnload) {
    ServerOptions o = default_options();
    o.pool.idle_unload_seconds = 0.2;
    LiveServer live(o, stories_entry());
    auto res = live.client().Post(
        "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 2}}.dump(), "application/json");
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(live.server().pool().loaded().size(), 1u);
    for (int i = 0; i < 40 && !live.server().pool().loaded().empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(live.server().pool().loaded().empty());
}

TEST(ServerPool, MemoryBudgetUnloadsTheLeastRecentlyUsed) {
    ModelEntry a, b;
    a.name = "a";
    b.name = "b";
    a.path = b.path = testing::stories_path();
    PoolOptions o;
    o.ctx_size = 64;
    o.parallel = 1;
    o.threads = 1;
    o.max_memory = 0;
    {
        ModelPool probe({a}, o);
        const uint64_t one = probe.acquire(a)->memory_bytes;
        o.max_memory = one + one / 2;  // room for one model, not two
    }
    ModelPool pool({a, b}, o);
    pool.acquire(a);
    pool.acquire(b);
    auto loaded = pool.loaded();
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_EQ(loaded[0].name, "b");
}

TEST(ServerPool, NamesAndAliasesMatchWhateverTheCaseExactSpellingFirst) {
    ModelEntry lower, upper;
    lower.name = "llama-3.2-1b";
    lower.aliases = {"Small-Chat"};
    upper.name = "LLAMA-3.2-1B";  // another model whose name differs only in case
    lower.path = upper.path = testing::stories_path();
    ModelPool pool({lower, upper}, PoolOptions{});
    ASSERT_NE(pool.find("llama-3.2-1b"), nullptr);
    EXPECT_EQ(pool.find("llama-3.2-1b")->name, "llama-3.2-1b");
    EXPECT_EQ(pool.find("LLAMA-3.2-1B")->name, "LLAMA-3.2-1B");
    EXPECT_EQ(pool.find("Llama-3.2-1B")->name, "llama-3.2-1b");  // no exact match: the first
    ASSERT_NE(pool.find("small-chat"), nullptr);
    EXPECT_EQ(pool.find("small-chat")->name, "llama-3.2-1b");
    EXPECT_EQ(pool.find("llama-3.2-1"), nullptr);
    EXPECT_EQ(pool.find(""), nullptr);
}

// A draft model named by another model's name or by its file is loaded with the model and
// counted in its memory; one of another vocabulary, or one that does not exist, is refused when
// the model loads, naming both.
TEST(ServerPool, DraftModelsAreResolvedAndCheckedAtLoad) {
    ModelEntry a, b, c;
    a.name = "a";
    b.name = "b";
    c.name = "c";
    a.path = b.path = c.path = testing::stories_path();
    b.draft_model = synthetic_model_file_with_vocab("llama", "llama-spm");
    c.draft_model = "no-such-model";
    PoolOptions o;
    o.ctx_size = 64;
    o.parallel = 1;
    o.threads = 1;
    const uint64_t plain = ModelPool({a}, o).acquire(a)->memory_bytes;
    o.draft_model = "a";  // the model drafting for itself, by name
    ModelPool pool({a, b, c}, o);
    auto loaded = pool.acquire(a);
    EXPECT_EQ(loaded->scheduler->params().draft_tokens, PoolOptions{}.draft_tokens);
    EXPECT_FALSE(loaded->scheduler->params().prompt_lookup);
    // The draft's weights (the same file's) and its KV cache count too.
    EXPECT_GT(loaded->scheduler->draft_kv_cache_bytes(), 0u);
    EXPECT_EQ(loaded->memory_bytes, plain + loaded->model->weight_bytes() +
                                        loaded->scheduler->draft_kv_cache_bytes());
    try {
        pool.acquire(b);
        ADD_FAILURE() << "a draft model of another vocabulary was accepted";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("as the draft model of 'b'"), std::string::npos) << message;
        EXPECT_NE(message.find("32000 tokens"), std::string::npos) << message;
    }
    try {
        pool.acquire(c);
        ADD_FAILURE() << "a missing draft model was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'no-such-model' is neither a model this server "
                                             "offers nor a file"),
                  std::string::npos)
            << e.what();
    }
}

// ---- CORS ----

TEST(ServerCors, PreflightNeedsNoKeyAndResponsesCarryTheOrigin) {
    ServerOptions o = default_options();
    o.api_keys = {"sk-test"};
    LiveServer live(o, stories_entry());
    auto c = live.client();
    for (const char* path : {"/v1/chat/completions", "/v1/models", "/v1/embeddings",
                             "/models/stories260K/v1/completions"}) {
        auto pre = c.Options(path, {{"Origin", "https://app.example"},
                                    {"Access-Control-Request-Method", "POST"},
                                    {"Access-Control-Request-Headers", "x-stainless-os"}});
        ASSERT_TRUE(pre) << path;
        EXPECT_EQ(pre->status, 204) << path;
        EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "*");
        EXPECT_EQ(pre->get_header_value_count("Access-Control-Allow-Origin"), 1u);
        const std::string methods = pre->get_header_value("Access-Control-Allow-Methods");
        EXPECT_NE(methods.find("POST"), std::string::npos) << methods;
        EXPECT_NE(methods.find("GET"), std::string::npos) << methods;
        EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Headers"),
                  "Authorization, Content-Type, x-stainless-os");
        EXPECT_EQ(pre->get_header_value("Access-Control-Max-Age"), "86400");
    }
    // Real requests still need the key, and their answers (errors too) carry the header.
    auto denied = c.Get("/v1/models", {{"Origin", "https://app.example"}});
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 401);
    EXPECT_EQ(denied->get_header_value("Access-Control-Allow-Origin"), "*");
    auto ok = c.Post("/v1/completions",
                     {{"Authorization", "Bearer sk-test"}, {"Origin", "https://app.example"}},
                     json{{"prompt", "Once"}, {"max_tokens", 2}}.dump(), "application/json");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(ok->get_header_value_count("Access-Control-Allow-Origin"), 1u);
}

TEST(ServerCors, OnlyListedOriginsAreEchoed) {
    ServerOptions o = default_options();
    o.cors_origins = {"https://a.example", "http://localhost:3000"};
    LiveServer live(o, stories_entry());
    auto c = live.client();
    auto listed = c.Get("/v1/models", {{"Origin", "http://localhost:3000"}});
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
    EXPECT_EQ(listed->get_header_value("Vary"), "Origin");
    // Without API keys a page of another origin is refused outright: a browser would send a
    // form post without asking first, even though the page could not read the answer.
    auto other = c.Get("/v1/models", {{"Origin", "https://evil.example"}});
    ASSERT_TRUE(other);
    EXPECT_EQ(other->status, 403);
    EXPECT_EQ(json::parse(other->body)["error"]["code"], "origin_not_allowed");
    EXPECT_FALSE(other->has_header("Access-Control-Allow-Origin"));
    auto pre = c.Options("/v1/chat/completions", {{"Origin", "https://a.example"}});
    ASSERT_TRUE(pre);
    EXPECT_EQ(pre->status, 204);
    EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "https://a.example");
    EXPECT_EQ(pre->get_header_value_count("Access-Control-Allow-Origin"), 1u);
    EXPECT_EQ(pre->get_header_value_count("Vary"), 1u);
}

TEST(ServerCors, WithoutKeysOnlyPagesFromThisMachineByDefault) {
    LiveServer live(default_options(), stories_entry());
    auto c = live.client();
    for (const char* origin : {"http://localhost:5173", "http://127.0.0.1", "https://[::1]:8443"}) {
        auto local = c.Get("/v1/models", {{"Origin", origin}});
        ASSERT_TRUE(local);
        EXPECT_EQ(local->status, 200) << origin;
        EXPECT_EQ(local->get_header_value("Access-Control-Allow-Origin"), origin);
    }
    for (const char* origin : {"https://evil.example", "null", "http://localhost.evil.example",
                               "http://127.0.0.1.evil.example"}) {
        auto post = c.Post("/v1/completions", {{"Origin", origin}},
                           json{{"prompt", "Once"}, {"max_tokens", 1}}.dump(), "text/plain");
        ASSERT_TRUE(post);
        EXPECT_EQ(post->status, 403) << origin;
        EXPECT_FALSE(post->has_header("Access-Control-Allow-Origin")) << origin;
    }
    // No Origin: not a browser page; curl and SDKs are served as before.
    EXPECT_EQ(c.Get("/v1/models")->status, 200);
}

TEST(ServerCors, NoneTurnsItOff) {
    ServerOptions o = default_options();
    o.cors_origins = CorsPolicy::parse_flags({"https://a.example", "none"});
    EXPECT_EQ(o.cors_origins, std::vector<std::string>{"none"});
    o.api_keys = {"sk-test"};
    LiveServer live(o, stories_entry());
    auto c = live.client();
    auto get = c.Get("/v1/models",
                     {{"Origin", "https://a.example"}, {"Authorization", "Bearer sk-test"}});
    ASSERT_TRUE(get);
    EXPECT_EQ(get->status, 200);
    EXPECT_FALSE(get->has_header("Access-Control-Allow-Origin"));
    auto pre = c.Options("/v1/chat/completions", {{"Origin", "https://a.example"}});
    ASSERT_TRUE(pre);
    EXPECT_NE(pre->status, 204);
    EXPECT_FALSE(pre->has_header("Access-Control-Allow-Origin"));
}

// ---- reasoning ----

// stories260K behind a template that mentions <think> tags: when the prompt leaves one open,
// the whole reply is reasoning; when not, it is all content. The oracle is the same prompt
// text sent to /v1/completions.
TEST(ServerReasoning, ThinkPartBecomesReasoningContent) {
    for (const bool opened : {true, false}) {
        ModelEntry entry = stories_entry();
        entry.chat_template = opened ? "{{ messages[0]['content'] }}<think>{# </think> #}"
                                     : "{{ messages[0]['content'] }}{# <think></think> #}";
        LiveServer live(default_options(), entry);
        auto c = live.client();
        const std::string prompt = std::string("Once upon a time") + (opened ? "<think>" : "");
        auto oracle = c.Post("/v1/completions",
                             json{{"prompt", prompt}, {"max_tokens", 20}, {"temperature", 0}}.dump(),
                             "application/json");
        ASSERT_TRUE(oracle);
        const std::string text = json::parse(oracle->body)["choices"][0]["text"];
        ASSERT_FALSE(text.empty());
        json chat = {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                     {"max_tokens", 20},
                     {"temperature", 0}};
        auto res = c.Post("/v1/chat/completions", chat.dump(), "application/json");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        json message = json::parse(res->body)["choices"][0]["message"];
        if (opened) {
            EXPECT_EQ(message["reasoning_content"], text);
            EXPECT_EQ(message["content"], "");
        } else {
            EXPECT_TRUE(message["reasoning_content"].is_null());
            EXPECT_EQ(message["content"], text);
        }
        chat["stream"] = true;
        auto streamed = c.Post("/v1/chat/completions", chat.dump(), "application/json");
        ASSERT_TRUE(streamed);
        std::string reasoning, content;
        for (const std::string& payload : sse_payloads(streamed->body)) {
            if (payload == "[DONE]") break;
            json delta = json::parse(payload)["choices"][0]["delta"];
            if (delta.contains("reasoning_content"))
                reasoning += delta["reasoning_content"].get<std::string>();
            if (delta.contains("content")) content += delta["content"].get<std::string>();
        }
        EXPECT_EQ(reasoning, opened ? text : "");
        EXPECT_EQ(content, opened ? "" : text);
    }
}

TEST(ServerReasoning, ReasoningEffortIsChecked) {
    LiveServer live(default_options(), stories_entry());
    auto res = live.client().Post(
        "/v1/chat/completions",
        json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"reasoning_effort", "max"}}
            .dump(),
        "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(json::parse(res->body)["error"]["param"], "reasoning_effort");
}

TEST(ServerCors, FlagValuesSplitOnCommas) {
    EXPECT_TRUE(CorsPolicy::parse_flags({}).empty());
    EXPECT_EQ(
        CorsPolicy::parse_flags({" https://a.example, https://b.example ", "http://c:1"}),
        (std::vector<std::string>{"https://a.example", "https://b.example", "http://c:1"}));
    EXPECT_FALSE(CorsPolicy(CorsPolicy::parse_flags({"none"}), false).enabled());
    EXPECT_TRUE(CorsPolicy({}, true).allows("https://any.example"));
    EXPECT_FALSE(CorsPolicy({}, false).allows("https://any.example"));
    EXPECT_TRUE(CorsPolicy({"*"}, false).allows("https://any.example"));
}

// ---- disconnects and shutdown, on a model slow enough to be caught mid-answer ----

// The tiny synthetic llama with the 32000-token llama-spm vocabulary and a 32768-token context:
// with ignore_eos, a 30000-token answer takes far longer than these tests wait.
ModelEntry slow_entry() {
    ModelEntry entry;
    entry.name = "slow";
    entry.path = synthetic_model_file_with_vocab("llama", "llama-spm", 32768);
    return entry;
}

ServerOptions slow_options(int64_t parallel) {
    ServerOptions o = default_options();
    o.pool.ctx_size = 32768;
    o.pool.parallel = parallel;
    o.limits.max_tokens = 32768;
    return o;
}

json long_chat(bool stream) {
    return {{"messages", {{{"role", "user"}, {"content", "Tell me a very long story."}}}},
            {"max_tokens", 30000},
            {"ignore_eos", true},
            {"temperature", 0},
            {"stream", stream}};
}

size_t busy_sequences(Server& server) {
    size_t n = 0;
    for (const auto& m : server.pool().loaded()) n += m.stats.active + m.stats.queued;
    return n;
}

uint64_t tokens_generated(Server& server) {
    uint64_t n = 0;
    for (const auto& m : server.pool().loaded()) n += m.stats.tokens_generated;
    return n;
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

TEST(ServerDisconnect, NonStreamedRequestWhoseClientLeavesStopsAndFreesItsSlot) {
    LiveServer live(slow_options(/*parallel=*/1), slow_entry());
    // Loaded first, so the second below is spent generating (a loaded machine may take longer
    // than that to load the model).
    auto warm = live.client().Post(
        "/v1/chat/completions",
        json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 1}}.dump(),
        "application/json");
    ASSERT_TRUE(warm);
    ASSERT_EQ(warm->status, 200) << warm->body;
    auto c = live.client();
    c.set_read_timeout(1, 0);  // gives up after 1 s and closes its socket
    auto gone = c.Post("/v1/chat/completions", long_chat(false).dump(), "application/json");
    EXPECT_FALSE(gone);
    const auto closed_at = std::chrono::steady_clock::now();
    const uint64_t generated_when_closed = tokens_generated(live.server());
    EXPECT_GT(generated_when_closed, 0u);
    // The generation stops at once instead of running to 30000 tokens.
    // Bounds far above the 100 ms poll: a cancelled generation is noticed within a poll and
    // a step, even on a loaded machine; one left running would take minutes.
    EXPECT_TRUE(wait_for([&] { return busy_sequences(live.server()) == 0; },
                         std::chrono::milliseconds(5000)));
    const auto freed_after = std::chrono::steady_clock::now() - closed_at;
    EXPECT_LT(freed_after, std::chrono::milliseconds(3000));
    EXPECT_LT(tokens_generated(live.server()), 30000u);
    // Counted by the request's handler once it sees the end, a moment after the slot is free.
    std::string metrics_body;
    EXPECT_TRUE(wait_for(
        [&] {
            auto metrics = live.client().Get("/metrics");
            metrics_body = metrics ? metrics->body : "";
            return metrics_body.find("hearth_cancelled_generations_total{model=\"slow\"} 1") !=
                   std::string::npos;
        },
        std::chrono::milliseconds(5000)))
        << metrics_body;
    // The only slot is free: the next request is answered without waiting.
    const auto asked = std::chrono::steady_clock::now();
    auto next = live.client().Post(
        "/v1/chat/completions",
        json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 3}}.dump(),
        "application/json");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200) << next->body;
    EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(5));
}

TEST(ServerShutdown, StreamsEndWithAnErrorAndDoneAndWaitingRequestsGet503) {
    LiveServer live(slow_options(/*parallel=*/2), slow_entry());
    std::mutex mutex;
    std::string streamed;
    auto stream = std::async(std::launch::async, [&] {
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/chat/completions";
        req.body = long_chat(true).dump();
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
            std::lock_guard lock(mutex);
            streamed.append(data, n);
            return true;
        };
        return live.client().send(req);
    });
    auto plain = std::async(std::launch::async, [&] {
        return live.client().Post("/v1/chat/completions", long_chat(false).dump(),
                                  "application/json");
    });
    ASSERT_TRUE(wait_for(
        [&] {
            std::lock_guard lock(mutex);
            return busy_sequences(live.server()) == 2 && sse_payloads(streamed).size() >= 4;
        },
        std::chrono::seconds(20)));
    live.server().stop();

    auto stream_result = stream.get();
    // The chunked body ended properly (a cut stream would be a read error here).
    ASSERT_TRUE(stream_result) << httplib::to_string(stream_result.error());
    EXPECT_EQ(stream_result->status, 200);
    auto payloads = sse_payloads(streamed);
    ASSERT_GE(payloads.size(), 3u);
    EXPECT_EQ(payloads.back(), "[DONE]");
    json error = json::parse(payloads[payloads.size() - 2]);
    ASSERT_TRUE(error.contains("error")) << error.dump();
    EXPECT_EQ(error["error"]["type"], "server_error");
    EXPECT_EQ(error["error"]["code"], "server_shutting_down");
    EXPECT_TRUE(error["error"].contains("param"));
    EXPECT_TRUE(error["error"]["message"].is_string());
    for (size_t i = 0; i + 2 < payloads.size(); ++i)
        EXPECT_EQ(json::parse(payloads[i])["object"], "chat.completion.chunk");

    auto plain_result = plain.get();
    ASSERT_TRUE(plain_result);
    EXPECT_EQ(plain_result->status, 503);
    json body = json::parse(plain_result->body);
    EXPECT_EQ(body["error"]["code"], "server_shutting_down");
    EXPECT_EQ(body["error"]["type"], "server_error");
    EXPECT_TRUE(wait_for([&] { return busy_sequences(live.server()) == 0; },
                         std::chrono::milliseconds(1000)));
}

// ---- tools ----

const json kWeatherTool = {
    {"type", "function"},
    {"function",
     {{"name", "get_weather"},
      {"description", "Get the weather"},
      {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}};

// A random-weight model with the phi-3 vocabulary and Qwen2.5's chat template, which lists the
// tools in the prompt.
class ServerTools : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        ModelEntry entry;
        entry.name = "qwen-like";
        entry.path = synthetic_model_file_with_vocab("llama", "phi-3", 2048);
        std::ifstream in(std::string(HEARTH_TEST_DATA) +
                         "/templates/Qwen-Qwen2.5-7B-Instruct.jinja");
        std::stringstream source;
        source << in.rdbuf();
        entry.chat_template = source.str();
        ServerOptions o = default_options();
        o.pool.ctx_size = 2048;
        live_ = new LiveServer(o, entry);
    }
    static void TearDownTestSuite() { delete live_; }

    static httplib::Result post(const json& body) {
        return live_->client().Post("/v1/chat/completions", body.dump(), "application/json");
    }
    static json chat(const json& extra) {
        json body = {{"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
                     {"max_tokens", 8},
                     {"temperature", 0}};
        if (extra.is_object()) body.update(extra);
        auto res = post(body);
        EXPECT_TRUE(res);
        if (!res) return {};
        EXPECT_EQ(res->status, 200) << res->body;
        return json::parse(res->body);
    }
    static LiveServer* live_;
};
LiveServer* ServerTools::live_ = nullptr;

TEST_F(ServerTools, ToolsGoToTheTemplateUnlessToolChoiceIsNone) {
    const int64_t plain = chat({})["usage"]["prompt_tokens"];
    const json with_tools = chat({{"tools", {kWeatherTool}}});
    const int64_t tools = with_tools["usage"]["prompt_tokens"];
    EXPECT_GT(tools, plain + 20);  // the tool's schema is in the prompt
    EXPECT_EQ(chat({{"tools", {kWeatherTool}}, {"tool_choice", "none"}})["usage"]["prompt_tokens"],
              plain);
    EXPECT_EQ(
        chat({{"tools", {kWeatherTool}}, {"tool_choice", "required"}})["usage"]["prompt_tokens"],
        tools);
    // The random model writes no call: a plain answer in OpenAI's shape.
    const json& choice = with_tools["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "length");
    EXPECT_TRUE(choice["message"]["content"].is_string());
    EXPECT_FALSE(choice["message"].contains("tool_calls"));
}

TEST_F(ServerTools, PastCallsAndToolResultsAreAccepted) {
    json messages = {
        {{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"id", "call_1"},
            {"type", "function"},
            {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "21 C"}}};
    json r = chat({{"messages", messages}, {"tools", {kWeatherTool}}});
    EXPECT_EQ(r["object"], "chat.completion");
}

TEST_F(ServerTools, StreamedTextEqualsTheNonStreamedText) {
    // The tool-call parser holds text back while it might start a call; none may be lost.
    json body = {{"tools", {kWeatherTool}}, {"max_tokens", 24}};
    const std::string text = chat(body)["choices"][0]["message"]["content"];
    body.update({{"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
                 {"temperature", 0},
                 {"stream", true}});
    auto res = post(body);
    ASSERT_TRUE(res);
    auto payloads = sse_payloads(res->body);
    ASSERT_GE(payloads.size(), 3u);
    EXPECT_EQ(payloads.back(), "[DONE]");
    std::string streamed;
    for (size_t i = 1; i + 2 < payloads.size(); ++i)
        streamed += json::parse(payloads[i])["choices"][0]["delta"].value("content", "");
    EXPECT_EQ(streamed, text);
    EXPECT_EQ(json::parse(payloads[payloads.size() - 2])["choices"][0]["finish_reason"], "length");
}

// /apply-template renders as Hugging Face transformers does (the chat goldens were rendered
// by jinja2 from the same template and conversations).
TEST_F(ServerTools, ApplyTemplateEqualsTheJinja2Rendering) {
    setenv("SOURCE_DATE_EPOCH", "1721000000", 1);  // the goldens' clock
    const std::string dir = std::string(HEARTH_TEST_DATA) + "/chat_goldens/";
    std::ifstream in(dir + "conversations.json");
    // Read and sent in file order: the template prints the tools' keys in the order it gets.
    const nlohmann::ordered_json conversations = nlohmann::ordered_json::parse(in);
    for (const char* name : {"simple", "system_multi_turn", "tools", "unicode"}) {
        SCOPED_TRACE(name);
        const nlohmann::ordered_json& body = conversations[name];
        std::ifstream golden(dir + "Qwen-Qwen2.5-7B-Instruct/" + name + ".gp.txt");
        std::stringstream expected;
        expected << golden.rdbuf();
        auto res = live_->client().Post("/apply-template", body.dump(), "application/json");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        EXPECT_EQ(json::parse(res->body)["prompt"], expected.str());
    }
}

TEST_F(ServerTools, BadToolsAre400NamingTheField) {
    const json user = {{{"role", "user"}, {"content", "x"}}};
    const std::vector<std::pair<json, std::string>> cases = {
        {{{"tools", "get_weather"}}, "tools"},
        {{{"tools", {42}}}, "tools[0]"},
        {{{"tools", {{{"type", "retrieval"}}}}}, "tools[0].type"},
        {{{"tools", {{{"type", 1}}}}}, "tools[0].type"},
        {{{"tools", {{{"type", "function"}}}}}, "tools[0].function"},
        {{{"tools", {{{"type", "function"}, {"function", {{"name", "has space"}}}}}}},
         "tools[0].function.name"},
        {{{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", "{}"}}}}}}},
         "tools[0].function.parameters"},
        {{{"tools", {kWeatherTool}}, {"tool_choice", "always"}}, "tool_choice"},
        {{{"tools", {kWeatherTool}},
          {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}},
         "tool_choice"},
        {{{"tools", {kWeatherTool}}, {"parallel_tool_calls", "yes"}}, "parallel_tool_calls"},
        {{{"messages", {{{"role", "assistant"}, {"tool_calls", {{{"function", "f"}}}}}}}},
         "messages[0].tool_calls[0].function"},
    };
    for (const auto& [extra, param] : cases) {
        json body = {{"messages", user}};
        body.update(extra);
        auto res = post(body);
        ASSERT_TRUE(res) << body.dump();
        EXPECT_EQ(res->status, 400) << body.dump() << " " << res->body;
        json error = json::parse(res->body)["error"];
        EXPECT_EQ(error["type"], "invalid_request_error");
        EXPECT_EQ(error["param"], param) << body.dump();
    }
    // A named function that exists is fine.
    chat({{"tools", {kWeatherTool}},
          {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}});
}

}  // namespace
}  // namespace hearth::server

namespace hearth::server {
namespace {

// --kv-budget of 2 blocks (64 tokens) under 4 slots and a 128-token context: requests that
// arrive together wait for blocks, one at a time, and each still gets the single-sequence
// loop's answer; no sequence may outgrow the pool, so the context is 64 tokens: a longer
// prompt is refused at once with a 400, and output without max_tokens ends there.
TEST(ServerKvPool, RequestsWaitForThePoolAndOnesItCannotHoldAre400) {
    testing::Oracle oracle;
    ServerOptions o = default_options();
    const auto& hp = oracle.model->hparams();
    o.pool.kv_budget = 64 * model::kv_bytes_per_token(o.pool.kv_type, hp.n_layer, hp.kv_dim());
    LiveServer live(o);

    const std::vector<std::string> prompts = {"Once upon a time", "The cat sat", "Lily went",
                                              "One day, Tom", "The sun", "A bird"};
    std::vector<std::future<httplib::Result>> futures;
    for (const auto& p : prompts) {
        futures.push_back(std::async(std::launch::async, [&live, p] {
            return live.post("/v1/completions",
                             {{"prompt", p}, {"max_tokens", 30}, {"temperature", 0}});
        }));
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
        json r = ok_json(futures[i].get());
        EXPECT_EQ(r["choices"][0]["text"], oracle.run_text(prompts[i], 30).text) << prompts[i];
    }

    std::string long_prompt;
    for (int i = 0; i < 8; ++i) long_prompt += "Lily and Tom went to the park. ";
    const size_t long_tokens = oracle.tok->encode(long_prompt, true, false).size();
    ASSERT_GT(long_tokens, 64u);
    ASSERT_LT(long_tokens, 128u);  // it would fit the context, not the pool
    auto refused = live.post("/v1/completions", {{"prompt", long_prompt}, {"max_tokens", 1}});
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << refused->body;
    json error = json::parse(refused->body)["error"];
    EXPECT_EQ(error["code"], "context_length_exceeded");
    EXPECT_NE(error["message"].get<std::string>().find("64 tokens"), std::string::npos) << error;

    json open_ended = ok_json(live.post(
        "/v1/completions", {{"prompt", "Once upon a time"}, {"temperature", 0}, {"ignore_eos", true}}));
    EXPECT_EQ(open_ended["usage"]["total_tokens"], 64) << open_ended;
    EXPECT_EQ(open_ended["choices"][0]["finish_reason"], "length");
}

}  // namespace
}  // namespace hearth::server
