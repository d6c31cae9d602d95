// AVX-512 (F/BW/VL + VNNI) dot products. vpdpbusd multiplies u8 x s8 and accumulates four
// products into each s32 lane with no 16-bit saturation step, so unsigned weight levels are
// used directly and signed ones go through |x| with x's sign moved onto y.
// GCC 12's AVX-512 headers build casts and reductions from _mm512_undefined_*(), which trips
// -Wuninitialized at every use (GCC bug 105593, fixed in 13); the values are never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/prefetch.h"
#include "kernels/quants.h"
#include "kernels/quants_simd.h"
#include "kernels/quants_tile.h"
#include "kernels/quants_x16_avx512.h"
#include "kernels/repack.h"

namespace hearth::kernels::avx512 {
namespace {

inline float half(uint16_t h) {
    return _cvtsh_ss(h);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// The same 32 bytes in both 256-bit halves.
inline __m512i broadcast256(const void* p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
}

inline __m256i dot_s8_s8(__m256i x, __m256i y) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(x, x),
                               _mm256_sign_epi8(y, x));
}

inline __m256i unpack_nibbles_16(const uint8_t* p) {
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// A weight block's scale: its fp16 d, or MXFP4's E8M0 exponent.
template <typename Block>
inline float block_scale(const Block& b) {
    if constexpr (std::is_same_v<Block, BlockMXFP4>)
        return mxfp4_scale(b.e);
    else
        return half(b.d);
}

// The 32 signed MXFP4 levels of a block (doubled E2M1 values, -12 .. 12).
inline __m256i mxfp4_levels(const BlockMXFP4& b) {
    const __m256i table = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMXFP4Values)));
    return _mm256_shuffle_epi8(table, unpack_nibbles_16(b.qs));
}

}  // namespace

float vec_dot_q8_0(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ8_0*>(weights);
    const auto* a = static_cast<const BlockQ8_0*>(activations);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        prefetch_ahead(&w[b], sizeof(w[b]));
        __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8_s8(load256(w[b].qs), load256(a[b].qs))),
                              acc);
    }
    return hsum(acc);
}

float vec_dot_q4_0(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ4_0*>(weights);
    const auto* a = static_cast<const BlockQ8_0*>(activations);
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        prefetch_ahead(&w[b], sizeof(w[b]));
        __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
        __m256i y = load256(a[b].qs);
        // sum (q - 8) y = sum q y - sum 8 y, both as u8 x s8 products.
        __m256i qy = _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack_nibbles_16(w[b].qs), y);
        __m256i bias = _mm256_dpbusd_epi32(_mm256_setzero_si256(), eight, y);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(qy, bias)), acc);
    }
    return hsum(acc);
}

float vec_dot_iq4_nl(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockIQ4_NL*>(weights);
    const auto* a = static_cast<const BlockQ8_0*>(activations);
    const __m256i levels =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values)));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        prefetch_ahead(&w[b], sizeof(w[b]));
        __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
        __m256i q = _mm256_shuffle_epi8(levels, unpack_nibbles_16(w[b].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8_s8(q, load256(a[b].qs))), acc);
    }
    return hsum(acc);
}

float vec_dot_mxfp4(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockMXFP4*>(weights);
    const auto* a = static_cast<const BlockQ8_0*>(activations);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        prefetch_ahead(&w[b], sizeof(w[b]));
        __m256 d = _mm256_set1_ps(mxfp4_scale(w[b].e) * half(a[b].d));
        acc = _mm256_fmadd_ps(
            d, _mm256_cvtepi32_ps(dot_s8_s8(mxfp4_levels(w[b]), load256(a[b].qs))), acc);
    }
    return hsum(acc);
}

// Q5_0 with the fifth bits applied straight from qh as a byte mask (no bit-spreading
// shuffles), and the -16 offset as a second vpdpbusd against 16s.
float vec_dot_q5_0(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ5_0*>(weights);
    const auto* a = static_cast<const BlockQ8_0*>(activations);
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        prefetch_ahead(&w[b], sizeof(w[b]));
        uint32_t high_bits;
        std::memcpy(&high_bits, w[b].qh, 4);
        __m256i q = _mm256_mask_mov_epi8(unpack_nibbles_16(w[b].qs), high_bits,
                                         _mm256_or_si256(unpack_nibbles_16(w[b].qs), sixteen));
        __m256i y = load256(a[b].qs);
        __m256i qy = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, y);
        __m256i bias = _mm256_dpbusd_epi32(_mm256_setzero_si256(), sixteen, y);
        __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(qy, bias)), acc);
    }
    return hsum(acc);
}

namespace {

// Sub-block scales as s16 lanes for vpdpwssd: lane i of the result = scales16[index[i]].
// maddubs (u8 levels x s8 activations, pairs summed to s16) followed by vpdpwssd with these
// scales applies the scale and accumulates in two instructions, with no 32-bit multiply.
inline __m512i spread16(__m512i scales16, __m512i index) {
    return _mm512_permutexvar_epi16(index, scales16);
}

// Q4_K chunk c: s16 lanes 0..15 take sub-block 2c's scale, lanes 16..31 sub-block 2c+1's.
// An in-lane byte shuffle of the scale bytes (copied to every 128-bit lane) does it: each s16
// lane picks its scale byte and a zero byte (control 0x80). Cheaper than a cross-lane permute.
inline __m512i k4_chunk_scales(__m512i scales_and_mins_x4, int c) {
    const __m512i pick =
        _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(0x8000 | (2 * c))),
                           _mm256_set1_epi16(static_cast<short>(0x8000 | (2 * c + 1))), 1);
    return _mm512_shuffle_epi8(scales_and_mins_x4, pick);
}

