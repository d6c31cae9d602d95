// attention_tile with AVX-512: 16 queries per tile.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "kernels/attention_simd.h"

namespace hearth::kernels::avx512 {
namespace {

struct V16 {
    using reg = __m512;
    static constexpr int W = 16;
    static constexpr int kUnroll = 8;
    static reg zero() { return _mm512_setzero_ps(); }
    static reg set1(float x) { return _mm512_set1_ps(x); }
    static reg load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, reg x) { _mm512_storeu_ps(p, x); }
    static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
    static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
    static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
    static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
    static reg mask_outside(reg s, reg j, reg first, reg last) {
        const __mmask16 outside =
            _mm512_cmp_ps_mask(j, first, _CMP_LT_OQ) | _mm512_cmp_ps_mask(j, last, _CMP_GT_OQ);
        return _mm512_mask_blend_ps(outside, s, _mm512_set1_ps(-INFINITY));
    }
    static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
    static reg round(reg x) {
        return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static reg pow2(reg n) {
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
    }
    static reg zero_below(reg y, reg x, float c) {
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(c), _CMP_GE_OQ), y);
    }
    static reg exp(reg x) { return exp_cephes<V16>(x); }
};

}  // namespace

void attention_tile(const AttentionTile& tile, float* scratch) {
    attention_tile_impl<V16>(tile, scratch);
}

}  // namespace hearth::kernels::avx512
