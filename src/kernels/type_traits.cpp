#include "kernels/type_traits.h"

#include <array>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/float_dots.h"
#include "kernels/fp16.h"
#include "kernels/ops.h"
#include "kernels/quants.h"
#include "kernels/quants_simd.h"
#include "kernels/repack.h"

namespace hearth::kernels {

namespace {

void f32_to_float(const void* src, float* dst, int64_t n) {
    std::memcpy(dst, src, n * sizeof(float));
}
void f32_from_float(const float* src, void* dst, int64_t n) {
    std::memcpy(dst, src, n * sizeof(float));
}
float f32_vec_dot(int64_t n, const void* a, const void* b) {
    return dot_f32(static_cast<const float*>(a), static_cast<const float*>(b), n);
}

void f16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
}
void f16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
}
float f16_vec_dot(int64_t n, const void* a, const void* b) {
    const uint16_t* x = static_cast<const uint16_t*>(a);
    const float* y = static_cast<const float*>(b);
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += fp16_to_fp32(x[i]) * y[i];
    return sum;
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
}
void bf16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
}
float bf16_vec_dot(int64_t n, const void* a, const void* b) {
    const uint16_t* x = static_cast<const uint16_t*>(a);
    const float* y = static_cast<const float*>(b);
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += bf16_to_fp32(x[i]) * y[i];
    return sum;
}

using Table = std::array<TypeTraits, gguf::kTensorTypeIdLimit>;
using T = TensorType;

void add_scalar_rows(Table& table) {
    auto set = [&](TypeTraits row) { table[static_cast<uint32_t>(row.type)] = row; };
    set({T::F32, f32_to_float, f32_from_float, f32_vec_dot, T::F32});
    set({T::F16, f16_to_float, f16_from_float, f16_vec_dot, T::F32});
    set({T::BF16, bf16_to_float, bf16_from_float, bf16_vec_dot, T::F32});
    using namespace scalar;
    set({T::Q4_0, dequantize_q4_0, quantize_q4_0, vec_dot_q4_0, T::Q8_0});
    set({T::Q4_1, dequantize_q4_1, quantize_q4_1, vec_dot_q4_1, T::Q8_0});
    set({T::Q5_0, dequantize_q5_0, quantize_q5_0, vec_dot_q5_0, T::Q8_0});
    set({T::Q5_1, dequantize_q5_1, quantize_q5_1, vec_dot_q5_1, T::Q8_0});
    set({T::Q8_0, dequantize_q8_0, quantize_q8_0, vec_dot_q8_0, T::Q8_0});
    set({T::IQ4_NL, dequantize_iq4_nl, quantize_iq4_nl, vec_dot_iq4_nl, T::Q8_0});
    set({T::MXFP4, dequantize_mxfp4, quantize_mxfp4, vec_dot_mxfp4, T::Q8_0});
    set({T::Q2_K, dequantize_q2_k, quantize_q2_k, vec_dot_q2_k, T::Q8_K});
    set({T::Q3_K, dequantize_q3_k, quantize_q3_k, vec_dot_q3_k, T::Q8_K});
    set({T::Q4_K, dequantize_q4_k, quantize_q4_k, vec_dot_q4_k, T::Q8_K});
    set({T::Q5_K, dequantize_q5_k, quantize_q5_k, vec_dot_q5_k, T::Q8_K});
    set({T::Q6_K, dequantize_q6_k, quantize_q6_k, vec_dot_q6_k, T::Q8_K});
    set({T::IQ4_XS, dequantize_iq4_xs, quantize_iq4_xs, vec_dot_iq4_xs, T::Q8_K});
    // Q8_K only ever holds activations: no weight dot product, but it must convert.
    set({T::Q8_K, dequantize_q8_k, quantize_q8_k, nullptr, T::Q8_K});
}

// The repacked layouts (kernels/repack.h): the same at every level.
template <typename Packed>
PackedLayout packed_layout() {
    return {Packed::kColumns, sizeof(Packed), repack_block_x16<Packed>};
}

void add_packed_layouts(Table& table) {
    auto set = [&](T type, PackedLayout layout) {
        table[static_cast<uint32_t>(type)].packed = layout;
    };
    set(T::Q2_K, packed_layout<BlockQ2_Kx16>());
    set(T::Q3_K, packed_layout<BlockQ3_Kx16>());
    set(T::Q4_K, packed_layout<BlockQ4_Kx16>());
    set(T::Q5_K, packed_layout<BlockQ5_Kx16>());
    set(T::Q6_K, packed_layout<BlockQ6_Kx16>());
    set(T::IQ4_XS, packed_layout<BlockIQ4_XSx16>());
    set(T::Q4_0, packed_layout<BlockQ4_0x16>());
    set(T::Q4_1, packed_layout<BlockQ4_1x16>());
    set(T::Q5_0, packed_layout<BlockQ5_0x16>());
    set(T::Q5_1, packed_layout<BlockQ5_1x16>());
    set(T::Q8_0, packed_layout<BlockQ8_0x16>());
    set(T::IQ4_NL, packed_layout<BlockIQ4_NLx16>());
    set(T::MXFP4, packed_layout<BlockMXFP4x16>());
}