// Q6_K part p: eight s16 lanes per 16-group, groups 4p .. 4p+3.
inline __m512i q6_index16(int p) {
    alignas(32) static const uint8_t group_of_lane[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1,
                                                          1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2,
                                                          2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    return _mm512_add_epi16(
        _mm512_cvtepu8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(group_of_lane))),
        _mm512_set1_epi16(static_cast<short>(4 * p)));
}

// The 8 scales (bytes 0-7) and 8 mins (bytes 8-15) of a Q4_K/Q5_K super-block, unpacked from
// the 12 packed bytes with 32-bit word operations (four scales or mins per word) instead of
// sixteen scalar bit-field extractions.
// Done in registers, as unpack_scales_mins_k4 does it on words: a scalar version stores the
// bytes and reloads them as a vector, which stalls on store forwarding. `packed` is read 16
// bytes wide (the 12 scale bytes are followed by the block's quants).
inline __m128i k4_scales_and_mins(const uint8_t* packed) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed));
    const __m128i words = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0));  // w0, w2, w1, w2
    const __m128i sixes = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0));  // -, w0, -, w1
    // Words 0 and 2: the low six bits of w0 / w1. Words 1 and 3: a nibble of w2 (low, high)
    // with the top two bits of w0 / w1 above it.
    const __m128i low6 = _mm_and_si128(words, _mm_set1_epi8(0x3F));
    const __m128i nibble =
        _mm_and_si128(_mm_srlv_epi32(words, _mm_setr_epi32(0, 0, 0, 4)), _mm_set1_epi8(0x0F));
    const __m128i top2 = _mm_and_si128(_mm_srli_epi32(sixes, 2), _mm_set1_epi8(0x30));
    return _mm_blend_epi32(low6, _mm_or_si128(nibble, top2), 0b1010);
}

// sum_j mins_j * (bsums[2j] + bsums[2j+1]) as eight s32 partial sums: each min byte is
// spread to two s16 lanes and multiplied against the 16 sums of 16 activations.
inline __m256i k4_min_products(__m128i scales_and_mins, const int16_t* bsums) {
    const __m256i pick = _mm256_setr_epi8(
        8, -128, 8, -128, 9, -128, 9, -128, 10, -128, 10, -128, 11, -128, 11, -128,  //
        12, -128, 12, -128, 13, -128, 13, -128, 14, -128, 14, -128, 15, -128, 15, -128);
    const __m256i mins = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(scales_and_mins), pick);
    return _mm256_madd_epi16(mins, load256(bsums));
}

// The 64 levels of chunk c (elements 64c .. 64c+63) of a Q4_K/Q5_K super-block, in element
// order: low nibbles of the chunk's 32 bytes, then high nibbles (plus the fifth bit for Q5_K).
template <bool kFiveBit>
inline __m512i k4_chunk_levels(const uint8_t* qs, const uint8_t* qh, int c) {
    const __m512i nibble_shift =
        _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    __m512i levels = _mm512_and_si512(_mm512_srlv_epi16(broadcast256(qs + 32 * c), nibble_shift),
                                      _mm512_set1_epi8(0x0F));
    if constexpr (kFiveBit) {
        __m512i bit_shift = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(2 * c)),
                                               _mm256_set1_epi16(static_cast<short>(2 * c + 1)), 1);
        __m512i bit =
            _mm512_and_si512(_mm512_srlv_epi16(broadcast256(qh), bit_shift), _mm512_set1_epi8(1));
        levels = _mm512_or_si512(levels, _mm512_slli_epi16(bit, 4));
    }
    return levels;
}

template <bool kFiveBit>
float dot_k4(int64_t n, const uint8_t* blocks, size_t block_bytes, const BlockQ8_K* a) {
    __m512 acc = _mm512_setzero_ps();
    __m256 min_acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const uint8_t* blk = blocks + b * block_bytes;
        prefetch_ahead(blk, block_bytes);
        uint16_t d, dmin;
        std::memcpy(&d, blk, 2), std::memcpy(&dmin, blk + 2, 2);
        const uint8_t* qh = blk + 16;
        const uint8_t* qs = kFiveBit ? blk + 48 : blk + 16;
        __m128i scales_and_mins = k4_scales_and_mins(blk + 4);
        __m512i scales_x4 = _mm512_broadcast_i32x4(scales_and_mins);
        // Four independent sums, added as a tree: a chain of dependent vpdpwssd would make the
        // loop wait on their latency instead of on memory.
        __m512i part[4];
        for (int c = 0; c < 4; ++c) {
            __m512i pairs = _mm512_maddubs_epi16(k4_chunk_levels<kFiveBit>(qs, qh, c),
                                                 load512(a[b].qs + 64 * c));
            part[c] =
                _mm512_dpwssd_epi32(_mm512_setzero_si512(), pairs, k4_chunk_scales(scales_x4, c));
        }
        __m512i isum = _mm512_add_epi32(_mm512_add_epi32(part[0], part[1]),
                                        _mm512_add_epi32(part[2], part[3]));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(half(d) * a[b].d), _mm512_cvtepi32_ps(isum), acc);
        min_acc = _mm256_fmadd_ps(_mm256_set1_ps(half(dmin) * a[b].d),
                                  _mm256_cvtepi32_ps(k4_min_products(scales_and_mins, a[b].bsums)),
                                  min_acc);
    }
    return _mm512_reduce_add_ps(acc) - hsum(min_acc);
}

}  // namespace

float vec_dot_q4_k(int64_t n, const void* weights, const void* activations) {
    return dot_k4<false>(n, static_cast<const uint8_t*>(weights), sizeof(BlockQ4_K),
                         static_cast<const BlockQ8_K*>(activations));
}

