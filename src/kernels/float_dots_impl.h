#pragma once
// The float weight dot products, written once over a vector type V and compiled per level
// (float_dots_avx2.cpp, float_dots_avx512.cpp). Include only from those files, inside no
// namespace.
//
// V provides: reg, W (lanes), kRowBlock (weight rows per register block), zero(), load(const
// float*), load_f16(const uint16_t*), load_bf16(const uint16_t*) (W weights widened to floats),
// fmadd(a, b, c) = a * b + c, add, sum (horizontal), prefetch(const void*).
#include <cstdint>

#include "kernels/float_dots.h"
#include "kernels/fp16.h"
#include "kernels/prefetch.h"
#include "kernels/quants_tile.h"

namespace hearth::kernels {
namespace {

// How each weight type widens W elements (SIMD) or one (the tail) to floats.
template <class V>
struct F32Weights {
    using elem = float;
    static typename V::reg load(const elem* w) { return V::load(w); }
    static float one(elem w) { return w; }
};
template <class V>
struct F16Weights {
    using elem = uint16_t;
    static typename V::reg load(const elem* w) { return V::load_f16(w); }
    static float one(elem w) { return fp16_to_fp32(w); }
};
template <class V>
struct BF16Weights {
    using elem = uint16_t;
    static typename V::reg load(const elem* w) { return V::load_bf16(w); }
    static float one(elem w) { return bf16_to_fp32(w); }
};

template <class V, class Weights>
float float_dot(int64_t n, const void* weights, const void* activations) {
    using R = typename V::reg;
    constexpr int W = V::W;
    const auto* w = static_cast<const typename Weights::elem*>(weights);
    const auto* x = static_cast<const float*>(activations);
    // Four independent sums keep the FMA latency covered.
    R acc[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        V::prefetch(reinterpret_cast<const char*>(w + i) + kPrefetchBytes);
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k)
            acc[k] = V::fmadd(Weights::load(w + i + k * W), V::load(x + i + k * W), acc[k]);
    }
    for (; i + W <= n; i += W) acc[0] = V::fmadd(Weights::load(w + i), V::load(x + i), acc[0]);
    float sum = V::sum(V::add(V::add(acc[0], acc[1]), V::add(acc[2], acc[3])));
    for (; i < n; ++i) sum += Weights::one(w[i]) * x[i];
    return sum;
}

// kRows weight rows against kTokens activation rows, all kRows x kTokens sums in registers:
// each step of W columns widens kRows weight vectors and loads kTokens activation vectors for
// kRows * kTokens FMAs, instead of one widening and one load per FMA.
template <class V, class Weights, int kRows, int kTokens>
void float_block(const tile::TileArgs& t, int r0, int t0) {
    using R = typename V::reg;
    using Elem = typename Weights::elem;
    constexpr int W = V::W;
    const Elem* w[kRows];
    const float* x[kTokens];
    for (int r = 0; r < kRows; ++r)
        w[r] = reinterpret_cast<const Elem*>(t.weights + (r0 + r) * t.weight_row_bytes);
    for (int k = 0; k < kTokens; ++k)
        x[k] = reinterpret_cast<const float*>(t.activations + (t0 + k) * t.activation_row_bytes);
    R acc[kRows][kTokens];
    for (int r = 0; r < kRows; ++r)
        for (int k = 0; k < kTokens; ++k) acc[r][k] = V::zero();
    int64_t i = 0;
    for (; i + W <= t.n; i += W) {
        R ws[kRows];
#pragma GCC unroll 4
        for (int r = 0; r < kRows; ++r) ws[r] = Weights::load(w[r] + i);
#pragma GCC unroll 4
        for (int k = 0; k < kTokens; ++k) {
            const R xs = V::load(x[k] + i);
#pragma GCC unroll 4
            for (int r = 0; r < kRows; ++r) acc[r][k] = V::fmadd(ws[r], xs, acc[r][k]);
        }
    }
    for (int r = 0; r < kRows; ++r) {
        for (int k = 0; k < kTokens; ++k) {
            float sum = V::sum(acc[r][k]);
            for (int64_t j = i; j < t.n; ++j) sum += Weights::one(w[r][j]) * x[k][j];
            t.out[(t0 + k) * t.out_stride + r0 + r] = sum;
        }
    }
}

// The tile's rows in blocks of V::kRowBlock (then one by one) against kTokens tokens. Tokens
// are the outer loop, so the same kTokens activation rows stay cached while the tile's weight
// rows pass (F16 weights are half the bytes of F32 activations; one A/B against rows outer:
// 3-23% faster).
template <class V, class Weights, int kTokens>
void float_token_group(const tile::TileArgs& t, int t0) {
    int r0 = 0;
    for (; r0 + V::kRowBlock <= t.n_rows; r0 += V::kRowBlock)
        float_block<V, Weights, V::kRowBlock, kTokens>(t, r0, t0);
    for (; r0 < t.n_rows; ++r0) float_block<V, Weights, 1, kTokens>(t, r0, t0);
}

template <class V, class Weights>
void float_tile(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                const uint8_t* activations, size_t activation_row_bytes, int n_tokens, float* out,
                size_t out_stride) {
    const tile::TileArgs t{n,        weights,     weight_row_bytes,
                           n_rows,   activations, activation_row_bytes,
                           n_tokens, out,         out_stride};
    int t0 = 0;
    for (; t0 + 4 <= n_tokens; t0 += 4) float_token_group<V, Weights, 4>(t, t0);
    if (t0 + 2 <= n_tokens) float_token_group<V, Weights, 2>(t, t0), t0 += 2;
    if (t0 < n_tokens) float_token_group<V, Weights, 1>(t, t0);
}

}  // namespace
}  // namespace hearth::kernels

// Defines the float_dots.h functions of one level's namespace from its vector type V.
#define HEARTH_DEFINE_FLOAT_DOTS(V)                                                            \
    float vec_dot_f32(int64_t n, const void* w, const void* x) {                               \
        return float_dot<V, F32Weights<V>>(n, w, x);                                           \
    }                                                                                          \
    float vec_dot_f16(int64_t n, const void* w, const void* x) {                               \
        return float_dot<V, F16Weights<V>>(n, w, x);                                           \
    }                                                                                          \
    float vec_dot_bf16(int64_t n, const void* w, const void* x) {                              \
        return float_dot<V, BF16Weights<V>>(n, w, x);                                          \
    }                                                                                          \
    void vec_dot_tile_f32(int64_t n, const uint8_t* w, size_t wb, int rows, const uint8_t* a,  \
                          size_t ab, int tokens, float* out, size_t os) {                      \
        float_tile<V, F32Weights<V>>(n, w, wb, rows, a, ab, tokens, out, os);                  \
    }                                                                                          \
    void vec_dot_tile_f16(int64_t n, const uint8_t* w, size_t wb, int rows, const uint8_t* a,  \
                          size_t ab, int tokens, float* out, size_t os) {                      \
        float_tile<V, F16Weights<V>>(n, w, wb, rows, a, ab, tokens, out, os);                  \
    }                                                                                          \
    void vec_dot_tile_bf16(int64_t n, const uint8_t* w, size_t wb, int rows, const uint8_t* a, \
                           size_t ab, int tokens, float* out, size_t os) {                     \
        float_tile<V, BF16Weights<V>>(n, w, wb, rows, a, ab, tokens, out, os);                 \
    }
