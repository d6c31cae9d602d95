// AMX tile kernels for the repacked layouts (kernels/repack.h), compiled with the AVX-512 and
// AMX flags (kernels/CMakeLists.txt); run only where kernels/cpu.h says AMX is usable.
// GCC 12's AVX-512 headers build casts and reductions from _mm512_undefined_*(), which trips
// -Wuninitialized at every use (GCC bug 105593, fixed in 13); the values are never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/quants.h"
#include "kernels/quants_x16_avx512.h"
#include "kernels/repack.h"

// ---------------------------------------------------------------- AMX tiles (prompts)
//
// With AMX one tdpbsud multiplies a tile of 16 tokens x 32 (or 16) int8 activations by a tile
// of 32 (or 16) columns x 16 rows of u8 weight levels: 8192 (4096) multiply-adds in one
// instruction. The x16 layouts are what the weight tile wants (its row k holds, for each of the
// 16 rows, the levels of columns 4k .. 4k+3), so weights load as they are (Q8_0) or after the
// nibble split the VNNI kernels also do. Each block's int32 results are stored and scaled with
// AVX-512, as the VNNI kernels scale their sums. A pass covers up to 2 row groups x 2 token
// tiles (32 x 32) with four result tiles, so four tdpbsud are in flight at once and each
// weight and activation tile load serves two of them. Only whole groups of 16 tokens come here.

namespace hearth::kernels::amx {
namespace {

using namespace avx512;

constexpr int kTileTokens = 16;

struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t bytes_per_row[16] = {};
    uint8_t rows[16] = {};
};

// Tile registers. Macros, not constants: GCC's tile intrinsics paste the register number into
// their assembly text. Results C<row group><token tile>, activations A<token tile>, weights
// B<row group>.
#define HEARTH_TILE_C00 0
#define HEARTH_TILE_C01 1
#define HEARTH_TILE_C10 2
#define HEARTH_TILE_C11 3
#define HEARTH_TILE_A0 4
#define HEARTH_TILE_A1 5
#define HEARTH_TILE_B0 6
#define HEARTH_TILE_B1 7

// Tiles for steps of `columns` (32, or 16 for Q6_K's sub-blocks), loaded when a thread's last
// kernel used another step (the OS keeps the configuration across context switches; nothing
// else in hearth touches tiles).
void configure_tiles(int columns) {
    thread_local int configured = 0;
    if (configured == columns) return;
    TileConfig c;
    auto shape = [&](int tile, int rows, int bytes) {
        c.rows[tile] = static_cast<uint8_t>(rows);
        c.bytes_per_row[tile] = static_cast<uint16_t>(bytes);
    };
    for (int tile : {HEARTH_TILE_C00, HEARTH_TILE_C01, HEARTH_TILE_C10, HEARTH_TILE_C11})
        shape(tile, kTileTokens, 64);
    shape(HEARTH_TILE_A0, kTileTokens, columns);
    shape(HEARTH_TILE_A1, kTileTokens, columns);
    shape(HEARTH_TILE_B0, columns / 4, 64);
    shape(HEARTH_TILE_B1, columns / 4, 64);
    // GCC's ldtilecfg intrinsic declares only the first 8 bytes as read: make the whole
    // configuration reach memory first.
    __asm__ volatile("" ::"r"(&c) : "memory");
    _tile_loadconfig(&c);
    configured = columns;
}

// GCC's tile loads are assembly that does not tell the compiler it reads memory: without this
// barrier the stores of unpacked levels could be moved after (or dropped before) the load.
inline void memory_barrier() {
    __asm__ volatile("" ::: "memory");
}

using TileResult = int32_t[kTileTokens][kRepackRows];

// results[r][t][token][row] = activations of token tile t . levels of row group r, over one
// step of columns: activations[t] points at tile t's first token's first column.
template <int R, int T>
inline void multiply(const uint8_t* const* activations, size_t activation_row_bytes,
                     const uint8_t* const* levels, TileResult (*results)[T]) {
    memory_barrier();
    _tile_loadd(HEARTH_TILE_A0, activations[0], activation_row_bytes);
    _tile_loadd(HEARTH_TILE_B0, levels[0], 64);
    _tile_zero(HEARTH_TILE_C00);
    _tile_dpbsud(HEARTH_TILE_C00, HEARTH_TILE_A0, HEARTH_TILE_B0);
    if constexpr (T == 2) {
        _tile_loadd(HEARTH_TILE_A1, activations[1], activation_row_bytes);
        _tile_zero(HEARTH_TILE_C01);
        _tile_dpbsud(HEARTH_TILE_C01, HEARTH_TILE_A1, HEARTH_TILE_B0);
    }
    if constexpr (R == 2) {
        _tile_loadd(HEARTH_TILE_B1, levels[1], 64);
        _tile_zero(HEARTH_TILE_C10);
        _tile_dpbsud(HEARTH_TILE_C10, HEARTH_TILE_A0, HEARTH_TILE_B1);
        if constexpr (T == 2) {
            _tile_zero(HEARTH_TILE_C11);
            _tile_dpbsud(HEARTH_TILE_C11, HEARTH_TILE_A1, HEARTH_TILE_B1);
        }
    }
    _tile_stored(HEARTH_TILE_C00, results[0][0], 64);
    if constexpr (T == 2) _tile_stored(HEARTH_TILE_C01, results[0][T - 1], 64);
    if constexpr (R == 2) {
        _tile_stored(HEARTH_TILE_C10, results[R - 1][0], 64);
        if constexpr (T == 2) _tile_stored(HEARTH_TILE_C11, results[R - 1][T - 1], 64);
    }
}

inline __m512i result_row(const TileResult& result, int t) {
    return _mm512_load_si512(result[t]);
}

// The 32 columns of nibble groups g0 .. g0+3 of a Q4_0/Q4_K x16 block as 8 weight-tile rows.
inline void split_nibbles(const uint8_t (*qs)[kRepackRows * 4], int g0, uint8_t (*levels)[64]) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int g = 0; g < 4; ++g) {
        const __m512i q = load512(qs[g0 + g]);
        _mm512_store_si512(levels[2 * g], _mm512_and_si512(q, low4));
        _mm512_store_si512(levels[2 * g + 1], _mm512_and_si512(_mm512_srli_epi16(q, 4), low4));
    }
}