float vec_dot_q5_k(int64_t n, const void* weights, const void* activations) {
    return dot_k4<true>(n, static_cast<const uint8_t*>(weights), sizeof(BlockQ5_K),
                        static_cast<const BlockQ8_K*>(activations));
}

namespace {

// The 64 levels (0..63) of part p: half h = p / 2; part 2h takes the low nibbles of ql[64h..]
// with qh bits 0-1 / 2-3, part 2h+1 the high nibbles with qh bits 4-5 / 6-7.
inline __m512i q6_part_levels(const BlockQ6_K& blk, int p) {
    int h = p / 2, upper = p % 2;
    __m512i ql = load512(blk.ql + 64 * h);
    if (upper) ql = _mm512_srli_epi16(ql, 4);
    __m512i low = _mm512_and_si512(ql, _mm512_set1_epi8(0x0F));
    __m512i shift = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(4 * upper)),
                                       _mm256_set1_epi16(static_cast<short>(4 * upper + 2)), 1);
    __m512i high = _mm512_and_si512(_mm512_srlv_epi16(broadcast256(blk.qh + 32 * h), shift),
                                    _mm512_set1_epi8(3));
    return _mm512_or_si512(low, _mm512_slli_epi16(high, 4));
}
// The Q6_K levels carry a +32 bias: the sum starts from -32 * sum_j sc_j * bsums_j.
inline __m512i q6_bias(__m256i scales16, const int16_t* bsums) {
    __m256i products = _mm256_madd_epi16(scales16, load256(bsums));
    return _mm512_zextsi256_si512(
        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(products, 5)));
}
}  // namespace

float vec_dot_q6_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ6_K*>(weights);
    const auto* a = static_cast<const BlockQ8_K*>(activations);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const BlockQ6_K& blk = w[b];
        prefetch_ahead(&blk, sizeof(BlockQ6_K));
        __m256i scales16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
        __m512i part[4];  // independent sums, as in dot_k4
        for (int p = 0; p < 4; ++p) {
            __m512i pairs = _mm512_maddubs_epi16(q6_part_levels(blk, p), load512(a[b].qs + 64 * p));
            part[p] = _mm512_dpwssd_epi32(
                p == 0 ? q6_bias(scales16, a[b].bsums) : _mm512_setzero_si512(), pairs,
                spread16(_mm512_zextsi256_si512(scales16), q6_index16(p)));
        }
        __m512i isum = _mm512_add_epi32(_mm512_add_epi32(part[0], part[1]),
                                        _mm512_add_epi32(part[2], part[3]));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(half(blk.d) * a[b].d), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

// ---------------------------------------------------------------- tiles (prompt processing)
//
// One weight row against K tokens at a time (K = 8, and 4 or 2 for the tokens left over): the
// row's levels and scales are unpacked once per super-block and used for all K, so the
// unpacking cost per token drops K-fold.

namespace {

constexpr int kMaxTokensPerPass = 8;
using VecDotFnPtr = float (*)(int64_t, const void*, const void*);

using tile::TileArgs;

template <typename Pass, typename One>
void for_each_tile_pass(const TileArgs& t, Pass pass, One one) {
    tile::for_each_pass_halving<kMaxTokensPerPass>(t, pass, one);
}

inline const BlockQ8_K* q8k_block(const TileArgs& t, int tok, int64_t b) {
    return tile::q8_k_blocks(t, tok) + b;
}

// Q4_K, and Q5_K (Block = BlockQ5_K: the same with a fifth bit per level in qh).
template <typename Block, int kTokensPerPass>
void k4_row_pass(const TileArgs& t, const uint8_t* row, int r, int tok0) {
    constexpr bool kFiveBit = sizeof(Block) == sizeof(BlockQ5_K);
    __m512 acc[kTokensPerPass];
    __m256 min_acc[kTokensPerPass];
#pragma GCC unroll 8
    for (int k = 0; k < kTokensPerPass; ++k)
        acc[k] = _mm512_setzero_ps(), min_acc[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < t.n / kSuperBlock; ++b) {
        const auto* blk = reinterpret_cast<const Block*>(row) + b;
        const uint8_t* qh = nullptr;
        if constexpr (kFiveBit) qh = blk->qh;
        __m128i scales_and_mins = k4_scales_and_mins(blk->scales);
        __m512i scales_x4 = _mm512_broadcast_i32x4(scales_and_mins);
        __m512i levels[4], scale[4];
#pragma GCC unroll 8
        for (int c = 0; c < 4; ++c) {
            levels[c] = k4_chunk_levels<kFiveBit>(blk->qs, qh, c);
            scale[c] = k4_chunk_scales(scales_x4, c);
        }
        const float d = half(blk->d), dmin = half(blk->dmin);
#pragma GCC unroll 8
        for (int k = 0; k < kTokensPerPass; ++k) {
            const BlockQ8_K* a = q8k_block(t, tok0 + k, b);
            __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int c = 0; c < 4; ++c) {
                isum = _mm512_dpwssd_epi32(
                    isum, _mm512_maddubs_epi16(levels[c], load512(a->qs + 64 * c)), scale[c]);
            }
            acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(d * a->d), _mm512_cvtepi32_ps(isum), acc[k]);
            min_acc[k] = _mm256_fmadd_ps(
                _mm256_set1_ps(dmin * a->d),
                _mm256_cvtepi32_ps(k4_min_products(scales_and_mins, a->bsums)), min_acc[k]);
        }
    }
#pragma GCC unroll 8
    for (int k = 0; k < kTokensPerPass; ++k)
        t.out[(tok0 + k) * t.out_stride + r] = _mm512_reduce_add_ps(acc[k]) - hsum(min_acc[k]);
}

