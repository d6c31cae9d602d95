// The prompt cache's file reader on arbitrary bytes: the directory scan and a load of a file
// holding them must never crash, and a load must never store a row that was not saved.
// Starts from a genuine file (saved once from a KV cache of known rows), so mutations of it
// reach the block checks.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "runtime/prompt_cache.h"

namespace fs = std::filesystem;
using hearth::runtime::PromptCache;
using hearth::runtime::PromptCacheParams;

namespace {

constexpr int64_t kLayers = 2, kDim = 32, kBlock = 32, kTokens = 64;

struct Setup {
    fs::path dir = fs::temp_directory_path() / ("hearth-fuzz-prompt-cache-" + std::to_string(getpid()));
    hearth::model::KvCache cache{kLayers, kDim, 8, kBlock, 2, hearth::gguf::TensorType::F16};
    std::vector<int32_t> tokens;
    fs::path file;
    PromptCache::Match match;

    Setup() {
        fs::remove_all(dir);
        cache.reserve(0, kTokens);
        std::vector<float> row(kDim);
        for (int64_t pos = 0; pos < kTokens; ++pos) {
            tokens.push_back(static_cast<int32_t>(pos * 7 + 1));
            for (int64_t l = 0; l < kLayers; ++l) {
                for (int64_t i = 0; i < kDim; ++i) row[i] = static_cast<float>(pos - i + l);
                cache.store(l, 0, pos, row.data(), row.data());
            }
        }
        PromptCache pc(params(), 1, cache);
        pc.save(tokens, cache, 0);
        pc.flush();
        match = pc.lookup(tokens, kTokens);
        for (const auto& e : fs::directory_iterator(dir)) file = e.path();
        if (match.tokens != kTokens || file.empty()) std::abort();
    }
    PromptCacheParams params() const { return {.dir = dir.string(), .max_bytes = 1u << 20, .min_tokens = 32}; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Setup s;
    {
        std::ofstream out(s.file, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    PromptCache pc(s.params(), 1, s.cache);  // scans the file
    s.cache.clear(1);
    s.cache.reserve(1, kTokens);
    const int64_t held = pc.load(s.match, s.tokens, 0, s.cache, 1);
    if (held % kBlock != 0 || held < 0 || held > kTokens) std::abort();
    for (int64_t pos = 0; pos < held; ++pos) {
        for (int64_t l = 0; l < kLayers; ++l) {
            if (std::memcmp(s.cache.key(l, 0, pos), s.cache.key(l, 1, pos), s.cache.row_bytes()) ||
                std::memcmp(s.cache.value(l, 0, pos), s.cache.value(l, 1, pos), s.cache.row_bytes()))
                std::abort();  // garbage was loaded
        }
    }
    return 0;
}