template <typename Packed>
const uint8_t* block32_levels(const Packed& blk, uint8_t (*scratch)[64]);
template <>
const uint8_t* block32_levels(const BlockQ8_0x16& blk, uint8_t (*)[64]) {
    return blk.qs[0];
}
template <>
const uint8_t* block32_levels(const BlockQ4_0x16& blk, uint8_t (*scratch)[64]) {
    split_nibbles(blk.qs, 0, scratch);
    return scratch[0];
}

// What one pass works on: R row groups (w[r]: the group's blocks) and T tiles of 16 tokens
// starting at `activations` (token i at activations + i * activation_row_bytes); outputs of
// row group r, token i at y + i * y_stride + 16 r.
template <typename Packed>
struct PassArgs {
    const Packed* w[2];
    int64_t n_blocks;
    const uint8_t* activations;
    size_t activation_row_bytes;
    float* y;
    size_t y_stride;
};

template <int R, int T>
using Sums = float[R][T * kTileTokens][kRepackRows];

template <int R, int T, typename Packed>
void store_sums(const PassArgs<Packed>& p, const Sums<R, T>& sums) {
    for (int r = 0; r < R; ++r) {
        for (int i = 0; i < T * kTileTokens; ++i)
            _mm512_storeu_ps(p.y + i * p.y_stride + kRepackRows * r, _mm512_load_ps(sums[r][i]));
    }
}

