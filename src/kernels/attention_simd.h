#pragma once
// The attention_tile algorithm, written once over a vector type V and compiled per level
// (attention_scalar.cpp, attention_avx2.cpp, attention_avx512.cpp). Lane i of every vector is
// query i of the tile, so there are no horizontal reductions: scores of 8 keys at a time accumulate
// q[d] (a vector over queries) times the broadcast k[j][d]; the softmax is online (running max
// m and sum l per query, flash-attention style); values accumulate the same way into a
// transposed output o[d][query]. Include only from those files, inside no namespace.
//
// V provides: reg, W (lanes), kUnroll (output dims per step), zero(), set1(float),
// load(const float*), store(float*, reg), add, sub, mul, fmadd(a, b, c) = a * b + c, max,
// exp (0 for very negative or -inf arguments; exp_cephes below), and mask_outside(s, j, first,
// last): s where first <= j <= last, -inf elsewhere; and kv_to_float(type, src, dst, n), the
// level's widening of n stored elements (whole blocks) of a KV type.
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "kernels/attention.h"

namespace hearth::kernels {
namespace {

constexpr int kKeyBlock = kAttentionKeyBlock;

// Cephes expf over V: 2^n * p(r) with x = n ln2 + r, |r| <= ln2 / 2; about 1 ulp. Arguments
// below -87.34 (and -inf) give 0. Needs V::min, V::round (to nearest), V::pow2 (2^n for an
// integral n in [-126, 127]) and V::zero_below(y, x, c): y, or 0 where x < c.
template <class V>
typename V::reg exp_cephes(typename V::reg x) {
    using R = typename V::reg;
    const R x_in = x;
    x = V::min(V::max(x, V::set1(-87.33654f)), V::set1(88.37626f));
    const R n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
    R r = V::fmadd(n, V::set1(-0.693359375f), x);
    r = V::fmadd(n, V::set1(2.12194440e-4f), r);
    R p = V::set1(1.9875691500e-4f);
    p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
    p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
    p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
    p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
    p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
    p = V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
    return V::zero_below(V::mul(p, V::pow2(n)), x_in, -87.33654f);
}

template <class V>
const float* kv_row(const AttentionTile& t, const KvSpan& layout, const void* row, float* buf) {
    if (layout.in_place) return static_cast<const float*>(row) + t.kv_offset;
    V::kv_to_float(t.kv_type, static_cast<const uint8_t*>(row) + layout.skip_bytes, buf, layout.n);
    return buf + layout.skip;
}

template <class V>
void attention_tile_impl(const AttentionTile& t, float* scratch) {
    using R = typename V::reg;
    constexpr int W = V::W;
    const int64_t hd = t.head_dim;
    float* qt = scratch;       // [hd][W] queries, transposed and scaled
    float* ot = qt + hd * W;   // [hd][W] unnormalized outputs, transposed
    float* tmp = ot + hd * W;  // [kKeyBlock][W] soft-capped scores; then l
    float* kbuf = tmp + kKeyBlock * W;  // [kKeyBlock][row] widened keys, then values
    float* vbuf = kbuf + kKeyBlock * attention_kv_row_floats(hd);
    const int64_t row_floats = attention_kv_row_floats(hd);
    const KvSpan layout = kv_span(t.kv_type, t.kv_offset, t.head_dim);
    float firsts[W], lasts[W];
    int64_t lo = INT64_MAX, hi = -1, full_lo = -1, full_hi = INT64_MAX;
    for (int i = 0; i < W; ++i) {
        const bool used = i < t.n_queries;
        for (int64_t d = 0; d < hd; ++d) qt[d * W + i] = used ? t.q[i][d] * t.scale : 0.0f;
        // Unused lanes attend to nothing: every key is masked for them.
        firsts[i] = used ? static_cast<float>(t.first[i]) : 1.0f;
        lasts[i] = used ? static_cast<float>(t.last[i]) : 0.0f;
        if (!used) continue;
        lo = t.first[i] < lo ? t.first[i] : lo;
        hi = t.last[i] > hi ? t.last[i] : hi;
        full_lo = t.first[i] > full_lo ? t.first[i] : full_lo;
        full_hi = t.last[i] < full_hi ? t.last[i] : full_hi;
    }
    for (int64_t d = 0; d < hd * W; ++d) ot[d] = 0.0f;
    const R first = V::load(firsts);
    const R last = V::load(lasts);
    R m = V::set1(-FLT_MAX);  // finite, so exp(m - m_new) is 1 while every key is masked
    R l = V::zero();

    for (int64_t j0 = lo; j0 <= hi; j0 += kKeyBlock) {
        const float* kp[kKeyBlock];
        const float* vp[kKeyBlock];
        for (int j = 0; j < kKeyBlock; ++j) {
            if (j0 + j > hi) {  // the tail repeats the last key
                kp[j] = kp[j - 1];
                vp[j] = vp[j - 1];
                continue;
            }
            kp[j] = kv_row<V>(t, layout, t.k[j0 + j], kbuf + j * row_floats);
            vp[j] = kv_row<V>(t, layout, t.v[j0 + j], vbuf + j * row_floats);
        }
        R s[kKeyBlock];
        for (int j = 0; j < kKeyBlock; ++j) s[j] = V::zero();
        for (int64_t d = 0; d < hd; ++d) {
            const R qd = V::load(qt + d * W);
            for (int j = 0; j < kKeyBlock; ++j) s[j] = V::fmadd(qd, V::set1(kp[j][d]), s[j]);
        }
        if (t.softcap > 0) {
            for (int j = 0; j < kKeyBlock; ++j) {
                V::store(tmp + j * W, s[j]);
                for (int i = 0; i < W; ++i) {
                    float& x = tmp[j * W + i];
                    x = t.softcap * std::tanh(x / t.softcap);
                }
                s[j] = V::load(tmp + j * W);
            }
        }
        // Blocks inside every query's range need no mask.
        if (!(j0 >= full_lo && j0 + kKeyBlock - 1 <= full_hi)) {
            for (int j = 0; j < kKeyBlock; ++j)
                s[j] = V::mask_outside(s[j], V::set1(static_cast<float>(j0 + j)), first, last);
        }
        R m_new = m;
        for (int j = 0; j < kKeyBlock; ++j) m_new = V::max(m_new, s[j]);
        const R corr = V::exp(V::sub(m, m_new));
        R p_sum = V::zero();
        for (int j = 0; j < kKeyBlock; ++j) {
            s[j] = V::exp(V::sub(s[j], m_new));
            p_sum = V::add(p_sum, s[j]);
        }
        l = V::fmadd(l, corr, p_sum);
        m = m_new;

        constexpr int U = V::kUnroll;
        int64_t d = 0;
        for (; d + U <= hd; d += U) {
            R o[U];
            for (int u = 0; u < U; ++u) o[u] = V::mul(V::load(ot + (d + u) * W), corr);
            for (int j = 0; j < kKeyBlock; ++j) {
                for (int u = 0; u < U; ++u) o[u] = V::fmadd(s[j], V::set1(vp[j][d + u]), o[u]);
            }
            for (int u = 0; u < U; ++u) V::store(ot + (d + u) * W, o[u]);
        }
        for (; d < hd; ++d) {
            R o = V::mul(V::load(ot + d * W), corr);
            for (int j = 0; j < kKeyBlock; ++j) o = V::fmadd(s[j], V::set1(vp[j][d]), o);
            V::store(ot + d * W, o);
        }
    }

    V::store(tmp, l);
    if (t.sinks) {  // each sink adds exp(sink - m) to its query's denominator
        V::store(tmp + W, m);
        for (int i = 0; i < t.n_queries; ++i) tmp[i] += std::exp(t.sinks[i] - tmp[W + i]);
    }
    for (int i = 0; i < t.n_queries; ++i) {
        const float inv = 1.0f / tmp[i];
        for (int64_t d = 0; d < hd; ++d) t.out[i][d] = ot[d * W + i] * inv;
    }
}

}  // namespace
}  // namespace hearth::kernels
