// AVX2 + FMA + F16C dot products (compiled with those flags only; see CMakeLists.txt).
// Integer parts use maddubs (u8 x s8 -> s16 pairs) then madd to s32, as in the scalar oracle
// but 32 lanes at a time; the float accumulation order differs, so results match to ~1e-6.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/prefetch.h"
#include "kernels/quants.h"
#include "kernels/quants_simd.h"
#include "kernels/quants_tile.h"
#include "kernels/repack.h"

namespace hearth::kernels::avx2 {
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

// Pairwise sums of u8 x s8 products widened to eight s32 lanes (no overflow for |u| < 64).
inline __m256i dot_u8_s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed x signed via maddubs: move x's sign onto y so the first operand is |x|.
inline __m256i dot_s8_s8(__m256i x, __m256i y) {
    return dot_u8_s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// 16 packed bytes -> 32 nibbles: low nibbles in bytes 0..15, high nibbles in 16..31.
inline __m256i unpack_nibbles_16(const uint8_t* p) {
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

inline __m256i load(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// A weight block's scale: its fp16 d, or MXFP4's E8M0 exponent.
template <typename Block>
inline float block_scale(const Block& b) {
    if constexpr (std::is_same_v<Block, BlockMXFP4>)
        return mxfp4_scale(b.e);
    else
        return half(b.d);
}

// The 16 MXFP4 levels (doubled E2M1 values, signed) in both 128-bit lanes, for vpshufb.
inline __m256i mxfp4_table() {
    return _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMXFP4Values)));
}

}  // namespace

// Dot of a 32-block format whose levels(block) gives 32 signed levels, against Q8_0: two
// blocks per step into two accumulators, so the loop is not one chain of dependent FMAs.
template <typename Block, typename Levels>
float block32_dot(int64_t n, const void* weights, const void* activations, Levels levels) {
    const auto* w = static_cast<const Block*>(weights);
    const auto* a = static_cast<const BlockQ8_0*>(activations);
    const int64_t n_blocks = n / kBlock32;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    auto add_block = [&](int64_t b, __m256& sum) {
        const __m256 d = _mm256_set1_ps(block_scale(w[b]) * half(a[b].d));
        sum = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8_s8(levels(w[b]), load(a[b].qs))), sum);
    };
    int64_t b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        prefetch_ahead(&w[b], 2 * sizeof(Block));
        add_block(b, acc[0]);
        add_block(b + 1, acc[1]);
    }
    if (b < n_blocks) add_block(b, acc[0]);
    return hsum(_mm256_add_ps(acc[0], acc[1]));
}

float vec_dot_q8_0(int64_t n, const void* weights, const void* activations) {
    return block32_dot<BlockQ8_0>(n, weights, activations,
                                  [](const BlockQ8_0& blk) { return load(blk.qs); });
}

float vec_dot_q4_0(int64_t n, const void* weights, const void* activations) {
    return block32_dot<BlockQ4_0>(n, weights, activations, [](const BlockQ4_0& blk) {
        return _mm256_sub_epi8(unpack_nibbles_16(blk.qs), _mm256_set1_epi8(8));
    });
}

float vec_dot_iq4_nl(int64_t n, const void* weights, const void* activations) {
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values)));
    return block32_dot<BlockIQ4_NL>(n, weights, activations, [&](const BlockIQ4_NL& blk) {
        return _mm256_shuffle_epi8(table, unpack_nibbles_16(blk.qs));
    });
}

float vec_dot_mxfp4(int64_t n, const void* weights, const void* activations) {
    const __m256i table = mxfp4_table();
    return block32_dot<BlockMXFP4>(n, weights, activations, [&](const BlockMXFP4& blk) {
        return _mm256_shuffle_epi8(table, unpack_nibbles_16(blk.qs));
    });
}

namespace {
// sum_j m_j * (bsums[2j] + bsums[2j+1]), the Q4_K/Q5_K min term, as four s32 partial sums.
inline __m128i k4_min_products(const uint8_t* mins, const int16_t* bsums) {
    __m128i pair_sums =
        _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums)),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8)));
    __m128i mins16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mins)));
    return _mm_madd_epi16(pair_sums, mins16);
}

