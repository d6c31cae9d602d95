#pragma once
// SIMD dot products of float weight rows (F32, F16, BF16) with F32 activations, per level;
// each namespace is compiled in its own .cpp with that level's -m flags (float_dots_avx2.cpp,
// float_dots_avx512.cpp). Only call them after cpu_level() says the CPU has the level. The
// scalar oracles are in type_traits.cpp.
#include <cstdint>

#include "kernels/quants_simd.h"

namespace hearth::kernels {

#define HEARTH_DECLARE_FLOAT_DOTS                                                \
    float vec_dot_f32(int64_t n, const void* weights, const void* activations);  \
    float vec_dot_f16(int64_t n, const void* weights, const void* activations);  \
    float vec_dot_bf16(int64_t n, const void* weights, const void* activations); \
    TileFn vec_dot_tile_f32;                                                     \
    TileFn vec_dot_tile_f16;                                                     \
    TileFn vec_dot_tile_bf16;

namespace avx2 {
HEARTH_DECLARE_FLOAT_DOTS
}
namespace avx512 {
HEARTH_DECLARE_FLOAT_DOTS
}
#undef HEARTH_DECLARE_FLOAT_DOTS

}  // namespace hearth::kernels
