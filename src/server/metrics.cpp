#include "server/metrics.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace hearth::server {

namespace {

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void header(std::ostringstream& out, const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

}  // namespace

uint64_t resident_memory_bytes() {
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    if (!(statm >> size >> resident)) return 0;
    return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void Metrics::record_request(const std::string& route, int status, double seconds) {
    std::lock_guard lock(mutex_);
    ++requests_[{route, status}];
    request_seconds_sum_ += seconds;
    ++request_count_;
}

void Metrics::record_generation(int64_t prompt_tokens, int64_t completion_tokens, bool cancelled) {
    std::lock_guard lock(mutex_);
    prompt_tokens_ += static_cast<uint64_t>(prompt_tokens);
    completion_tokens_ += static_cast<uint64_t>(completion_tokens);
    if (cancelled) ++cancelled_;
    add_to_window(completion_tokens);
}

void Metrics::record_time_to_first_token(double seconds) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < kTtftBuckets.size(); ++i) {
        if (seconds <= kTtftBuckets[i]) ++ttft_buckets_[i];
    }
    ttft_sum_ += seconds;
    ++ttft_count_;
}

void Metrics::add_to_window(int64_t tokens) {
    const int64_t now = now_seconds();
    const size_t i = static_cast<size_t>(now % kWindow);
    if (window_second_[i] != now) {
        window_second_[i] = now;
        window_tokens_[i] = 0;
    }
    window_tokens_[i] += tokens;
}

// Tokens of requests that finished in the last kWindow seconds, per second.
double Metrics::tokens_per_second() const {
    const int64_t now = now_seconds();
    int64_t total = 0;
    for (int i = 0; i < kWindow; ++i) {
        if (now - window_second_[i] < kWindow) total += window_tokens_[i];
    }
    return static_cast<double>(total) / kWindow;
}

std::string Metrics::render(const std::vector<LoadedModelInfo>& models) const {
    std::lock_guard lock(mutex_);
    std::ostringstream out;
    header(out, "hearth_requests_total", "counter", "HTTP requests by route and status.");
    for (const auto& [key, n] : requests_) {
        out << "hearth_requests_total{route=\"" << key.first << "\",status=\"" << key.second
            << "\"} " << n << '\n';
    }
    header(out, "hearth_request_duration_seconds", "summary", "Time to answer a request.");
    out << "hearth_request_duration_seconds_sum " << request_seconds_sum_ << '\n'
        << "hearth_request_duration_seconds_count " << request_count_ << '\n';
    header(out, "hearth_prompt_tokens_total", "counter", "Prompt tokens of finished generations.");
    out << "hearth_prompt_tokens_total " << prompt_tokens_ << '\n';
    header(out, "hearth_completion_tokens_total", "counter", "Tokens generated.");
    out << "hearth_completion_tokens_total " << completion_tokens_ << '\n';
    header(out, "hearth_cancelled_generations_total", "counter",
           "Generations stopped early because the client went away.");
    out << "hearth_cancelled_generations_total " << cancelled_ << '\n';
    header(out, "hearth_completion_tokens_per_second", "gauge",
           "Tokens generated per second over the last 10 seconds.");
    out << "hearth_completion_tokens_per_second " << tokens_per_second() << '\n';
    header(out, "hearth_time_to_first_token_seconds", "histogram",
           "From request arrival to the first generated text.");
    for (size_t i = 0; i < kTtftBuckets.size(); ++i) {
        out << "hearth_time_to_first_token_seconds_bucket{le=\"" << kTtftBuckets[i] << "\"} "
            << ttft_buckets_[i] << '\n';
    }
    out << "hearth_time_to_first_token_seconds_bucket{le=\"+Inf\"} " << ttft_count_ << '\n'
        << "hearth_time_to_first_token_seconds_sum " << ttft_sum_ << '\n'
        << "hearth_time_to_first_token_seconds_count " << ttft_count_ << '\n';
    header(out, "hearth_models_loaded", "gauge", "Models in memory.");
    out << "hearth_models_loaded " << models.size() << '\n';
    header(out, "hearth_queue_depth", "gauge", "Requests waiting for a sequence slot.");
    for (const auto& m : models)
        out << "hearth_queue_depth{model=\"" << m.name << "\"} " << m.stats.queued << '\n';
    header(out, "hearth_active_sequences", "gauge", "Sequences being generated.");
    for (const auto& m : models)
        out << "hearth_active_sequences{model=\"" << m.name << "\"} " << m.stats.active << '\n';
    header(out, "hearth_prompt_tokens_reused_total", "counter",
           "Prompt tokens served from the prefix cache.");
    for (const auto& m : models) {
        out << "hearth_prompt_tokens_reused_total{model=\"" << m.name << "\"} "
            << m.stats.prompt_tokens_reused << '\n';
    }
    header(out, "hearth_draft_tokens_total", "counter",
           "Speculative decoding (--lookup-draft): tokens drafted, and those the sampler kept.");
    for (const auto& m : models) {
        out << "hearth_draft_tokens_total{model=\"" << m.name << "\",outcome=\"proposed\"} "
            << m.stats.draft_tokens_proposed << '\n';
        out << "hearth_draft_tokens_total{model=\"" << m.name << "\",outcome=\"accepted\"} "
            << m.stats.draft_tokens_accepted << '\n';
    }
    header(out, "hearth_context_shifts_total", "counter",
           "Context shifts (--context-shift): times a full sequence dropped its oldest tokens.");
    for (const auto& m : models) {
        out << "hearth_context_shifts_total{model=\"" << m.name << "\"} " << m.stats.context_shifts
            << '\n';
    }
    header(out, "hearth_model_memory_bytes", "gauge", "Weights plus KV cache of a loaded model.");
    for (const auto& m : models)
        out << "hearth_model_memory_bytes{model=\"" << m.name << "\"} " << m.memory_bytes << '\n';
    header(out, "hearth_process_resident_memory_bytes", "gauge", "Resident memory of the server.");
    out << "hearth_process_resident_memory_bytes " << resident_memory_bytes() << '\n';
    return out.str();
}

}  // namespace hearth::server
