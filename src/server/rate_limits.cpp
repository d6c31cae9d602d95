#include "server/rate_limits.h"

#include <algorithm>

#include "server/api_error.h"

namespace hearth::server {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using TimePoint = std::chrono::system_clock::time_point;

constexpr int64_t kDayMs = 24 * 3600 * 1000;

int64_t ms_since_epoch(TimePoint t) {
    return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

int64_t utc_day(TimePoint t) {
    const int64_t ms = ms_since_epoch(t);
    return ms >= 0 ? ms / kDayMs : (ms - kDayMs + 1) / kDayMs;
}

milliseconds until_next_utc_day(TimePoint t) {
    return milliseconds((utc_day(t) + 1) * kDayMs - ms_since_epoch(t));
}

// Whole seconds to wait, rounded up, at least one (Retry-After takes integers).
std::string retry_after(milliseconds wait) {
    return std::to_string(std::max<int64_t>(1, (wait.count() + 999) / 1000));
}

bool tracks(const KeyLimits& l) {
    return l.rpm > 0 || l.tpm > 0 || l.daily_tokens > 0 || l.concurrency > 0;
}

ApiError refusal(const std::string& message, const char* type, const char* code,
                 milliseconds wait, const std::vector<std::pair<std::string, std::string>>& headers) {
    ApiError e(429, message, type, "", code);
    e.with_header("Retry-After", retry_after(wait));
    for (const auto& [name, value] : headers) e.with_header(name, value);
    return e;
}

}  // namespace

std::string reset_duration(milliseconds d) {
    int64_t ms = std::max<int64_t>(0, d.count());
    if (ms == 0) return "0s";
    if (ms < 1000) return std::to_string(ms) + "ms";
    std::string out;
    const int64_t hours = ms / 3'600'000;
    const int64_t minutes = ms / 60'000 % 60;
    if (hours > 0) out += std::to_string(hours) + "h";
    if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
    out += std::to_string(ms / 1000 % 60);
    if (int64_t frac = ms % 1000; frac > 0) {
        std::string digits = std::to_string(frac);
        digits.insert(0, 3 - digits.size(), '0');
        while (digits.back() == '0') digits.pop_back();
        out += "." + digits;
    }
    return out + "s";
}

RateLease& RateLease::operator=(RateLease&& other) noexcept {
    if (this == &other) return *this;
    settle(0);
    limits_ = std::exchange(other.limits_, nullptr);
    key_ = std::move(other.key_);
    minute_tokens_ = other.minute_tokens_;
    day_tokens_ = other.day_tokens_;
    window_ = other.window_;
    day_ = other.day_;
    headers_ = std::move(other.headers_);
    return *this;
}

void RateLease::settle(int64_t tokens) {
    if (!limits_) return;
    limits_->release(*this, tokens);
    limits_ = nullptr;
}

RateLimits::RateLimits(Clock now) : now_(std::move(now)) {}

void RateLimits::roll(KeyState& s, TimePoint now) const {
    // A new window at the first request after the last one ended (or if the clock went back).
    if (now >= s.window_start + kWindow || now < s.window_start) {
        s.window_start = now;
        ++s.window;
        s.requests = 0;
        s.tokens = 0;
    }
    if (const int64_t day = utc_day(now); day != s.day) {
        s.day = day;
        s.day_tokens = 0;
    }
}

RateLease RateLimits::admit(const Identity& who, int64_t tokens) {
    const KeyLimits& l = who.limits;
    if (!tracks(l)) return {};
    tokens = std::max<int64_t>(0, tokens);
    const TimePoint now = now_();
    std::lock_guard lock(mutex_);
    if (now >= last_sweep_ + kWindow || now < last_sweep_) forget_idle(now);
    KeyState& s = keys_[who.key_id];
    roll(s, now);
    s.has_daily_budget = l.daily_tokens > 0;
    const int64_t minute_need = l.tpm > 0 ? std::min(tokens, l.tpm) : tokens;
    const int64_t day_need = l.daily_tokens > 0 ? std::min(tokens, l.daily_tokens) : tokens;
    const auto window_left = duration_cast<milliseconds>(s.window_start + kWindow - now);
    enum class Hit { None, Concurrency, Requests, Tokens, DailyBudget };
    Hit hit = Hit::None;
    if (l.concurrency > 0 && s.in_flight >= l.concurrency)
        hit = Hit::Concurrency;
    else if (l.rpm > 0 && s.requests >= l.rpm)
        hit = Hit::Requests;
    else if (l.tpm > 0 && s.tokens + minute_need > l.tpm)
        hit = Hit::Tokens;
    else if (l.daily_tokens > 0 && s.day_tokens + day_need > l.daily_tokens)
        hit = Hit::DailyBudget;
    if (hit == Hit::None) {
        ++s.in_flight;
        ++s.requests;
        s.tokens += minute_need;
        s.day_tokens += day_need;
    }
    // The headers say where the key stands: after this request when admitted.
    std::vector<std::pair<std::string, std::string>> headers;
    if (l.rpm > 0) {
        headers.emplace_back("x-ratelimit-limit-requests", std::to_string(l.rpm));
        headers.emplace_back("x-ratelimit-remaining-requests",
                             std::to_string(std::max<int64_t>(0, l.rpm - s.requests)));
        headers.emplace_back("x-ratelimit-reset-requests", reset_duration(window_left));
    }
    if (l.tpm > 0) {
        headers.emplace_back("x-ratelimit-limit-tokens", std::to_string(l.tpm));
        headers.emplace_back("x-ratelimit-remaining-tokens",
                             std::to_string(std::max<int64_t>(0, l.tpm - s.tokens)));
        headers.emplace_back("x-ratelimit-reset-tokens", reset_duration(window_left));
    }
    const std::string key = "key '" + who.name + "'";
    switch (hit) {
        case Hit::None:
            break;
        case Hit::Concurrency:
            throw refusal("Too many requests at once for " + key + ": limit " +
                              std::to_string(l.concurrency) +
                              " in flight. Retry when one of them has finished.",
                          "requests", "rate_limit_exceeded", milliseconds(1000), headers);
        case Hit::Requests:
            throw refusal("Rate limit reached for requests per minute (RPM) of " + key +
                              ": limit " + std::to_string(l.rpm) + ", used " +
                              std::to_string(s.requests) + ", requested 1. Please try again in " +
                              reset_duration(window_left) + ".",
                          "requests", "rate_limit_exceeded", window_left, headers);
        case Hit::Tokens:
            throw refusal("Rate limit reached for tokens per minute (TPM) of " + key + ": limit " +
                              std::to_string(l.tpm) + ", used " + std::to_string(s.tokens) +
                              ", requested " + std::to_string(tokens) +
                              " (the prompt and max_tokens). Please try again in " +
                              reset_duration(window_left) + ".",
                          "tokens", "rate_limit_exceeded", window_left, headers);
        case Hit::DailyBudget: {
            const milliseconds wait = until_next_utc_day(now);
            throw refusal("You exceeded the daily token budget of " + key + ": " +
                              std::to_string(l.daily_tokens) + " tokens per UTC day, used " +
                              std::to_string(s.day_tokens) + ", requested " +
                              std::to_string(tokens) +
                              " (the prompt and max_tokens). It renews at 00:00 UTC, in " +
                              reset_duration(wait) + ".",
                          "insufficient_quota", "insufficient_quota", wait, headers);
        }
    }
    RateLease lease;
    lease.limits_ = this;
    lease.key_ = who.key_id;
    lease.minute_tokens_ = minute_need;
    lease.day_tokens_ = day_need;
    lease.window_ = s.window;
    lease.day_ = s.day;
    lease.headers_ = std::move(headers);
    return lease;
}

RateLease RateLimits::admit(Exchange& ex, int64_t tokens) {
    RateLease lease = admit(ex.identity, tokens);
    if (!lease.headers().empty()) {
        ex.decorate = [previous = std::move(ex.decorate),
                       headers = lease.headers()](http::Response& res) {
            if (previous) previous(res);
            for (const auto& [name, value] : headers) res.set_header(name, value);
        };
    }
    return lease;
}

void RateLimits::release(const RateLease& lease, int64_t tokens) {
    tokens = std::max<int64_t>(0, tokens);
    std::lock_guard lock(mutex_);
    auto it = keys_.find(lease.key_);
    if (it == keys_.end()) return;  // cannot happen: a key in flight is never forgotten
    KeyState& s = it->second;
    s.in_flight = std::max<int64_t>(0, s.in_flight - 1);
    // A window or day that ended took the reservation with it; the tokens are not charged to
    // the next one.
    if (s.window == lease.window_) s.tokens = std::max<int64_t>(0, s.tokens - lease.minute_tokens_ + tokens);
    if (s.day == lease.day_) s.day_tokens = std::max<int64_t>(0, s.day_tokens - lease.day_tokens_ + tokens);
}

void RateLimits::forget_idle(TimePoint now) {
    last_sweep_ = now;
    const int64_t today = utc_day(now);
    std::erase_if(keys_, [&](const auto& entry) {
        const KeyState& s = entry.second;
        const bool window_over = now >= s.window_start + kWindow || now < s.window_start;
        const bool day_matters = s.has_daily_budget && s.day == today && s.day_tokens > 0;
        return s.in_flight == 0 && window_over && !day_matters;
    });
}

size_t RateLimits::tracked_keys() {
    std::lock_guard lock(mutex_);
    return keys_.size();
}

}  // namespace hearth::server