// Shared body of Q4_K/Q5_K: `high_bits` is null for Q4_K.
template <bool kFiveBit>
float dot_k4(int64_t n, const uint8_t* blocks, size_t block_bytes, const BlockQ8_K* a) {
    __m256 acc = _mm256_setzero_ps();
    __m128 min_acc = _mm_setzero_ps();
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const uint8_t* blk = blocks + b * block_bytes;
        prefetch_ahead(blk, block_bytes);
        uint16_t d, dmin;
        std::memcpy(&d, blk, 2), std::memcpy(&dmin, blk + 2, 2);
        const uint8_t* packed_scales = blk + 4;
        const uint8_t* qh = blk + 16;
        const uint8_t* qs = kFiveBit ? blk + 48 : blk + 16;
        uint8_t scales_mins[16];
        unpack_scales_mins_k4(packed_scales, scales_mins);
        const uint8_t* sc = scales_mins;
        __m256i isum = _mm256_setzero_si256();
        __m256i hbits = kFiveBit ? load(qh) : _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            __m256i bytes = load(qs + 32 * c);
            __m256i lo = _mm256_and_si256(bytes, low_mask);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low_mask);
            if constexpr (kFiveBit) {
                const __m256i one = _mm256_set1_epi8(1);
                __m256i bit_lo = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c), one);
                __m256i bit_hi = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c + 1), one);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(bit_lo, 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(bit_hi, 4));
            }
            __m256i p_lo = _mm256_maddubs_epi16(lo, load(a[b].qs + 64 * c));
            __m256i p_hi = _mm256_maddubs_epi16(hi, load(a[b].qs + 64 * c + 32));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(sc[2 * c])));
            isum =
                _mm256_add_epi32(isum, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(sc[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(d) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
        min_acc =
            _mm_fmadd_ps(_mm_set1_ps(half(dmin) * a[b].d),
                         _mm_cvtepi32_ps(k4_min_products(scales_mins + 8, a[b].bsums)), min_acc);
    }
    __m128 m = _mm_add_ps(min_acc, _mm_movehl_ps(min_acc, min_acc));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return hsum(acc) - _mm_cvtss_f32(m);
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

float vec_dot_q6_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ6_K*>(weights);
    const auto* a = static_cast<const BlockQ8_K*>(activations);
    const __m256i low_mask = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const BlockQ6_K& blk = w[b];
        prefetch_ahead(&blk, sizeof(blk));
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            __m256i ql0 = load(blk.ql + 64 * h), ql1 = load(blk.ql + 64 * h + 32);
            __m256i qh = load(blk.qh + 32 * h);
            // Levels 0..63 of the four 32-groups of this half, in element order.
            __m256i groups[4] = {ql0, ql1, _mm256_srli_epi16(ql0, 4), _mm256_srli_epi16(ql1, 4)};
            for (int g = 0; g < 4; ++g) {
                __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), two_bits);
                __m256i level = _mm256_or_si256(_mm256_and_si256(groups[g], low_mask),
                                                _mm256_slli_epi16(high, 4));
                __m256i p = _mm256_maddubs_epi16(level, load(a[b].qs + 128 * h + 32 * g));
                int s = 8 * h + 2 * g;
                __m256i scale = _mm256_set_m128i(_mm_set1_epi16(blk.scales[s + 1]),
                                                 _mm_set1_epi16(blk.scales[s]));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale));
            }
        }
        // The levels carry a +32 bias: subtract 32 * sum_j sc_j * bsums_j.
        int bias = 0;
        for (int j = 0; j < 16; ++j) bias += blk.scales[j] * a[b].bsums[j];
        float d = half(blk.d) * a[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        acc = _mm256_sub_ps(acc, _mm256_setr_ps(d * 32 * bias, 0, 0, 0, 0, 0, 0, 0));
    }
    return hsum(acc);
}

// ---------------------------------------------------------------- activation quantization
//
// Bit-identical to the scalar versions (same amax, same 1/d, round-half-even), so every level
// feeds the dot products the same bytes; only faster, which matters at 512 prompt tokens.

namespace {

inline __m256 abs_ps(__m256 x) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

inline float max_abs(const float* x, int n) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + i)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// 32 floats times `inv`, rounded to nearest even, packed to 32 int8 in order.
inline __m256i round_pack_32(const float* x, float inv) {
    const __m256 scale = _mm256_set1_ps(inv);
    __m256i v[4];
    for (int k = 0; k < 4; ++k) {
        __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), scale),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v[k] = _mm256_cvtps_epi32(r);
    }
    __m256i packed =
        _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

}  // namespace

void quantize_q8_0(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_0*>(dst);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float* x = src + b * kBlock32;
        float d = max_abs(x, kBlock32) / 127, inv = d > 0 ? 1 / d : 0;
        blocks[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(blocks[b].qs), round_pack_32(x, inv));
    }
}

void quantize_q8_k(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_K*>(dst);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const float* x = src + b * kSuperBlock;
        float d = max_abs(x, kSuperBlock) / 127, inv = d > 0 ? 1 / d : 0;
        blocks[b].d = d;
        for (int k = 0; k < 8; ++k) {
            __m256i q = round_pack_32(x + 32 * k, inv);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(blocks[b].qs + 32 * k), q);
            // Two 16-sums: widen to s16 and add pairs (maddubs with ones would saturate-free too).
            __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
            __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
            // s32 lanes 0-3 sum the first 16 bytes, 4-7 the second.
            __m128i lo = _mm256_castsi256_si128(s32), hi = _mm256_extracti128_si256(s32, 1);
            lo = _mm_hadd_epi32(lo, hi);
            lo = _mm_hadd_epi32(lo, lo);
            blocks[b].bsums[2 * k] = static_cast<int16_t>(_mm_extract_epi32(lo, 0));
            blocks[b].bsums[2 * k + 1] = static_cast<int16_t>(_mm_extract_epi32(lo, 1));
        }
    }
}

// ---------------------------------------------------------------- the other formats
//
// Q4_1, Q5_0, Q5_1, Q2_K, Q3_K and IQ4_XS: one AVX2 version each, also used at the AVX-512
// level (they are off the Q4_K_M / Q4_0 / Q8_0 hot path, so 256-bit is enough for now).

namespace {

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

inline __m256i sum_s8(__m256i y) {
    return dot_u8_s8(_mm256_set1_epi8(1), y);
}

// Q4_1 / Q5_1: x = d q + m, so the dot is d da (q . y) + m da (sum y).
template <typename Block, bool kFiveBit>
float dot_with_min(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const Block*>(weights);
    const auto* a = static_cast<const BlockQ8_0*>(activations);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        prefetch_ahead(&w[b], sizeof(w[b]));
        __m256i q = unpack_nibbles_16(w[b].qs);
        if constexpr (kFiveBit) q = _mm256_or_si256(q, q5_high_bits(w[b].qh));
        __m256i y = load(a[b].qs);
        float da = half(a[b].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[b].d) * da),
                              _mm256_cvtepi32_ps(dot_u8_s8(q, y)), acc);
        acc =
            _mm256_fmadd_ps(_mm256_set1_ps(half(w[b].m) * da), _mm256_cvtepi32_ps(sum_s8(y)), acc);
    }
    return hsum(acc);
}

// 16 s16 lanes: the low 8 take scale `first`, the high 8 `second` (two 16-element groups).
inline __m256i two_scales(int first, int second) {
    return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(second)),
                            _mm_set1_epi16(static_cast<short>(first)));
}

}  // namespace

float vec_dot_q4_1(int64_t n, const void* w, const void* a) {
    return dot_with_min<BlockQ4_1, false>(n, w, a);
}
float vec_dot_q5_1(int64_t n, const void* w, const void* a) {
    return dot_with_min<BlockQ5_1, true>(n, w, a);
}

