#include "gguf/types.h"

#include <array>
#include <cctype>

#include "core/error.h"

namespace hearth::gguf {
namespace {

using T = TensorType;

// Block layouts as published in the GGUF specification / ggml's block structs.
constexpr std::array<TypeInfo, 34> kTypes = {{
    {T::F32, "F32", 1, 4},
    {T::F16, "F16", 1, 2},
    {T::Q4_0, "Q4_0", 32, 18},
    {T::Q4_1, "Q4_1", 32, 20},
    {T::Q5_0, "Q5_0", 32, 22},
    {T::Q5_1, "Q5_1", 32, 24},
    {T::Q8_0, "Q8_0", 32, 34},
    {T::Q8_1, "Q8_1", 32, 36},
    {T::Q2_K, "Q2_K", 256, 84},
    {T::Q3_K, "Q3_K", 256, 110},
    {T::Q4_K, "Q4_K", 256, 144},
    {T::Q5_K, "Q5_K", 256, 176},
    {T::Q6_K, "Q6_K", 256, 210},
    {T::Q8_K, "Q8_K", 256, 292},
    {T::IQ2_XXS, "IQ2_XXS", 256, 66},
    {T::IQ2_XS, "IQ2_XS", 256, 74},
    {T::IQ3_XXS, "IQ3_XXS", 256, 98},
    {T::IQ1_S, "IQ1_S", 256, 50},
    {T::IQ4_NL, "IQ4_NL", 32, 18},
    {T::IQ3_S, "IQ3_S", 256, 110},
    {T::IQ2_S, "IQ2_S", 256, 82},
    {T::IQ4_XS, "IQ4_XS", 256, 136},
    {T::I8, "I8", 1, 1},
    {T::I16, "I16", 1, 2},
    {T::I32, "I32", 1, 4},
    {T::I64, "I64", 1, 8},
    {T::F64, "F64", 1, 8},
    {T::IQ1_M, "IQ1_M", 256, 56},
    {T::BF16, "BF16", 1, 2},
    {T::TQ1_0, "TQ1_0", 256, 54},
    {T::TQ2_0, "TQ2_0", 256, 66},
    {T::MXFP4, "MXFP4", 32, 17},
}};

const TypeInfo* find(uint32_t id) {
    for (const auto& row : kTypes) {
        if (static_cast<uint32_t>(row.type) == id && row.block_size != 0) return &row;
    }
    return nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(a[i])) !=
            std::toupper(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

}  // namespace

std::optional<TypeInfo> type_info(uint32_t id) {
    if (const TypeInfo* row = find(id)) return *row;
    return std::nullopt;
}

const TypeInfo& type_info(TensorType type) {
    const TypeInfo* row = find(static_cast<uint32_t>(type));
    if (!row) throw Error("unknown tensor type id " + std::to_string(static_cast<uint32_t>(type)));
    return *row;
}

std::string_view type_name(TensorType type) {
    return type_info(type).name;
}

std::optional<TensorType> type_from_name(std::string_view name) {
    for (const auto& row : kTypes) {
        if (row.block_size != 0 && iequals(row.name, name)) return row.type;
    }
    return std::nullopt;
}

uint64_t bytes_for(TensorType type, uint64_t n_elements) {
    const TypeInfo& info = type_info(type);
    return n_elements / info.block_size * info.bytes_per_block;
}

}  // namespace hearth::gguf
