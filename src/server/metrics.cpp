#include "server/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>

#include "kernels/cpu.h"

namespace hearth::server {

namespace {

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Shortest text that reads back as the same double (Prometheus parses Go floats).
std::string num(double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : "NaN";
}

std::string num(uint64_t v) {
    return std::to_string(v);
}

std::string num(int64_t v) {
    return std::to_string(v);
}


std::string model_label(const std::string& model) {
    return "model=\"" + prometheus_label_value(model) + "\"";
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(std::string& out, const char* name, const std::string& labels, const std::string& value) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += ' ' + value + '\n';
}

// Bucket bounds. Time to first token, queue wait and model load: from a millisecond (a short
// prompt on a small model) to a minute (a long prompt, a queue, a large model from disk).
constexpr double kWaitBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                   0.5,   1,      2.5,   5,    10,    30,   60};
// Inter-token latency: a small model on many cores to a large one on few.
constexpr double kTokenBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
                                    0.1,   0.15,   0.2,   0.3,  0.5,  1,    2.5};
// End to end: whole answers, up to long generations.
constexpr double kRequestBuckets[] = {0.05, 0.1, 0.25, 0.5, 1,  2.5, 5,  10,
                                      20,   30,  60,   120, 300, 600};

// ---- the machine, read from /proc (0 where unavailable) ----

double process_cpu_seconds() {
    rusage u{};
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return seconds(u.ru_utime) + seconds(u.ru_stime);
}

// A "Name:  value" line of a /proc file such as /proc/self/status or /proc/meminfo.
uint64_t proc_field(const char* file, const std::string& name) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + ":", 0) != 0) continue;
        std::istringstream rest(line.substr(name.size() + 1));
        uint64_t v = 0;
        rest >> v;
        return v;
    }
    return 0;
}