template <int kTokensPerPass>
void q6_k_row_pass(const TileArgs& t, const uint8_t* row, int r, int tok0) {
    __m512 acc[kTokensPerPass];
#pragma GCC unroll 8
    for (int k = 0; k < kTokensPerPass; ++k) acc[k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < t.n / kSuperBlock; ++b) {
        const auto& blk = reinterpret_cast<const BlockQ6_K*>(row)[b];
        __m256i scales16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
        __m512i levels[4], scale[4];
#pragma GCC unroll 8
        for (int p = 0; p < 4; ++p) {
            levels[p] = q6_part_levels(blk, p);
            scale[p] = spread16(_mm512_zextsi256_si512(scales16), q6_index16(p));
        }
        const float d = half(blk.d);
#pragma GCC unroll 8
        for (int k = 0; k < kTokensPerPass; ++k) {
            const BlockQ8_K* a = q8k_block(t, tok0 + k, b);
            __m512i isum = q6_bias(scales16, a->bsums);
#pragma GCC unroll 8
            for (int p = 0; p < 4; ++p) {
                isum = _mm512_dpwssd_epi32(
                    isum, _mm512_maddubs_epi16(levels[p], load512(a->qs + 64 * p)), scale[p]);
            }
            acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(d * a->d), _mm512_cvtepi32_ps(isum), acc[k]);
        }
    }
#pragma GCC unroll 8
    for (int k = 0; k < kTokensPerPass; ++k)
        t.out[(tok0 + k) * t.out_stride + r] = _mm512_reduce_add_ps(acc[k]);
}

}  // namespace

void vec_dot_tile_q4_k(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                       const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                       float* out, size_t out_stride) {
    TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes,
               n_tokens, out,     out_stride};
    for_each_tile_pass(
        t,
        [&](auto k, const uint8_t* row, int r, int tok) {
            k4_row_pass<BlockQ4_K, decltype(k)::value>(t, row, r, tok);
        },
        vec_dot_q4_k);
}

void vec_dot_tile_q6_k(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                       const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                       float* out, size_t out_stride) {
    TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes,
               n_tokens, out,     out_stride};
    for_each_tile_pass(
        t,
        [&](auto k, const uint8_t* row, int r, int tok) {
            q6_k_row_pass<decltype(k)::value>(t, row, r, tok);
        },
        vec_dot_q6_k);
}

namespace {

inline const BlockQ8_0* q8_0_row(const TileArgs& t, int tok) {
    return tile::q8_0_blocks(t, tok);
}

// Q4_0 and Q8_0 against kTokensPerPass tokens, two blocks per 512-bit register. Per block
// pair, the weight magnitudes |w|, their sign mask and scales are prepared once; each token
// then costs two loads, a masked negate (moving w's sign onto y), one vpdpbusd and one FMA.
// The tokens' block scales come converted to float beforehand (`act_scales`, token-major).
template <typename Block, __m256i (*SignedLevels)(const Block&), int kTokensPerPass>
void block32_row_pass(const TileArgs& t, const float* act_scales, const uint8_t* row, int r,
                      int tok0) {
    const Block* w = reinterpret_cast<const Block*>(row);
    const int64_t n_blocks = t.n / kBlock32;
    const BlockQ8_0* a[kTokensPerPass];
    __m512 acc[kTokensPerPass];
    for (int k = 0; k < kTokensPerPass; ++k)
        a[k] = q8_0_row(t, tok0 + k), acc[k] = _mm512_setzero_ps();
    const __m512i pair_index = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(1), 1);
    for (int64_t b = 0; b < n_blocks; b += 2) {
        __m512i levels = _mm512_inserti64x4(_mm512_castsi256_si512(SignedLevels(w[b])),
                                            SignedLevels(w[b + 1]), 1);
        __m512i magnitude = _mm512_abs_epi8(levels);
        __mmask64 negative = _mm512_movepi8_mask(levels);
        __m512 dw =
            _mm512_insertf32x8(_mm512_set1_ps(block_scale(w[b])), _mm256_set1_ps(block_scale(w[b + 1])), 1);
        for (int k = 0; k < kTokensPerPass; ++k) {
            __m512i y = _mm512_inserti64x4(_mm512_castsi256_si512(load256(a[k][b].qs)),
                                           load256(a[k][b + 1].qs), 1);
            y = _mm512_mask_sub_epi8(y, negative, _mm512_setzero_si512(), y);
            __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), magnitude, y);
            __m128 da_pair = _mm_castpd_ps(_mm_load_sd(
                reinterpret_cast<const double*>(act_scales + (tok0 + k) * n_blocks + b)));
            __m512 scale = _mm512_mul_ps(
                dw, _mm512_permutexvar_ps(pair_index, _mm512_castps128_ps512(da_pair)));
            acc[k] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(dot), acc[k]);
        }
    }
    for (int k = 0; k < kTokensPerPass; ++k)
        t.out[(tok0 + k) * t.out_stride + r] = _mm512_reduce_add_ps(acc[k]);
}

// The fp16 block scales of the tile's activation rows as floats, token-major, in a buffer
// that grows once per thread and is then reused (no allocation per call in steady state).
// Grows once per thread, then reused. A raw buffer on purpose: this file is compiled with
// AVX-512 flags, and any std:: template it instantiates (std::vector's members ...) becomes a
// weak symbol the linker may pick for the whole program, AVX-512 instructions and all.
struct ScaleBuffer {
    float* data = nullptr;
    size_t capacity = 0;
    ~ScaleBuffer() { delete[] data; }
    float* reserve(size_t n) {
        if (n > capacity) {
            delete[] data;
            data = new float[n];
            capacity = n;
        }
        return data;
    }
};