float vec_dot_q5_0(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ5_0*>(weights);
    const auto* a = static_cast<const BlockQ8_0*>(activations);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        prefetch_ahead(&w[b], sizeof(w[b]));
        __m256i q = _mm256_or_si256(unpack_nibbles_16(w[b].qs), q5_high_bits(w[b].qh));
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
        __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8_s8(q, load(a[b].qs))), acc);
    }
    return hsum(acc);
}

float vec_dot_q2_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ2_K*>(weights);
    const auto* a = static_cast<const BlockQ8_K*>(activations);
    const __m256i two_bits = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), min_acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const BlockQ2_K& blk = w[b];
        prefetch_ahead(&blk, sizeof(blk));
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            __m256i q = load(blk.qs + 32 * h);
            for (int g = 0; g < 4; ++g) {
                __m256i level = _mm256_and_si256(_mm256_srli_epi16(q, 2 * g), two_bits);
                __m256i p = _mm256_maddubs_epi16(level, load(a[b].qs + 128 * h + 32 * g));
                int s = 8 * h + 2 * g;
                isum = _mm256_add_epi32(
                    isum,
                    _mm256_madd_epi16(p, two_scales(blk.scales[s] & 0xF, blk.scales[s + 1] & 0xF)));
            }
        }
        __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales));
        __m256i mins16 =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
        __m256i mins = _mm256_madd_epi16(mins16, load(a[b].bsums));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(blk.d) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
        min_acc = _mm256_fmadd_ps(_mm256_set1_ps(half(blk.dmin) * a[b].d), _mm256_cvtepi32_ps(mins),
                                  min_acc);
    }
    return hsum(acc) - hsum(min_acc);
}

float vec_dot_q3_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ3_K*>(weights);
    const auto* a = static_cast<const BlockQ8_K*>(activations);
    const __m256i two_bits = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const BlockQ3_K& blk = w[b];
        prefetch_ahead(&blk, sizeof(blk));
        alignas(16) int8_t scales[16];
        unpack_scales_q3_k(blk.scales, scales);
        __m256i hmask = load(blk.hmask);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            __m256i q = load(blk.qs + 32 * h);
            for (int g = 0; g < 4; ++g) {
                // Levels 0..7 = value + 4; the +4 bias is removed below with the block sums.
                __m256i low = _mm256_and_si256(_mm256_srli_epi16(q, 2 * g), two_bits);
                __m256i high = _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + g), one);
                __m256i level = _mm256_or_si256(low, _mm256_slli_epi16(high, 2));
                __m256i p = _mm256_maddubs_epi16(level, load(a[b].qs + 128 * h + 32 * g));
                int s = 8 * h + 2 * g;
                isum = _mm256_add_epi32(isum,
                                        _mm256_madd_epi16(p, two_scales(scales[s], scales[s + 1])));
            }
        }
        __m256i scales16 =
            _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(scales)));
        __m256i bias = _mm256_slli_epi32(_mm256_madd_epi16(scales16, load(a[b].bsums)), 2);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(blk.d) * a[b].d),
                              _mm256_cvtepi32_ps(_mm256_sub_epi32(isum, bias)), acc);
    }
    return hsum(acc);
}

float vec_dot_iq4_xs(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockIQ4_XS*>(weights);
    const auto* a = static_cast<const BlockQ8_K*>(activations);
    const __m256i levels =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values)));
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const BlockIQ4_XS& blk = w[b];
        prefetch_ahead(&blk, sizeof(blk));
        __m256i isum = _mm256_setzero_si256();
        for (int p = 0; p < 4; ++p) {
            // Sub-blocks 2p and 2p+1: bytes 0-15 and 16-31; low nibbles are their elements
            // 0-15, high nibbles 16-31.
            __m256i bytes = load(blk.qs + 32 * p);
            __m256i v_lo = _mm256_shuffle_epi8(levels, _mm256_and_si256(bytes, low_mask));
            __m256i v_hi = _mm256_shuffle_epi8(
                levels, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low_mask));
            const int8_t* y = a[b].qs + 64 * p;
            auto load_halves = [](const int8_t* first, const int8_t* second) {
                return _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(second)),
                                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(first)));
            };
            __m256i y_lo = load_halves(y, y + 32), y_hi = load_halves(y + 16, y + 48);
            int ls0 = ((blk.scales_l[p] & 0xF) | (((blk.scales_h >> (4 * p)) & 3) << 4)) - 32;
            int ls1 = ((blk.scales_l[p] >> 4) | (((blk.scales_h >> (4 * p + 2)) & 3) << 4)) - 32;
            __m256i scale = two_scales(ls0, ls1);
            __m256i p_lo =
                _mm256_maddubs_epi16(_mm256_sign_epi8(v_lo, v_lo), _mm256_sign_epi8(y_lo, v_lo));
            __m256i p_hi =
                _mm256_maddubs_epi16(_mm256_sign_epi8(v_hi, v_hi), _mm256_sign_epi8(y_hi, v_hi));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_madd_epi16(p_lo, scale),
                                                           _mm256_madd_epi16(p_hi, scale)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(blk.d) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum(acc);
}

// ---------------------------------------------------------------- tiles (prompt processing)
//
// One weight row against four tokens at a time (16 ymm registers leave room for four
// accumulators): each chunk of weight levels is unpacked once and used for all four.

