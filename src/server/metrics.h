#pragma once
// Counters behind GET /metrics, rendered in the Prometheus text format. Every series is listed
// in docs/OPERATIONS.md (name, type, labels, meaning); deploy/grafana/hearth.json charts them.
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "server/model_pool.h"

namespace hearth::server {

// A Prometheus label value: backslash, double quote and newline escaped (every /metrics
// family, the per-key usage counters too).
std::string prometheus_label_value(const std::string& value);

// A Prometheus histogram over fixed bucket bounds (upper bounds, ascending; +Inf implied).
class Histogram {
  public:
    explicit Histogram(std::span<const double> bounds)
        : bounds_(bounds), counts_(bounds.size(), 0) {}
    void observe(double value);
    // The _bucket (cumulative), _sum and _count lines of one series; `labels` is the inside of
    // its braces without le ("" or `model="x"`).
    void render(std::string& out, const std::string& name, const std::string& labels) const;

  private:
    std::span<const double> bounds_;
    std::vector<uint64_t> counts_;  // per bucket, not cumulative; above the last: count_ - sum
    double sum_ = 0;
    uint64_t count_ = 0;
};

// The API a request path belongs to, the `api` label: openai, anthropic, responses, ollama,
// embeddings, rerank, utility, admin, ops or other ("/models/NAME/..." counts as what follows).
std::string api_label(const std::string& path);

class Metrics {
  public:
    Metrics();
    ~Metrics();  // in metrics.cpp, where ModelSeries is complete

    void record_request(const std::string& route, int status, double seconds);

    // ---- per-model generation series (hooked in server/generation.cpp) ----
    // One request's first milestones, from its first choice to reach them: the wait in the
    // scheduler's queue, and from the start of its prefill to its first token.
    void record_queue_wait(const std::string& model, double seconds);
    void record_time_to_first_token(const std::string& model, double seconds);
    // Seconds between consecutive generated tokens (runtime::SequenceEvent::token_gaps).
    void record_token_gaps(const std::string& model, std::span<const float> gaps);
    // A finished generation request (however it ended): its tokens and end-to-end seconds
    // (from its first byte to its last token).
    void record_generation(const std::string& model, const std::string& api,
                           int64_t prompt_tokens, int64_t cached_prompt_tokens,
                           int64_t completion_tokens, bool cancelled, double seconds);
    // A model loaded by the pool (ModelPool::on_load).
    void record_model_load(const std::string& model, double seconds);

    std::string render(const std::vector<LoadedModelInfo>& models) const;

  private:
    struct ModelSeries;
    ModelSeries& series(const std::string& model);  // with mutex_ held
    void render_machine(std::string& out) const;
    void render_server_totals(std::string& out, const std::vector<LoadedModelInfo>& models) const;

    // Completion tokens of the last kWindow seconds, one bucket per second, for tokens/s.
    static constexpr int kWindow = 10;
    void add_to_window(int64_t tokens);
    double tokens_per_second() const;

    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    double request_seconds_sum_ = 0;
    uint64_t request_count_ = 0;
    std::map<std::string, ModelSeries> models_;  // every model that served a request
    double start_time_ = 0;                      // unix seconds
    mutable std::array<int64_t, kWindow> window_tokens_{};
    mutable std::array<int64_t, kWindow> window_second_{};
};

// Resident memory of this process in bytes (from /proc/self/statm; 0 where unavailable).
uint64_t resident_memory_bytes();

}  // namespace hearth::server
