// /metrics against what was sent: after requests of known sizes through every API, the
// counters and the histograms' counts equal what the responses' own usage says (the oracle),
// the KV gauges stay in bounds and fall back once requests end, and the exposition parses with
// the Prometheus project's own parser (prometheus_client, tests/server/parse_metrics.py).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <chrono>

#include "live_server.h"
#include "server/metrics.h"

namespace hearth::server {
namespace {

using nlohmann::json;

// "name{labels}" -> value, as rendered (labels in the order the server writes them).
std::map<std::string, double> parse_samples(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const size_t space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

class MetricsTest : public ::testing::Test {
  protected:
    LiveServer live{default_options()};

    std::map<std::string, double> scrape() {
        auto res = live.client().Get("/metrics");
        EXPECT_TRUE(res);
        if (!res) return {};
        EXPECT_EQ(res->status, 200);
        return parse_samples(res->body);
    }
    static double at(const std::map<std::string, double>& m, const std::string& key) {
        auto it = m.find(key);
        EXPECT_NE(it, m.end()) << "no sample " << key;
        return it == m.end() ? -1 : it->second;
    }
};

const std::string kModel = "model=\"stories260K\"";

// What the responses said, summed.
struct Sent {
    int64_t prompt = 0, cached = 0, completion = 0;
    int64_t requests = 0, with_tokens = 0, gaps = 0;
    void add(int64_t p, int64_t c, int64_t out) {
        prompt += p;
        cached += c;
        completion += out;
        ++requests;
        if (out > 0) ++with_tokens;
        gaps += std::max<int64_t>(0, out - 1);
    }
};

TEST_F(MetricsTest, CountersAndHistogramCountsEqualTheResponsesUsage) {
    Sent sent;
    // Ollama first: on a fresh server nothing is cached yet, and Ollama does not report it.
    json ollama = ok_json(live.post("/api/generate", {{"model", "stories260K"},
                                                      {"prompt", "Once upon a time"},
                                                      {"stream", false},
                                                      {"options", {{"num_predict", 6}}}}));
    sent.add(ollama["prompt_eval_count"], 0, ollama["eval_count"]);

    const std::string prompt = "Once upon a time there was a little girl";
    json tokenized = ok_json(live.post("/tokenize", {{"content", prompt}, {"add_special", true}}));
    for (int i = 0; i < 2; ++i) {  // twice: the second reuses the first's prompt
        json r = ok_json(live.post("/v1/completions", {{"prompt", prompt},
                                                       {"max_tokens", 9},
                                                       {"ignore_eos", true}}));
        // The prompt tokens the usage reports are the tokenizer's (an independent count).
        EXPECT_EQ(r["usage"]["prompt_tokens"], tokenized["tokens"].size());
        sent.add(r["usage"]["prompt_tokens"], r["usage"]["prompt_tokens_details"]["cached_tokens"],
                 r["usage"]["completion_tokens"]);
    }
    // Streamed: the usage comes in the last chunk.
    auto stream = live.post("/v1/chat/completions",
                            {{"messages", {{{"role", "user"}, {"content", "Tell me a story"}}}},
                             {"max_tokens", 12},
                             {"ignore_eos", true},
                             {"stream", true},
                             {"stream_options", {{"include_usage", true}}}});
    ASSERT_TRUE(stream);
    json usage;
    for (const std::string& payload : sse_payloads(stream->body)) {
        if (payload == "[DONE]") continue;
        json chunk = json::parse(payload);
        if (chunk.contains("usage") && chunk["usage"].is_object()) usage = chunk["usage"];
    }
    ASSERT_TRUE(usage.is_object()) << stream->body;
    EXPECT_EQ(usage["completion_tokens"], 12);
    sent.add(usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"],
             usage["completion_tokens"]);

    json anthropic = ok_json(live.post(
        "/v1/messages", {{"model", "stories260K"},
                         {"max_tokens", 7},
                         {"messages", {{{"role", "user"}, {"content", "A dog"}}}}}));
    const json& au = anthropic["usage"];
    sent.add(au["input_tokens"].get<int64_t>() + au["cache_read_input_tokens"].get<int64_t>(),
             au["cache_read_input_tokens"], au["output_tokens"]);

    json responses = ok_json(live.post(
        "/v1/responses", {{"model", "stories260K"}, {"input", "The cat"}, {"max_output_tokens", 5}}));
    const json& ru = responses["usage"];
    sent.add(ru["input_tokens"], ru["input_tokens_details"]["cached_tokens"], ru["output_tokens"]);

    // A request the server refuses: counted by status, generating nothing.
    auto bad = live.post("/v1/chat/completions", {{"model", "stories260K"}});
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);

    // A request is counted once its response has gone out (its log line's time is the whole
    // exchange), so a scrape right after the last response may not show it yet: scrape until
    // all eight requests above are counted.
    std::map<std::string, double> m;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        m = scrape();
        double requests = 0;
        for (const auto& [name, value] : m)
            if (name.rfind("hearth_requests_total{", 0) == 0 &&
                name.find("route=\"/metrics\"") == std::string::npos)
                requests += value;
        if (requests >= 8 || std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(at(m, "hearth_prompt_tokens_total{" + kModel + "}"), sent.prompt);
    EXPECT_EQ(at(m, "hearth_cached_prompt_tokens_total{" + kModel + "}"), sent.cached);
    EXPECT_GT(sent.cached, 0);  // the repeated prompt was reused, so the check above means something
    EXPECT_EQ(at(m, "hearth_completion_tokens_total{" + kModel + "}"), sent.completion);
    EXPECT_EQ(at(m, "hearth_queue_wait_seconds_count{" + kModel + "}"), sent.requests);
    EXPECT_EQ(at(m, "hearth_time_to_first_token_seconds_count{" + kModel + "}"), sent.with_tokens);
    EXPECT_EQ(at(m, "hearth_inter_token_latency_seconds_count{" + kModel + "}"), sent.gaps);
    EXPECT_EQ(at(m, "hearth_model_load_seconds_count{" + kModel + "}"), 1);
    EXPECT_EQ(at(m, "hearth_e2e_request_latency_seconds_count{" + kModel + ",api=\"openai\"}"), 3);
    EXPECT_EQ(at(m, "hearth_e2e_request_latency_seconds_count{" + kModel + ",api=\"ollama\"}"), 1);
    EXPECT_EQ(at(m, "hearth_e2e_request_latency_seconds_count{" + kModel + ",api=\"anthropic\"}"),
              1);
    EXPECT_EQ(at(m, "hearth_e2e_request_latency_seconds_count{" + kModel + ",api=\"responses\"}"),
              1);
    EXPECT_EQ(at(m, "hearth_requests_total{api=\"openai\",route=\"/v1/chat/completions\",status="
                    "\"400\"}"),
              1);
    EXPECT_EQ(at(m, "hearth_requests_total{api=\"openai\",route=\"/v1/completions\",status="
                    "\"200\"}"),
              2);
    EXPECT_EQ(at(m, "hearth_requests_total{api=\"ollama\",route=\"/api/generate\",status=\"200\"}"),
              1);
    // Time relations: each request's time to first token and its token gaps lie inside its
    // end-to-end time, so the sums do too.
    double e2e = 0;
    for (const char* api : {"openai", "ollama", "anthropic", "responses"})
        e2e += at(m, "hearth_e2e_request_latency_seconds_sum{" + kModel + ",api=\"" + api + "\"}");
    EXPECT_GT(at(m, "hearth_time_to_first_token_seconds_sum{" + kModel + "}"), 0);
    EXPECT_LE(at(m, "hearth_time_to_first_token_seconds_sum{" + kModel + "}") +
                  at(m, "hearth_inter_token_latency_seconds_sum{" + kModel + "}") +
                  at(m, "hearth_queue_wait_seconds_sum{" + kModel + "}"),
              e2e);
    // Buckets are cumulative and end at the count.
    EXPECT_EQ(at(m, "hearth_inter_token_latency_seconds_bucket{" + kModel + ",le=\"+Inf\"}"),
              sent.gaps);
    EXPECT_LE(at(m, "hearth_inter_token_latency_seconds_bucket{" + kModel + ",le=\"0.001\"}"),
              at(m, "hearth_inter_token_latency_seconds_bucket{" + kModel + ",le=\"0.1\"}"));
}

TEST_F(MetricsTest, KvBlocksStayInBoundsAndRunningOnesAreFreedWhenRequestsEnd) {
    // default_options: 4 slots of 128 tokens, 32-token blocks: a pool of 4 * 128 / 32 blocks.
    auto m = scrape();
    EXPECT_EQ(m.count("hearth_kv_blocks_total{" + kModel + "}"), 0u);  // not loaded yet
    int64_t most_blocks = 0;  // every sequence's prompt and output, in blocks
    for (const char* p : {"Once upon a time", "The little dog ran", "Tom had a red ball"}) {
        json r = ok_json(live.post("/v1/completions", {{"prompt", p}, {"max_tokens", 40}}));
        most_blocks += (r["usage"]["total_tokens"].get<int64_t>() + 31) / 32;
    }
    auto done = [&] {
        m = scrape();
        return at(m, "hearth_kv_blocks_used{" + kModel + "}") == 0 &&
               at(m, "hearth_active_sequences{" + kModel + "}") == 0;
    };
    // The last request's blocks are counted free a step after its answer left.
    for (int i = 0; i < 100 && !done(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(at(m, "hearth_kv_blocks_total{" + kModel + "}"), 4 * 128 / 32);
    EXPECT_EQ(at(m, "hearth_kv_blocks_used{" + kModel + "}"), 0);
    // What stays is the idle slots' cached prefixes, for the next prompt that shares them: at
    // least a block, at most what the sequences wrote.
    const double cached = at(m, "hearth_kv_blocks_cached{" + kModel + "}");
    EXPECT_GE(cached, 1);
    EXPECT_LE(cached, most_blocks);
    EXPECT_EQ(at(m, "hearth_queue_depth{" + kModel + "}"), 0);
    EXPECT_EQ(at(m, "hearth_models_loaded"), 1);
    EXPECT_EQ(at(m, "hearth_model_context_tokens{" + kModel + "}"), 128);
    EXPECT_GT(at(m, "hearth_model_memory_bytes{" + kModel + "}"), 0);
}

TEST_F(MetricsTest, MachineGaugesAreThere) {
    auto m = scrape();
    EXPECT_GT(at(m, "hearth_process_cpu_seconds_total"), 0);
    EXPECT_GT(at(m, "hearth_process_resident_memory_bytes"), 0);
    // This test's process runs the server on its own thread, the HTTP pool and the client.
    EXPECT_GE(at(m, "hearth_process_threads"), 2);
    EXPECT_GT(at(m, "hearth_host_cpus"), 0);
    EXPECT_GT(at(m, "hearth_host_cpu_seconds_total{mode=\"idle\"}"), 0);
    EXPECT_GT(at(m, "hearth_host_memory_bytes{state=\"total\"}"),
              at(m, "hearth_host_memory_bytes{state=\"available\"}"));
    EXPECT_GE(at(m, "hearth_cpu_threads"), 1);
    const bool one_level = m.count("hearth_cpu_info{simd=\"scalar\",amx=\"false\"}") +
                               m.count("hearth_cpu_info{simd=\"avx2\",amx=\"false\"}") +
                               m.count("hearth_cpu_info{simd=\"avx512\",amx=\"false\"}") +
                               m.count("hearth_cpu_info{simd=\"avx512\",amx=\"true\"}") ==
                           1;
    EXPECT_TRUE(one_level);
}

// The per-server totals a router reads (one sample per family), against sums worked out by
// hand from two loaded models' scheduler figures.
TEST(MetricsTotals, AreTheSumsOfTheLoadedModels) {
    LoadedModelInfo a{.name = "alpha", .memory_bytes = 1};
    a.stats.queued = 2;
    a.stats.active = 1;
    a.stats.kv_blocks_used = 10;
    a.stats.kv_blocks_total = 40;
    LoadedModelInfo b{.name = "beta", .memory_bytes = 1};
    b.stats.queued = 3;
    b.stats.active = 4;
    b.stats.kv_blocks_used = 30;
    b.stats.kv_blocks_total = 60;
    b.stats.kv_blocks_cached = 20;  // idle slots' prefixes: evictable, so not "in use"
    Metrics metrics;
    auto m = parse_samples(metrics.render({a, b}));
    EXPECT_EQ(m.at("hearth_waiting_sequences"), 5);
    EXPECT_EQ(m.at("hearth_running_sequences"), 5);
    EXPECT_DOUBLE_EQ(m.at("hearth_kv_cache_usage_ratio"), 0.4);  // (10 + 30) / (40 + 60)
    EXPECT_EQ(m.count("hearth_loaded_models_info{running_lora_adapters=\"alpha,beta\"}"), 1u);

    // Nothing loaded: zeros, no division by zero, and an empty list.
    m = parse_samples(metrics.render({}));
    EXPECT_EQ(m.at("hearth_waiting_sequences"), 0);
    EXPECT_EQ(m.at("hearth_running_sequences"), 0);
    EXPECT_EQ(m.at("hearth_kv_cache_usage_ratio"), 0);
    EXPECT_EQ(m.count("hearth_loaded_models_info{running_lora_adapters=\"\"}"), 1u);
}

// On a live server: the model a request loaded is listed, and while a request runs the totals
// equal the model's own series of the same scrape.
TEST_F(MetricsTest, TotalsFollowTheLoadedModel) {
    auto m = scrape();
    EXPECT_EQ(m.count("hearth_loaded_models_info{running_lora_adapters=\"\"}"), 1u);
    ok_json(live.post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 3}}));
    m = scrape();
    EXPECT_EQ(m.count("hearth_loaded_models_info{running_lora_adapters=\"stories260K\"}"), 1u);
    // Generations on another thread, scraped until one shows as running (bounded: the model
    // is tiny, so a scrape may miss a whole request).
    bool seen_running = false;
    for (int attempt = 0; attempt < 20 && !seen_running; ++attempt) {
        std::atomic<bool> finished{false};
        std::thread busy([&] {
            live.post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 120}});
            finished = true;
        });
        while (!finished && !seen_running) {
            m = scrape();
            seen_running = at(m, "hearth_running_sequences") > 0;
        }
        busy.join();
    }
    ASSERT_TRUE(seen_running);
    EXPECT_EQ(at(m, "hearth_running_sequences"), at(m, "hearth_active_sequences{" + kModel + "}"));
    EXPECT_EQ(at(m, "hearth_waiting_sequences"), at(m, "hearth_queue_depth{" + kModel + "}"));
    EXPECT_DOUBLE_EQ(at(m, "hearth_kv_cache_usage_ratio"),
                     at(m, "hearth_kv_blocks_used{" + kModel + "}") /
                         at(m, "hearth_kv_blocks_total{" + kModel + "}"));
    // (Not > 0: the scheduler publishes the running count and the KV figures a moment apart.)
    EXPECT_GE(at(m, "hearth_kv_cache_usage_ratio"), 0);
    EXPECT_LE(at(m, "hearth_kv_cache_usage_ratio"), 1);
}