// The host's CPU time by mode, in seconds summed over CPUs (the first line of /proc/stat).
std::vector<std::pair<const char*, double>> host_cpu_seconds() {
    static const char* modes[] = {"user", "nice",    "system", "idle",
                                  "iowait", "irq", "softirq", "steal"};
    std::ifstream in("/proc/stat");
    std::string cpu;
    std::vector<std::pair<const char*, double>> out;
    if (!(in >> cpu) || cpu != "cpu") return out;
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    for (const char* mode : modes) {
        uint64_t ticks = 0;
        if (!(in >> ticks)) break;
        out.emplace_back(mode, static_cast<double>(ticks) / tick);
    }
    return out;
}

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string prometheus_label_value(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

uint64_t resident_memory_bytes() {
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    if (!(statm >> size >> resident)) return 0;
    return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void Histogram::observe(double value) {
    for (size_t i = 0; i < bounds_.size(); ++i) {
        if (value <= bounds_[i]) {
            ++counts_[i];
            break;
        }
    }
    sum_ += value;
    ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
    const std::string sep = labels.empty() ? "" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += counts_[i];
        out += name + "_bucket{" + sep + "le=\"" + num(bounds_[i]) + "\"} " + num(cumulative) + '\n';
    }
    out += name + "_bucket{" + sep + "le=\"+Inf\"} " + num(count_) + '\n';
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += name + "_sum" + braces + ' ' + num(sum_) + '\n';
    out += name + "_count" + braces + ' ' + num(count_) + '\n';
}

std::string api_label(const std::string& path) {
    std::string p = path;
    if (p.rfind("/models/", 0) == 0) {
        const size_t slash = p.find('/', 8);
        p = slash == std::string::npos ? "" : p.substr(slash);
    }
    auto starts = [&](const char* prefix) { return p.rfind(prefix, 0) == 0; };
    if (p == "/v1/chat/completions" || p == "/v1/completions" || p == "/v1/models" ||
        starts("/v1/models/"))
        return "openai";
    if (p == "/v1/messages" || starts("/v1/messages/")) return "anthropic";
    if (p == "/v1/responses" || starts("/v1/responses/")) return "responses";
    if (p == "/v1/embeddings") return "embeddings";
    if (p == "/v1/rerank" || p == "/rerank" || p == "/v1/reranking" || p == "/reranking")
        return "rerank";
    if (starts("/api/")) return "ollama";
    if (p == "/tokenize" || p == "/detokenize" || p == "/apply-template") return "utility";
    if (p == "/admin" || starts("/admin/")) return "admin";
    if (p == "/health" || p == "/readyz" || p == "/metrics") return "ops";
    return "other";
}

struct Metrics::ModelSeries {
    uint64_t prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0, cancelled = 0;
    Histogram queue_wait{kWaitBuckets};
    Histogram time_to_first_token{kWaitBuckets};
    Histogram inter_token{kTokenBuckets};
    Histogram model_load{kWaitBuckets};
    std::map<std::string, Histogram> request_latency;  // by api
};

Metrics::Metrics() : start_time_(unix_now()) {}
Metrics::~Metrics() = default;

Metrics::ModelSeries& Metrics::series(const std::string& model) {
    return models_[model];
}

void Metrics::record_request(const std::string& route, int status, double seconds) {
    std::lock_guard lock(mutex_);
    ++requests_[{route, status}];
    request_seconds_sum_ += seconds;
    ++request_count_;
}

void Metrics::record_queue_wait(const std::string& model, double seconds) {
    std::lock_guard lock(mutex_);
    series(model).queue_wait.observe(seconds);
}

void Metrics::record_time_to_first_token(const std::string& model, double seconds) {
    std::lock_guard lock(mutex_);
    series(model).time_to_first_token.observe(seconds);
}

void Metrics::record_token_gaps(const std::string& model, std::span<const float> gaps) {
    if (gaps.empty()) return;
    std::lock_guard lock(mutex_);
    Histogram& h = series(model).inter_token;
    for (float g : gaps) h.observe(g);
}

void Metrics::record_generation(const std::string& model, const std::string& api,
                                int64_t prompt_tokens, int64_t cached_prompt_tokens,
                                int64_t completion_tokens, bool cancelled, double seconds) {
    std::lock_guard lock(mutex_);
    ModelSeries& s = series(model);
    s.prompt_tokens += static_cast<uint64_t>(prompt_tokens);
    s.cached_prompt_tokens += static_cast<uint64_t>(cached_prompt_tokens);
    s.completion_tokens += static_cast<uint64_t>(completion_tokens);
    if (cancelled) ++s.cancelled;
    s.request_latency.try_emplace(api, kRequestBuckets).first->second.observe(seconds);
    add_to_window(completion_tokens);
}

void Metrics::record_model_load(const std::string& model, double seconds) {
    std::lock_guard lock(mutex_);
    series(model).model_load.observe(seconds);
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
    std::string out;
    // ---- requests ----
    header(out, "hearth_requests_total", "counter", "HTTP requests by API, route and status.");
    for (const auto& [key, n] : requests_) {
        sample(out, "hearth_requests_total",
               "api=\"" + api_label(key.first) + "\",route=\"" + prometheus_label_value(key.first) +
                   "\",status=\"" + std::to_string(key.second) + "\"",
               num(n));
    }
    header(out, "hearth_request_duration_seconds", "summary", "Time to answer a request.");
    sample(out, "hearth_request_duration_seconds_sum", "", num(request_seconds_sum_));
    sample(out, "hearth_request_duration_seconds_count", "", num(request_count_));

    // ---- generation, per model (models that served a request since the server started) ----
    auto per_model = [&](const char* name, const char* type, const char* help, auto value) {
        header(out, name, type, help);
        for (const auto& [model, s] : models_) sample(out, name, model_label(model), num(value(s)));
    };
    per_model("hearth_prompt_tokens_total", "counter",
              "Prompt tokens of finished generation requests (usage.prompt_tokens).",
              [](const ModelSeries& s) { return s.prompt_tokens; });
    per_model("hearth_cached_prompt_tokens_total", "counter",
              "Of those, tokens served from the prefix cache (usage cached tokens).",
              [](const ModelSeries& s) { return s.cached_prompt_tokens; });
    per_model("hearth_completion_tokens_total", "counter",
              "Tokens generated (usage.completion_tokens).",
              [](const ModelSeries& s) { return s.completion_tokens; });
    per_model("hearth_cancelled_generations_total", "counter",
              "Generations stopped early because the client went away or the server stopped.",
              [](const ModelSeries& s) { return s.cancelled; });
    header(out, "hearth_completion_tokens_per_second", "gauge",
           "Tokens generated per second over the last 10 seconds, all models.");
    sample(out, "hearth_completion_tokens_per_second", "", num(tokens_per_second()));
    auto histogram = [&](const char* name, const char* help, auto which) {
        header(out, name, "histogram", help);
        for (const auto& [model, s] : models_) which(s).render(out, name, model_label(model));
    };
    histogram("hearth_queue_wait_seconds",
              "From a request's submission to the scheduler to its admission into a slot.",
              [](const ModelSeries& s) -> const Histogram& { return s.queue_wait; });
    histogram("hearth_time_to_first_token_seconds",
              "From the start of a request's prefill to its first generated token.",
              [](const ModelSeries& s) -> const Histogram& { return s.time_to_first_token; });
    histogram("hearth_inter_token_latency_seconds",
              "Between consecutive generated tokens of a sequence.",
              [](const ModelSeries& s) -> const Histogram& { return s.inter_token; });
    histogram("hearth_model_load_seconds", "Time to load a model into memory.",
              [](const ModelSeries& s) -> const Histogram& { return s.model_load; });
    header(out, "hearth_e2e_request_latency_seconds", "histogram",
           "A generation request from its first byte to its last token, by API.");
    for (const auto& [model, s] : models_) {
        for (const auto& [api, h] : s.request_latency)
            h.render(out, "hearth_e2e_request_latency_seconds",
                     model_label(model) + ",api=\"" + prometheus_label_value(api) + "\"");
    }

    // ---- loaded models ----
    header(out, "hearth_models_loaded", "gauge", "Models in memory.");
    sample(out, "hearth_models_loaded", "", num(static_cast<uint64_t>(models.size())));
    auto loaded = [&](const char* name, const char* type, const char* help, auto value) {
        header(out, name, type, help);
        for (const auto& m : models) sample(out, name, model_label(m.name), num(value(m)));
    };
    loaded("hearth_queue_depth", "gauge", "Sequences waiting for a slot (and KV blocks).",
           [](const LoadedModelInfo& m) { return static_cast<uint64_t>(m.stats.queued); });
    loaded("hearth_active_sequences", "gauge", "Sequences running (prefill or generation).",
           [](const LoadedModelInfo& m) { return static_cast<uint64_t>(m.stats.active); });
    loaded("hearth_kv_blocks_total", "gauge", "The KV pool, in 32-token blocks.",
           [](const LoadedModelInfo& m) { return m.stats.kv_blocks_total; });
    loaded("hearth_kv_blocks_used", "gauge", "KV blocks running sequences hold.",
           [](const LoadedModelInfo& m) { return m.stats.kv_blocks_used; });
    loaded("hearth_kv_blocks_cached", "gauge",
           "KV blocks only idle slots' cached prompt prefixes hold (reused, evicted when needed).",
           [](const LoadedModelInfo& m) { return m.stats.kv_blocks_cached; });
    loaded("hearth_prompt_tokens_reused_total", "counter",
           "Prompt tokens served from the prefix cache, per sequence.",
           [](const LoadedModelInfo& m) { return m.stats.prompt_tokens_reused; });
    header(out, "hearth_draft_tokens_total", "counter",
           "Speculative decoding (--lookup-draft): tokens drafted, and those the sampler kept.");
    for (const auto& m : models) {
        sample(out, "hearth_draft_tokens_total", model_label(m.name) + ",outcome=\"proposed\"",
               num(m.stats.draft_tokens_proposed));
        sample(out, "hearth_draft_tokens_total", model_label(m.name) + ",outcome=\"accepted\"",
               num(m.stats.draft_tokens_accepted));
    }
    loaded("hearth_context_shifts_total", "counter",
           "Context shifts (--context-shift): times a full sequence dropped its oldest tokens.",
           [](const LoadedModelInfo& m) { return m.stats.context_shifts; });
    loaded("hearth_model_memory_bytes", "gauge", "Weights plus KV cache of a loaded model.",
           [](const LoadedModelInfo& m) { return m.memory_bytes; });
    loaded("hearth_model_context_tokens", "gauge", "Context a sequence may fill.",
           [](const LoadedModelInfo& m) { return m.ctx_size; });
    loaded("hearth_model_threads", "gauge", "Compute threads of the model's scheduler.",
           [](const LoadedModelInfo& m) { return static_cast<int64_t>(m.threads); });
    loaded("hearth_model_idle_seconds", "gauge",
           "Seconds since the model's last request ended (0 while one runs).",
           [](const LoadedModelInfo& m) { return m.idle_seconds; });
    render_server_totals(out, models);
    render_machine(out);
    return out;
}

// One sample per family for the whole server, summed over the loaded models: a router that
// weighs replicas (the Gateway API Inference Extension's endpoint picker, an autoscaler) reads
// one value per replica and cannot sum the per-model series itself (docs/SCALING.md).
void Metrics::render_server_totals(std::string& out,
                                   const std::vector<LoadedModelInfo>& models) const {
    uint64_t waiting = 0, running = 0;
    int64_t kv_used = 0, kv_total = 0;
    std::string names;
    for (const auto& m : models) {
        waiting += m.stats.queued;
        running += m.stats.active;
        kv_used += m.stats.kv_blocks_used;
        kv_total += m.stats.kv_blocks_total;
        names += (names.empty() ? "" : ",") + m.name;
    }
    header(out, "hearth_waiting_sequences", "gauge",
           "Sequences waiting for a slot (and KV blocks), all models.");
    sample(out, "hearth_waiting_sequences", "", num(waiting));
    header(out, "hearth_running_sequences", "gauge",
           "Sequences running (prefill or generation), all models.");
    sample(out, "hearth_running_sequences", "", num(running));
    header(out, "hearth_kv_cache_usage_ratio", "gauge",
           "KV blocks running sequences hold over all KV blocks of the loaded models, 0 to 1.");
    sample(out, "hearth_kv_cache_usage_ratio", "",
           num(kv_total > 0 ? static_cast<double>(kv_used) / static_cast<double>(kv_total) : 0.0));
    // The label is the one the endpoint picker reads for vLLM's LoRA adapters (it routes a
    // request to a replica that has its model in memory); the value, as there, is a timestamp.
    header(out, "hearth_loaded_models_info", "gauge",
           "Models in memory, comma-separated in the running_lora_adapters label; the value is "
           "the time of the scrape (Unix seconds).");
    sample(out, "hearth_loaded_models_info",
           "running_lora_adapters=\"" + prometheus_label_value(names) + "\"", num(unix_now()));
}

// The process and the host: what the dashboard charts next to the models.
void Metrics::render_machine(std::string& out) const {
    header(out, "hearth_process_resident_memory_bytes", "gauge", "Resident memory of the server.");
    sample(out, "hearth_process_resident_memory_bytes", "", num(resident_memory_bytes()));
    header(out, "hearth_process_cpu_seconds_total", "counter",
           "CPU time of the server process, user and system.");
    sample(out, "hearth_process_cpu_seconds_total", "", num(process_cpu_seconds()));
    header(out, "hearth_process_threads", "gauge", "Threads of the server process.");
    sample(out, "hearth_process_threads", "", num(proc_field("/proc/self/status", "Threads")));
    header(out, "hearth_process_start_time_seconds", "gauge",
           "When the server started, in Unix seconds.");
    sample(out, "hearth_process_start_time_seconds", "", num(start_time_));
    header(out, "hearth_host_cpu_seconds_total", "counter",
           "CPU time of the whole host by mode, summed over its CPUs (/proc/stat).");
    for (const auto& [mode, seconds] : host_cpu_seconds())
        sample(out, "hearth_host_cpu_seconds_total", std::string("mode=\"") + mode + "\"",
               num(seconds));
    header(out, "hearth_host_cpus", "gauge", "CPUs online on the host.");
    sample(out, "hearth_host_cpus", "", num(static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN))));
    header(out, "hearth_host_memory_bytes", "gauge", "Host memory: total and available.");
    sample(out, "hearth_host_memory_bytes", "state=\"total\"",
           num(proc_field("/proc/meminfo", "MemTotal") * 1024));
    sample(out, "hearth_host_memory_bytes", "state=\"available\"",
           num(proc_field("/proc/meminfo", "MemAvailable") * 1024));
    const kernels::CpuBudget& budget = kernels::cpu_budget();
    header(out, "hearth_cpu_threads", "gauge",
           "Compute threads that fit the CPUs and quota hearth runs in (the default per model).");
    sample(out, "hearth_cpu_threads", "", num(static_cast<int64_t>(budget.threads)));
    header(out, "hearth_cpu_info", "gauge",
           "Always 1; the kernels' SIMD level and whether AMX tiles are in use, as labels.");
    sample(out, "hearth_cpu_info",
           "simd=\"" + std::string(kernels::cpu_level_name(kernels::cpu_level())) +
               "\",amx=\"" + (kernels::amx_enabled() ? "true" : "false") + "\"",
           "1");
}

}  // namespace hearth::server
