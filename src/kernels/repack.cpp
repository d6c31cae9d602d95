#include "kernels/repack.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace hearth::kernels {

namespace {

void repack_block(const BlockQ4_K* rows[kRepackRows], int64_t b, BlockQ4_Kx16& out) {
    for (int r = 0; r < kRepackRows; ++r) {
        const BlockQ4_K& blk = rows[r][b];
        out.d[r] = blk.d;
        out.dmin[r] = blk.dmin;
        uint8_t scales_and_mins[16];
        unpack_scales_mins_k4(blk.scales, scales_and_mins);
        for (int j = 0; j < 8; ++j) {
            out.scales[j][r] = scales_and_mins[j];
            out.mins[j / 2][r][j % 2] = scales_and_mins[8 + j];
        }
        uint8_t level[kSuperBlock];
        for (int e = 0; e < kSuperBlock; ++e) level[e] = static_cast<uint8_t>(q4_k_level(blk, e));
        for (int g = 0; g < 32; ++g) {
            for (int i = 0; i < 4; ++i)
                out.qs[g][4 * r + i] = level[8 * g + i] | (level[8 * g + 4 + i] << 4);
        }
    }
}

}  // namespace

bool can_repack(const WeightMatrix& w) {
    return w.type == gguf::TensorType::Q4_K && w.rows > 0 && w.rows % kRepackRows == 0 &&
           w.cols % kSuperBlock == 0;
}

size_t repacked_bytes(const WeightMatrix& w) {
    return static_cast<size_t>(w.rows / kRepackRows) * static_cast<size_t>(w.cols / kSuperBlock) *
           sizeof(BlockQ4_Kx16);
}

void repack(const WeightMatrix& w, uint8_t* out, int64_t group_begin, int64_t group_end) {
    const int64_t n_blocks = w.cols / kSuperBlock;
    auto* dst = reinterpret_cast<BlockQ4_Kx16*>(out);
    for (int64_t group = group_begin; group < group_end; ++group) {
        const BlockQ4_K* rows[kRepackRows];
        for (int r = 0; r < kRepackRows; ++r)
            rows[r] = reinterpret_cast<const BlockQ4_K*>(w.row(group * kRepackRows + r));
        for (int64_t b = 0; b < n_blocks; ++b) repack_block(rows, b, dst[group * n_blocks + b]);
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
