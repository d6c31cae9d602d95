#pragma once
// SIMD versions of the quantized dot products. Each namespace is compiled in its own .cpp file
// with that level's -m flags; only call them after cpu_level() says the CPU has the level.
#include <cstddef>
#include <cstdint>

namespace hearth::kernels {

#define HEARTH_DECLARE_SIMD_DOTS                                                   \
    float vec_dot_q4_0(int64_t n, const void* weights, const void* activations);   \
    float vec_dot_q8_0(int64_t n, const void* weights, const void* activations);   \
    float vec_dot_iq4_nl(int64_t n, const void* weights, const void* activations); \
    float vec_dot_mxfp4(int64_t n, const void* weights, const void* activations);  \
    float vec_dot_q4_k(int64_t n, const void* weights, const void* activations);   \
    float vec_dot_q5_k(int64_t n, const void* weights, const void* activations);   \
    float vec_dot_q6_k(int64_t n, const void* weights, const void* activations);

using TileFn = void(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                    const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                    float* out, size_t out_stride);

namespace avx2 {
HEARTH_DECLARE_SIMD_DOTS
TileFn vec_dot_tile_q4_k;
TileFn vec_dot_tile_q6_k;
TileFn vec_dot_tile_q4_0;
TileFn vec_dot_tile_q8_0;
TileFn vec_dot_tile_q5_0;
TileFn vec_dot_tile_iq4_nl;
TileFn vec_dot_tile_mxfp4;
// The other formats (AVX2 only; the AVX-512 level uses these too).
float vec_dot_q4_1(int64_t n, const void* weights, const void* activations);
float vec_dot_q5_0(int64_t n, const void* weights, const void* activations);
float vec_dot_q5_1(int64_t n, const void* weights, const void* activations);
float vec_dot_q2_k(int64_t n, const void* weights, const void* activations);
float vec_dot_q3_k(int64_t n, const void* weights, const void* activations);
float vec_dot_iq4_xs(int64_t n, const void* weights, const void* activations);
// Activation quantization, bit-identical to the scalar versions (AVX-512 uses these too).
void quantize_q8_0(const float* src, void* dst, int64_t n);
void quantize_q8_k(const float* src, void* dst, int64_t n);
}  // namespace avx2
namespace avx512 {
HEARTH_DECLARE_SIMD_DOTS
TileFn vec_dot_tile_q4_k;
TileFn vec_dot_tile_q6_k;
TileFn vec_dot_tile_q4_0;
TileFn vec_dot_tile_q8_0;
TileFn vec_dot_tile_q5_0;
TileFn vec_dot_tile_iq4_nl;
TileFn vec_dot_tile_mxfp4;
float vec_dot_q5_0(int64_t n, const void* weights, const void* activations);
TileFn vec_dot_tile_q5_k;
}  // namespace avx512
#undef HEARTH_DECLARE_SIMD_DOTS

}  // namespace hearth::kernels