namespace {

constexpr int kTokensPerPass = 4;
using tile::TileArgs;

void q4_k_row_pass(const TileArgs& t, const uint8_t* row, int r, int tok0) {
    const BlockQ8_K* a[kTokensPerPass];
    __m256 acc[kTokensPerPass];
    __m128 min_acc[kTokensPerPass];
    for (int k = 0; k < kTokensPerPass; ++k) {
        a[k] = tile::q8_k_blocks(t, tok0 + k);
        acc[k] = _mm256_setzero_ps(), min_acc[k] = _mm_setzero_ps();
    }
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < t.n / kSuperBlock; ++b) {
        const auto& blk = reinterpret_cast<const BlockQ4_K*>(row)[b];
        uint8_t scales_mins[16];
        unpack_scales_mins_k4(blk.scales, scales_mins);
        __m256i isum[kTokensPerPass];
        for (int k = 0; k < kTokensPerPass; ++k) isum[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            __m256i bytes = load(blk.qs + 32 * c);
            __m256i lo = _mm256_and_si256(bytes, low_mask);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low_mask);
            __m256i scale_lo = _mm256_set1_epi16(scales_mins[2 * c]);
            __m256i scale_hi = _mm256_set1_epi16(scales_mins[2 * c + 1]);
            for (int k = 0; k < kTokensPerPass; ++k) {
                const int8_t* y = a[k][b].qs + 64 * c;
                __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load(y)), scale_lo);
                __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load(y + 32)), scale_hi);
                isum[k] = _mm256_add_epi32(isum[k], _mm256_add_epi32(p_lo, p_hi));
            }
        }
        const float d = half(blk.d), dmin = half(blk.dmin);
        for (int k = 0; k < kTokensPerPass; ++k) {
            acc[k] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * a[k][b].d), _mm256_cvtepi32_ps(isum[k]), acc[k]);
            __m128i mins = k4_min_products(scales_mins + 8, a[k][b].bsums);
            min_acc[k] =
                _mm_fmadd_ps(_mm_set1_ps(dmin * a[k][b].d), _mm_cvtepi32_ps(mins), min_acc[k]);
        }
    }
    for (int k = 0; k < kTokensPerPass; ++k) {
        __m128 m = _mm_add_ps(min_acc[k], _mm_movehl_ps(min_acc[k], min_acc[k]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        t.out[(tok0 + k) * t.out_stride + r] = hsum(acc[k]) - _mm_cvtss_f32(m);
    }
}

void q6_k_row_pass(const TileArgs& t, const uint8_t* row, int r, int tok0) {
    const BlockQ8_K* a[kTokensPerPass];
    __m256 acc[kTokensPerPass];
    for (int k = 0; k < kTokensPerPass; ++k)
        a[k] = tile::q8_k_blocks(t, tok0 + k), acc[k] = _mm256_setzero_ps();
    const __m256i low_mask = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < t.n / kSuperBlock; ++b) {
        const auto& blk = reinterpret_cast<const BlockQ6_K*>(row)[b];
        __m256i isum[kTokensPerPass];
        for (int k = 0; k < kTokensPerPass; ++k) isum[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            __m256i ql0 = load(blk.ql + 64 * h), ql1 = load(blk.ql + 64 * h + 32);
            __m256i qh = load(blk.qh + 32 * h);
            __m256i groups[4] = {ql0, ql1, _mm256_srli_epi16(ql0, 4), _mm256_srli_epi16(ql1, 4)};
            for (int g = 0; g < 4; ++g) {
                __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), two_bits);
                __m256i level = _mm256_or_si256(_mm256_and_si256(groups[g], low_mask),
                                                _mm256_slli_epi16(high, 4));
                int s = 8 * h + 2 * g;
                __m256i scale = _mm256_set_m128i(_mm_set1_epi16(blk.scales[s + 1]),
                                                 _mm_set1_epi16(blk.scales[s]));
                for (int k = 0; k < kTokensPerPass; ++k) {
                    __m256i p = _mm256_maddubs_epi16(level, load(a[k][b].qs + 128 * h + 32 * g));
                    isum[k] = _mm256_add_epi32(isum[k], _mm256_madd_epi16(p, scale));
                }
            }
        }
        // The levels carry a +32 bias: subtract 32 * sum_j sc_j * bsums_j.
        __m256i scales16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
        const float d = half(blk.d);
        for (int k = 0; k < kTokensPerPass; ++k) {
            __m256i bias = _mm256_slli_epi32(_mm256_madd_epi16(scales16, load(a[k][b].bsums)), 5);
            __m256i total = _mm256_sub_epi32(isum[k], bias);
            acc[k] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * a[k][b].d), _mm256_cvtepi32_ps(total), acc[k]);
        }
    }
    for (int k = 0; k < kTokensPerPass; ++k) t.out[(tok0 + k) * t.out_stride + r] = hsum(acc[k]);
}

// Q4_0 / Q8_0: |w| and w's sign prepared once per block, each token a sign move + maddubs.
template <typename Block, __m256i (*SignedLevels)(const Block&)>
void block32_row_pass(const TileArgs& t, const uint8_t* row, int r, int tok0) {
    const Block* w = reinterpret_cast<const Block*>(row);
    const BlockQ8_0* a[kTokensPerPass];
    __m256 acc[kTokensPerPass];
    for (int k = 0; k < kTokensPerPass; ++k)
        a[k] = tile::q8_0_blocks(t, tok0 + k), acc[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < t.n / kBlock32; ++b) {
        __m256i levels = SignedLevels(w[b]);
        __m256i magnitude = _mm256_sign_epi8(levels, levels);
        const float dw = block_scale(w[b]);
        for (int k = 0; k < kTokensPerPass; ++k) {
            __m256i dot = dot_u8_s8(magnitude, _mm256_sign_epi8(load(a[k][b].qs), levels));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * half(a[k][b].d)), _mm256_cvtepi32_ps(dot),
                                     acc[k]);
        }
    }
    for (int k = 0; k < kTokensPerPass; ++k) t.out[(tok0 + k) * t.out_stride + r] = hsum(acc[k]);
}

inline __m256i q4_0_levels(const BlockQ4_0& b) {
    return _mm256_sub_epi8(unpack_nibbles_16(b.qs), _mm256_set1_epi8(8));
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
inline __m256i mxfp4_levels(const BlockMXFP4& b) {
    return _mm256_shuffle_epi8(mxfp4_table(), unpack_nibbles_16(b.qs));
}
inline __m256i q8_0_levels(const BlockQ8_0& b) {
    return load(b.qs);
}

}  // namespace

