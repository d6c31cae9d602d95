#pragma once
// Weights rearranged once at load time for faster kernels. The GGUF layout stores each row's
// blocks on their own; the AVX-512 kernels work best on 16 rows at once, so the k-quants (Q2_K ..
// Q6_K, IQ4_XS) and the 32-column formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, MXFP4) are
// repacked into "x16" blocks: for 16 rows, the rows' levels are interleaved four columns at a
// time, so one 32-bit broadcast of activations feeds all 16 rows in one vpdpbusd, and the 16
// rows' scales form one vector. Same values; Q3_K, Q4_K and Q5_K take 3.6%, 2.8% and 2.3% more bytes (unpacked scales),
// the others the same bytes. About 3x fewer instructions per weight than unpacking each row's
// block.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/cpu.h"
#include "kernels/quants.h"
#include "kernels/weight_matrix.h"

namespace hearth::kernels {

constexpr int kRepackRows = 16;
// The version of the packed layouts below and of what the loader repacks: repacked-weights
// cache files (model/repack_cache.h) of another version are rebuilt. Bump it with any change
// to a packed block, to repack_block_x16, or to which matrices are repacked.
constexpr uint32_t kRepackLayoutVersion = 1;

#pragma pack(push, 1)
// Row r's 4 bytes of a level group g (columns 8g .. 8g+7): byte i holds the level of column
// 8g+i in its low nibble and of column 8g+4+i in its high nibble.
struct BlockQ4_Kx16 {
    static constexpr int64_t kColumns = kSuperBlock;
    uint16_t d[kRepackRows];          // fp16 super-block scale of each row
    uint16_t dmin[kRepackRows];       // fp16 super-block scale of the mins
    uint8_t scales[8][kRepackRows];   // 6-bit scale of sub-block j (32 columns) of each row
    uint8_t mins[4][kRepackRows][2];  // 6-bit mins of sub-blocks 2p and 2p+1, row by row
    uint8_t qs[32][kRepackRows * 4];  // level groups as above
};
#pragma pack(pop)
static_assert(sizeof(BlockQ4_Kx16) == kRepackRows * sizeof(BlockQ4_K) + 64);

// 16 rows x 256 columns of Q5_K: the low 4 bits of each level, scales and mins as in
// BlockQ4_Kx16, and the fifth bits of sub-block j (columns 32j .. 32j+31) in qh[j]: bit 2k+p
// of row r's byte i is that of column 32j + 8k + 4p + i (group 4j+k, part p of BlockQ4_Kx16),
// so one shift and one mask bring a part's bits to bit 4 of the level bytes.
struct BlockQ5_Kx16 {
    static constexpr int64_t kColumns = kSuperBlock;
    BlockQ4_Kx16 low;
    uint8_t qh[8][kRepackRows * 4];
};
static_assert(sizeof(BlockQ5_Kx16) == kRepackRows * sizeof(BlockQ5_K) + 64);

// The low 4 bits of a Q4_K/Q5_K x16 block, which the Q4_K and Q5_K kernels share.
inline const BlockQ4_Kx16& k4_low_bits(const BlockQ4_Kx16& blk) {
    return blk;
}
inline const BlockQ4_Kx16& k4_low_bits(const BlockQ5_Kx16& blk) {
    return blk.low;
}

// 16 rows x 256 columns of IQ4_XS: the nibble groups as in BlockQ4_Kx16 (indices into
// kIQ4Values), and each row's sub-block scales unpacked (ls - 32).
struct BlockIQ4_XSx16 {
    static constexpr int64_t kColumns = kSuperBlock;
    uint16_t d[kRepackRows];
    int8_t scales[8][kRepackRows];
    uint8_t qs[32][kRepackRows * 4];
};
static_assert(sizeof(BlockIQ4_XSx16) == kRepackRows * sizeof(BlockIQ4_XS) + 32);

// 16 rows x 256 columns of Q6_K. Low 4 bits of the levels as in BlockQ4_Kx16 (group g:
// columns 8g .. 8g+7); the high 2 bits of sub-block j (columns 16j .. 16j+15) in qh[j]: row r's
// byte i holds those of columns 16j+i, +4, +8, +12 at bits 0-1, 2-3, 4-5, 6-7, so each is
// shifted to bits 4-5 and merged with one vpternlogd.
struct BlockQ6_Kx16 {
    static constexpr int64_t kColumns = kSuperBlock;
    uint16_t d[kRepackRows];
    int8_t scales[16][kRepackRows];  // sub-block j's scale of each row
    uint8_t ql[32][kRepackRows * 4];
    uint8_t qh[16][kRepackRows * 4];
};
static_assert(sizeof(BlockQ6_Kx16) == kRepackRows * sizeof(BlockQ6_K));

// 16 rows x 256 columns of Q2_K: the 2-bit levels (0..3) of sub-block j (columns 16j ..
// 16j+15) in ql[j] as in BlockQ3_Kx16, and each row's scale byte (scale | min << 4) as Q2_K
// stores it. The same bytes as the original rows.
struct BlockQ2_Kx16 {
    static constexpr int64_t kColumns = kSuperBlock;
    uint16_t d[kRepackRows];
    uint16_t dmin[kRepackRows];
    uint8_t scales[16][kRepackRows];
    uint8_t ql[16][kRepackRows * 4];
};
static_assert(sizeof(BlockQ2_Kx16) == kRepackRows * sizeof(BlockQ2_K));

// 16 rows x 256 columns of Q3_K, levels stored as q + 4 (0..7, unsigned for vpdpbusd; the
// offset is taken off with the activations' 16-sums). The low 2 bits of sub-block j (columns
// 16j .. 16j+15) in ql[j]: row r's byte i holds those of columns 16j+i, +4, +8, +12 at bits 0-1,
// 2-3, 4-5, 6-7. The third bits of sub-blocks 2m and 2m+1 in qh[m]: bit 4s+k of row r's byte
// i is that of column 16(2m+s)+4k+i, so one shift and one mask bring them to bit 2.
struct BlockQ3_Kx16 {
    static constexpr int64_t kColumns = kSuperBlock;
    uint16_t d[kRepackRows];
    int8_t scales[16][kRepackRows];  // sub-block j's scale (6-bit value - 32) of each row
    uint8_t ql[16][kRepackRows * 4];
    uint8_t qh[8][kRepackRows * 4];
};
static_assert(sizeof(BlockQ3_Kx16) == kRepackRows * sizeof(BlockQ3_K) + 64);

// 16 rows x 32 columns of Q4_0. Level group g (columns 8g .. 8g+7) as in BlockQ4_Kx16; the
// levels keep their +8 offset (vpdpbusd wants unsigned weights), taken off per block.
struct BlockQ4_0x16 {
    static constexpr int64_t kColumns = kBlock32;
    uint16_t d[kRepackRows];
    uint8_t qs[4][kRepackRows * 4];
};
static_assert(sizeof(BlockQ4_0x16) == kRepackRows * sizeof(BlockQ4_0));

// 16 rows x 32 columns of IQ4_NL: as BlockQ4_0x16, the nibbles being indices into kIQ4Values.
struct BlockIQ4_NLx16 {
    static constexpr int64_t kColumns = kBlock32;
    uint16_t d[kRepackRows];
    uint8_t qs[4][kRepackRows * 4];
};
static_assert(sizeof(BlockIQ4_NLx16) == kRepackRows * sizeof(BlockIQ4_NL));

// 16 rows x 32 columns of MXFP4: as BlockQ4_0x16, the nibbles being E2M1 codes (indices into
// kMXFP4Values), and each row's E8M0 exponent byte.
struct BlockMXFP4x16 {
    static constexpr int64_t kColumns = kBlock32;
    uint8_t e[kRepackRows];
    uint8_t qs[4][kRepackRows * 4];
};
static_assert(sizeof(BlockMXFP4x16) == kRepackRows * sizeof(BlockMXFP4));

// 16 rows x 32 columns of Q4_1: as BlockQ4_0x16 (levels 0..15), with each row's min.
struct BlockQ4_1x16 {
    static constexpr int64_t kColumns = kBlock32;
    uint16_t d[kRepackRows];
    uint16_t m[kRepackRows];
    uint8_t qs[4][kRepackRows * 4];
};
static_assert(sizeof(BlockQ4_1x16) == kRepackRows * sizeof(BlockQ4_1));

// Q5_0 and Q5_1: the low 4 bits as in BlockQ4_0x16, the fifth bits as byte masks: bit 4r+i of
// qh[g][p] is set where row r's column 8g+4p+i has a level of 16 or more.
struct BlockQ5_0x16 {
    static constexpr int64_t kColumns = kBlock32;
    uint16_t d[kRepackRows];
    uint8_t qs[4][kRepackRows * 4];
    uint64_t qh[4][2];
};
static_assert(sizeof(BlockQ5_0x16) == kRepackRows * sizeof(BlockQ5_0));
struct BlockQ5_1x16 {
    static constexpr int64_t kColumns = kBlock32;
    uint16_t d[kRepackRows];
    uint16_t m[kRepackRows];
    uint8_t qs[4][kRepackRows * 4];
    uint64_t qh[4][2];
};
static_assert(sizeof(BlockQ5_1x16) == kRepackRows * sizeof(BlockQ5_1));

// 16 rows x 32 columns of Q8_0. Group g holds columns 4g .. 4g+3, row by row, each level
// stored as level + 128 (unsigned for vpdpbusd; the offset is taken off per block).
struct BlockQ8_0x16 {
    static constexpr int64_t kColumns = kBlock32;
    uint16_t d[kRepackRows];
    uint8_t qs[8][kRepackRows * 4];
};
static_assert(sizeof(BlockQ8_0x16) == kRepackRows * sizeof(BlockQ8_0));

// Whether `w` can be repacked: its type has a packed layout (kernels/type_traits.h
// TypeTraits::packed) and whole groups of 16 rows.
bool can_repack(const WeightMatrix& w);
// Bytes the repacked copy of `w` takes.
size_t repacked_bytes(const WeightMatrix& w);
// Writes row groups [group_begin, group_end) (16 rows each) of the repacked copy of `w` into
// `out`, which holds repacked_bytes(w) bytes: group G's blocks are contiguous, at
// G * (cols / block size) + b. Ranges may be written in parallel.
void repack(const WeightMatrix& w, uint8_t* out, int64_t group_begin, int64_t group_end);

// Block `block` of 16 rows (rows[r]: row r's first block) into one Packed block at `out`: the
// RepackBlockFn of the packed layouts above.
template <typename Packed>
void repack_block_x16(const uint8_t* const* rows, int64_t block, uint8_t* out);

// A 64-byte aligned buffer; big ones ask the kernel for huge pages (fewer TLB misses when
// decode streams through the weights).
struct AlignedBuffer {
    struct Free {
        void operator()(uint8_t* p) const;
    };
    std::unique_ptr<uint8_t, Free> data;
    size_t size = 0;
    static AlignedBuffer allocate(size_t bytes);
};

// sum_j bsum16_j of sub-blocks 2p and 2p+1 of a Q8_K activation block as the two s16 halves
// of one 32-bit word: what the repacked Q4_K kernels multiply with a row's (min 2p, min 2p+1)
// pair in one madd/dpwssd step.
inline int32_t q8_k_bsum_pair(const BlockQ8_K& a, int p) {
    const int lo = a.bsums[4 * p] + a.bsums[4 * p + 1];
    const int hi = a.bsums[4 * p + 2] + a.bsums[4 * p + 3];
    return static_cast<int32_t>((static_cast<uint32_t>(hi) << 16) | static_cast<uint16_t>(lo));
}

// What a 32-column Q8_0 activation block contributes to the repacked 32-column kernels
// besides its levels: its scale d, and d times its level sum, which multiplies the weights'
// stored level offset (8 for Q4_0, 128 for Q8_0 ...: the unsigned stored levels add it to every
// dot) or their min (Q4_1, Q5_1).
struct Block32Terms {
    float d;
    float scaled_sum;
};

// The Block32Terms of tokens [0, n_tokens) (Q8_0 rows of n_blocks blocks), token t's at
// result + t * n_blocks. In a per-thread buffer that grows to the largest tile once (no
// allocation per token after that) and holds until the thread's next call.
const Block32Terms* block32_terms(const uint8_t* activations, size_t activation_row_bytes,
                                  int64_t n_tokens, int64_t n_blocks);

// Whether `level` has a kernel for the repacked layout of `type` (its TypeTraits::packed_matmul;
// the loader repacks only then).
bool has_repacked_kernels(gguf::TensorType type, CpuLevel level);
// Whether `type` has AMX kernels (its AVX-512 TypeTraits::packed_matmul_amx).
bool has_amx_kernels(gguf::TensorType type);

// The packed kernels (TypeTraits::packed_matmul / packed_matmul_amx), one per layout a file has
// kernels for: y[t * y_stride + r] for rows [row_begin, row_end) (multiples of 16) of `w`,
// whose `repacked` copy is used, against n_tokens rows of activations in the type's
// vec_dot_type (Q8_K for the k-quants, Q8_0 for the 32-column formats). Plain functions, not
// template instances: the SIMD objects define no weak symbols.
using PackedKernel = void(const WeightMatrix& w, const uint8_t* activations,
                          size_t activation_row_bytes, int64_t n_tokens, float* y, size_t y_stride,
                          int64_t row_begin, int64_t row_end);

namespace avx512 {  // 16 rows at a time with VNNI
PackedKernel matmul_x16_q2_k, matmul_x16_q3_k, matmul_x16_q4_k, matmul_x16_q5_k, matmul_x16_q6_k,
    matmul_x16_iq4_xs, matmul_x16_q4_0, matmul_x16_q4_1, matmul_x16_q5_0, matmul_x16_q5_1,
    matmul_x16_q8_0, matmul_x16_iq4_nl, matmul_x16_mxfp4;
}  // namespace avx512

namespace avx2 {  // 8 rows at a time (both halves of a group while it is in cache)
PackedKernel matmul_x8_q2_k, matmul_x8_q3_k, matmul_x8_q4_k, matmul_x8_q5_k, matmul_x8_q6_k,
    matmul_x8_q4_0, matmul_x8_q8_0, matmul_x8_mxfp4;
}  // namespace avx2

namespace amx {  // AMX tiles (kernels/cpu.h amx_enabled()), for n_tokens a multiple of 16
PackedKernel matmul_tiles_q4_k, matmul_tiles_q6_k, matmul_tiles_q4_0, matmul_tiles_q8_0;
}  // namespace amx

}  // namespace hearth::kernels