// --public-metrics opens /metrics alone: the rest still wants a key, and without the flag
// /metrics wants an admin key.
TEST(PublicMetrics, OnlyMetricsAnswerWithoutAKey) {
    auto status = [](const LiveServer& live, const char* path) {
        auto res = live.client().Get(path);
        return res ? res->status : -1;
    };
    ServerOptions options = default_options();
    options.api_keys = {"metrics-test-admin-key"};
    {
        LiveServer closed(options);
        EXPECT_EQ(status(closed, "/metrics"), 401);
    }
    options.public_metrics = true;
    LiveServer open(options);
    auto res = open.client().Get("/metrics");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_NE(res->body.find("\nhearth_waiting_sequences 0\n"), std::string::npos);
    EXPECT_EQ(status(open, "/v1/models"), 401);
    EXPECT_EQ(status(open, "/admin/keys"), 401);
}

// The Prometheus project's parser reads the whole exposition (after traffic, so every family
// has samples); the script checks what the format requires of histograms, that
// docs/OPERATIONS.md documents every family, and that the Grafana dashboard queries only
// series the server has.
TEST_F(MetricsTest, ExpositionParsesWithPrometheusClient) {
    if (std::system("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null") != 0)
        GTEST_SKIP() << "python3-prometheus-client is not installed (scripts/install-deps.sh)";
    ok_json(live.post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 3}}));
    ok_json(live.post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 3}}));
    live.post("/v1/completions", json{{"prompt", 3}});  // a 400
    auto res = live.client().Get("/metrics");
    ASSERT_TRUE(res);
    const auto path = std::filesystem::temp_directory_path() /
                      ("hearth-metrics-" + std::to_string(::getpid()) + ".txt");
    std::ofstream(path) << res->body;
    const std::string script = std::string(HEARTH_TEST_SOURCE_DIR) + "/parse_metrics.py";
    const std::string cmd = "/usr/bin/python3 '" + script + "' '" + path.string() + "' '" +
                            HEARTH_OPERATIONS_MD + "' '" + HEARTH_DASHBOARD_JSON + "' 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
    const int status = ::pclose(pipe);
    std::filesystem::remove(path);
    EXPECT_EQ(status, 0) << output;
    EXPECT_NE(output.find("families"), std::string::npos) << output;
}

}  // namespace
}  // namespace hearth::server