#define HEARTH_AVX2_TILE(name, pass, one)                                                          \
    void vec_dot_tile_##name(int64_t n, const uint8_t* weights, size_t weight_row_bytes,           \
                             int n_rows, const uint8_t* activations, size_t activation_row_bytes,  \
                             int n_tokens, float* out, size_t out_stride) {                        \
        TileArgs t{n,        weights, weight_row_bytes, n_rows, activations, activation_row_bytes, \
                   n_tokens, out,     out_stride};                                                 \
        tile::for_each_pass<kTokensPerPass>(                                                       \
            t, [&](const uint8_t* row, int r, int tok) { pass(t, row, r, tok); }, one);            \
    }
HEARTH_AVX2_TILE(q4_k, q4_k_row_pass, vec_dot_q4_k)
HEARTH_AVX2_TILE(q6_k, q6_k_row_pass, vec_dot_q6_k)
HEARTH_AVX2_TILE(q4_0, (block32_row_pass<BlockQ4_0, q4_0_levels>), vec_dot_q4_0)
HEARTH_AVX2_TILE(q8_0, (block32_row_pass<BlockQ8_0, q8_0_levels>), vec_dot_q8_0)
HEARTH_AVX2_TILE(q5_0, (block32_row_pass<BlockQ5_0, q5_0_levels>), vec_dot_q5_0)
HEARTH_AVX2_TILE(iq4_nl, (block32_row_pass<BlockIQ4_NL, iq4_nl_levels>), vec_dot_iq4_nl)
HEARTH_AVX2_TILE(mxfp4, (block32_row_pass<BlockMXFP4, mxfp4_levels>), vec_dot_mxfp4)
#undef HEARTH_AVX2_TILE

// ------------------------------------------ repacked Q4_K and Q6_K (16-row blocks, 8 at a time)

namespace {

inline __m256i broadcast32(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Eight MXFP4 row scales from their E8M0 bytes, bit for bit as mxfp4_scale(): exponent field
// e - 1 where e >= 2, the subnormals 2^-128 << e below.
inline __m256 mxfp4_scales8(const uint8_t* e) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(e)));
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(v, _mm256_set1_epi32(1)), 23);
    const __m256i subnormal = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), v);
    const __m256i is_normal = _mm256_cmpgt_epi32(v, _mm256_set1_epi32(1));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(subnormal, normal, is_normal));
}

// 16 in the bytes whose bit `bit` (0..7) is set (Q5_K fifth bits, BlockQ5_Kx16::qh), else 0.
// 16-bit shifts suffice: bit 4 of each byte comes from the same byte.
inline __m256i fifth_bits(__m256i qh, int bit) {
    const __m256i moved =
        bit <= 4 ? _mm256_slli_epi16(qh, 4 - bit) : _mm256_srli_epi16(qh, bit - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(16));
}

// 8 rows (half `half` of each 16-row x16 block) of a repacked Q4_K or Q5_K matrix against
// kTokens activation rows. A ymm holds the 8 rows' 4 bytes of a level group. Per group: the two
// nibble halves once (Q5_K: plus the fifth bits), then per token two broadcasts and two
// maddubs, whose s16 pairs add up without overflow over a sub-block's four groups for Q4_K (16
// products of at most 15 x 128: 30720) and over two for Q5_K (8 of at most 31 x 128: 31744);
// then one madd by the rows' scales.
template <typename Packed, int kTokens>
void k4_x8_rows(const Packed* w, int64_t n_blocks, int half, const BlockQ8_K* const* a,
                float* const* y) {
    constexpr bool kFiveBit = std::is_same_v<Packed, BlockQ5_Kx16>;
    constexpr int kGroupsPerMadd = kFiveBit ? 2 : 4;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const int r0 = 8 * half;
    __m256 acc[kTokens];
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const BlockQ4_Kx16& blk = k4_low_bits(w[b]);
        prefetch_ahead(&w[b], sizeof(Packed));
        __m256i isum[kTokens];
        for (int t = 0; t < kTokens; ++t) isum[t] = _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j) {
            // Each row's scale in both s16 halves of its lane: madd gives scale x the lane sum.
            const __m256i scale32 = _mm256_cvtepu8_epi32(
                _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.scales[j] + r0)));
            const __m256i scale = _mm256_or_si256(scale32, _mm256_slli_epi32(scale32, 16));
            __m256i sum16[kTokens];
            for (int t = 0; t < kTokens; ++t) sum16[t] = _mm256_setzero_si256();
            __m256i qh;
            if constexpr (kFiveBit) qh = load(w[b].qh[j] + 4 * r0);
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
                const int g = 4 * j + i;
                const __m256i q = load(blk.qs[g] + 4 * r0);
                __m256i lo = _mm256_and_si256(q, low4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
                if constexpr (kFiveBit) {
                    lo = _mm256_or_si256(lo, fifth_bits(qh, 2 * i));
                    hi = _mm256_or_si256(hi, fifth_bits(qh, 2 * i + 1));
                }
#pragma GCC unroll 4
                for (int t = 0; t < kTokens; ++t) {
                    const int8_t* x = a[t][b].qs + 8 * g;
                    sum16[t] = _mm256_add_epi16(
                        sum16[t], _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast32(x)),
                                                   _mm256_maddubs_epi16(hi, broadcast32(x + 4))));
                }
                if (i % kGroupsPerMadd == kGroupsPerMadd - 1) {
                    for (int t = 0; t < kTokens; ++t) {
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(sum16[t], scale));
                        sum16[t] = _mm256_setzero_si256();
                    }
                }
            }
        }
        const __m256 d =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d + r0)));
        for (int t = 0; t < kTokens; ++t)
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a[t][b].d)),
                                     _mm256_cvtepi32_ps(isum[t]), acc[t]);
        __m256i min_sum[kTokens];
        for (int t = 0; t < kTokens; ++t) min_sum[t] = _mm256_setzero_si256();
        for (int p = 0; p < 4; ++p) {
            const __m256i mins = _mm256_cvtepu8_epi16(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.mins[p][r0])));
            for (int t = 0; t < kTokens; ++t)
                min_sum[t] = _mm256_add_epi32(
                    min_sum[t],
                    _mm256_madd_epi16(mins, _mm256_set1_epi32(q8_k_bsum_pair(a[t][b], p))));
        }
        const __m256 dmin =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.dmin + r0)));
        for (int t = 0; t < kTokens; ++t)
            acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, _mm256_set1_ps(a[t][b].d)),
                                      _mm256_cvtepi32_ps(min_sum[t]), acc[t]);
    }
    for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y[t] + r0, acc[t]);
}

