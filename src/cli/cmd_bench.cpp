// `hearth bench MODEL`: prompt-processing and generation speed, llama-bench style.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "kernels/cpu.h"
#include "kernels/thread_pool.h"
#include "runtime/context.h"
#include "tools/bandwidth.h"
#include "tools/quantize_model.h"

namespace hearth::cli {

namespace {

struct BenchOptions {
    std::string model;
    std::vector<int> prompt_sizes = {512};
    std::vector<int> gen_sizes = {128};
    std::vector<int> threads = {0};
    std::vector<int> depths = {0};
    gguf::TensorType kv_type = runtime::ContextParams{}.kv_type;
    int repetitions = 3;
    bool json = false;
};

struct Measurement {
    std::string test;  // "pp512", "tg128", "pp512 @ d4096"
    int threads;
    int tokens;
    std::vector<double> tokens_per_second;
    int depth = 0;  // tokens already in the cache
    // tg only: memory read bandwidth with the same threads, read right before and right after
    // the runs (some VMs switch between two memory speeds from one minute to the next), and the
    // speed the higher reading allows.
    double bandwidth_before_gb_per_s = 0;
    double bandwidth_after_gb_per_s = 0;
    double bound_tokens_per_second = 0;
    double bandwidth_gb_per_s() const {
        return std::max(bandwidth_before_gb_per_s, bandwidth_after_gb_per_s);
    }
    // The two readings differ by more than 15%: the runs may have seen either speed.
    bool bandwidth_changed() const {
        return std::min(bandwidth_before_gb_per_s, bandwidth_after_gb_per_s) <
               0.85 * bandwidth_gb_per_s();
    }
    double mean() const {
        double s = 0;
        for (double v : tokens_per_second) s += v;
        return tokens_per_second.empty() ? 0 : s / tokens_per_second.size();
    }
    double stddev() const {
        if (tokens_per_second.size() < 2) return 0;
        double m = mean(), s = 0;
        for (double v : tokens_per_second) s += (v - m) * (v - m);
        return std::sqrt(s / (tokens_per_second.size() - 1));
    }
};

// Far larger than any cache (this machine class has 480 MB of L3 "per instance"; most have
// 32 MB or less), so the read rate is DRAM's.
constexpr size_t kBandwidthBufferBytes = size_t{1} << 30;
// Below this many bytes of weights per decode step, a server CPU's caches hold the model.
constexpr uint64_t kCacheSizedBytes = uint64_t{64} << 20;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<int32_t> random_tokens(int n, int64_t n_vocab, std::mt19937& rng) {
    std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(n_vocab - 1));
    std::vector<int32_t> tokens(n);
    for (auto& t : tokens) t = dist(rng);
    return tokens;
}

// Fills the cache with `depth` tokens (in chunks, as a server prefills) for the tests that
// follow; after each one, trim_to_depth() drops what the test added.
void fill_depth(runtime::Context& ctx, int depth, int64_t n_vocab, std::mt19937& rng) {
    ctx.cache().clear(0);
    constexpr int kChunk = 512;
    for (int done = 0; done < depth; done += kChunk)
        ctx.append(0, random_tokens(std::min(kChunk, depth - done), n_vocab, rng));
}

void trim_to_depth(runtime::Context& ctx, int depth) {
    ctx.cache().truncate(0, depth);
}

// One prompt of n tokens in one batch, after the depth already in the cache.
double time_prompt(runtime::Context& ctx, const std::vector<int32_t>& tokens, int depth) {
    trim_to_depth(ctx, depth);
    auto start = std::chrono::steady_clock::now();
    ctx.append(0, tokens);
    return seconds_since(start);
}

// n tokens generated one at a time after the depth (as llama-bench's tg test does).
double time_generation(runtime::Context& ctx, const std::vector<int32_t>& tokens, int depth) {
    trim_to_depth(ctx, depth);
    auto start = std::chrono::steady_clock::now();
    for (int32_t t : tokens) ctx.append(0, {t});
    return seconds_since(start);
}

std::string test_name(const char* kind, int tokens, int depth) {
    return kind + std::to_string(tokens) + (depth > 0 ? " @ d" + std::to_string(depth) : "");
}

std::string model_label(const model::Model& m) {
    const auto& f = m.file();
    std::string name = f.get_string("general.name", "model");
    uint64_t file_type = f.get_u64("general.file_type", 9999);
    for (const auto& r : tools::quant_recipes()) {
        if (r.file_type == file_type) return name + " " + std::string(r.name);
    }
    return name;
}

// One input of n tokens embedded (a reranker: scored as a pair of two halves): an encoder's pp
// test.
double time_embedding(const model::Model& m, kernels::ThreadPool& pool,
                      const std::vector<int32_t>& tokens) {
    auto start = std::chrono::steady_clock::now();
    if (m.is_reranker())
        m.rank(tokens, tokens.size() / 2, pool);
    else
        m.embed(tokens, model::Pooling::Default, true, pool);
    return seconds_since(start);
}

// Encoders (bert, nomic-bert) cannot generate: pp embeds one input of p tokens, no tg.
std::vector<Measurement> bench_encoder(const model::Model& m, const BenchOptions& o,
                                       int64_t n_vocab, std::mt19937& rng) {
    std::vector<Measurement> results;
    for (int t : o.threads) {
        kernels::ThreadPool pool(t > 0 ? t : kernels::ThreadPool::default_thread_count());
        time_embedding(m, pool, random_tokens(16, n_vocab, rng));  // warm-up: page in
        for (int p : o.prompt_sizes) {
            if (p <= 0) continue;
            Measurement meas{"pp" + std::to_string(p), pool.size(), p, {}};
            for (int r = 0; r < o.repetitions; ++r)
                meas.tokens_per_second.push_back(
                    p / time_embedding(m, pool, random_tokens(p, n_vocab, rng)));
            results.push_back(meas);
        }
    }
    return results;
}

// Decoders: pp processes one prompt of p tokens in one batch; tg generates n, one at a time;
// both after each depth's tokens are in the cache.
std::vector<Measurement> bench_decoder(const std::shared_ptr<model::Model>& model,
                                       const BenchOptions& o, int64_t n_vocab, std::mt19937& rng) {
    int max_tokens = 16, max_depth = 0;
    for (int p : o.prompt_sizes) max_tokens = std::max(max_tokens, p);
    for (int n : o.gen_sizes) max_tokens = std::max(max_tokens, n);
    for (int d : o.depths) max_depth = std::max(max_depth, d);
    std::vector<Measurement> results;
    for (int t : o.threads) {
        runtime::ContextParams params;
        params.n_ctx = max_depth + max_tokens + 64;
        params.threads = t;
        params.kv_type = o.kv_type;
        runtime::Context ctx(model, params);
        const int n_threads = ctx.pool().size();
        // Warm-up: page in, grow buffers.
        time_prompt(ctx, random_tokens(std::min(max_tokens, 32), n_vocab, rng), 0);
        time_generation(ctx, random_tokens(2, n_vocab, rng), 0);
        // Weights small enough to stay in cache are not bound by memory: no figure then.
        const bool memory_bound = model->decode_bytes_per_token() >= kCacheSizedBytes;
        auto read_bandwidth = [&] {
            return tools::measure_read_bandwidth(ctx.pool(), kBandwidthBufferBytes, 3)
                .median_gb_per_s;
        };
        // A decode step reads the weights and every cached key and value row of the sequence.
        const double kv_bytes_per_position =
            2.0 * static_cast<double>(model->hparams().n_layer * ctx.cache().row_bytes());
        for (int depth : o.depths) {
            if (depth < 0) continue;
            fill_depth(ctx, depth, n_vocab, rng);
            for (int p : o.prompt_sizes) {
                if (p <= 0) continue;
                Measurement m{test_name("pp", p, depth), n_threads, p, {}, depth};
                for (int r = 0; r < o.repetitions; ++r)
                    m.tokens_per_second.push_back(
                        p / time_prompt(ctx, random_tokens(p, n_vocab, rng), depth));
                results.push_back(m);
            }
            for (int n : o.gen_sizes) {
                if (n <= 0) continue;
                Measurement m{test_name("tg", n, depth), n_threads, n, {}, depth};
                if (memory_bound) m.bandwidth_before_gb_per_s = read_bandwidth();
                for (int r = 0; r < o.repetitions; ++r)
                    m.tokens_per_second.push_back(
                        n / time_generation(ctx, random_tokens(n, n_vocab, rng), depth));
                if (memory_bound) {
                    m.bandwidth_after_gb_per_s = read_bandwidth();
                    const double bytes = static_cast<double>(model->decode_bytes_per_token()) +
                                         kv_bytes_per_position * (depth + n / 2.0);
                    m.bound_tokens_per_second = m.bandwidth_gb_per_s() * 1e9 / bytes;
                }
                results.push_back(m);
            }
        }
    }
    return results;
}

void bench(const BenchOptions& o) {
    auto model = model::Model::load(o.model);
    uint64_t n_params = 0;
    for (const auto& t : model->file().tensors()) n_params += static_cast<uint64_t>(t.n_elements());
    const int64_t n_vocab = static_cast<int64_t>(model->file().tensor("token_embd.weight").ne[1]);
    std::mt19937 rng(1234);
    // Encoders attend both ways and have no output layer: they can only embed.
    const bool encoder = !model->hparams().causal;
    if (encoder)
        std::fprintf(stderr, "%s is an encoder: pp embeds one input of that many tokens; no tg\n",
                     o.model.c_str());
    const std::vector<Measurement> results =
        encoder ? bench_encoder(*model, o, n_vocab, rng) : bench_decoder(model, o, n_vocab, rng);
    const std::string label = model_label(*model);
    const double size_mib = model->weight_bytes() / 1048576.0;
    const std::string simd = std::string(kernels::cpu_level_name(kernels::cpu_level())) +
                             (kernels::amx_enabled() ? "+amx" : "");
    if (o.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& m : results) {
            out.push_back({{"model", label},
                           {"model_size_bytes", model->weight_bytes()},
                           {"n_params", n_params},
                           {"simd", simd},
                           {"threads", m.threads},
                           {"test", m.test},
                           {"n_tokens", m.tokens},
                           {"n_depth", m.depth},
                           {"kv_type", model::kv_type_name(o.kv_type)},
                           {"avg_ts", m.mean()},
                           {"stddev_ts", m.stddev()},
                           {"samples_ts", m.tokens_per_second}});
            if (m.bound_tokens_per_second > 0) {
                out.back()["memory_read_gb_per_s"] = m.bandwidth_gb_per_s();
                out.back()["memory_read_before_gb_per_s"] = m.bandwidth_before_gb_per_s;
                out.back()["memory_read_after_gb_per_s"] = m.bandwidth_after_gb_per_s;
                out.back()["decode_bytes_per_token"] = model->decode_bytes_per_token();
                out.back()["memory_bound_ts"] = m.bound_tokens_per_second;
            }
        }
        std::printf("%s\n", out.dump(2).c_str());
        return;
    }
    std::printf(
        "| model | size | params | simd | threads | kv | test | t/s | memory bound |\n"
        "|---|---:|---:|---|---:|---|---:|---:|---|\n");
    for (const auto& m : results) {
        char bound[160] = "";
        if (m.bound_tokens_per_second > 0) {
            int used = std::snprintf(bound, sizeof bound, "%.0f%% of %.1f t/s (%.1f GB/s)",
                                     100 * m.mean() / m.bound_tokens_per_second,
                                     m.bound_tokens_per_second, m.bandwidth_gb_per_s());
            if (m.bandwidth_changed())
                std::snprintf(bound + used, sizeof bound - used,
                              "; memory speed changed: %.1f GB/s before, %.1f after",
                              m.bandwidth_before_gb_per_s, m.bandwidth_after_gb_per_s);
        }
        std::printf("| %s | %.1f MiB | %.2f B | %s | %d | %s | %s | %.2f ± %.2f | %s |\n",
                    label.c_str(), size_mib, n_params / 1e9, simd.c_str(), m.threads,
                    encoder ? "-" : std::string(model::kv_type_name(o.kv_type)).c_str(),
                    m.test.c_str(), m.mean(), m.stddev(), bound);
    }
}

}  // namespace