// The kernels for the packed layouts: AVX2 has them for Q2_K .. Q6_K, Q4_0, Q8_0 and MXFP4 (8
// rows at a time); AVX-512 for every packed layout (16 rows), and AMX tiles for Q4_K, Q6_K, Q4_0
// and Q8_0 (the other types stay on AVX-512 when AMX is in use).
void add_avx2_packed_kernels(Table& table) {
    auto set = [&](T type, PackedMatmulFn fn) {
        table[static_cast<uint32_t>(type)].packed_matmul = fn;
    };
    set(T::Q2_K, avx2::matmul_x8_q2_k);
    set(T::Q3_K, avx2::matmul_x8_q3_k);
    set(T::Q4_K, avx2::matmul_x8_q4_k);
    set(T::Q5_K, avx2::matmul_x8_q5_k);
    set(T::Q6_K, avx2::matmul_x8_q6_k);
    set(T::Q4_0, avx2::matmul_x8_q4_0);
    set(T::Q8_0, avx2::matmul_x8_q8_0);
    set(T::MXFP4, avx2::matmul_x8_mxfp4);
}

void add_avx512_packed_kernels(Table& table) {
    auto set = [&](T type, PackedMatmulFn fn, PackedMatmulFn amx = nullptr) {
        table[static_cast<uint32_t>(type)].packed_matmul = fn;
        table[static_cast<uint32_t>(type)].packed_matmul_amx = amx;
    };
    set(T::Q2_K, avx512::matmul_x16_q2_k);
    set(T::Q3_K, avx512::matmul_x16_q3_k);
    set(T::Q4_K, avx512::matmul_x16_q4_k, amx::matmul_tiles_q4_k);
    set(T::Q5_K, avx512::matmul_x16_q5_k);
    set(T::Q6_K, avx512::matmul_x16_q6_k, amx::matmul_tiles_q6_k);
    set(T::IQ4_XS, avx512::matmul_x16_iq4_xs);
    set(T::Q4_0, avx512::matmul_x16_q4_0, amx::matmul_tiles_q4_0);
    set(T::Q4_1, avx512::matmul_x16_q4_1);
    set(T::Q5_0, avx512::matmul_x16_q5_0);
    set(T::Q5_1, avx512::matmul_x16_q5_1);
    set(T::Q8_0, avx512::matmul_x16_q8_0, amx::matmul_tiles_q8_0);
    set(T::IQ4_NL, avx512::matmul_x16_iq4_nl);
    set(T::MXFP4, avx512::matmul_x16_mxfp4);
}

// Replaces the dot products a SIMD level accelerates; everything else stays scalar.
#define HEARTH_USE_SIMD_DOTS(ns)                                                                  \
    void add_##ns##_kernels(Table& table) {                                                       \
        auto dot = [&](T type, VecDotFn fn) { table[static_cast<uint32_t>(type)].vec_dot = fn; }; \
        auto tile = [&](T type, VecDotTileFn fn) {                                                \
            table[static_cast<uint32_t>(type)].vec_dot_tile = fn;                                 \
        };                                                                                        \
        dot(T::F32, ns::vec_dot_f32);                                                             \
        dot(T::F16, ns::vec_dot_f16);                                                             \
        dot(T::BF16, ns::vec_dot_bf16);                                                           \
        tile(T::F32, ns::vec_dot_tile_f32);                                                       \
        tile(T::F16, ns::vec_dot_tile_f16);                                                       \
        tile(T::BF16, ns::vec_dot_tile_bf16);                                                     \
        dot(T::Q4_0, ns::vec_dot_q4_0);                                                           \
        dot(T::Q8_0, ns::vec_dot_q8_0);                                                           \
        dot(T::IQ4_NL, ns::vec_dot_iq4_nl);                                                       \
        dot(T::MXFP4, ns::vec_dot_mxfp4);                                                         \
        dot(T::Q4_K, ns::vec_dot_q4_k);                                                           \
        dot(T::Q5_K, ns::vec_dot_q5_k);                                                           \
        dot(T::Q6_K, ns::vec_dot_q6_k);                                                           \
    }
