#include "tools/bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/repack.h"

namespace hearth::tools {

namespace {

// Sums the 64-bit words of [begin, end) with four independent chains, so the loop is limited
// by memory, not by the latency of one add chain.
uint64_t sum_words(const uint64_t* begin, const uint64_t* end) {
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (const uint64_t* p = begin; p + 4 <= end; p += 4) {
        a += p[0];
        b += p[1];
        c += p[2];
        d += p[3];
    }
    return a + b + c + d;
}

}  // namespace

Bandwidth measure_read_bandwidth(kernels::ThreadPool& pool, size_t bytes, int repetitions) {
    kernels::AlignedBuffer buffer = kernels::AlignedBuffer::allocate(bytes);
    std::memset(buffer.data.get(), 1, bytes);  // fault every page in before timing
    const auto* words = reinterpret_cast<const uint64_t*>(buffer.data.get());
    const int64_t n_words = static_cast<int64_t>(bytes / sizeof(uint64_t));
    std::atomic<uint64_t> sink{0};  // keeps the sums alive
    std::vector<double> rates;
    for (int r = 0; r < std::max(1, repetitions); ++r) {
        const auto start = std::chrono::steady_clock::now();
        pool.parallel_for(n_words, [&](int64_t begin, int64_t end) {
            sink.fetch_add(sum_words(words + begin, words + end), std::memory_order_relaxed);
        });
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        rates.push_back(static_cast<double>(bytes) / seconds / 1e9);
    }
    std::sort(rates.begin(), rates.end());
    return {rates[rates.size() / 2], rates.front(), rates.back()};
}

}  // namespace hearth::tools
