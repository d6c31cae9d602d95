#pragma once
// The ggml tensor type table as GGUF files use it: ids, names, block sizes, bytes per block.
// This is storage facts only; the kernels layer adds the arithmetic for each row.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth::gguf {

enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    // 4 and 5 (Q4_2, Q4_3) were removed from ggml long ago.
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    // 31-33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) are no longer allowed in files.
    TQ1_0 = 34,
    TQ2_0 = 35,
    // 36-38 (IQ4_NL_4_4 ...) are no longer allowed in files.
    MXFP4 = 39,
};

constexpr uint32_t kTensorTypeIdLimit = 40;  // ids >= this are unknown

struct TypeInfo {
    TensorType type;
    std::string_view name;
    uint32_t block_size;       // elements per block
    uint32_t bytes_per_block;  // storage bytes per block
};

// The row for `id`, or nullopt when the id is unknown or retired.
std::optional<TypeInfo> type_info(uint32_t id);
const TypeInfo& type_info(TensorType type);
std::string_view type_name(TensorType type);
// Looks a type up by its name ("Q4_K", case-insensitive).
std::optional<TensorType> type_from_name(std::string_view name);

// Bytes needed for `n_elements` of `type`; n_elements must be a multiple of the block size.
uint64_t bytes_for(TensorType type, uint64_t n_elements);

}  // namespace hearth::gguf
