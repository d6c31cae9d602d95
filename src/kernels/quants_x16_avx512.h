#pragma once
// Helpers of the AVX-512 x16 kernels (quants_avx512.cpp) that the AMX kernels (quants_amx.cpp)
// share: include only from files compiled with the AVX-512 flags (kernels/CMakeLists.txt).
// Internal linkage, as where they were defined: each kernel file gets its own copy.
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "kernels/quants.h"
#include "kernels/repack.h"

namespace hearth::kernels::avx512 {
namespace {

inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
inline __m512i load512(const void* p) {
    return _mm512_loadu_si512(p);
}

// The levels of sub-block j (columns 16j .. 16j+15) of 16 rows: levels[k] holds columns
// 16j+4k .. 16j+4k+3, row by row (4 bytes a row), as vpdpbusd and AMX weight tiles take them.
inline void q6_k_x16_levels(const BlockQ6_Kx16& blk, int j, __m512i levels[4]) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    constexpr int kOrAnd = 0xF8;  // vpternlogd truth table for a | (b & c)
    const __m512i q0 = load512(blk.ql[2 * j]), q1 = load512(blk.ql[2 * j + 1]);
    const __m512i h = load512(blk.qh[j]);
    levels[0] = _mm512_ternarylogic_epi32(_mm512_and_si512(q0, low4), _mm512_slli_epi16(h, 4),
                                          bits45, kOrAnd);
    levels[1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(q0, 4), low4),
                                          _mm512_slli_epi16(h, 2), bits45, kOrAnd);
    levels[2] = _mm512_ternarylogic_epi32(_mm512_and_si512(q1, low4), h, bits45, kOrAnd);
    levels[3] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(q1, 4), low4),
                                          _mm512_srli_epi16(h, 2), bits45, kOrAnd);
}

// ------------------------------------------------------- repacked Q4_0 and Q8_0 (16 rows)

// Adds 16 rows' dot with one 32-column activation block to acc: the integer dot of the stored
// levels, less their offset times the activations' level sum, times both scales.
template <int kLevelOffset>
inline __m512 add_block32(__m512 acc, __m512 d_rows, __m512i dot, const Block32Terms& terms) {
    const __m512 v = _mm512_fmsub_ps(_mm512_cvtepi32_ps(dot), _mm512_set1_ps(terms.d),
                                     _mm512_set1_ps(kLevelOffset * terms.scaled_sum));
    return _mm512_fmadd_ps(d_rows, v, acc);
}

// kIQ4Values + 128 in every 128-bit lane, for vpshufb (unsigned levels for vpdpbusd).
inline __m512i iq4_table_u8() {
    return _mm512_xor_si512(
        _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values))),
        _mm512_set1_epi8(static_cast<char>(0x80)));
}

// kMXFP4Values + 12 (0 .. 24) in every 128-bit lane: unsigned levels for vpdpbusd.
inline __m512i mxfp4_table_u8() {
    return _mm512_add_epi8(
        _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kMXFP4Values))),
        _mm512_set1_epi8(12));
}

// Sixteen MXFP4 row scales from their E8M0 bytes, bit for bit as mxfp4_scale(): exponent field
// e - 1 where e >= 2, the subnormals 2^-128 << e below.
inline __m512 mxfp4_scales16(const uint8_t* e) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(e)));
    const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(v, _mm512_set1_epi32(1)), 23);
    const __m512i subnormal = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), v);
    const __mmask16 is_normal = _mm512_cmpgt_epi32_mask(v, _mm512_set1_epi32(1));
    return _mm512_castsi512_ps(_mm512_mask_mov_epi32(subnormal, is_normal, normal));
}

// The 16 rows' block scales of a 32-column x16 block: fp16 d, or MXFP4's exponents.
template <typename Packed>
inline __m512 row_scales(const Packed& blk) {
    if constexpr (std::is_same_v<Packed, BlockMXFP4x16>)
        return mxfp4_scales16(blk.e);
    else
        return _mm512_cvtph_ps(load256(blk.d));
}

// Part p (0: low nibbles, columns 8g+0..3; 1: high nibbles, 8g+4..7) of a nibble group.
inline __m512i nibbles(__m512i q, int p) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    return p == 0 ? _mm512_and_si512(q, low4) : _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
}
// Adds 16 to the bytes whose bit is set in a fifth-bit mask (Q5_0, Q5_1).
inline __m512i add_fifth_bits(__m512i levels, uint64_t mask) {
    return _mm512_mask_add_epi8(levels, _cvtu64_mask64(mask), levels, _mm512_set1_epi8(16));
}

// Levels of group g of a 32-column x16 block for vpdpbusd (`q` is the group's 64 stored
// bytes), and the activation bytes they meet. The nibble formats give two vectors per group
// (columns 8g+0..3 and 8g+4..7), Q8_0 one (4g+0..3). kLevelOffset: what the unsigned stored
// levels add to the real ones; kHasMin: the rows' mins m (x = d * q + m) instead.
template <typename Packed>
struct Block32Format {  // Q4_0
    static constexpr int kGroups = 4, kParts = 2, kLevelOffset = 8;
    static constexpr bool kHasMin = false;
    template <typename Block>
    static __m512i levels(const Block&, __m512i q, int, int p) {
        return nibbles(q, p);
    }
    static int column(int g, int p) { return 8 * g + 4 * p; }
};
template <>
struct Block32Format<BlockQ4_1x16> : Block32Format<BlockQ4_0x16> {
    static constexpr int kLevelOffset = 0;
    static constexpr bool kHasMin = true;
};
template <>
struct Block32Format<BlockQ5_0x16> : Block32Format<BlockQ4_0x16> {
    static constexpr int kLevelOffset = 16;
    static __m512i levels(const BlockQ5_0x16& blk, __m512i q, int g, int p) {
        return add_fifth_bits(nibbles(q, p), blk.qh[g][p]);
    }
};
template <>
struct Block32Format<BlockQ5_1x16> : Block32Format<BlockQ4_1x16> {
    static __m512i levels(const BlockQ5_1x16& blk, __m512i q, int g, int p) {
        return add_fifth_bits(nibbles(q, p), blk.qh[g][p]);
    }
};
template <>
struct Block32Format<BlockIQ4_NLx16> : Block32Format<BlockQ4_0x16> {
    static constexpr int kLevelOffset = 128;  // the table's values + 128
    static __m512i levels(const BlockIQ4_NLx16&, __m512i q, int, int p) {
        return _mm512_shuffle_epi8(iq4_table_u8(), nibbles(q, p));
    }
};
template <>
struct Block32Format<BlockMXFP4x16> : Block32Format<BlockQ4_0x16> {
    static constexpr int kLevelOffset = 12;  // the table's values + 12
    static __m512i levels(const BlockMXFP4x16&, __m512i q, int, int p) {
        return _mm512_shuffle_epi8(mxfp4_table_u8(), nibbles(q, p));
    }
};
template <>
struct Block32Format<BlockQ8_0x16> {
    static constexpr int kGroups = 8, kParts = 1, kLevelOffset = 128;
    static constexpr bool kHasMin = false;
    static __m512i levels(const BlockQ8_0x16&, __m512i q, int, int) { return q; }
    static int column(int g, int) { return 4 * g; }
};

}  // namespace
}  // namespace hearth::kernels::avx512