// Q4_0/Q8_0; terms[i * n_blocks + b] as block32_terms gives for the pass's tokens.
template <typename Packed, int R, int T>
void block32_pass(const PassArgs<Packed>& p, const Block32Terms* terms) {
    alignas(64) TileResult results[R][T];
    alignas(64) uint8_t scratch[R][8][64];
    alignas(64) Sums<R, T> sums;  // written at block 0
    for (int64_t b = 0; b < p.n_blocks; ++b) {
        const uint8_t* levels[R];
        for (int r = 0; r < R; ++r) levels[r] = block32_levels(p.w[r][b], scratch[r]);
        const uint8_t* a[T];
        for (int t = 0; t < T; ++t)
            a[t] = p.activations + t * kTileTokens * p.activation_row_bytes +
                   b * sizeof(BlockQ8_0) + offsetof(BlockQ8_0, qs);
        multiply<R, T>(a, p.activation_row_bytes, levels, results);
        for (int r = 0; r < R; ++r) {
            const __m512 d_rows = _mm512_cvtph_ps(load256(p.w[r][b].d));
            for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
                for (int k = 0; k < kTileTokens; ++k) {
                    const int i = t * kTileTokens + k;
                    const __m512 sum = add_block32<Block32Format<Packed>::kLevelOffset>(
                        b == 0 ? _mm512_setzero_ps() : _mm512_load_ps(sums[r][i]), d_rows,
                        result_row(results[r][t], k), terms[i * p.n_blocks + b]);
                    _mm512_store_ps(sums[r][i], sum);
                }
            }
        }
    }
    store_sums<R, T>(p, sums);
}

// Super-block b of the pass's token i (Q4_K and Q6_K passes).
template <typename Packed>
inline const BlockQ8_K& q8_k_block(const PassArgs<Packed>& p, int i, int64_t b) {
    return reinterpret_cast<const BlockQ8_K*>(p.activations + i * p.activation_row_bytes)[b];
}

template <int R, int T>
void q4_k_pass(const PassArgs<BlockQ4_Kx16>& p) {
    alignas(64) TileResult results[R][T];
    alignas(64) uint8_t levels[R][8][64];
    alignas(64) Sums<R, T> sums;        // written at block 0
    alignas(64) Sums<R, T> block_sums;  // sum_j scale_j * dot_j of the current super-block
    for (int64_t b = 0; b < p.n_blocks; ++b) {
        const uint8_t* a[T];
        for (int t = 0; t < T; ++t)
            a[t] = p.activations + t * kTileTokens * p.activation_row_bytes +
                   b * sizeof(BlockQ8_K) + offsetof(BlockQ8_K, qs);
        for (int j = 0; j < 8; ++j) {
            const uint8_t* level_ptrs[R];
            for (int r = 0; r < R; ++r) {
                split_nibbles(p.w[r][b].qs, 4 * j, levels[r]);
                level_ptrs[r] = levels[r][0];
            }
            const uint8_t* aj[T];
            for (int t = 0; t < T; ++t) aj[t] = a[t] + 32 * j;
            multiply<R, T>(aj, p.activation_row_bytes, level_ptrs, results);
            for (int r = 0; r < R; ++r) {
                const __m512 scale = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.w[r][b].scales[j]))));
                for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
                    for (int k = 0; k < kTileTokens; ++k) {
                        float* block_sum = block_sums[r][t * kTileTokens + k];
                        const __m512 dot = _mm512_cvtepi32_ps(result_row(results[r][t], k));
                        _mm512_store_ps(
                            block_sum,
                            j == 0 ? _mm512_mul_ps(dot, scale)
                                   : _mm512_fmadd_ps(dot, scale, _mm512_load_ps(block_sum)));
                    }
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            const BlockQ4_Kx16& blk = p.w[r][b];
            const __m512 d = _mm512_cvtph_ps(load256(blk.d));
            const __m512 dmin = _mm512_cvtph_ps(load256(blk.dmin));
            __m512i mins[4];
            for (int q = 0; q < 4; ++q) mins[q] = _mm512_cvtepu8_epi16(load256(blk.mins[q]));
            for (int i = 0; i < T * kTileTokens; ++i) {
                const BlockQ8_K& x = q8_k_block(p, i, b);
                const __m512 dx = _mm512_set1_ps(x.d);
                __m512i min_sum = _mm512_setzero_si512();
                for (int q = 0; q < 4; ++q)
                    min_sum = _mm512_dpwssd_epi32(min_sum, mins[q],
                                                  _mm512_set1_epi32(q8_k_bsum_pair(x, q)));
                __m512 v =
                    _mm512_fmadd_ps(_mm512_mul_ps(d, dx), _mm512_load_ps(block_sums[r][i]),
                                    b == 0 ? _mm512_setzero_ps() : _mm512_load_ps(sums[r][i]));
                v = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, dx), _mm512_cvtepi32_ps(min_sum), v);
                _mm512_store_ps(sums[r][i], v);
            }
        }
    }
    store_sums<R, T>(p, sums);
}