HEARTH_USE_SIMD_DOTS(avx2)
HEARTH_USE_SIMD_DOTS(avx512)
#undef HEARTH_USE_SIMD_DOTS

Table build_table(CpuLevel level) {
    Table table{};
    add_scalar_rows(table);
    add_packed_layouts(table);
    if (level != CpuLevel::Scalar) {
        table[static_cast<uint32_t>(T::Q8_0)].from_float = avx2::quantize_q8_0;
        table[static_cast<uint32_t>(T::Q8_K)].from_float = avx2::quantize_q8_k;
        table[static_cast<uint32_t>(T::Q4_1)].vec_dot = avx2::vec_dot_q4_1;
        table[static_cast<uint32_t>(T::Q5_0)].vec_dot = avx2::vec_dot_q5_0;
        table[static_cast<uint32_t>(T::Q5_1)].vec_dot = avx2::vec_dot_q5_1;
        table[static_cast<uint32_t>(T::Q2_K)].vec_dot = avx2::vec_dot_q2_k;
        table[static_cast<uint32_t>(T::Q3_K)].vec_dot = avx2::vec_dot_q3_k;
        table[static_cast<uint32_t>(T::IQ4_XS)].vec_dot = avx2::vec_dot_iq4_xs;
    }
    if (level == CpuLevel::Avx2) {
        add_avx2_kernels(table);
        add_avx2_packed_kernels(table);
        table[static_cast<uint32_t>(T::Q4_K)].vec_dot_tile = avx2::vec_dot_tile_q4_k;
        table[static_cast<uint32_t>(T::Q6_K)].vec_dot_tile = avx2::vec_dot_tile_q6_k;
        table[static_cast<uint32_t>(T::Q4_0)].vec_dot_tile = avx2::vec_dot_tile_q4_0;
        table[static_cast<uint32_t>(T::Q8_0)].vec_dot_tile = avx2::vec_dot_tile_q8_0;
        table[static_cast<uint32_t>(T::Q5_0)].vec_dot_tile = avx2::vec_dot_tile_q5_0;
        table[static_cast<uint32_t>(T::IQ4_NL)].vec_dot_tile = avx2::vec_dot_tile_iq4_nl;
        table[static_cast<uint32_t>(T::MXFP4)].vec_dot_tile = avx2::vec_dot_tile_mxfp4;
    }
    if (level == CpuLevel::Avx512) {
        add_avx512_kernels(table);
        add_avx512_packed_kernels(table);
        table[static_cast<uint32_t>(T::Q4_K)].vec_dot_tile = avx512::vec_dot_tile_q4_k;
        table[static_cast<uint32_t>(T::Q6_K)].vec_dot_tile = avx512::vec_dot_tile_q6_k;
        table[static_cast<uint32_t>(T::Q4_0)].vec_dot_tile = avx512::vec_dot_tile_q4_0;
        table[static_cast<uint32_t>(T::Q8_0)].vec_dot_tile = avx512::vec_dot_tile_q8_0;
        table[static_cast<uint32_t>(T::Q5_0)].vec_dot_tile = avx512::vec_dot_tile_q5_0;
        table[static_cast<uint32_t>(T::Q5_0)].vec_dot = avx512::vec_dot_q5_0;
        table[static_cast<uint32_t>(T::Q5_K)].vec_dot_tile = avx512::vec_dot_tile_q5_k;
        table[static_cast<uint32_t>(T::IQ4_NL)].vec_dot_tile = avx512::vec_dot_tile_iq4_nl;
        table[static_cast<uint32_t>(T::MXFP4)].vec_dot_tile = avx512::vec_dot_tile_mxfp4;
    }
    return table;
}

const Table& table(CpuLevel level) {
    static const std::array<Table, 3> tables = {
        build_table(CpuLevel::Scalar), build_table(CpuLevel::Avx2), build_table(CpuLevel::Avx512)};
    return tables[static_cast<int>(level)];
}

const Table& table() {
    return table(cpu_level());
}

}  // namespace

bool is_supported(TensorType type) {
    uint32_t id = static_cast<uint32_t>(type);
    return id < gguf::kTensorTypeIdLimit && table()[id].to_float != nullptr;
}

const TypeTraits& traits(TensorType type) {
    return traits(type, cpu_level());
}

const TypeTraits& traits(TensorType type, CpuLevel level) {
    if (!is_supported(type)) {
        auto info = gguf::type_info(static_cast<uint32_t>(type));
        std::string name =
            info ? std::string(info->name) : std::to_string(static_cast<uint32_t>(type));
        throw Error("tensor type " + name +
                    " is not supported by this hearth build for computation");
    }
    return table(level)[static_cast<uint32_t>(type)];
}

}  // namespace hearth::kernels
