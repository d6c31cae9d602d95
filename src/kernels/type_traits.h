#pragma once
// The arithmetic row of each tensor type: how to turn its blocks into floats and back, how to
// take a dot product of a weight row with an activation row, and, for the types the loader
// repacks (kernels/repack.h), the packed layout and the kernels that multiply it at each SIMD
// level. Adding a weight format means adding a row here and its kernels; nothing else in the
// engine branches on the type.
#include <cstddef>
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

struct WeightMatrix;

// Repacks block `block` of each of 16 rows (rows[r]: row r's first block) into one packed block
// at `out` (kernels/repack.h).
using RepackBlockFn = void (*)(const uint8_t* const* rows, int64_t block, uint8_t* out);
// A packed kernel: y[t * y_stride + r] for rows [row_begin, row_end) (multiples of 16) of `w`,
// whose `repacked` copy is used, against n_tokens activation rows in the type's vec_dot_type.
using PackedMatmulFn = void (*)(const WeightMatrix& w, const uint8_t* activations,
                                size_t activation_row_bytes, int64_t n_tokens, float* y,
                                size_t y_stride, int64_t row_begin, int64_t row_end);

// How a type is repacked (kernels/repack.h): 16 rows x `columns` columns make one packed
// block of `bytes` bytes, written by `repack_block`. columns == 0: the type is not repacked.
struct PackedLayout {
    int64_t columns = 0;
    size_t bytes = 0;
    RepackBlockFn repack_block = nullptr;
};

struct TypeTraits {
    TensorType type;
    ToFloatFn to_float = nullptr;
    FromFloatFn from_float = nullptr;
    VecDotFn vec_dot = nullptr;
    TensorType vec_dot_type = TensorType::F32;  // what activations are converted to
    VecDotTileFn vec_dot_tile = nullptr;
    // The same at every level.
    PackedLayout packed = {};
    // This level's kernel for the packed layout (AVX2: 8 rows at a time, AVX-512: 16), or null:
    // the loader then keeps the rows as they are.
    PackedMatmulFn packed_matmul = nullptr;
    // AMX tiles for whole groups of 16 tokens (AVX-512 rows only; used when amx_enabled()).
    PackedMatmulFn packed_matmul_amx = nullptr;
};

// The row for `type` at the current cpu_level(); throws hearth::Error naming the type when hearth
// cannot compute with it.
const TypeTraits& traits(TensorType type);
// The row for `type` at a given SIMD level (tests compare levels against each other).
const TypeTraits& traits(TensorType type, CpuLevel level);
bool is_supported(TensorType type);

}  // namespace hearth::kernels