template <int R, int T>
void q6_k_pass(const PassArgs<BlockQ6_Kx16>& p) {
    alignas(64) TileResult results[R][T];
    alignas(64) uint8_t levels[R][4][64];
    alignas(64) Sums<R, T> sums;  // written at block 0
    alignas(64) Sums<R, T> block_sums;
    for (int64_t b = 0; b < p.n_blocks; ++b) {
        const uint8_t* a[T];
        for (int t = 0; t < T; ++t)
            a[t] = p.activations + t * kTileTokens * p.activation_row_bytes +
                   b * sizeof(BlockQ8_K) + offsetof(BlockQ8_K, qs);
        for (int j = 0; j < 16; ++j) {
            const uint8_t* level_ptrs[R];
            for (int r = 0; r < R; ++r) {
                __m512i v[4];
                q6_k_x16_levels(p.w[r][b], j, v);
                for (int k = 0; k < 4; ++k) _mm512_store_si512(levels[r][k], v[k]);
                level_ptrs[r] = levels[r][0];
            }
            const uint8_t* aj[T];
            for (int t = 0; t < T; ++t) aj[t] = a[t] + 16 * j;
            multiply<R, T>(aj, p.activation_row_bytes, level_ptrs, results);
            for (int r = 0; r < R; ++r) {
                const __m512 scale = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.w[r][b].scales[j]))));
                for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
                    for (int k = 0; k < kTileTokens; ++k) {
                        const int i = t * kTileTokens + k;
                        // The +32 level offset: 32 * the activations' sum over these columns.
                        const __m512i dot =
                            _mm512_sub_epi32(result_row(results[r][t], k),
                                             _mm512_set1_epi32(32 * q8_k_block(p, i, b).bsums[j]));
                        const __m512 f = _mm512_cvtepi32_ps(dot);
                        _mm512_store_ps(
                            block_sums[r][i],
                            j == 0 ? _mm512_mul_ps(f, scale)
                                   : _mm512_fmadd_ps(f, scale, _mm512_load_ps(block_sums[r][i])));
                    }
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            const __m512 d = _mm512_cvtph_ps(load256(p.w[r][b].d));
            for (int i = 0; i < T * kTileTokens; ++i) {
                const __m512 v =
                    _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(q8_k_block(p, i, b).d)),
                                    _mm512_load_ps(block_sums[r][i]),
                                    b == 0 ? _mm512_setzero_ps() : _mm512_load_ps(sums[r][i]));
                _mm512_store_ps(sums[r][i], v);
            }
        }
    }
    store_sums<R, T>(p, sums);
}

// Runs pass<R, T>(args) over the row groups of [row_begin, row_end) two at a time and the
// tokens 32 at a time, with 1-group / 1-tile passes for what is left.
template <typename Packed, typename Pass>
void for_each_pass(const WeightMatrix& w, int64_t columns_per_block, const uint8_t* activations,
                   size_t activation_row_bytes, int64_t n_tokens, float* y, size_t y_stride,
                   int64_t row_begin, int64_t row_end, Pass pass) {
    const int64_t n_blocks = w.cols / columns_per_block;
    const auto* groups = reinterpret_cast<const Packed*>(w.repacked);
    for (int64_t r = row_begin; r < row_end;) {
        const int n_groups = row_end - r >= 2 * kRepackRows ? 2 : 1;
        for (int64_t t0 = 0; t0 < n_tokens;) {
            const int n_tiles = n_tokens - t0 >= 2 * kTileTokens ? 2 : 1;
            PassArgs<Packed> args{{groups + (r / kRepackRows) * n_blocks,
                                   groups + (r / kRepackRows + n_groups - 1) * n_blocks},
                                  n_blocks,
                                  activations + t0 * activation_row_bytes,
                                  activation_row_bytes,
                                  y + t0 * y_stride + r,
                                  y_stride};
            pass(args, t0, n_groups, n_tiles);
            t0 += n_tiles * kTileTokens;
        }
        r += n_groups * kRepackRows;
    }
}

