#include "kernels/attention.h"

#include "kernels/cpu.h"

namespace hearth::kernels {

int attention_tile_width() {
    switch (cpu_level()) {
        case CpuLevel::Avx512:
            return 16;
        case CpuLevel::Avx2:
            return 8;
        default:
            return 4;
    }
}

int64_t attention_scratch_floats(int64_t head_dim) {
    constexpr int64_t kMaxWidth = 16;
    return 2 * head_dim * kMaxWidth + kAttentionKeyBlock * kMaxWidth +
           2 * kAttentionKeyBlock * attention_kv_row_floats(head_dim);
}

void attention_tile(const AttentionTile& tile, float* scratch) {
    switch (cpu_level()) {
        case CpuLevel::Avx512:
            return avx512::attention_tile(tile, scratch);
        case CpuLevel::Avx2:
            return avx2::attention_tile(tile, scratch);
        default:
            return scalar::attention_tile(tile, scratch);
    }
}

}  // namespace hearth::kernels
