// attention_tile with AVX-512: 16 queries per tile.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "kernels/attention_simd.h"
#include "kernels/fp16.h"
#include "kernels/quants.h"
#include "kernels/type_traits.h"

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
    static void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n) {
        avx512::kv_to_float(type, src, dst, n);
    }
};

}  // namespace

// F16, Q8_0 and Q4_0 sixteen elements at a time: each element is d * q in float, as the
// scalar dequantization computes it, so the values are the same bit for bit.
void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n) {
    using gguf::TensorType;
    switch (type) {
        case TensorType::F16: {
            const auto* h = static_cast<const uint16_t*>(src);
            int64_t i = 0;
            for (; i + 16 <= n; i += 16) {
                const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i));
                _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(x));
            }
            for (; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
            return;
        }
        case TensorType::Q8_0: {
            const auto* b = static_cast<const BlockQ8_0*>(src);
            for (int64_t k = 0; k < n / 32; ++k, dst += 32) {
                const __m512 d = _mm512_set1_ps(fp16_to_fp32(b[k].d));
                for (int i = 0; i < 32; i += 16) {
                    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].qs + i));
                    _mm512_storeu_ps(dst + i,
                                     _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q))));
                }
            }
            return;
        }
        case TensorType::Q4_0: {
            const auto* b = static_cast<const BlockQ4_0*>(src);
            const __m128i low = _mm_set1_epi8(0x0F);
            const __m512i eight = _mm512_set1_epi32(8);
            for (int64_t k = 0; k < n / 32; ++k, dst += 32) {
                const __m512 d = _mm512_set1_ps(fp16_to_fp32(b[k].d));
                const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].qs));
                // Elements 0..15 are the low nibbles, 16..31 the high ones.
                const __m128i halves[2] = {_mm_and_si128(bytes, low),
                                           _mm_and_si128(_mm_srli_epi16(bytes, 4), low)};
                for (int i = 0; i < 2; ++i) {
                    const __m512i x = _mm512_sub_epi32(_mm512_cvtepu8_epi32(halves[i]), eight);
                    _mm512_storeu_ps(dst + 16 * i, _mm512_mul_ps(d, _mm512_cvtepi32_ps(x)));
                }
            }
            return;
        }
        default:
            traits(type, CpuLevel::Avx512).to_float(src, dst, n);
    }
}

void attention_tile(const AttentionTile& tile, float* scratch) {
    attention_tile_impl<V16>(tile, scratch);
}

}  // namespace hearth::kernels::avx512
