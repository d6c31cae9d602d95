#pragma once
// The arithmetic row of each tensor type: how to turn its blocks into floats and back, and how
// to take a dot product of a weight row with an activation row. Adding a weight format means
// adding a row here and its kernels; nothing else in the engine branches on the type.
#include <cstdint>

#include "gguf/types.h"
#include "kernels/cpu.h"

namespace hearth::kernels {

using gguf::TensorType;

// Dequantizes n elements (a multiple of the block size) starting at a block boundary.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
// Quantizes n floats (a multiple of the block size) into blocks.
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// Dot product of n elements: a weight row of the weight type with an activation row already
// converted to `vec_dot_type`.
using VecDotFn = float (*)(int64_t n, const void* weight_row, const void* activation_row);
// Dot products of a tile: n_rows consecutive weight rows against n_tokens activation rows,
// out[t * out_stride + r]. Lets a SIMD kernel decode each weight block once for several tokens
// (prompt processing). Optional: matmul falls back to vec_dot when a row has none.
using VecDotTileFn = void (*)(int64_t n, const uint8_t* weights, size_t weight_row_bytes,
                              int n_rows, const uint8_t* activations, size_t activation_row_bytes,
                              int n_tokens, float* out, size_t out_stride);

struct TypeTraits {
    TensorType type;
    ToFloatFn to_float = nullptr;
    FromFloatFn from_float = nullptr;
    VecDotFn vec_dot = nullptr;
    TensorType vec_dot_type = TensorType::F32;  // what activations are converted to
    VecDotTileFn vec_dot_tile = nullptr;
};

// The row for `type` at the current cpu_level(); throws hearth::Error naming the type when hearth
// cannot compute with it.
const TypeTraits& traits(TensorType type);
// The row for `type` at a given SIMD level (tests compare levels against each other).
const TypeTraits& traits(TensorType type, CpuLevel level);
bool is_supported(TensorType type);

}  // namespace hearth::kernels
