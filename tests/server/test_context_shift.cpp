// Context shift over HTTP (`hearth serve --context-shift`): a chat asking for more tokens than
// the context holds ends with "length" at the window without it, and gets all of them with it;
// what a shift keeps of a chat is its system prompt.
#include <gtest/gtest.h>

#include "live_server.h"
#include "server/chat_prompt.h"
#include "server/generation.h"

namespace hearth::server {
namespace {

using nlohmann::json;

constexpr int64_t kCtx = 64;

ServerOptions options(bool shift) {
    ServerOptions o = default_options();
    o.pool.ctx_size = kCtx;
    o.pool.parallel = 1;
    o.pool.context_shift = shift;
    o.pool.threads = 1;
    return o;
}

json long_chat() {
    return {{"messages", {{{"role", "system"}, {"content", "Tell a story."}},
                          {{"role", "user"}, {"content", "Once upon a time"}}}},
            {"max_tokens", 150},
            {"temperature", 0},
            {"ignore_eos", true}};
}

TEST(ServerContextShift, WithoutItAChatEndsAtTheContext) {
    LiveServer live(options(false));
    auto res = live.post("/v1/chat/completions", long_chat());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json r = json::parse(res->body);
    EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
    const int64_t prompt = r["usage"]["prompt_tokens"];
    // max_tokens is capped at what the context has left.
    EXPECT_EQ(r["usage"]["completion_tokens"], kCtx - prompt);
}

TEST(ServerContextShift, WithItAChatGetsAllItsTokens) {
    LiveServer live(options(true));
    for (const bool stream : {false, true}) {
        json body = long_chat();
        body["stream"] = stream;
        body["stream_options"] = {{"include_usage", true}};
        auto res = live.post("/v1/chat/completions", body);
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        json usage, finish;
        if (stream) {
            const auto payloads = sse_payloads(res->body);
            ASSERT_GE(payloads.size(), 3u);
            usage = json::parse(payloads[payloads.size() - 2])["usage"];
            finish = json::parse(payloads[payloads.size() - 3])["choices"][0]["finish_reason"];
        } else {
            const json r = json::parse(res->body);
            usage = r["usage"];
            finish = r["choices"][0]["finish_reason"];
        }
        EXPECT_EQ(finish, "length") << stream;  // max_tokens
        EXPECT_EQ(usage["completion_tokens"], 150) << stream;
    }
    const auto loaded = live.server().pool().loaded();
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_GE(loaded[0].stats.context_shifts, 4u);  // 300 tokens through a 64-token context
    const std::string metrics = live.client().Get("/metrics")->body;
    EXPECT_NE(metrics.find("hearth_context_shifts_total{model=\"stories260K\"} " +
                           std::to_string(loaded[0].stats.context_shifts)),
              std::string::npos);
    // Without max_tokens a request still ends where the context is full.
    json body = long_chat();
    body.erase("max_tokens");
    const json r = json::parse(live.post("/v1/chat/completions", body)->body);
    EXPECT_EQ(r["usage"]["completion_tokens"], kCtx - r["usage"]["prompt_tokens"].get<int64_t>());
}

TEST(ServerContextShift, CompletionsTakeNKeep) {
    LiveServer live(options(true));
    for (const int keep : {-1, 0, 5}) {
        auto res = live.post("/v1/completions", {{"prompt", "Once upon a time"},
                                                 {"max_tokens", 100},
                                                 {"temperature", 0},
                                                 {"ignore_eos", true},
                                                 {"n_keep", keep}});
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        EXPECT_EQ(json::parse(res->body)["usage"]["completion_tokens"], 100) << keep;
    }
    auto bad = live.post("/v1/completions", {{"prompt", "Once"}, {"n_keep", -2}});
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_NE(bad->body.find("n_keep"), std::string::npos) << bad->body;
}

// The kept part of a chat: its system message rendered by the template, not the user's.
TEST(ServerContextShift, AChatKeepsItsSystemPrompt) {
    ModelPool pool({qwen_like()}, options(true).pool);
    auto m = pool.acquire(*pool.find("qwen-like"));
    ASSERT_TRUE(m->context_shift);
    const RequestLimits limits;
    auto kept_text = [&](const json& messages) {
        const GenerationRequest r =
            read_generation_request(json{{"messages", messages}}.dump(), true, limits);
        const std::vector<int32_t> prompt =
            render_chat_prompt(*m->model, *m->tokenizer, r.messages, m->entry.chat_template, {},
                               &r.ordered_messages)
                .tokenize(*m->tokenizer);
        const int32_t n = system_prompt_tokens(r, *m, prompt);
        EXPECT_GE(n, 0);
        EXPECT_LE(static_cast<size_t>(n), prompt.size());
        return m->tokenizer->decode(std::vector<int32_t>(prompt.begin(), prompt.begin() + n));
    };
    const std::string with_system =
        kept_text({{{"role", "system"}, {"content", "You are terse."}},
                   {{"role", "user"}, {"content", "Hello there"}}});
    EXPECT_NE(with_system.find("<|im_start|>system\nYou are terse.<|im_end|>"), std::string::npos)
        << with_system;
    EXPECT_EQ(with_system.find("Hello"), std::string::npos) << with_system;
    // Without a system message (Qwen's template then writes its own): nothing but a BOS.
    const std::string without =
        kept_text({{{"role", "user"}, {"content", "Hello there"}}});
    EXPECT_EQ(without.find("Hello"), std::string::npos) << without;
    EXPECT_EQ(without.find("system"), std::string::npos) << without;
}

}  // namespace
}  // namespace hearth::server
