// Float weight dot products with AVX-512: 16 lanes.
// GCC 12's AVX-512 headers build casts and reductions from _mm512_undefined_*(), which trips
// -Wuninitialized at every use (GCC bug 105593, fixed in 13); the values are never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "kernels/float_dots_impl.h"

namespace hearth::kernels::avx512 {
namespace {

struct V16 {
    using reg = __m512;
    static constexpr int kRowBlock = 4;  // 4 accumulators of 4 tokens fit the registers
    static constexpr int W = 16;
    static reg zero() { return _mm512_setzero_ps(); }
    static reg load(const float* p) { return _mm512_loadu_ps(p); }
    static reg load_f16(const uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    static reg load_bf16(const uint16_t* p) {
        const __m512i wide =
            _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
    }
    static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
    static float sum(reg v) { return _mm512_reduce_add_ps(v); }
    static void prefetch(const char* p) { _mm_prefetch(p, _MM_HINT_T0); }
};

}  // namespace

HEARTH_DEFINE_FLOAT_DOTS(V16)

}  // namespace hearth::kernels::avx512
