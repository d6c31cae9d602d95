// attention_tile with AVX2 + FMA: 8 queries per tile.
#include <immintrin.h>

#include "kernels/attention_simd.h"

namespace hearth::kernels::avx2 {
namespace {

struct V8 {
    using reg = __m256;
    static constexpr int W = 8;
    static constexpr int kUnroll = 4;  // 8 weights + 4 outputs fit the 16 registers
    static reg zero() { return _mm256_setzero_ps(); }
    static reg set1(float x) { return _mm256_set1_ps(x); }
    static reg load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, reg x) { _mm256_storeu_ps(p, x); }
    static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
    static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
    static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
    static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
    static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
    static reg mask_outside(reg s, reg j, reg first, reg last) {
        const reg outside =
            _mm256_or_ps(_mm256_cmp_ps(j, first, _CMP_LT_OQ), _mm256_cmp_ps(j, last, _CMP_GT_OQ));
        return _mm256_blendv_ps(s, _mm256_set1_ps(-INFINITY), outside);
    }
    static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
    static reg round(reg x) {
        return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static reg pow2(reg n) {
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
    }
    static reg zero_below(reg y, reg x, float c) {
        return _mm256_and_ps(y, _mm256_cmp_ps(x, _mm256_set1_ps(c), _CMP_GE_OQ));
    }
    static reg exp(reg x) { return exp_cephes<V8>(x); }
};

}  // namespace

void attention_tile(const AttentionTile& tile, float* scratch) {
    attention_tile_impl<V8>(tile, scratch);
}

}  // namespace hearth::kernels::avx2
