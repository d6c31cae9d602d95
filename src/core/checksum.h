#pragma once
// Non-cryptographic hashes for cache keys and cache-file checksums (prompt cache, repacked
// weights cache). They tell accidents apart (a changed model, a damaged file), not attacks.
#include <cstddef>
#include <cstdint>

namespace hearth {

constexpr uint64_t kFnvOffset = 1469598103934665603ull;

// FNV-1a, byte by byte: for short keys (headers, token ids); chain calls through `h`.
uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvOffset);

// A 64-bit hash of large buffers at memory speed: four independent lanes of xxHash64's round
// (multiply, rotate) over 32 bytes a step, then its avalanche; not bit-compatible with xxHash.
// FNV-1a does one byte per multiply (about 1 GB/s): too slow to check gigabytes of weights on
// every model load.
uint64_t hash64(const void* data, size_t n, uint64_t seed = 0);

}  // namespace hearth