const float* activation_scales(const TileArgs& t) {
    thread_local ScaleBuffer buffer;
    const int64_t n_blocks = t.n / kBlock32;
    float* scales = buffer.reserve(static_cast<size_t>(t.n_tokens * n_blocks));
    for (int tok = 0; tok < t.n_tokens; ++tok) {
        const BlockQ8_0* a = q8_0_row(t, tok);
        for (int64_t b = 0; b < n_blocks; ++b) scales[tok * n_blocks + b] = half(a[b].d);
    }
    return scales;
}

template <typename Block, __m256i (*SignedLevels)(const Block&), VecDotFnPtr kVecDot>
void block32_tile(const TileArgs& t) {
    if ((t.n / kBlock32) % 2 != 0) {  // pairs of blocks only; odd rows (rare) go one by one
        for (int r = 0; r < t.n_rows; ++r) {
            for (int tok = 0; tok < t.n_tokens; ++tok) {
                t.out[tok * t.out_stride + r] =
                    kVecDot(t.n, t.weights + r * t.weight_row_bytes,
                            t.activations + tok * t.activation_row_bytes);
            }
        }
        return;
    }
    const float* act_scales = activation_scales(t);
    for_each_tile_pass(
        t,
        [&](auto k, const uint8_t* row, int r, int tok) {
            block32_row_pass<Block, SignedLevels, decltype(k)::value>(t, act_scales, row, r, tok);
        },
        kVecDot);
}

inline __m256i q4_0_levels(const BlockQ4_0& b) {
    return _mm256_sub_epi8(unpack_nibbles_16(b.qs), _mm256_set1_epi8(8));
}
// The fifth bits of a Q5 block (bit j of qh -> element j) as 0x10 bytes.
inline __m256i q5_high_bits(const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    const __m256i byte_of_element =
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                         3, 3, 3, 3, 3, 3, 3);
    __m256i spread =
        _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), byte_of_element);
    const __m256i bit_of_element =
        _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_of_element), bit_of_element);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}
inline __m256i q5_0_levels(const BlockQ5_0& b) {
    return _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles_16(b.qs), q5_high_bits(b.qh)),
                           _mm256_set1_epi8(16));
}
inline __m256i iq4_nl_levels(const BlockIQ4_NL& b) {
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values)));
    return _mm256_shuffle_epi8(table, unpack_nibbles_16(b.qs));
}
inline __m256i q8_0_levels(const BlockQ8_0& b) {
    return load256(b.qs);
}

}  // namespace

void vec_dot_tile_q4_0(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                       const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                       float* out, size_t out_stride) {
    TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes,
               n_tokens, out,     out_stride};
    block32_tile<BlockQ4_0, q4_0_levels, vec_dot_q4_0>(t);
}

void vec_dot_tile_q8_0(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                       const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                       float* out, size_t out_stride) {
    TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes,
               n_tokens, out,     out_stride};
    block32_tile<BlockQ8_0, q8_0_levels, vec_dot_q8_0>(t);
}

void vec_dot_tile_q5_0(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                       const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                       float* out, size_t out_stride) {
    TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes,
               n_tokens, out,     out_stride};
    block32_tile<BlockQ5_0, q5_0_levels, vec_dot_q5_0>(t);
}

void vec_dot_tile_iq4_nl(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                         const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                         float* out, size_t out_stride) {
    TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes,
               n_tokens, out,     out_stride};
    block32_tile<BlockIQ4_NL, iq4_nl_levels, vec_dot_iq4_nl>(t);
}

void vec_dot_tile_mxfp4(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                        const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                        float* out, size_t out_stride) {
    TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes,
               n_tokens, out,     out_stride};
    block32_tile<BlockMXFP4, mxfp4_levels, vec_dot_mxfp4>(t);
}

void vec_dot_tile_q5_k(int64_t n, const uint8_t* weights, size_t weight_row_bytes, int n_rows,
                       const uint8_t* activations, size_t activation_row_bytes, int n_tokens,
                       float* out, size_t out_stride) {
    TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes,
               n_tokens, out,     out_stride};
    for_each_tile_pass(
        t,
        [&](auto k, const uint8_t* row, int r, int tok) {
            k4_row_pass<BlockQ5_K, decltype(k)::value>(t, row, r, tok);
        },
        vec_dot_q5_k);
}

// ---------------------------------------------------------------- repacked Q4_K (16 rows)