void add_bench_command(CLI::App& app) {
    auto opts = std::make_shared<BenchOptions>();
    CLI::App* cmd = app.add_subcommand(
        "bench", "Measure prompt processing (pp) and generation (tg) speed in tokens/s.");
    cmd->add_option("model", opts->model, "The .gguf model to measure")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("-p,--n-prompt", opts->prompt_sizes,
                    "Prompt sizes to process in one batch (comma list; 0 = skip)")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("-n,--n-gen", opts->gen_sizes,
                    "Tokens to generate one at a time (comma list; 0 = skip)")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("-t,--threads", opts->threads,
                    "Thread counts to try (comma list; 0 = what the CPU affinity mask and cgroup CPU quota allow)")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("-d,--n-depth", opts->depths,
                    "Tokens already in the KV cache before each test (comma list), as "
                    "llama-bench -d")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 20));
    add_kv_type_option(cmd, opts->kv_type);
    cmd->add_option("-r,--repetitions", opts->repetitions,
                    "Runs of each test; the table shows mean ± standard deviation")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    cmd->add_flag("--json", opts->json,
                  "Print the results as JSON (one object per test, with every sample)");
    cmd->footer(
        "Tokens are random; each test starts from a cache holding -d tokens (empty by default), "
        "after one warm-up. Other busy processes on the "
        "machine lower the figures: compare engines side by side in one run. "
        "HEARTH_CPU=scalar|avx2|avx512 "
        "forces a SIMD level; HEARTH_AMX=0 keeps prompts off the AMX tiles (simd shows +amx when "
        "they are used). Encoders (bert, nomic-bert) cannot generate: their pp test embeds "
        "one input of that many tokens, and tg is skipped. \"memory bound\": before and after "
        "each tg test the same threads read 1 GiB; the higher bandwidth / bytes one decode step "
        "reads (weights, and the cached keys and values at the test's mean depth) is the fastest "
        "decode this memory allows (left out for models under "
        "64 MiB, which caches hold; flagged when the two readings differ by over 15%, as on VMs "
        "whose memory speed changes between runs).\n"
        "Examples:\n"
        "  hearth synth 1b /tmp/1b.gguf --type Q4_K_M\n"
        "  hearth synth 1b /tmp/gemma2-1b.gguf --arch gemma2 --type Q4_K_M\n"
        "  hearth bench /tmp/1b.gguf -p 512 -n 128 -t 2 -r 3\n"
        "  hearth bench /tmp/1b.gguf -p 512 -n 128 -t 2 -d 0,4096 --kv-type f16\n"
        "  hearth bench model.gguf -t 1,2 --json");
    cmd->callback([opts] { bench(*opts); });
}

}  // namespace hearth::cli
