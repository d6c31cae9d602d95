#include "kernels/repack.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/fp16.h"
#include "kernels/type_traits.h"

namespace hearth::kernels {

namespace {

// Row r's share of the x16 nibble groups: group g (columns 8g .. 8g+7) gets 4 bytes at 4r,
// byte i holding the low 4 bits of column 8g+i's level and, above them, of column 8g+4+i's.
void pack_nibble_groups(const uint8_t* level, int n_groups, int r,
                        uint8_t (*groups)[kRepackRows * 4]) {
    for (int g = 0; g < n_groups; ++g) {
        for (int i = 0; i < 4; ++i)
            groups[g][4 * r + i] = (level[8 * g + i] & 0x0F) | ((level[8 * g + 4 + i] & 0x0F) << 4);
    }
}

// All 256 levels of a block, in column order: the same values as q4_k_level and q6_k_level
// (quants.h) element by element, written as whole-byte loops because the loader repacks every
// block of a model (per-element index arithmetic made it 60% of a 1b model's load time).
void q4_k_levels(const BlockQ4_K& blk, uint8_t level[kSuperBlock]) {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            level[64 * c + l] = blk.qs[32 * c + l] & 0x0F;
            level[64 * c + 32 + l] = blk.qs[32 * c + l] >> 4;
        }
    }
}
void q6_k_levels(const BlockQ6_K& blk, uint8_t level[kSuperBlock]) {
    for (int h = 0; h < 2; ++h) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t low0 = blk.ql[64 * h + l], low1 = blk.ql[64 * h + 32 + l];
            const uint8_t high = blk.qh[32 * h + l];
            level[128 * h + l] = (low0 & 0x0F) | ((high & 3) << 4);
            level[128 * h + 32 + l] = (low1 & 0x0F) | (((high >> 2) & 3) << 4);
            level[128 * h + 64 + l] = (low0 >> 4) | (((high >> 4) & 3) << 4);
            level[128 * h + 96 + l] = (low1 >> 4) | (((high >> 6) & 3) << 4);
        }
    }
}

// Q5_K: q4_k_levels plus the fifth bit, bit 2c (first 32 of chunk c) or 2c+1 (second 32) of
// qh[l].
void q5_k_levels(const BlockQ5_K& blk, uint8_t level[kSuperBlock]) {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            level[64 * c + l] = (blk.qs[32 * c + l] & 0x0F) | (((blk.qh[l] >> (2 * c)) & 1) << 4);
            level[64 * c + 32 + l] =
                (blk.qs[32 * c + l] >> 4) | (((blk.qh[l] >> (2 * c + 1)) & 1) << 4);
        }
    }
}

// Q2_K and the low bits of Q3_K: element 128h + 32s + l at bits 2s of qs[32h + l].
void two_bit_levels(const uint8_t qs[64], uint8_t level[kSuperBlock]) {
    for (int h = 0; h < 2; ++h) {
        for (int s = 0; s < 4; ++s) {
            for (int l = 0; l < 32; ++l)
                level[128 * h + 32 * s + l] = (qs[32 * h + l] >> (2 * s)) & 3;
        }
    }
}

// Q3_K: q + 4 (0..7): the low 2 bits as above, the third at bit 4h + s of hmask[l] (set: q =
// low bits, clear: low bits - 4).
void q3_k_levels(const BlockQ3_K& blk, uint8_t level[kSuperBlock]) {
    two_bit_levels(blk.qs, level);
    for (int h = 0; h < 2; ++h) {
        for (int s = 0; s < 4; ++s) {
            for (int l = 0; l < 32; ++l)
                level[128 * h + 32 * s + l] |= ((blk.hmask[l] >> (4 * h + s)) & 1) << 2;
        }
    }
}