namespace {

inline __m512i broadcast32(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// Bit `bit` (0..7) of every byte moved to bit 4 (other bits: junk from the shift, masked
// by the caller). 16-bit shifts suffice: bit 4 of each byte comes from the same byte.
inline __m512i fifth_bit_at_4(__m512i qh, int bit) {
    return bit <= 4 ? _mm512_slli_epi16(qh, 4 - bit) : _mm512_srli_epi16(qh, bit - 4);
}

// 16 rows of a repacked Q4_K or Q5_K matrix against kTokens activation rows. Per group of 8
// columns: one load of the 16 rows' levels, two nibble masks (Q5_K: and a shift and a merge
// of the fifth bits), then per token two broadcasts and two vpdpbusd; the sub-block scale is one
// vpmulld per 16 rows and token.
template <typename Packed, int kTokens>
void k4_x16_rows(const Packed* w, int64_t n_blocks, const BlockQ8_K* const* a, float* const* y) {
    constexpr bool kFiveBit = std::is_same_v<Packed, BlockQ5_Kx16>;
    constexpr int kOrAnd = 0xF8;  // vpternlogd truth table for a | (b & c)
    // One accumulator per token and sub-block, one float sum per token (the mins are
    // subtracted from it directly): few enough live registers that nothing spills to the stack
    // for 4 tokens, which would put store-to-load latency on every accumulation.
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i sixteen = _mm512_set1_epi8(16);
    __m512 acc[kTokens];
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const BlockQ4_Kx16& blk = k4_low_bits(w[b]);
        prefetch_ahead(&w[b], sizeof(Packed));
        __m512i isum[kTokens];
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) isum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j) {
            // Q4_K: high nibbles stay in place (16 x their level): no shift per group, one
            // exact arithmetic shift of the sum per sub-block, and two independent vpdpbusd
            // chains. Q5_K shifts them down, as 16 x a 5-bit level would not fit a byte.
            __m512i sub[kTokens], sub_hi[kTokens];
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) sub[t] = sub_hi[t] = _mm512_setzero_si512();
            __m512i qh;
            if constexpr (kFiveBit) qh = load512(w[b].qh[j]);
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
                const int g = 4 * j + i;
                const __m512i q = load512(blk.qs[g]);
                __m512i q_lo = _mm512_and_si512(q, low4), q_hi;
                if constexpr (kFiveBit) {
                    q_hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
                    q_lo =
                        _mm512_ternarylogic_epi32(q_lo, fifth_bit_at_4(qh, 2 * i), sixteen, kOrAnd);
                    q_hi = _mm512_ternarylogic_epi32(q_hi, fifth_bit_at_4(qh, 2 * i + 1), sixteen,
                                                     kOrAnd);
                } else {
                    q_hi = _mm512_andnot_si512(low4, q);
                }
#pragma GCC unroll 4
                for (int t = 0; t < kTokens; ++t) {
                    sub[t] = _mm512_dpbusd_epi32(sub[t], q_lo, broadcast32(a[t][b].qs + 8 * g));
                    sub_hi[t] =
                        _mm512_dpbusd_epi32(sub_hi[t], q_hi, broadcast32(a[t][b].qs + 8 * g + 4));
                }
            }
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t)
                sub[t] = _mm512_add_epi32(sub[t],
                                          kFiveBit ? sub_hi[t] : _mm512_srai_epi32(sub_hi[t], 4));
            const __m512i scale = _mm512_cvtepu8_epi32(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales[j])));
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t)
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(sub[t], scale));
        }
        const __m512 d = _mm512_cvtph_ps(load256(blk.d));
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t)
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(a[t][b].d)),
                                     _mm512_cvtepi32_ps(isum[t]), acc[t]);
        __m512i min_sum[kTokens];
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) min_sum[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int p = 0; p < 4; ++p) {
            const __m512i mins = _mm512_cvtepu8_epi16(load256(blk.mins[p]));
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t)
                min_sum[t] = _mm512_dpwssd_epi32(min_sum[t], mins,
                                                 _mm512_set1_epi32(q8_k_bsum_pair(a[t][b], p)));
        }
        const __m512 dmin = _mm512_cvtph_ps(load256(blk.dmin));
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t)
            acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, _mm512_set1_ps(a[t][b].d)),
                                      _mm512_cvtepi32_ps(min_sum[t]), acc[t]);
    }
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

}  // namespace

// ------------------------------------------------- repacked Q6_K, Q3_K and Q2_K (16 rows)

namespace {

// Q3_K: the same for its 3-bit levels (q + 4), the third bit shifted to bit 2 and merged.
inline void q3_k_x16_levels(const BlockQ3_Kx16& blk, int j, __m512i levels[4]) {
    const __m512i low2 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
    constexpr int kOrAnd = 0xF8;  // vpternlogd truth table for a | (b & c)
    const __m512i q = load512(blk.ql[j]);
    const __m512i h = load512(blk.qh[j / 2]);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
        const __m512i bits = _mm512_and_si512(k == 0 ? q : _mm512_srli_epi16(q, 2 * k), low2);
        const int bit = 4 * (j % 2) + k;  // to bit 2; 16-bit shifts keep each byte's own bits
        const __m512i third =
            bit <= 2 ? _mm512_slli_epi16(h, 2 - bit) : _mm512_srli_epi16(h, bit - 2);
        levels[k] = _mm512_ternarylogic_epi32(bits, third, four, kOrAnd);
    }
}

// Q2_K: the 2-bit levels as they are.
inline void q2_k_x16_levels(const BlockQ2_Kx16& blk, int j, __m512i levels[4]) {
    const __m512i low2 = _mm512_set1_epi8(3);
    const __m512i q = load512(blk.ql[j]);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
        levels[k] = _mm512_and_si512(k == 0 ? q : _mm512_srli_epi16(q, 2 * k), low2);
}

inline void k16_levels(const BlockQ6_Kx16& blk, int j, __m512i levels[4]) {
    q6_k_x16_levels(blk, j, levels);
}
inline void k16_levels(const BlockQ3_Kx16& blk, int j, __m512i levels[4]) {
    q3_k_x16_levels(blk, j, levels);
}
inline void k16_levels(const BlockQ2_Kx16& blk, int j, __m512i levels[4]) {
    q2_k_x16_levels(blk, j, levels);
}
// The offset of the stored levels: q + 32 (Q6_K), q + 4 (Q3_K), none (Q2_K).
template <typename Packed>
constexpr int kLevelOffset16 = std::is_same_v<Packed, BlockQ6_Kx16>   ? 32
                               : std::is_same_v<Packed, BlockQ3_Kx16> ? 4
                                                                      : 0;

// Sub-block j's scale of the 16 rows as s32 lanes: signed bytes (Q6_K, Q3_K) or the low
// nibble of Q2_K's scale byte, whose high nibble is the min (q2_k_mins).
inline __m512i k16_scales(const int8_t* scales) {
    return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
}
inline __m512i k16_scales(const uint8_t* scales) {
    return _mm512_and_si512(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales))),
        _mm512_set1_epi32(0x0F));
}
inline __m512i q2_k_mins(const uint8_t* scales) {
    return _mm512_srli_epi32(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales))), 4);
}

