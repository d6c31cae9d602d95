#pragma once
// Matrix products of a weight matrix (any supported type, used in place from the mapped file)
// with a batch of activation rows.
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/thread_pool.h"
#include "kernels/weight_matrix.h"

namespace hearth::kernels {

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
