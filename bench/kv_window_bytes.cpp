// KV cache memory of one long sequence with and without sliding-window layers keeping only
// their window (model/kv_cache.h KvWindow), for the KV shapes of real gemma-family models: a
// sequence of N tokens is reserved in prompt chunks of 256 (the scheduler's default) and every
// row written; prints the blocks in use and the resident memory the cache grew by.
// Build: ninja -C build bench_kv_window_bytes. Run: build/bench/bench_kv_window_bytes [N]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "model/kv_cache.h"

using namespace hearth;

namespace {

struct Shape {
    const char* name;
    int64_t n_layer, kv_dim, window, pattern;  // layers with l % pattern < pattern - 1 slide
};

double rss_mib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
    }
    return 0;
}

void measure(const Shape& s, int64_t tokens, bool windowed) {
    constexpr int64_t kBlock = 32, kChunk = 256;
    const int64_t n_blocks = (tokens + kBlock - 1) / kBlock;
    model::KvWindow w;
    if (windowed) {
        w.tokens = s.window;
        for (int64_t l = 0; l < s.n_layer; ++l) w.sliding.push_back(l % s.pattern < s.pattern - 1);
        w.n_blocks = model::window_blocks(s.window, kChunk, kBlock);
    }
    const double before = rss_mib();
    model::KvCache cache(s.n_layer, s.kv_dim, n_blocks, kBlock, 1, gguf::TensorType::F16, w);
    std::vector<float> row(static_cast<size_t>(s.kv_dim), 0.5f);
    for (int64_t from = 0; from < tokens; from += kChunk) {
        const int64_t to = std::min(tokens, from + kChunk);
        if (!cache.reserve(0, to)) {
            std::printf("out of blocks at %lld\n", static_cast<long long>(to));
            return;
        }
        for (int64_t l = 0; l < s.n_layer; ++l)
            for (int64_t p = from; p < to; ++p) cache.store(l, 0, p, row.data(), row.data());
    }
    cache.release_free_memory();  // released window blocks leave RAM, as when the server idles
    std::printf("%-10s %-6s %6lld tokens: %5lld + %3lld blocks held, %8.1f MiB in use, RSS +%8.1f MiB\n",
                s.name, windowed ? "window" : "whole", static_cast<long long>(tokens),
                static_cast<long long>(cache.n_blocks() - cache.free_blocks()),
                static_cast<long long>(cache.window_n_blocks() - cache.window_free_blocks()),
                static_cast<double>(cache.bytes_in_use()) / (1 << 20), rss_mib() - before);
}

}  // namespace

int main(int argc, char** argv) {
    const int64_t tokens = argc > 1 ? std::atoll(argv[1]) : 8192;
    // KV shapes from the models' GGUF metadata: layers, key/value heads x head size, window.
    const Shape shapes[] = {{"gemma2-2b", 26, 4 * 256, 4096, 2},
                            {"gemma2-9b", 42, 8 * 256, 4096, 2},
                            {"gemma3-4b", 34, 4 * 256, 1024, 6},
                            {"gpt-oss-20b", 24, 8 * 64, 128, 2}};
    for (const Shape& s : shapes) {
        measure(s, tokens, false);
        measure(s, tokens, true);
    }
}
