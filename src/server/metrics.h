#pragma once
// Counters behind GET /metrics, rendered in the Prometheus text format.
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server/model_pool.h"

namespace hearth::server {

class Metrics {
  public:
    void record_request(const std::string& route, int status, double seconds);
    void record_generation(int64_t prompt_tokens, int64_t completion_tokens, bool cancelled);
    void record_time_to_first_token(double seconds);

    std::string render(const std::vector<LoadedModelInfo>& models) const;

  private:
    // Completion tokens of the last kWindow seconds, one bucket per second, for tokens/s.
    static constexpr int kWindow = 10;
    void add_to_window(int64_t tokens);
    double tokens_per_second() const;

    static constexpr std::array<double, 10> kTtftBuckets = {0.01, 0.025, 0.05, 0.1, 0.25,
                                                            0.5,  1,     2.5,  5,   10};

    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    double request_seconds_sum_ = 0;
    uint64_t request_count_ = 0;
    uint64_t prompt_tokens_ = 0, completion_tokens_ = 0, cancelled_ = 0;
    std::array<uint64_t, kTtftBuckets.size()> ttft_buckets_{};
    double ttft_sum_ = 0;
    uint64_t ttft_count_ = 0;
    mutable std::array<int64_t, kWindow> window_tokens_{};
    mutable std::array<int64_t, kWindow> window_second_{};
};

// Resident memory of this process in bytes (from /proc/self/statm; 0 where unavailable).
uint64_t resident_memory_bytes();

}  // namespace hearth::server
