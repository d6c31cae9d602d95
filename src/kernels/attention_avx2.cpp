// attention_tile with AVX2 + FMA: 8 queries per tile.
#include <immintrin.h>

#include "kernels/attention_simd.h"
#include "kernels/fp16.h"
#include "kernels/quants.h"
#include "kernels/type_traits.h"

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
    static void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n) {
        avx2::kv_to_float(type, src, dst, n);
    }
};

}  // namespace

// F16 with F16C, Q8_0 and Q4_0 eight elements at a time: each element is d * q in float, as
// the scalar dequantization computes it, so the values are the same bit for bit.
void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n) {
    using gguf::TensorType;
    switch (type) {
        case TensorType::F16: {
            const auto* h = static_cast<const uint16_t*>(src);
            int64_t i = 0;
            for (; i + 8 <= n; i += 8) {
                const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i));
                _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(x));
            }
            for (; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
            return;
        }
        case TensorType::Q8_0: {
            const auto* b = static_cast<const BlockQ8_0*>(src);
            for (int64_t k = 0; k < n / 32; ++k, dst += 32) {
                const __m256 d = _mm256_set1_ps(fp16_to_fp32(b[k].d));
                for (int i = 0; i < 32; i += 8) {
                    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[k].qs + i));
                    _mm256_storeu_ps(dst + i,
                                     _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
                }
            }
            return;
        }
        case TensorType::Q4_0: {
            const auto* b = static_cast<const BlockQ4_0*>(src);
            const __m128i low = _mm_set1_epi8(0x0F);
            const __m256i eight = _mm256_set1_epi32(8);
            for (int64_t k = 0; k < n / 32; ++k, dst += 32) {
                const __m256 d = _mm256_set1_ps(fp16_to_fp32(b[k].d));
                const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].qs));
                // Elements 0..15 are the low nibbles, 16..31 the high ones.
                const __m128i halves[2] = {_mm_and_si128(bytes, low),
                                           _mm_and_si128(_mm_srli_epi16(bytes, 4), low)};
                for (int i = 0; i < 32; i += 8) {
                    const __m128i q = i % 16 == 0 ? halves[i / 16]
                                                  : _mm_srli_si128(halves[i / 16], 8);
                    const __m256i x = _mm256_sub_epi32(_mm256_cvtepu8_epi32(q), eight);
                    _mm256_storeu_ps(dst + i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(x)));
                }
            }
            return;
        }
        default:
            traits(type, CpuLevel::Avx2).to_float(src, dst, n);
    }
}

void attention_tile(const AttentionTile& tile, float* scratch) {
    attention_tile_impl<V8>(tile, scratch);
}

}  // namespace hearth::kernels::avx2
