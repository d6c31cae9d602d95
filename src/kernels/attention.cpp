#include "kernels/attention.h"

#include <algorithm>

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

KvSpan kv_span(gguf::TensorType type, int64_t offset, int64_t head_dim) {
    if (type == gguf::TensorType::F32) return {true, 0, 0, 0};
    const auto& info = gguf::type_info(type);
    const int64_t bs = info.block_size;
    const int64_t skip = offset % bs;
    return {false, offset / bs * info.bytes_per_block, skip, (skip + head_dim + bs - 1) / bs * bs};
}

void widen_kv_head(gguf::TensorType type, const void* row, int64_t offset, int64_t head_dim,
                   float* dst, float* tmp) {
    const KvSpan span = kv_span(type, offset, head_dim);
    if (span.in_place) {
        const float* x = static_cast<const float*>(row) + offset;
        std::copy(x, x + head_dim, dst);
        return;
    }
    const void* src = static_cast<const uint8_t*>(row) + span.skip_bytes;
    const bool whole = span.skip == 0 && span.n == head_dim;
    float* out = whole ? dst : tmp;
    switch (cpu_level()) {
        case CpuLevel::Avx512:
            avx512::kv_to_float(type, src, out, span.n);
            break;
        case CpuLevel::Avx2:
            avx2::kv_to_float(type, src, out, span.n);
            break;
        default:
            scalar::kv_to_float(type, src, out, span.n);
    }
    if (!whole) std::copy(tmp + span.skip, tmp + span.skip + head_dim, dst);
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
