// Per-key limits (issue #21, 3): requests and tokens per minute with OpenAI's x-ratelimit-*
// headers, daily token budgets, concurrency caps; first RateLimits alone on a clock the test
// moves, then a real server with keys in a key store, then a bounded abuse run. The oracle is
// the documented rule, counted by hand: a request reserves its prompt plus max_tokens, which
// its real usage replaces when it ends; windows are 60 s from the key's first request.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <algorithm>
#include <filesystem>
#include <mutex>
#include <regex>
#include <thread>

#include "live_server.h"
#include "server/key_store.h"
#include "server/rate_limits.h"

namespace hearth::server {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

// ---- RateLimits on a test clock ----

struct TestClock {
    // 2026-12-07 23:00:00 UTC: an hour before the UTC day ends.
    std::chrono::system_clock::time_point now{seconds(1796684400)};
    RateLimits::Clock fn() {
        return [this] { return now; };
    }
};

Identity limited(const std::string& id, KeyLimits limits) {
    Identity who;
    who.key_id = id;
    who.name = id;
    who.scope = Scope::Inference;
    who.limits = limits;
    return who;
}

std::string header(const RateLease& lease, const std::string& name) {
    for (const auto& [n, v] : lease.headers())
        if (n == name) return v;
    return "(none)";
}

std::string header(const ApiError& e, const std::string& name) {
    for (const auto& [n, v] : e.headers())
        if (n == name) return v;
    return "(none)";
}

// The 429 that admit() throws (a failed test, and a 200-like empty error, if none).
ApiError refusal_of(RateLimits& limits, const Identity& who, int64_t tokens) {
    try {
        RateLease lease = limits.admit(who, tokens);
    } catch (const ApiError& e) {
        return e;
    }
    ADD_FAILURE() << "admitted";
    return ApiError(200, "admitted");
}

// Go's time.Duration.String(), which OpenAI's reset headers use ("1s", "6m0s", "20ms").
TEST(RateLimits, ResetDurationsAreWrittenAsGoDurations) {
    EXPECT_EQ(reset_duration(milliseconds(0)), "0s");
    EXPECT_EQ(reset_duration(milliseconds(20)), "20ms");
    EXPECT_EQ(reset_duration(milliseconds(1000)), "1s");
    EXPECT_EQ(reset_duration(milliseconds(1500)), "1.5s");
    EXPECT_EQ(reset_duration(milliseconds(59999)), "59.999s");
    EXPECT_EQ(reset_duration(milliseconds(60000)), "1m0s");
    EXPECT_EQ(reset_duration(milliseconds(360000)), "6m0s");
    EXPECT_EQ(reset_duration(milliseconds(3723040)), "1h2m3.04s");
    EXPECT_EQ(reset_duration(milliseconds(-5)), "0s");
}

TEST(RateLimits, RequestsPerMinute) {
    TestClock clock;
    RateLimits limits(clock.fn());
    const Identity who = limited("k", {.rpm = 3});
    const char* resets[] = {"1m0s", "59s", "58s"};
    for (int i = 0; i < 3; ++i) {
        RateLease lease = limits.admit(who, 10);
        EXPECT_EQ(header(lease, "x-ratelimit-limit-requests"), "3");
        EXPECT_EQ(header(lease, "x-ratelimit-remaining-requests"), std::to_string(2 - i));
        EXPECT_EQ(header(lease, "x-ratelimit-reset-requests"), resets[i]);
        EXPECT_EQ(header(lease, "x-ratelimit-limit-tokens"), "(none)");  // no tpm
        clock.now += seconds(1);
    }
    // 3 s into the window: 57 s left.
    const ApiError e = refusal_of(limits, who, 10);
    EXPECT_EQ(e.status(), 429);
    EXPECT_EQ(e.to_json()["error"]["code"], "rate_limit_exceeded");
    EXPECT_EQ(e.to_json()["error"]["type"], "requests");
    EXPECT_EQ(header(e, "Retry-After"), "57");
    EXPECT_EQ(header(e, "x-ratelimit-remaining-requests"), "0");
    EXPECT_EQ(header(e, "x-ratelimit-reset-requests"), "57s");
    clock.now += milliseconds(56500);  // 0.5 s left
    EXPECT_EQ(header(refusal_of(limits, who, 10), "Retry-After"), "1");
    clock.now += milliseconds(500);  // the window is over: a fresh one
    EXPECT_EQ(header(limits.admit(who, 10), "x-ratelimit-remaining-requests"), "2");
}

TEST(RateLimits, TokensPerMinuteReserveMaxTokensAndSettleOnUsage) {
    TestClock clock;
    RateLimits limits(clock.fn());
    const Identity who = limited("k", {.tpm = 100});
    {
        RateLease lease = limits.admit(who, 30);  // prompt 10 + max_tokens 20
        EXPECT_EQ(header(lease, "x-ratelimit-limit-tokens"), "100");
        EXPECT_EQ(header(lease, "x-ratelimit-remaining-tokens"), "70");
        EXPECT_EQ(header(lease, "x-ratelimit-reset-tokens"), "1m0s");
        EXPECT_EQ(header(lease, "x-ratelimit-limit-requests"), "(none)");  // no rpm
        lease.settle(14);  // used 10 + 4
    }
    clock.now += seconds(6);
    RateLease held = limits.admit(who, 50);
    EXPECT_EQ(header(held, "x-ratelimit-remaining-tokens"), "36");  // 100 - 14 - 50
    EXPECT_EQ(header(held, "x-ratelimit-reset-tokens"), "54s");
    ApiError e = refusal_of(limits, who, 40);  // 14 + 50 + 40 > 100
    EXPECT_EQ(e.to_json()["error"]["type"], "tokens");
    EXPECT_EQ(e.to_json()["error"]["code"], "rate_limit_exceeded");
    EXPECT_EQ(header(e, "Retry-After"), "54");
    EXPECT_EQ(header(e, "x-ratelimit-remaining-tokens"), "36");
    // An unsettled lease gives its reservation back when it ends (the request failed early).
    held = RateLease();
    EXPECT_EQ(header(limits.admit(who, 40), "x-ratelimit-remaining-tokens"), "46");  // 100-14-40
    // A request larger than the whole limit passes only into an empty window.
    EXPECT_EQ(refusal_of(limits, who, 500).status(), 429);
    clock.now += seconds(60);
    RateLease big = limits.admit(who, 500);
    EXPECT_EQ(header(big, "x-ratelimit-remaining-tokens"), "0");
    big.settle(120);  // what it used counts, beyond the limit too
    EXPECT_EQ(refusal_of(limits, who, 1).status(), 429);
}

TEST(RateLimits, DailyBudgetIsInsufficientQuotaUntilTheUtcDayEnds) {
    TestClock clock;  // 23:00 UTC
    RateLimits limits(clock.fn());
    const Identity who = limited("k", {.daily_tokens = 100});
    limits.admit(who, 80).settle(60);
    clock.now += seconds(61);  // a new minute window does not renew the day
    EXPECT_TRUE(limits.admit(who, 40).headers().empty()) << "no OpenAI header for budgets";
    clock.now += seconds(1);
    const ApiError e = refusal_of(limits, who, 41);  // 60 + 41 > 100
    EXPECT_EQ(e.status(), 429);
    EXPECT_EQ(e.to_json()["error"]["code"], "insufficient_quota");
    EXPECT_EQ(e.to_json()["error"]["type"], "insufficient_quota");
    EXPECT_EQ(header(e, "Retry-After"), std::to_string(3600 - 62));  // to 00:00 UTC
    clock.now += seconds(3600 - 62);  // 00:00:00 the next day
    RateLease lease = limits.admit(who, 100);
    EXPECT_EQ(refusal_of(limits, who, 1).to_json()["error"]["code"], "insufficient_quota");
}

TEST(RateLimits, ConcurrencyCapsRequestsInFlight) {
    TestClock clock;
    RateLimits limits(clock.fn());
    const Identity who = limited("k", {.concurrency = 2});
    RateLease a = limits.admit(who, 1);
    RateLease b = limits.admit(who, 1);
    const ApiError e = refusal_of(limits, who, 1);
    EXPECT_EQ(e.to_json()["error"]["code"], "rate_limit_exceeded");
    EXPECT_EQ(header(e, "Retry-After"), "1");
    a.settle(1);
    RateLease c = limits.admit(who, 1);
    EXPECT_EQ(refusal_of(limits, who, 1).status(), 429);
}

TEST(RateLimits, KeysAreCountedApartAndUnlimitedOnesNotAtAll) {
    TestClock clock;
    RateLimits limits(clock.fn());
    const Identity a = limited("a", {.rpm = 1});
    const Identity b = limited("b", {.rpm = 1});
    limits.admit(a, 1);
    EXPECT_EQ(refusal_of(limits, a, 1).status(), 429);
    EXPECT_EQ(header(limits.admit(b, 1), "x-ratelimit-remaining-requests"), "0");
    const Identity free = limited("free", {});
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(limits.admit(free, 1000000).headers().empty());
    EXPECT_EQ(limits.tracked_keys(), 2u);
}

// Memory follows the keys in use: a key idle for a whole window is forgotten, unless today's
// budget of a key with one is in use (forgetting it would renew the budget).
TEST(RateLimits, IdleKeysAreForgotten) {
    TestClock clock;
    RateLimits limits(clock.fn());
    for (int i = 0; i < 1000; ++i) limits.admit(limited("k" + std::to_string(i), {.rpm = 5}), 1);
    limits.admit(limited("budget", {.daily_tokens = 50}), 10).settle(10);
    RateLease held = limits.admit(limited("busy", {.concurrency = 1}), 1);
    EXPECT_EQ(limits.tracked_keys(), 1002u);
    clock.now += seconds(61);
    limits.admit(limited("new", {.rpm = 5}), 1);
    EXPECT_EQ(limits.tracked_keys(), 3u);  // budget, busy, new
    EXPECT_EQ(refusal_of(limits, limited("budget", {.daily_tokens = 50}), 41).status(), 429);
}

// ---- a real server, keys in its key store ----

std::string fresh_state_dir(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() /
                         ("hearth-limits-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir.string();
}

// A server with a key store in a fresh state folder; keys() adds keys to it while it runs.
class LimitsServer {
  public:
    explicit LimitsServer(const std::string& name, ServerOptions options = default_options())
        : dir_(fresh_state_dir(name)), store_(dir_ + "/keys.db") {
        admin_ = store_.create(key("admin", {}, Scope::Admin)).secret;  // keys required from the start
        options.state_dir = dir_;
        server_ = std::make_unique<LiveServer>(options);
    }
    ~LimitsServer() {
        server_.reset();
        fs::remove_all(dir_);
    }
    std::string create(const std::string& name, KeyLimits limits) {
        return store_.create(key(name, limits, Scope::Inference)).secret;
    }
    httplib::Result post(const std::string& path, const json& body, const std::string& key) const {
        return server_->client().Post(path, {{"Authorization", "Bearer " + key}}, body.dump(),
                                      "application/json");
    }
    LiveServer& live() { return *server_; }
    const std::string& admin_key() const { return admin_; }

  private:
    static NewKey key(const std::string& name, KeyLimits limits, Scope scope) {
        NewKey k;
        k.name = name;
        k.scope = scope;
        k.limits = limits;
        return k;
    }
    std::string dir_;
    KeyStore store_;
    std::string admin_;
    std::unique_ptr<LiveServer> server_;
};

json completion(int max_tokens) {
    return {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", max_tokens}};
}

std::string error_code(const httplib::Result& res) {
    return res ? json::parse(res->body)["error"].value("code", "") : "(no response)";
}

int64_t header_int(const httplib::Result& res, const char* name) {
    return res && res->has_header(name) ? std::stoll(res->get_header_value(name)) : -1;
}

const std::regex kGoDuration("([0-9]+h)?([0-9]+m)?[0-9]+(\\.[0-9]+)?s|[0-9]+ms");

TEST(RateLimitsServer, RequestsPerMinuteWithOpenAiHeaders) {
    LimitsServer s("rpm");
    const std::string key = s.create("app", {.rpm = 3});
    for (int i = 0; i < 3; ++i) {
        auto res = s.post("/v1/completions", completion(2), key);
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        EXPECT_EQ(header_int(res, "x-ratelimit-limit-requests"), 3);
        EXPECT_EQ(header_int(res, "x-ratelimit-remaining-requests"), 2 - i);
        const std::string reset = res->get_header_value("x-ratelimit-reset-requests");
        EXPECT_TRUE(std::regex_match(reset, kGoDuration)) << reset;
        EXPECT_FALSE(res->has_header("x-ratelimit-limit-tokens")) << "no tpm set";
    }
    auto res = s.post("/v1/completions", completion(2), key);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 429);
    EXPECT_EQ(error_code(res), "rate_limit_exceeded");
    EXPECT_EQ(json::parse(res->body)["error"]["type"], "requests");
    const int64_t retry = header_int(res, "Retry-After");
    EXPECT_GE(retry, 1);
    EXPECT_LE(retry, 60);
    EXPECT_EQ(header_int(res, "x-ratelimit-remaining-requests"), 0);
}

// remaining = limit - (tokens used by finished requests) - (this one's prompt + max_tokens).
TEST(RateLimitsServer, TokensPerMinuteCountPromptAndMaxTokensThenUsage) {
    LimitsServer s("tpm");
    // Small enough that every max_tokens below fits in the 128-token context (else the room
    // left in the context is what a request reserves).
    const std::string key = s.create("app", {.tpm = 100});
    auto first = s.post("/v1/completions", completion(5), key);
    const json a = ok_json(first);
    const int64_t prompt = a["usage"]["prompt_tokens"];
    EXPECT_EQ(header_int(first, "x-ratelimit-limit-tokens"), 100);
    EXPECT_EQ(header_int(first, "x-ratelimit-remaining-tokens"), 100 - (prompt + 5));
    EXPECT_TRUE(std::regex_match(first->get_header_value("x-ratelimit-reset-tokens"), kGoDuration));
    const int64_t used = a["usage"]["total_tokens"];

    auto second = s.post("/v1/completions", completion(7), key);
    const json b = ok_json(second);
    EXPECT_EQ(header_int(second, "x-ratelimit-remaining-tokens"), 100 - used - (prompt + 7));
    const int64_t used_both = used + b["usage"]["total_tokens"].get<int64_t>();

    // More than what is left: refused, nothing counted.
    const int64_t left = 100 - used_both;
    auto refused = s.post("/v1/completions", completion(static_cast<int>(left - prompt + 1)), key);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 429) << refused->body;
    EXPECT_EQ(error_code(refused), "rate_limit_exceeded");
    EXPECT_EQ(json::parse(refused->body)["error"]["type"], "tokens");
    EXPECT_EQ(header_int(refused, "x-ratelimit-remaining-tokens"), left);
    EXPECT_GE(header_int(refused, "Retry-After"), 1);
    // Exactly what is left still passes.
    auto exact = s.post("/v1/completions", completion(static_cast<int>(left - prompt)), key);
    ok_json(exact);
    EXPECT_EQ(header_int(exact, "x-ratelimit-remaining-tokens"), 0);
}

TEST(RateLimitsServer, DailyBudgetRunsOutAsInsufficientQuota) {
    LimitsServer s("daily");
    const std::string key = s.create("app", {.daily_tokens = 60});
    const json a = ok_json(s.post("/v1/completions", completion(4), key));
    const int64_t prompt = a["usage"]["prompt_tokens"];
    const int64_t left = 60 - a["usage"]["total_tokens"].get<int64_t>();
    auto res = s.post("/v1/completions", completion(static_cast<int>(left - prompt + 1)), key);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 429) << res->body;
    EXPECT_EQ(error_code(res), "insufficient_quota");
    const int64_t retry = header_int(res, "Retry-After");
    EXPECT_GE(retry, 1);
    EXPECT_LE(retry, 86400);  // at the next 00:00 UTC
    EXPECT_FALSE(res->has_header("x-ratelimit-limit-tokens"));
}

