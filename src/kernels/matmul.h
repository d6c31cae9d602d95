#pragma once
// Matrix products of a weight matrix (any supported type, used in place from the mapped file)
// with a batch of activation rows.
#include <cstdint>
#include <span>

#include "gguf/reader.h"
#include "kernels/thread_pool.h"

namespace hearth::kernels {

// A 2-D weight: `rows` rows of `cols` elements each, GGUF layout (ne[0] = cols).
struct WeightMatrix {
    gguf::TensorType type = gguf::TensorType::F32;
    const uint8_t* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t row_bytes = 0;
    // The same weights repacked at load for the AVX-512 kernels (kernels/repack.h), or null.
    // `data` stays valid: other SIMD levels (HEARTH_CPU) and row lookups use it.
    const uint8_t* repacked = nullptr;

    static WeightMatrix from_tensor(const gguf::TensorInfo& t);
    const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

// Prompt processing walks tokens in tiles of this many: their 8-bit activations (about 150 KB
// for a 2048-wide Q8_K row set) stay in L2 while the thread streams its weight rows past them,
// so each weight block comes from memory once per tile instead of once per token.
constexpr int64_t kTokenTile = 64;

// Scratch space for converting activations; reused across calls so decoding allocates nothing.
struct MatmulScratch {
    std::vector<uint8_t> converted;
};

// y[t * w.rows + r] = dot(W row r, x[t * w.cols ...]) for t in [0, n_tokens).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch);

// Several weight matrices applied to the same input (attn q/k/v, ffn gate/up): the input is
// converted to 8 bits once and all their rows are split across the threads in one parallel
// region, instead of one conversion and one thread wake-up per matrix. The matrices must share
// `cols`; ones whose types need different activation formats are run one after the other.
struct MatmulOutput {
    const WeightMatrix* w;
    float* y;  // y[t * w->rows + r], as for matmul()
};
void matmul_group(std::span<const MatmulOutput> outputs, const float* x, int64_t n_tokens,
                  ThreadPool& pool, MatmulScratch& scratch);

// Dequantizes one row of `w` into out[0 .. w.cols).
void dequantize_row(const WeightMatrix& w, int64_t row, float* out);

}  // namespace hearth::kernels