// The levels (0..63) of sub-block j (columns 16j .. 16j+15) of 8 rows: levels[k] holds columns
// 16j+4k .. 16j+4k+3, 4 bytes a row, as in the AVX-512 kernel.
inline void q6_k_x8_levels(const BlockQ6_Kx16& blk, int j, int r0, __m256i levels[4]) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    const __m256i q0 = load(blk.ql[2 * j] + 4 * r0), q1 = load(blk.ql[2 * j + 1] + 4 * r0);
    const __m256i h = load(blk.qh[j] + 4 * r0);
    auto join = [&](__m256i low, __m256i high) {
        return _mm256_or_si256(_mm256_and_si256(low, low4), _mm256_and_si256(high, bits45));
    };
    levels[0] = join(q0, _mm256_slli_epi16(h, 4));
    levels[1] = join(_mm256_srli_epi16(q0, 4), _mm256_slli_epi16(h, 2));
    levels[2] = join(q1, h);
    levels[3] = join(_mm256_srli_epi16(q1, 4), _mm256_srli_epi16(h, 2));
}

// Q3_K (q + 4, 0..7): the low 2 bits from ql[j], the third from the byte plane qh[j / 2]
// shifted to bit 2 (16-bit shifts keep each byte's own bits at bit 2).
inline void k16_x8_levels(const BlockQ3_Kx16& blk, int j, int r0, __m256i levels[4]) {
    const __m256i low2 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    const __m256i q = load(blk.ql[j] + 4 * r0), h = load(blk.qh[j / 2] + 4 * r0);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
        const int bit = 4 * (j % 2) + k;
        const __m256i third =
            bit <= 2 ? _mm256_slli_epi16(h, 2 - bit) : _mm256_srli_epi16(h, bit - 2);
        levels[k] =
            _mm256_or_si256(_mm256_and_si256(k == 0 ? q : _mm256_srli_epi16(q, 2 * k), low2),
                            _mm256_and_si256(third, four));
    }
}
// Q2_K (0..3).
inline void k16_x8_levels(const BlockQ2_Kx16& blk, int j, int r0, __m256i levels[4]) {
    const __m256i low2 = _mm256_set1_epi8(3);
    const __m256i q = load(blk.ql[j] + 4 * r0);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
        levels[k] = _mm256_and_si256(k == 0 ? q : _mm256_srli_epi16(q, 2 * k), low2);
}
inline void k16_x8_levels(const BlockQ6_Kx16& blk, int j, int r0, __m256i levels[4]) {
    q6_k_x8_levels(blk, j, r0, levels);
}

// Each of 8 rows' values in both s16 halves of its 32-bit lane (for madd): signed bytes (the
// Q6_K/Q3_K scales) or the low nibbles of Q2_K's scale bytes.
inline __m256i in_both_halves(__m256i v) {
    return _mm256_blend_epi16(v, _mm256_slli_epi32(v, 16), 0xAA);
}
inline __m256i k16_x8_scale(const int8_t* p) {
    return in_both_halves(
        _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline __m256i k16_x8_scale(const uint8_t* p) {
    return in_both_halves(
        _mm256_and_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))),
                         _mm256_set1_epi32(0x0F)));
}
// Sub-blocks j and j+1's per-row factors of the activations' 16-sums, interleaved as s16 pairs:
// the scales (Q6_K, Q3_K: times the level offset) or Q2_K's mins (the high nibbles).
inline __m256i k16_x8_sum_factors(const int8_t* s0, const int8_t* s1) {
    return _mm256_cvtepi8_epi16(
        _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s0)),
                          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s1))));
}
inline __m256i k16_x8_sum_factors(const uint8_t* s0, const uint8_t* s1) {
    const __m128i low4 = _mm_set1_epi8(0x0F);
    auto mins = [&](const uint8_t* p) {
        return _mm_and_si128(
            _mm_srli_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), 4), low4);
    };
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins(s0), mins(s1)));
}