// One request held in flight (a stream of a context-shifting generation that does not end by
// itself, whose client reads only the head), then the key's next request.
TEST(RateLimitsServer, ConcurrencyCapRefusesTheRequestBeyondIt) {
    ServerOptions o = default_options();
    o.pool.context_shift = true;
    LimitsServer s("concurrency", o);
    const std::string key = s.create("app", {.concurrency = 1});
    const std::string other = s.create("other", {.concurrency = 1});

    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(s.live().port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string body = json{{"model", "stories260K"},
                                  {"prompt", "Once"},
                                  {"max_tokens", 32768},
                                  {"ignore_eos", true},
                                  {"stream", true}}
                                 .dump();
    const std::string request = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Authorization: Bearer " + key +
                                "\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
    ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    char head[256] = {};
    ASSERT_GT(::recv(fd, head, sizeof head - 1, 0), 0);
    ASSERT_EQ(std::string(head).rfind("HTTP/1.1 200", 0), 0u) << head;

    auto refused = s.post("/v1/completions", completion(2), key);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 429) << refused->body;
    EXPECT_EQ(error_code(refused), "rate_limit_exceeded");
    EXPECT_NE(refused->body.find("at once"), std::string::npos) << refused->body;
    ok_json(s.post("/v1/completions", completion(2), other));  // another key is not held up

    ::close(fd);  // the server cancels the stream, and the key may send again
    int status = 0;
    for (int i = 0; i < 100 && status != 200; ++i) {
        auto res = s.post("/v1/completions", completion(2), key);
        status = res ? res->status : -1;
        if (status != 200) std::this_thread::sleep_for(milliseconds(50));
    }
    EXPECT_EQ(status, 200);
}