// Row r's share of the x16 2-bit planes: byte i of sub-block j holds the low 2 bits of
// columns 16j+i, +4, +8, +12 at bits 0-1, 2-3, 4-5, 6-7. `ql` starts zeroed.
void pack_two_bit_groups(const uint8_t level[kSuperBlock], int r, uint8_t (*ql)[kRepackRows * 4]) {
    for (int j = 0; j < 16; ++j) {
        for (int k = 0; k < 4; ++k) {
            for (int i = 0; i < 4; ++i)
                ql[j][4 * r + i] |= (level[16 * j + 4 * k + i] & 3) << (2 * k);
        }
    }
}

// Row r of a Q4_K/Q5_K x16 block: scales, mins and the low 4 bits of its levels.
template <typename Block>
void repack_k4_row(const Block& blk, const uint8_t level[kSuperBlock], int r, BlockQ4_Kx16& out) {
    out.d[r] = blk.d;
    out.dmin[r] = blk.dmin;
    uint8_t scales_and_mins[16];
    unpack_scales_mins_k4(blk.scales, scales_and_mins);
    for (int j = 0; j < 8; ++j) {
        out.scales[j][r] = scales_and_mins[j];
        out.mins[j / 2][r][j % 2] = scales_and_mins[8 + j];
    }
    pack_nibble_groups(level, 32, r, out.qs);
}

void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ4_Kx16& out) {
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockQ4_K& blk = reinterpret_cast<const BlockQ4_K*>(rows[r])[b];
        uint8_t level[kSuperBlock];
        q4_k_levels(blk, level);
        repack_k4_row(blk, level, r, out);
    }
}

void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ5_Kx16& out) {
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockQ5_K& blk = reinterpret_cast<const BlockQ5_K*>(rows[r])[b];
        uint8_t level[kSuperBlock];
        q5_k_levels(blk, level);
        repack_k4_row(blk, level, r, out.low);
        for (int j = 0; j < 8; ++j) {
            for (int i = 0; i < 4; ++i) {
                uint8_t bits = 0;
                for (int k = 0; k < 4; ++k) {
                    for (int p = 0; p < 2; ++p)
                        bits |= ((level[32 * j + 8 * k + 4 * p + i] >> 4) & 1) << (2 * k + p);
                }
                out.qh[j][4 * r + i] = bits;
            }
        }
    }
}

void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ3_Kx16& out) {
    std::memset(out.ql, 0, sizeof(out.ql));
    std::memset(out.qh, 0, sizeof(out.qh));
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockQ3_K& blk = reinterpret_cast<const BlockQ3_K*>(rows[r])[b];
        out.d[r] = blk.d;
        int8_t scales[16];
        unpack_scales_q3_k(blk.scales, scales);
        for (int j = 0; j < 16; ++j) out.scales[j][r] = scales[j];
        uint8_t level[kSuperBlock];
        q3_k_levels(blk, level);
        pack_two_bit_groups(level, r, out.ql);
        for (int j = 0; j < 16; ++j) {
            for (int k = 0; k < 4; ++k) {
                for (int i = 0; i < 4; ++i) {
                    const uint8_t third = (level[16 * j + 4 * k + i] >> 2) & 1;
                    out.qh[j / 2][4 * r + i] |= third << (4 * (j % 2) + k);
                }
            }
        }
    }
}

void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ2_Kx16& out) {
    std::memset(out.ql, 0, sizeof(out.ql));
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockQ2_K& blk = reinterpret_cast<const BlockQ2_K*>(rows[r])[b];
        out.d[r] = blk.d;
        out.dmin[r] = blk.dmin;
        for (int j = 0; j < 16; ++j) out.scales[j][r] = blk.scales[j];
        uint8_t level[kSuperBlock];
        two_bit_levels(blk.qs, level);
        pack_two_bit_groups(level, r, out.ql);
    }
}