// 8 rows (half `half`) of a repacked Q6_K, Q3_K or Q2_K matrix against kTokens activation
// rows. Per sub-block (16 columns): the four level vectors once, then per token four maddubs
// added in pairs (4 products of at most 63 x 128 a lane: 32256, no overflow) and two madds by
// the rows' scales. Once per block, from the activations' 16-sums and the sub-blocks' factors
// two at a time: the level offset (32 for Q6_K, 4 for Q3_K) x sum_j scale_j x bsum_j, or Q2_K's
// mins, taken off with dmin.
template <typename Packed, int kTokens>
void k16_x8_rows(const Packed* w, int64_t n_blocks, int half, const BlockQ8_K* const* a,
                 float* const* y) {
    constexpr bool kMins = std::is_same_v<Packed, BlockQ2_Kx16>;
    constexpr int kOffsetShift = std::is_same_v<Packed, BlockQ6_Kx16> ? 5 : 2;  // x32, x4
    const int r0 = 8 * half;
    __m256 acc[kTokens];
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const Packed& blk = w[b];
        prefetch_ahead(&blk, sizeof(Packed));
        __m256i isum[kTokens];
        for (int t = 0; t < kTokens; ++t) isum[t] = _mm256_setzero_si256();
        for (int j = 0; j < 16; ++j) {
            __m256i levels[4];
            k16_x8_levels(blk, j, r0, levels);
            const __m256i scale = k16_x8_scale(blk.scales[j] + r0);
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) {
                const int8_t* x = a[t][b].qs + 16 * j;
                const __m256i s01 =
                    _mm256_add_epi16(_mm256_maddubs_epi16(levels[0], broadcast32(x)),
                                     _mm256_maddubs_epi16(levels[1], broadcast32(x + 4)));
                const __m256i s23 =
                    _mm256_add_epi16(_mm256_maddubs_epi16(levels[2], broadcast32(x + 8)),
                                     _mm256_maddubs_epi16(levels[3], broadcast32(x + 12)));
                isum[t] = _mm256_add_epi32(
                    isum[t],
                    _mm256_add_epi32(_mm256_madd_epi16(s01, scale), _mm256_madd_epi16(s23, scale)));
            }
        }
        __m256i sums[kTokens];  // sum_j factor_j x bsum_j
        for (int t = 0; t < kTokens; ++t) sums[t] = _mm256_setzero_si256();
        for (int j = 0; j < 16; j += 2) {
            const __m256i pairs = k16_x8_sum_factors(blk.scales[j] + r0, blk.scales[j + 1] + r0);
            for (int t = 0; t < kTokens; ++t) {
                int32_t bsums;
                std::memcpy(&bsums, a[t][b].bsums + j, 4);
                sums[t] =
                    _mm256_add_epi32(sums[t], _mm256_madd_epi16(pairs, _mm256_set1_epi32(bsums)));
            }
        }
        const __m256 d =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d + r0)));
        for (int t = 0; t < kTokens; ++t) {
            const __m256i dot =
                kMins ? isum[t]
                      : _mm256_sub_epi32(isum[t], _mm256_slli_epi32(sums[t], kOffsetShift));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a[t][b].d)),
                                     _mm256_cvtepi32_ps(dot), acc[t]);
        }
        if constexpr (kMins) {
            const __m256 dmin =
                _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.dmin + r0)));
            for (int t = 0; t < kTokens; ++t)
                acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, _mm256_set1_ps(a[t][b].d)),
                                          _mm256_cvtepi32_ps(sums[t]), acc[t]);
        }
    }
    for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y[t] + r0, acc[t]);
}

// 8 rows (half `half`) of a repacked Q4_0 matrix against kTokens activation rows. Per level
// group (8 columns): the two nibble halves once, then per token two broadcasts and two maddubs,
// whose s16 pairs add up over the block's four groups without overflow (16 products of at
// most 15 x 128: 30720); one madd by ones per block. The stored levels' +8 comes off with the
// token's Block32Terms.
template <int kTokens>
void q4_0_x8_rows(const BlockQ4_0x16* w, int64_t n_blocks, int half, const BlockQ8_0* const* a,
                  const Block32Terms* const* terms, float* const* y) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    const int r0 = 8 * half;
    __m256 acc[kTokens];
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const BlockQ4_0x16& blk = w[b];
        prefetch_ahead(&blk, sizeof(BlockQ4_0x16));
        __m256i sum16[kTokens];
        for (int t = 0; t < kTokens; ++t) sum16[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g) {
            const __m256i q = load(blk.qs[g] + 4 * r0);
            const __m256i lo = _mm256_and_si256(q, low4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) {
                const int8_t* x = a[t][b].qs + 8 * g;
                sum16[t] = _mm256_add_epi16(
                    sum16[t], _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast32(x)),
                                               _mm256_maddubs_epi16(hi, broadcast32(x + 4))));
            }
        }
        const __m256 d =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d + r0)));
        for (int t = 0; t < kTokens; ++t) {
            const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum16[t], ones));
            const __m256 v = _mm256_fmsub_ps(dot, _mm256_set1_ps(terms[t][b].d),
                                             _mm256_set1_ps(8 * terms[t][b].scaled_sum));
            acc[t] = _mm256_fmadd_ps(d, v, acc[t]);
        }
    }
    for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y[t] + r0, acc[t]);
}

// The 256-column x16 blocks: Q4_K and Q5_K through k4_x8_rows, Q6_K, Q3_K and Q2_K through
// k16_x8_rows.
template <typename Packed>
void superblock_x8_matmul(const WeightMatrix& w, const tile::RepackedCall& call) {
    const int64_t n_blocks = w.cols / kSuperBlock;
    const auto* groups = reinterpret_cast<const Packed*>(w.repacked);
    tile::for_each_group_pass<BlockQ8_K>(call, [&](const auto& p) {
        for (int half = 0; half < 2; ++half) {
            tile::with_token_count(p.k, [&](auto k) {
                constexpr int kTokens = decltype(k)::value;
                const Packed* rows = groups + p.group * n_blocks;
                if constexpr (std::is_same_v<Packed, BlockQ4_Kx16> ||
                              std::is_same_v<Packed, BlockQ5_Kx16>)
                    k4_x8_rows<Packed, kTokens>(rows, n_blocks, half, p.a, p.out);
                else
                    k16_x8_rows<Packed, kTokens>(rows, n_blocks, half, p.a, p.out);
            });
        }
    });
}

// 8 rows (half `half`) of a repacked Q8_0 matrix against kTokens activation rows. The stored
// levels (q + 128) go back to signed bytes, and maddubs takes |q| against the activations with
// q's sign (pairs of at most 127 x 127: no saturation), one madd by ones per group.
template <int kTokens>
void q8_0_x8_rows(const BlockQ8_0x16* w, int64_t n_blocks, int half, const BlockQ8_0* const* a,
                  const Block32Terms* const* terms, float* const* y) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
    const int r0 = 8 * half;
    __m256 acc[kTokens];
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const BlockQ8_0x16& blk = w[b];
        prefetch_ahead(&blk, sizeof(BlockQ8_0x16));
        __m256i sum[kTokens];
        for (int t = 0; t < kTokens; ++t) sum[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int g = 0; g < 8; ++g) {
            const __m256i q = _mm256_xor_si256(load(blk.qs[g] + 4 * r0), offset);
            const __m256i magnitude = _mm256_abs_epi8(q);
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) {
                const __m256i x = _mm256_sign_epi8(broadcast32(a[t][b].qs + 4 * g), q);
                sum[t] = _mm256_add_epi32(
                    sum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, x), ones));
            }
        }
        const __m256 d =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d + r0)));
        for (int t = 0; t < kTokens; ++t)
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(terms[t][b].d)),
                                     _mm256_cvtepi32_ps(sum[t]), acc[t]);
    }
    for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y[t] + r0, acc[t]);
}