// 16 rows of a repacked Q6_K, Q3_K or Q2_K matrix (16-column sub-blocks, one scale d)
// against kTokens activation rows. Per sub-block: four level vectors (16 rows x 4 columns
// each), shared by all tokens; per token four vpdpbusd, the level offset taken off with the
// activations' 16-sum, and one multiply by the 16 rows' scales. Q2_K's mins: one vpdpwssd per
// sub-block and token (min x 16-sum in the low s16 halves), taken off with dmin per block.
template <typename Packed, int kTokens>
void k16_x16_rows(const Packed* w, int64_t n_blocks, const BlockQ8_K* const* a, float* const* y) {
    constexpr bool kMins = std::is_same_v<Packed, BlockQ2_Kx16>;
    __m512 acc[kTokens];
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const Packed& blk = w[b];
        prefetch_ahead(&blk, sizeof(Packed));
        __m512i isum[kTokens], min_sum[kTokens];
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) isum[t] = min_sum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 16; ++j) {
            __m512i levels[4];
            k16_levels(blk, j, levels);
            const __m512i scale = k16_scales(blk.scales[j]);
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) {
                const int8_t* x = a[t][b].qs + 16 * j;
                __m512i sub = kLevelOffset16<Packed> == 0
                                  ? _mm512_setzero_si512()
                                  : _mm512_set1_epi32(-kLevelOffset16<Packed> * a[t][b].bsums[j]);
#pragma GCC unroll 4
                for (int k = 0; k < 4; ++k)
                    sub = _mm512_dpbusd_epi32(sub, levels[k], broadcast32(x + 4 * k));
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(sub, scale));
            }
            if constexpr (kMins) {
                const __m512i mins = q2_k_mins(blk.scales[j]);
#pragma GCC unroll 4
                for (int t = 0; t < kTokens; ++t)
                    min_sum[t] = _mm512_dpwssd_epi32(
                        min_sum[t], mins,
                        _mm512_set1_epi32(static_cast<uint16_t>(a[t][b].bsums[j])));
            }
        }
        const __m512 d = _mm512_cvtph_ps(load256(blk.d));
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t)
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(a[t][b].d)),
                                     _mm512_cvtepi32_ps(isum[t]), acc[t]);
        if constexpr (kMins) {
            const __m512 dmin = _mm512_cvtph_ps(load256(blk.dmin));
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t)
                acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, _mm512_set1_ps(a[t][b].d)),
                                          _mm512_cvtepi32_ps(min_sum[t]), acc[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

}  // namespace

// ------------------------------------------------------- repacked Q4_0 and Q8_0 (16 rows)

namespace {

// 16 rows of a repacked 32-column matrix against kTokens activation rows. Two integer sums per
// token (even and odd groups) keep two vpdpbusd chains in flight even for one token.
template <typename Packed, int kTokens>
void block32_x16_rows(const Packed* w, int64_t n_blocks, const BlockQ8_0* const* a,
                      const Block32Terms* const* terms, float* const* y) {
    using Format = Block32Format<Packed>;
    __m512 acc[kTokens];
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const Packed& blk = w[b];
        prefetch_ahead(&blk, sizeof(Packed));
        __m512i even[kTokens], odd[kTokens];
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) even[t] = odd[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int g = 0; g < Format::kGroups; ++g) {
            const __m512i q = load512(blk.qs[g]);
#pragma GCC unroll 2
            for (int p = 0; p < Format::kParts; ++p) {
                const __m512i levels = Format::levels(blk, q, g, p);
                const int column = Format::column(g, p);
#pragma GCC unroll 4
                for (int t = 0; t < kTokens; ++t) {
                    __m512i& sum = (g + p) % 2 == 0 ? even[t] : odd[t];
                    sum = _mm512_dpbusd_epi32(sum, levels, broadcast32(a[t][b].qs + column));
                }
            }
        }
        const __m512 d_rows = row_scales(blk);
        if constexpr (Format::kHasMin) {
            const __m512 m_rows = _mm512_cvtph_ps(load256(blk.m));
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) {
                const __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(even[t], odd[t]));
                acc[t] = _mm512_fmadd_ps(d_rows, _mm512_mul_ps(dot, _mm512_set1_ps(terms[t][b].d)),
                                         acc[t]);
                acc[t] = _mm512_fmadd_ps(m_rows, _mm512_set1_ps(terms[t][b].scaled_sum), acc[t]);
            }
        } else {
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t)
                acc[t] = add_block32<Format::kLevelOffset>(
                    acc[t], d_rows, _mm512_add_epi32(even[t], odd[t]), terms[t][b]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// 16 rows of a repacked IQ4_XS matrix against kTokens activation rows: as k4_x16_rows, the
// nibbles looked up in the table (+128, taken off with the activations' 32-sums), signed
// sub-block scales and no mins.
template <int kTokens>
void iq4_xs_x16_rows(const BlockIQ4_XSx16* w, int64_t n_blocks, const BlockQ8_K* const* a,
                     float* const* y) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i table = iq4_table_u8();
    __m512 acc[kTokens];
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const BlockIQ4_XSx16& blk = w[b];
        prefetch_ahead(&blk, sizeof(BlockIQ4_XSx16));
        __m512i isum[kTokens];
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) isum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j) {
            __m512i sub[kTokens], sub_hi[kTokens];
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) {
                sub[t] =
                    _mm512_set1_epi32(-128 * (a[t][b].bsums[2 * j] + a[t][b].bsums[2 * j + 1]));
                sub_hi[t] = _mm512_setzero_si512();
            }
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
                const int g = 4 * j + i;
                const __m512i q = load512(blk.qs[g]);
                const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(q, low4));
                const __m512i hi =
                    _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), low4));
