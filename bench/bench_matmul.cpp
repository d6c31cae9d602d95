// Matmul throughput on the Llama-3.2-1B shapes. Decode (1 token) is memory bound: the figure
// that matters is weight GB/s. Prompt processing (many tokens) is compute bound: tokens/s.
//   bench_matmul --benchmark_filter='Q4_K'     HEARTH_CPU=avx2 bench_matmul ...
// Arguments of each case: rows, cols, tokens, threads. Q4_K, Q6_K, Q4_0 and Q8_0 run repacked
// on AVX-512 CPUs and Q4_K on AVX2 ones, as models do (HEARTH_REPACK=0: the row-by-row kernels).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gguf/types.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "kernels/type_traits.h"

using namespace hearth::kernels;
using hearth::gguf::TensorType;

namespace {

// Random N(0, 0.02) weights: 64 distinct quantized rows repeated (the values do not change
// the speed, and quantizing 128256 rows of k-quants would dominate the start-up).
const std::vector<uint8_t>& weights(TensorType type, int64_t rows, int64_t cols) {
    static std::map<std::tuple<int, int64_t, int64_t>, std::vector<uint8_t>> cache;
    auto key = std::make_tuple(static_cast<int>(type), rows, cols);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    size_t row_bytes = hearth::gguf::bytes_for(type, cols);
    std::vector<uint8_t> data(row_bytes * rows);
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> row(cols);
    const int64_t distinct = std::min<int64_t>(rows, 64);
    for (int64_t r = 0; r < distinct; ++r) {
        for (auto& v : row) v = dist(rng);
        traits(type).from_float(row.data(), data.data() + r * row_bytes, cols);
    }
    for (int64_t r = distinct; r < rows; ++r)
        std::copy_n(data.data() + (r % distinct) * row_bytes, row_bytes,
                    data.data() + r * row_bytes);
    return cache.emplace(key, std::move(data)).first->second;
}

ThreadPool& pool(int threads) {
    static std::map<int, std::unique_ptr<ThreadPool>> pools;
    auto& p = pools[threads];
    if (!p) p = std::make_unique<ThreadPool>(threads);
    return *p;
}

void run_matmul(benchmark::State& state, TensorType type) {
    const int64_t rows = state.range(0), cols = state.range(1), tokens = state.range(2);
    const int threads = static_cast<int>(state.range(3));
    const auto& data = weights(type, rows, cols);
    WeightMatrix w{type, data.data(), rows, cols, hearth::gguf::bytes_for(type, cols)};
    // As the model loader does: repacked where the level has kernels for it, unless
    // HEARTH_REPACK=0.
    const char* repack_env = std::getenv("HEARTH_REPACK");
    AlignedBuffer repacked;
    if (has_repacked_kernels(type, cpu_level()) && can_repack(w) &&
        !(repack_env && std::string(repack_env) == "0")) {
        repacked = AlignedBuffer::allocate(repacked_bytes(w));
        repack(w, repacked.data.get(), 0, rows / kRepackRows);
        w.repacked = repacked.data.get();
    }
    std::vector<float> x(cols * tokens, 0.5f), y(rows * tokens);
    for (size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
    MatmulScratch scratch;
    for (auto _ : state) {
        matmul(w, x.data(), tokens, y.data(), pool(threads), scratch);
        benchmark::DoNotOptimize(y.data());
    }
    const double weight_bytes = static_cast<double>(data.size());
    state.counters["GB/s"] =
        benchmark::Counter(weight_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["tok/s"] = benchmark::Counter(static_cast<double>(tokens),
                                                 benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(rows) * cols * tokens * 1e-9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

// The 1B shapes: attn q/o 2048x2048, k/v 512x2048, ffn gate/up 8192x2048, ffn down 2048x8192,
// output (tied embedding) 128256x2048.
void shapes(benchmark::internal::Benchmark* b) {
    // Fit in L2: the kernels' compute speed, not memory's, for decode and for prompts.
    b->Args({256, 2048, 1, 1});
    b->Args({256, 2048, 64, 1});
    for (int threads : {1, 2}) {
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{2048, 2048},
                                  {512, 2048},
                                  {8192, 2048},
                                  {2048, 8192},
                                  {128256, 2048}}) {
            b->Args({rows, cols, 1, threads});
        }
        b->Args({8192, 2048, 64, threads});
        b->Args({2048, 8192, 512, threads});
    }
    b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

#define HEARTH_BENCH_TYPE(T)                      \
    void BM_matmul_##T(benchmark::State& state) { \
        run_matmul(state, TensorType::T);         \
    }                                             \
    BENCHMARK(BM_matmul_##T)->Apply(shapes);
HEARTH_BENCH_TYPE(Q4_K)
HEARTH_BENCH_TYPE(Q6_K)
HEARTH_BENCH_TYPE(Q4_0)
HEARTH_BENCH_TYPE(Q8_0)
HEARTH_BENCH_TYPE(Q5_K)
HEARTH_BENCH_TYPE(IQ4_NL)
HEARTH_BENCH_TYPE(F16)

}  // namespace

BENCHMARK_MAIN();