// 8 rows (half `half`) of a repacked MXFP4 matrix against kTokens activation rows: as
// q4_0_x8_rows, but the nibbles are looked up as signed levels (-12 .. 12) whose sign moves
// onto the activations, so maddubs takes |level|; s16 pair sums over the block's four groups
// stay below 8 x 2 x 12 x 128 = 24576. No offset to take off: only the token's scale is used.
template <int kTokens>
void mxfp4_x8_rows(const BlockMXFP4x16* w, int64_t n_blocks, int half, const BlockQ8_0* const* a,
                   const Block32Terms* const* terms, float* const* y) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i table = mxfp4_table();
    const int r0 = 8 * half;
    __m256 acc[kTokens];
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const BlockMXFP4x16& blk = w[b];
        prefetch_ahead(&blk, sizeof(BlockMXFP4x16));
        __m256i sum16[kTokens];
        for (int t = 0; t < kTokens; ++t) sum16[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g) {
            const __m256i q = load(blk.qs[g] + 4 * r0);
            const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(q, low4));
            const __m256i hi =
                _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
            const __m256i lo_magnitude = _mm256_abs_epi8(lo), hi_magnitude = _mm256_abs_epi8(hi);
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) {
                const int8_t* x = a[t][b].qs + 8 * g;
                sum16[t] = _mm256_add_epi16(
                    sum16[t],
                    _mm256_add_epi16(
                        _mm256_maddubs_epi16(lo_magnitude, _mm256_sign_epi8(broadcast32(x), lo)),
                        _mm256_maddubs_epi16(hi_magnitude,
                                             _mm256_sign_epi8(broadcast32(x + 4), hi))));
            }
        }
        const __m256 d = mxfp4_scales8(blk.e + r0);
        for (int t = 0; t < kTokens; ++t) {
            const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum16[t], ones));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(terms[t][b].d)), dot, acc[t]);
        }
    }
    for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y[t] + r0, acc[t]);
}

// The 32-column x16 blocks (Q4_0, Q8_0, MXFP4) through Rows<kTokens>::run.
template <typename Packed, template <int> class Rows>
void block32_x8_matmul(const WeightMatrix& w, const tile::RepackedCall& call) {
    const int64_t n_blocks = w.cols / kBlock32;
    const auto* groups = reinterpret_cast<const Packed*>(w.repacked);
    tile::for_each_block32_pass(call, n_blocks, [&](const auto& p, const auto* token_terms) {
        for (int half = 0; half < 2; ++half) {
            tile::with_token_count(p.k, [&](auto k) {
                Rows<decltype(k)::value>::run(groups + p.group * n_blocks, n_blocks, half, p.a,
                                              token_terms, p.out);
            });
        }
    });
}
template <int kTokens>
struct Q4_0Rows {
    static constexpr auto run = q4_0_x8_rows<kTokens>;
};
template <int kTokens>
struct Q8_0Rows {
    static constexpr auto run = q8_0_x8_rows<kTokens>;
};
template <int kTokens>
struct MXFP4Rows {
    static constexpr auto run = mxfp4_x8_rows<kTokens>;
};

}  // namespace

// Each 16-row group 8 rows at a time (both halves while the group is in cache), tokens in
// passes of 4, 2 and 1.
namespace {

template <typename Packed>
void matmul_x8(const WeightMatrix& w, const uint8_t* activations, size_t activation_row_bytes,
               int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
    const tile::RepackedCall call{
        activations, activation_row_bytes, n_tokens, y, y_stride, row_begin, row_end};
    if constexpr (Packed::kColumns == kSuperBlock)
        superblock_x8_matmul<Packed>(w, call);
    else if constexpr (std::is_same_v<Packed, BlockQ4_0x16>)
        block32_x8_matmul<Packed, Q4_0Rows>(w, call);
    else if constexpr (std::is_same_v<Packed, BlockMXFP4x16>)
        block32_x8_matmul<Packed, MXFP4Rows>(w, call);
    else
        block32_x8_matmul<Packed, Q8_0Rows>(w, call);
}

}  // namespace

// The packed layouts with AVX2 kernels (kernels/type_traits.cpp).
#define HEARTH_PACKED_KERNEL(name, Packed)                                                        \
    void name(const WeightMatrix& w, const uint8_t* activations, size_t activation_row_bytes,     \
              int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {  \
        matmul_x8<Packed>(w, activations, activation_row_bytes, n_tokens, y, y_stride, row_begin, \
                          row_end);                                                               \
    }
HEARTH_PACKED_KERNEL(matmul_x8_q2_k, BlockQ2_Kx16)
HEARTH_PACKED_KERNEL(matmul_x8_q3_k, BlockQ3_Kx16)
HEARTH_PACKED_KERNEL(matmul_x8_q4_k, BlockQ4_Kx16)
HEARTH_PACKED_KERNEL(matmul_x8_q5_k, BlockQ5_Kx16)
HEARTH_PACKED_KERNEL(matmul_x8_q6_k, BlockQ6_Kx16)
HEARTH_PACKED_KERNEL(matmul_x8_q4_0, BlockQ4_0x16)
HEARTH_PACKED_KERNEL(matmul_x8_q8_0, BlockQ8_0x16)
HEARTH_PACKED_KERNEL(matmul_x8_mxfp4, BlockMXFP4x16)
#undef HEARTH_PACKED_KERNEL

}  // namespace hearth::kernels::avx2
