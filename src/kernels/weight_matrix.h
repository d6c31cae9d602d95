#pragma once
// A weight matrix as the kernels see it: used in place from the mapped file, optionally with a
// repacked copy. Its own header so that kernels/repack.h and kernels/matmul.h, which dispatches
// to the repacked kernels, need not include each other.
#include <cstddef>
#include <cstdint>

#include "gguf/reader.h"

namespace hearth::kernels {

// A 2-D weight: `rows` rows of `cols` elements each, GGUF layout (ne[0] = cols).
struct WeightMatrix {
    gguf::TensorType type = gguf::TensorType::F32;
    const uint8_t* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t row_bytes = 0;
    // The same weights repacked at load for the SIMD kernels (kernels/repack.h), or null.
    // `data` stays valid: other SIMD levels (HEARTH_CPU) and row lookups use it.
    const uint8_t* repacked = nullptr;

    static WeightMatrix from_tensor(const gguf::TensorInfo& t);
    const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

}  // namespace hearth::kernels
