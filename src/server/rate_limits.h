#pragma once
// Per-key limits (identity.h KeyLimits, set by `hearth keys create --rpm --tpm --daily-tokens
// --concurrency`), checked when an inference request has its prompt and before it is queued:
//  - requests and tokens (prompt + completion) per minute, in a fixed 60 s window that starts
//    at the key's first request after the previous window ended;
//  - tokens per UTC day;
//  - requests in flight at once.
// Tokens are counted as OpenAI does, up front: a request reserves its prompt plus max_tokens
// (for each of its n choices; the context's room when it sets none), at most the whole limit,
// so a request larger than a limit passes only into an empty window. When the request ends
// the reservation is replaced by what it used, so unused max_tokens come back at once.
// Refusals are 429 with Retry-After and an OpenAI-shaped error: code rate_limit_exceeded (type
// "requests" or "tokens", as OpenAI's), or insufficient_quota for the daily budget. Answers
// of a key with rpm or tpm carry OpenAI's x-ratelimit-* headers. Keys without limits (those
// from the environment, OIDC subjects) are not tracked at all. Counts live in memory: a
// restart forgets them; keys idle for a window (and without today's budget in use) are
// forgotten, so memory follows the keys in use.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/exchange.h"
#include "server/identity.h"

namespace hearth::server {

class RateLimits;

// An admitted request's hold on its key's limits: one request in flight and its reserved
// tokens, until settle() (or the end of the lease, which gives the reservation back).
class RateLease {
  public:
    RateLease() = default;
    RateLease(RateLease&& other) noexcept { *this = std::move(other); }
    RateLease& operator=(RateLease&& other) noexcept;
    RateLease(const RateLease&) = delete;
    RateLease& operator=(const RateLease&) = delete;
    ~RateLease() { settle(0); }

    // The request ended having used `tokens` (prompt + completion): they replace the
    // reservation (in the window and day that hold it, if still current) and the request is
    // no longer in flight. Later calls do nothing.
    void settle(int64_t tokens);
    // OpenAI's x-ratelimit-* headers as they stood at admission (none for an unlimited key).
    const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

  private:
    friend class RateLimits;
    RateLimits* limits_ = nullptr;  // null: nothing to give back
    std::string key_;
    int64_t minute_tokens_ = 0;  // reserved in window window_
    int64_t day_tokens_ = 0;     // reserved on day day_
    uint64_t window_ = 0;
    int64_t day_ = 0;
    std::vector<std::pair<std::string, std::string>> headers_;
};

class RateLimits {
  public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    static constexpr std::chrono::seconds kWindow{60};

    explicit RateLimits(Clock now = std::chrono::system_clock::now);

    // Admits a request of `who` that may use up to `tokens`, or throws ApiError 429 (with
    // Retry-After and the x-ratelimit-* headers) naming the limit it hit.
    RateLease admit(const Identity& who, int64_t tokens);
    // The same for the request being answered: its answer (errors included) will carry the
    // lease's headers.
    RateLease admit(Exchange& ex, int64_t tokens);

    // Keys with state kept (tests: idle ones are forgotten).
    size_t tracked_keys();

  private:
    friend class RateLease;
    struct KeyState {
        std::chrono::system_clock::time_point window_start{};
        uint64_t window = 0;  // counts windows, so a settle knows whether its window is gone
        int64_t requests = 0;
        int64_t tokens = 0;  // this window's, reservations included
        int64_t day = -1;    // days since the epoch (UTC)
        int64_t day_tokens = 0;
        int64_t in_flight = 0;
        bool has_daily_budget = false;
    };

    void roll(KeyState& s, std::chrono::system_clock::time_point now) const;
    void release(const RateLease& lease, int64_t tokens);
    void forget_idle(std::chrono::system_clock::time_point now);

    Clock now_;
    std::mutex mutex_;
    std::unordered_map<std::string, KeyState> keys_;  // by Identity::key_id
    std::chrono::system_clock::time_point last_sweep_{};
};

// A duration as OpenAI writes x-ratelimit-reset-*: Go's format at millisecond precision
// ("0s", "20ms", "1s", "1.5s", "6m0s", "1h2m3s").
std::string reset_duration(std::chrono::milliseconds d);

}  // namespace hearth::server