void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockIQ4_XSx16& out) {
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockIQ4_XS& blk = reinterpret_cast<const BlockIQ4_XS*>(rows[r])[b];
        out.d[r] = blk.d;
        uint8_t level[kSuperBlock];  // sub-block j: low nibbles are columns 32j .. 32j+15
        for (int j = 0; j < 8; ++j) {
            const int low = (blk.scales_l[j / 2] >> (4 * (j % 2))) & 0xF;
            const int high = (blk.scales_h >> (2 * j)) & 3;
            out.scales[j][r] = static_cast<int8_t>((low | (high << 4)) - 32);
            for (int i = 0; i < 16; ++i) {
                level[32 * j + i] = blk.qs[16 * j + i] & 0x0F;
                level[32 * j + 16 + i] = blk.qs[16 * j + i] >> 4;
            }
        }
        pack_nibble_groups(level, 32, r, out.qs);
    }
}

void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ6_Kx16& out) {
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockQ6_K& blk = reinterpret_cast<const BlockQ6_K*>(rows[r])[b];
        out.d[r] = blk.d;
        for (int j = 0; j < 16; ++j) out.scales[j][r] = blk.scales[j];
        uint8_t level[kSuperBlock];
        q6_k_levels(blk, level);
        pack_nibble_groups(level, 32, r, out.ql);
        for (int j = 0; j < 16; ++j) {
            for (int i = 0; i < 4; ++i) {
                uint8_t high = 0;
                for (int k = 0; k < 4; ++k) high |= (level[16 * j + 4 * k + i] >> 4) << (2 * k);
                out.qh[j][4 * r + i] = high;
            }
        }
    }
}

// The low 4 bits of a 32-column block's levels into row r of the x16 groups (GGUF order: low
// nibbles are columns 0..15, high ones 16..31).
void pack_block32_row(const uint8_t qs[16], int r, uint8_t (*groups)[kRepackRows * 4]) {
    uint8_t level[32];
    for (int i = 0; i < 16; ++i) {
        level[i] = qs[i] & 0x0F;
        level[16 + i] = qs[i] >> 4;
    }
    pack_nibble_groups(level, 4, r, groups);
}

// Q5_0/Q5_1: row r's fifth bits (bit j of qh: column j) into the byte masks, which start zeroed.
void pack_fifth_bits(const uint8_t qh[4], int r, uint64_t (*masks)[2]) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    for (int g = 0; g < 4; ++g) {
        for (int p = 0; p < 2; ++p) {
            for (int i = 0; i < 4; ++i) {
                if ((bits >> (8 * g + 4 * p + i)) & 1) masks[g][p] |= uint64_t{1} << (4 * r + i);
            }
        }
    }
}

template <typename Block, typename Packed>
void repack_block32(const uint8_t* const rows[kRepackRows], int64_t b, Packed& out) {
    if constexpr (requires { out.qh; }) std::memset(out.qh, 0, sizeof(out.qh));
    for (int r = 0; r < kRepackRows; ++r) {
        const Block& blk = reinterpret_cast<const Block*>(rows[r])[b];
        out.d[r] = blk.d;
        if constexpr (requires { out.m; }) out.m[r] = blk.m;
        if constexpr (requires { out.qh; }) pack_fifth_bits(blk.qh, r, out.qh);
        pack_block32_row(blk.qs, r, out.qs);
    }
}

void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ4_0x16& out) {
    repack_block32<BlockQ4_0>(rows, b, out);
}
void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockIQ4_NLx16& out) {
    repack_block32<BlockIQ4_NL>(rows, b, out);
}
void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockMXFP4x16& out) {
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockMXFP4& blk = reinterpret_cast<const BlockMXFP4*>(rows[r])[b];
        out.e[r] = blk.e;
        pack_block32_row(blk.qs, r, out.qs);
    }
}
void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ4_1x16& out) {
    repack_block32<BlockQ4_1>(rows, b, out);
}
void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ5_0x16& out) {
    repack_block32<BlockQ5_0>(rows, b, out);
}
void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ5_1x16& out) {
    repack_block32<BlockQ5_1>(rows, b, out);
}

void repack_block(const uint8_t* const rows[kRepackRows], int64_t b, BlockQ8_0x16& out) {
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockQ8_0& blk = reinterpret_cast<const BlockQ8_0*>(rows[r])[b];
        out.d[r] = blk.d;
        for (int g = 0; g < 8; ++g) {
            for (int i = 0; i < 4; ++i)
                out.qs[g][4 * r + i] = static_cast<uint8_t>(blk.qs[4 * g + i] + 128);
        }
    }
}

}  // namespace