// Calls f<R, T>() for the runtime pair (n_groups, n_tiles), each 1 or 2.
template <typename F>
void dispatch(int n_groups, int n_tiles, F f) {
    if (n_groups == 2 && n_tiles == 2)
        f(std::integral_constant<int, 2>{}, std::integral_constant<int, 2>{});
    else if (n_groups == 2)
        f(std::integral_constant<int, 2>{}, std::integral_constant<int, 1>{});
    else if (n_tiles == 2)
        f(std::integral_constant<int, 1>{}, std::integral_constant<int, 2>{});
    else
        f(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{});
}

template <typename Packed>
void matmul_block32(const WeightMatrix& w, const uint8_t* activations, size_t activation_row_bytes,
                    int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin,
                    int64_t row_end) {
    const int64_t n_blocks = w.cols / 32;
    const Block32Terms* terms =
        block32_terms(activations, activation_row_bytes, n_tokens, n_blocks);
    for_each_pass<Packed>(w, 32, activations, activation_row_bytes, n_tokens, y, y_stride,
                          row_begin, row_end,
                          [&](const PassArgs<Packed>& args, int64_t t0, int n_groups, int n_tiles) {
                              dispatch(n_groups, n_tiles, [&](auto R, auto T) {
                                  block32_pass<Packed, R, T>(args, terms + t0 * n_blocks);
                              });
                          });
}

}  // namespace

namespace {

template <typename Packed>
void matmul_tiles(const WeightMatrix& w, const uint8_t* activations, size_t activation_row_bytes,
                  int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
    if constexpr (std::is_same_v<Packed, BlockQ4_Kx16>) {
        configure_tiles(32);
        for_each_pass<BlockQ4_Kx16>(
            w, kSuperBlock, activations, activation_row_bytes, n_tokens, y, y_stride, row_begin,
            row_end, [](const PassArgs<BlockQ4_Kx16>& args, int64_t, int g, int t) {
                dispatch(g, t, [&](auto R, auto T) { q4_k_pass<R, T>(args); });
            });
    } else if constexpr (std::is_same_v<Packed, BlockQ6_Kx16>) {
        configure_tiles(16);
        for_each_pass<BlockQ6_Kx16>(
            w, kSuperBlock, activations, activation_row_bytes, n_tokens, y, y_stride, row_begin,
            row_end, [](const PassArgs<BlockQ6_Kx16>& args, int64_t, int g, int t) {
                dispatch(g, t, [&](auto R, auto T) { q6_k_pass<R, T>(args); });
            });
    } else {  // Q4_0, Q8_0
        configure_tiles(32);
        matmul_block32<Packed>(w, activations, activation_row_bytes, n_tokens, y, y_stride,
                               row_begin, row_end);
    }
}

}  // namespace

// The packed layouts with AMX kernels (kernels/type_traits.cpp).
#define HEARTH_PACKED_KERNEL(name, Packed)                                                       \
    void name(const WeightMatrix& w, const uint8_t* activations, size_t activation_row_bytes,    \
              int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) { \
        matmul_tiles<Packed>(w, activations, activation_row_bytes, n_tokens, y, y_stride,        \
                             row_begin, row_end);                                                \
    }
HEARTH_PACKED_KERNEL(matmul_tiles_q4_k, BlockQ4_Kx16)
HEARTH_PACKED_KERNEL(matmul_tiles_q6_k, BlockQ6_Kx16)
HEARTH_PACKED_KERNEL(matmul_tiles_q4_0, BlockQ4_0x16)
HEARTH_PACKED_KERNEL(matmul_tiles_q8_0, BlockQ8_0x16)
#undef HEARTH_PACKED_KERNEL

}  // namespace hearth::kernels::amx