// Every inference API counts against the same limits and answers in its own error shape.
TEST(RateLimitsServer, EveryInferenceApiCountsAndRefusesInItsShape) {
    LimitsServer s("apis");
    const std::string key = s.create("app", {.rpm = 4});
    const json chat = {{"model", "stories260K"},
                       {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                       {"max_tokens", 2}};
    const json anthropic = {{"model", "stories260K"},
                            {"max_tokens", 2},
                            {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
    const json ollama = {{"model", "stories260K"}, {"prompt", "Once"}, {"stream", false},
                         {"options", {{"num_predict", 2}}}};
    const json responses = {{"model", "stories260K"}, {"input", "Hi"}, {"max_output_tokens", 2}};
    const std::vector<std::pair<std::string, json>> calls = {{"/v1/chat/completions", chat},
                                                             {"/v1/messages", anthropic},
                                                             {"/api/generate", ollama},
                                                             {"/v1/responses", responses}};
    for (size_t i = 0; i < calls.size(); ++i) {
        auto res = s.post(calls[i].first, calls[i].second, key);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200) << calls[i].first << ": " << res->body;
        EXPECT_EQ(header_int(res, "x-ratelimit-remaining-requests"), 3 - static_cast<int64_t>(i))
            << calls[i].first;
    }
    auto anthropic_refused = s.post("/v1/messages", anthropic, key);
    ASSERT_TRUE(anthropic_refused);
    EXPECT_EQ(anthropic_refused->status, 429);
    EXPECT_EQ(json::parse(anthropic_refused->body)["error"]["type"], "rate_limit_error");
    EXPECT_TRUE(anthropic_refused->has_header("Retry-After"));
    auto ollama_refused = s.post("/api/generate", ollama, key);
    ASSERT_TRUE(ollama_refused);
    EXPECT_EQ(ollama_refused->status, 429);
    EXPECT_TRUE(json::parse(ollama_refused->body)["error"].is_string());
}

TEST(RateLimitsServer, KeysWithoutLimitsGetNoHeadersAndNoLimit) {
    LimitsServer s("unlimited");
    const std::string limited_key = s.create("limited", {.rpm = 1, .tpm = 1000});
    const std::string free_key = s.create("free", {});
    ok_json(s.post("/v1/completions", completion(2), limited_key));
    EXPECT_EQ(s.post("/v1/completions", completion(2), limited_key)->status, 429);
    for (int i = 0; i < 8; ++i) {
        auto res = s.post("/v1/completions", completion(2), free_key);
        ok_json(res);
        for (const char* h : {"x-ratelimit-limit-requests", "x-ratelimit-remaining-tokens"})
            EXPECT_FALSE(res->has_header(h)) << h;
    }
    // The other key's limit is its own: a second limited key starts with a full window.
    const std::string second = s.create("second", {.rpm = 1, .tpm = 1000});
    auto res = s.post("/v1/completions", completion(2), second);
    ok_json(res);
    EXPECT_EQ(header_int(res, "x-ratelimit-remaining-requests"), 0);
    EXPECT_EQ(header_int(res, "x-ratelimit-limit-tokens"), 1000);
}

// Fair share through the server: one slot; key A has a request running and at least three
// waiting when key B sends one. Round-robin admission starts B's next, so at most the running
// A request (and, with slack for timing, one more) answers before B's; first come, first
// served would answer every waiting A request first (four or more).
TEST(RateLimitsServer, FairShareAKeysFloodDoesNotHoldUpAnothersRequest) {
    ServerOptions o = default_options();
    o.pool.parallel = 1;
    o.pool.ctx_size = 512;
    LimitsServer s("fair", o);
    const std::string a = s.create("a", {});
    const std::string b = s.create("b", {});
    const json long_one = {{"model", "stories260K"}, {"prompt", "Once"}, {"max_tokens", 400},
                           {"ignore_eos", true}};
    const std::regex depth(R"(hearth_queue_depth\{model="stories260K"\} ([0-9]+))");
    std::mutex mutex;
    std::vector<std::string> answered;  // "a" or "b", in the order the answers came
    std::vector<std::thread> threads;
    for (int i = 0; i < 6; ++i) {
        threads.emplace_back([&] {
            auto res = s.post("/v1/completions", long_one, a);
            std::lock_guard lock(mutex);
            answered.push_back(res && res->status == 200 ? "a" : "a failed");
        });
    }
    // Until three of A's wait (the queue depth in /metrics).
    int queued = 0;
    for (int i = 0; i < 2000 && queued < 3; ++i) {
        auto m = s.live().client().Get("/metrics", {{"Authorization", "Bearer " + s.admin_key()}});
        std::smatch match;
        if (m && std::regex_search(m->body, match, depth)) queued = std::stoi(match[1]);
        if (queued < 3) std::this_thread::sleep_for(milliseconds(2));
    }
    auto res = s.post("/v1/completions", completion(4), b);
    {
        std::lock_guard lock(mutex);
        answered.push_back(res && res->status == 200 ? "b" : "b failed");
    }
    for (auto& t : threads) t.join();
    ASSERT_GE(queued, 3) << "A's requests never queued up";
    ASSERT_EQ(answered.size(), 7u);
    const auto b_at = std::find(answered.begin(), answered.end(), "b") - answered.begin();
    EXPECT_LE(b_at, 2) << "A's answers before B's: " << b_at << " (" << queued << " were waiting)";
    EXPECT_EQ(std::count(answered.begin(), answered.end(), "a"), 6);
}

// ---- abuse, bounded ----

// The status line of what the server answers to raw request bytes (0: no answer).
int raw_status(int port, const std::string& bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int status = 0;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
        char buf[64] = {};
        if (::recv(fd, buf, sizeof buf - 1, 0) > 12 && std::string(buf).rfind("HTTP/1.1 ", 0) == 0)
            status = std::atoi(buf + 9);
    }
    ::close(fd);
    return status;
}

// On loopback for a few seconds: 50 keys each asking, wrong and malformed keys, a limited key
// flooding from six threads, while a well-behaved key sends one request after another. The
// server stays up, refuses what it must, and fails none of the well-behaved key's requests.
TEST(Abuse, FloodsAndWrongKeysDoNotHurtAWellBehavedKey) {
    ServerOptions o = default_options();
    o.pool.parallel = 2;
    LimitsServer s("abuse", o);
    std::vector<std::string> many;
    for (int i = 0; i < 50; ++i) many.push_back(s.create("user-" + std::to_string(i), {.rpm = 30}));
    const std::string flooder = s.create("flooder", {.rpm = 40, .tpm = 2000, .concurrency = 2});
    const std::string good = s.create("good", {.rpm = 100000});
    const int port = s.live().port();
    const auto until = std::chrono::steady_clock::now() + seconds(4);
    auto running = [&] { return std::chrono::steady_clock::now() < until; };

    std::atomic<int> flood_ok{0}, flood_429{0}, flood_other{0};
    std::atomic<int> wrong_401{0}, wrong_other{0}, raw_bad{0};
    std::atomic<int> many_ok{0}, many_other{0};
    std::atomic<int> good_ok{0};
    std::vector<std::string> good_failures;
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&] {
            while (running()) {
                auto res = s.post("/v1/completions", completion(8), flooder);
                const int st = res ? res->status : -1;
                (st == 200 ? flood_ok : st == 429 ? flood_429 : flood_other)++;
            }
        });
    }
    threads.emplace_back([&] {  // wrong keys through a real client
        const std::string forged = "hk_" + many[0].substr(3, 12) + "_" + std::string(64, '0');
        const std::vector<std::string> keys = {"sk-nope", forged, many[1] + "x", "hk_", "",
                                               std::string(2000, 'A'), "hk_zzzzzzzzzzzz_" + std::string(64, 'z')};
        for (size_t i = 0; running(); ++i) {
            auto res = s.post("/v1/chat/completions", completion(2), keys[i % keys.size()]);
            const int st = res ? res->status : -1;
            (st == 401 ? wrong_401 : wrong_other)++;
        }
    });
    threads.emplace_back([&] {  // malformed Authorization headers, raw
        const std::string body = completion(2).dump();
        const std::vector<std::string> auths = {
            "Authorization: Bearer\r\n",
            "Authorization: Basic dXNlcjpwYXNz\r\n",
            "Authorization: Bearer \xff\xfe\x01\r\n",
            "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n",
            "Authorization: " + std::string(6000, 'B') + "\r\n",
            "x-api-key: \r\n",
            "Authorization: Bearer " + good.substr(0, 40) + "\r\n",
        };
        for (size_t i = 0; running(); ++i) {
            const int st = raw_status(port, "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                                auths[i % auths.size()] +
                                                "Content-Type: application/json\r\nContent-Length: " +
                                                std::to_string(body.size()) + "\r\n\r\n" + body);
            if (st < 400 || st >= 500) raw_bad++;
        }
    });
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, t] {  // the fifty keys, in turn
            for (size_t i = static_cast<size_t>(t); running(); i += 3) {
                auto res = s.post("/v1/completions", completion(2), many[i % many.size()]);
                const int st = res ? res->status : -1;
                // Each key may send 30 a minute; beyond, 429 is the right answer.
                (st == 200 || st == 429 ? many_ok : many_other)++;
            }
        });
    }
    std::mutex failures_mutex;
    threads.emplace_back([&] {  // the well-behaved key
        for (int i = 0; running(); ++i) {
            const json body = i % 2 ? completion(6)
                                    : json{{"model", "stories260K"},
                                           {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                           {"max_tokens", 6}};
            auto res = s.post(i % 2 ? "/v1/completions" : "/v1/chat/completions", body, good);
            if (res && res->status == 200 && json::accept(res->body)) {
                good_ok++;
            } else {
                std::lock_guard lock(failures_mutex);
                good_failures.push_back(res ? std::to_string(res->status) + " " + res->body
                                            : "no response");
            }
        }
    });
    for (auto& t : threads) t.join();

    EXPECT_TRUE(good_failures.empty()) << good_failures.size() << " failed, first: "
                                       << (good_failures.empty() ? "" : good_failures[0]);
    EXPECT_GT(good_ok.load(), 5);
    EXPECT_GT(flood_429.load(), 0) << "the flood was never limited";
    EXPECT_LE(flood_ok.load(), 40) << "more than rpm requests passed in one window";
    EXPECT_EQ(flood_other.load(), 0);
    EXPECT_GT(wrong_401.load(), 0);
    EXPECT_EQ(wrong_other.load(), 0);
    EXPECT_EQ(raw_bad.load(), 0) << "a malformed header got no 4xx";
    EXPECT_GT(many_ok.load(), 0);
    EXPECT_EQ(many_other.load(), 0);
    auto health = s.live().client().Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    std::printf("abuse: good %d ok; flood %d ok %d refused; wrong keys %d; fifty keys %d\n",
                good_ok.load(), flood_ok.load(), flood_429.load(), wrong_401.load(), many_ok.load());
}

}  // namespace
}  // namespace hearth::server