template <typename Packed>
void repack_block_x16(const uint8_t* const* rows, int64_t block, uint8_t* out) {
    repack_block(rows, block, *reinterpret_cast<Packed*>(out));
}
template void repack_block_x16<BlockQ2_Kx16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ3_Kx16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ4_Kx16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ5_Kx16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ6_Kx16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockIQ4_XSx16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ4_0x16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ4_1x16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ5_0x16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ5_1x16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockQ8_0x16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockIQ4_NLx16>(const uint8_t* const*, int64_t, uint8_t*);
template void repack_block_x16<BlockMXFP4x16>(const uint8_t* const*, int64_t, uint8_t*);

bool can_repack(const WeightMatrix& w) {
    if (!is_supported(w.type)) return false;
    const PackedLayout& packed = traits(w.type).packed;
    return packed.columns > 0 && w.rows > 0 && w.rows % kRepackRows == 0 &&
           w.cols % packed.columns == 0;
}

const Block32Terms* block32_terms(const uint8_t* activations, size_t activation_row_bytes,
                                  int64_t n_tokens, int64_t n_blocks) {
    thread_local std::vector<Block32Terms> terms;
    if (terms.size() < static_cast<size_t>(n_tokens * n_blocks)) terms.resize(n_tokens * n_blocks);
    for (int64_t t = 0; t < n_tokens; ++t) {
        const auto* a = reinterpret_cast<const BlockQ8_0*>(activations + t * activation_row_bytes);
        for (int64_t b = 0; b < n_blocks; ++b) {
            int sum = 0;
            for (int i = 0; i < 32; ++i) sum += a[b].qs[i];
            const float d = fp16_to_fp32(a[b].d);
            terms[t * n_blocks + b] = {d, d * static_cast<float>(sum)};
        }
    }
    return terms.data();
}

bool has_repacked_kernels(gguf::TensorType type, CpuLevel level) {
    return is_supported(type) && traits(type, level).packed_matmul != nullptr;
}

bool has_amx_kernels(gguf::TensorType type) {
    return is_supported(type) && traits(type, CpuLevel::Avx512).packed_matmul_amx != nullptr;
}

size_t repacked_bytes(const WeightMatrix& w) {
    const PackedLayout& packed = traits(w.type).packed;
    return static_cast<size_t>(w.rows / kRepackRows) *
           static_cast<size_t>(w.cols / packed.columns) * packed.bytes;
}

void repack(const WeightMatrix& w, uint8_t* out, int64_t group_begin, int64_t group_end) {
    const PackedLayout& packed = traits(w.type).packed;
    if (!packed.repack_block)
        throw Error("cannot repack a " + std::string(gguf::type_name(w.type)) + " matrix");
    const int64_t n_blocks = w.cols / packed.columns;
    for (int64_t group = group_begin; group < group_end; ++group) {
        const uint8_t* rows[kRepackRows];
        for (int r = 0; r < kRepackRows; ++r) rows[r] = w.row(group * kRepackRows + r);
        for (int64_t b = 0; b < n_blocks; ++b)
            packed.repack_block(rows, b,
                                out + static_cast<size_t>(group * n_blocks + b) * packed.bytes);
    }
}

void AlignedBuffer::Free::operator()(uint8_t* p) const {
    std::free(p);
}

AlignedBuffer AlignedBuffer::allocate(size_t bytes) {
    constexpr size_t kHugePage = size_t{2} << 20;
    const size_t align = bytes >= kHugePage ? kHugePage : 64;
    const size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (!p) throw std::bad_alloc();
    if (align == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);  // a hint; failure is fine
    AlignedBuffer buffer;
    buffer.data.reset(static_cast<uint8_t*>(p));
    buffer.size = bytes;
    return buffer;
}

}  // namespace hearth::kernels