#pragma GCC unroll 4
                for (int t = 0; t < kTokens; ++t) {
                    sub[t] = _mm512_dpbusd_epi32(sub[t], lo, broadcast32(a[t][b].qs + 8 * g));
                    sub_hi[t] =
                        _mm512_dpbusd_epi32(sub_hi[t], hi, broadcast32(a[t][b].qs + 8 * g + 4));
                }
            }
            const __m512i scale = _mm512_cvtepi8_epi32(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales[j])));
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t)
                isum[t] = _mm512_add_epi32(
                    isum[t], _mm512_mullo_epi32(_mm512_add_epi32(sub[t], sub_hi[t]), scale));
        }
        const __m512 d = _mm512_cvtph_ps(load256(blk.d));
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t)
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(a[t][b].d)),
                                     _mm512_cvtepi32_ps(isum[t]), acc[t]);
    }
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// The 256-column x16 blocks: Q4_K and Q5_K through k4_x16_rows, IQ4_XS through
// iq4_xs_x16_rows, Q6_K, Q3_K and Q2_K through k16_x16_rows.
template <typename Packed>
void superblock_x16_matmul(const WeightMatrix& w, const tile::RepackedCall& call) {
    const int64_t n_blocks = w.cols / kSuperBlock;
    const auto* groups = reinterpret_cast<const Packed*>(w.repacked);
    tile::for_each_group_pass<BlockQ8_K>(call, [&](const auto& p) {
        tile::with_token_count(p.k, [&](auto k) {
            constexpr int kTokens = decltype(k)::value;
            if constexpr (std::is_same_v<Packed, BlockQ4_Kx16> ||
                          std::is_same_v<Packed, BlockQ5_Kx16>)
                k4_x16_rows<Packed, kTokens>(groups + p.group * n_blocks, n_blocks, p.a, p.out);
            else if constexpr (std::is_same_v<Packed, BlockIQ4_XSx16>)
                iq4_xs_x16_rows<kTokens>(groups + p.group * n_blocks, n_blocks, p.a, p.out);
            else
                k16_x16_rows<Packed, kTokens>(groups + p.group * n_blocks, n_blocks, p.a, p.out);
        });
    });
}

// The 32-column x16 blocks through block32_x16_rows.
template <typename Packed>
void block32_x16_matmul(const WeightMatrix& w, const tile::RepackedCall& call) {
    const int64_t n_blocks = w.cols / kBlock32;
    const auto* groups = reinterpret_cast<const Packed*>(w.repacked);
    tile::for_each_block32_pass(call, n_blocks, [&](const auto& p, const auto* token_terms) {
        tile::with_token_count(p.k, [&](auto k) {
            block32_x16_rows<Packed, decltype(k)::value>(groups + p.group * n_blocks, n_blocks, p.a,
                                                         token_terms, p.out);
        });
    });
}

}  // namespace

// Tokens in tiles of kTokenTile (kernels/matmul.h), each through the layout's kernel.
namespace {

template <typename Packed>
void matmul_x16(const WeightMatrix& w, const uint8_t* activations, size_t activation_row_bytes,
                int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
        const tile::RepackedCall call{activations + t0 * activation_row_bytes,
                                      activation_row_bytes,
                                      std::min(n_tokens - t0, kTokenTile),
                                      y + t0 * y_stride,
                                      y_stride,
                                      row_begin,
                                      row_end};
        if constexpr (Packed::kColumns == kSuperBlock)
            superblock_x16_matmul<Packed>(w, call);
        else
            block32_x16_matmul<Packed>(w, call);
    }
}

}  // namespace

// The packed layouts with AVX-512 kernels (kernels/type_traits.cpp).
#define HEARTH_PACKED_KERNEL(name, Packed)                                                         \
    void name(const WeightMatrix& w, const uint8_t* activations, size_t activation_row_bytes,      \
              int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {   \
        matmul_x16<Packed>(w, activations, activation_row_bytes, n_tokens, y, y_stride, row_begin, \
                           row_end);                                                               \
    }
HEARTH_PACKED_KERNEL(matmul_x16_q2_k, BlockQ2_Kx16)
HEARTH_PACKED_KERNEL(matmul_x16_q3_k, BlockQ3_Kx16)
HEARTH_PACKED_KERNEL(matmul_x16_q4_k, BlockQ4_Kx16)
HEARTH_PACKED_KERNEL(matmul_x16_q5_k, BlockQ5_Kx16)
HEARTH_PACKED_KERNEL(matmul_x16_q6_k, BlockQ6_Kx16)
HEARTH_PACKED_KERNEL(matmul_x16_iq4_xs, BlockIQ4_XSx16)
HEARTH_PACKED_KERNEL(matmul_x16_q4_0, BlockQ4_0x16)
HEARTH_PACKED_KERNEL(matmul_x16_q4_1, BlockQ4_1x16)
HEARTH_PACKED_KERNEL(matmul_x16_q5_0, BlockQ5_0x16)
HEARTH_PACKED_KERNEL(matmul_x16_q5_1, BlockQ5_1x16)
HEARTH_PACKED_KERNEL(matmul_x16_q8_0, BlockQ8_0x16)
HEARTH_PACKED_KERNEL(matmul_x16_iq4_nl, BlockIQ4_NLx16)
HEARTH_PACKED_KERNEL(matmul_x16_mxfp4, BlockMXFP4x16)
#undef HEARTH_PACKED_KERNEL

}  // namespace hearth::kernels::avx512
