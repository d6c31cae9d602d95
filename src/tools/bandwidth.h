#pragma once
// Memory read bandwidth, measured the way decode reads weights: every thread of the pool
// streams through its own share of a buffer far larger than the caches. Decode of a model
// whose weights do not fit in cache can go no faster than bandwidth / bytes read per token;
// `hearth bench` reports tg against that bound.
#include <cstddef>

#include "kernels/thread_pool.h"

namespace hearth::tools {

struct Bandwidth {
    double median_gb_per_s = 0;  // 1 GB = 1e9 bytes
    double min_gb_per_s = 0;
    double max_gb_per_s = 0;
};

// Reads a `bytes`-sized buffer `repetitions` times with all threads of `pool`.
Bandwidth measure_read_bandwidth(kernels::ThreadPool& pool, size_t bytes, int repetitions);

}  // namespace hearth::tools
