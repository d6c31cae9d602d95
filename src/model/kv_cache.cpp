#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/type_traits.h"

namespace hearth::model {

using gguf::TensorType;

namespace {

constexpr TensorType kKvTypes[] = {TensorType::F32, TensorType::F16, TensorType::Q8_0,
                                   TensorType::Q4_0};

}  // namespace

std::string_view kv_type_name(TensorType type) {
    switch (type) {
        case TensorType::F32:
            return "f32";
        case TensorType::F16:
            return "f16";
        case TensorType::Q8_0:
            return "q8_0";
        case TensorType::Q4_0:
            return "q4_0";
        default:
            throw Error("a KV cache cannot store " + std::string(gguf::type_name(type)) +
                        " (choose one of " + std::string(kKvTypeNames) + ")");
    }
}

TensorType kv_type_from_name(std::string_view name) {
    for (TensorType t : kKvTypes) {
        if (name == kv_type_name(t)) return t;
    }
    throw Error("unknown KV cache type '" + std::string(name) + "' (choose one of " +
                std::string(kKvTypeNames) + ")");
}

size_t kv_row_bytes(TensorType type, int64_t kv_dim) {
    const auto& info = gguf::type_info(type);
    kv_type_name(type);  // refuses the types a cache cannot hold
    if (kv_dim <= 0 || kv_dim % info.block_size != 0) {
        throw Error("KV cache type " + std::string(kv_type_name(type)) + " stores blocks of " +
                    std::to_string(info.block_size) + " values, and this model's key/value rows have " +
                    std::to_string(kv_dim) + " (choose f16 or f32)");
    }
    return gguf::bytes_for(type, static_cast<uint64_t>(kv_dim));
}

size_t kv_bytes_per_token(TensorType type, int64_t n_layer, int64_t kv_dim) {
    return 2 * static_cast<size_t>(n_layer) * kv_row_bytes(type, kv_dim);
}

KvCache::KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_blocks, int64_t block_size,
                 int64_t max_seqs, TensorType type)
    : n_layer_(n_layer),
      kv_dim_(kv_dim),
      n_blocks_(n_blocks),
      block_size_(block_size),
      type_(type),
      row_bytes_(static_cast<int64_t>(kv_row_bytes(type, kv_dim))) {
    if (n_blocks <= 0 || block_size <= 0 || max_seqs <= 0)
        throw Error("KV cache needs at least one block and one sequence");
    size_t n = static_cast<size_t>(n_layer * n_blocks * block_size * row_bytes_);
    k_ = ZeroedPages(n);
    v_ = ZeroedPages(n);
    refcount_.assign(n_blocks, 0);
    resident_.assign(n_blocks, false);
    for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
    tables_.resize(max_seqs);
    lengths_.assign(max_seqs, 0);
}

void KvCache::release(int64_t block) {
    if (--refcount_[block] == 0) free_.push_back(block);
}

int64_t KvCache::take_free_block() {
    const int64_t block = free_.back();
    free_.pop_back();
    refcount_[block] = 1;
    resident_[block] = true;
    return block;
}

void KvCache::release_free_memory() {
    const size_t block_bytes = static_cast<size_t>(block_size_ * row_bytes_);
    for (int64_t block : free_) {
        if (!resident_[block]) continue;
        for (int64_t l = 0; l < n_layer_; ++l) {
            const size_t at = static_cast<size_t>(l * n_blocks_ + block) * block_bytes;
            k_.discard(at, block_bytes);
            v_.discard(at, block_bytes);
        }
        resident_[block] = false;
    }
}

int64_t KvCache::copy_block(int64_t block) {
    const int64_t fresh = take_free_block();
    const size_t block_bytes = static_cast<size_t>(block_size_ * row_bytes_);
    for (int64_t l = 0; l < n_layer_; ++l) {
        const size_t from = static_cast<size_t>(l * n_blocks_ + block) * block_bytes;
        const size_t to = static_cast<size_t>(l * n_blocks_ + fresh) * block_bytes;
        std::memcpy(k_.data() + to, k_.data() + from, block_bytes);
        std::memcpy(v_.data() + to, v_.data() + from, block_bytes);
    }
    release(block);
    return fresh;
}

void KvCache::store(int64_t layer, int32_t seq, int64_t pos, const float* key,
                    const float* value) {
    const auto from_float = kernels::traits(type_).from_float;
    from_float(key, slot(k_, layer, seq, pos), kv_dim_);
    from_float(value, slot(v_, layer, seq, pos), kv_dim_);
}

void KvCache::store_rows(int64_t layer, int32_t seq, int64_t pos, const uint8_t* key,
                         const uint8_t* value) {
    std::memcpy(slot(k_, layer, seq, pos), key, static_cast<size_t>(row_bytes_));
    std::memcpy(slot(v_, layer, seq, pos), value, static_cast<size_t>(row_bytes_));
}

bool KvCache::reserve(int32_t seq, int64_t n) {
    auto& table = tables_.at(seq);
    int64_t have = lengths_[seq];
    int64_t needed_blocks = (n + block_size_ - 1) / block_size_;
    // Blocks that will be written and are shared must be copied first (copy-on-write).
    int64_t first_written = have / block_size_;
    int64_t copies = 0;
    for (int64_t b = first_written; b < static_cast<int64_t>(table.size()) && b < needed_blocks;
         ++b) {
        if (refcount_[table[b]] > 1) ++copies;
    }
    int64_t new_blocks = std::max<int64_t>(0, needed_blocks - static_cast<int64_t>(table.size()));
    if (new_blocks + copies > free_blocks()) return false;
    for (int64_t b = first_written; b < static_cast<int64_t>(table.size()) && b < needed_blocks;
         ++b) {
        if (refcount_[table[b]] > 1) table[b] = copy_block(table[b]);
    }
    for (int64_t i = 0; i < new_blocks; ++i) table.push_back(take_free_block());
    lengths_[seq] = std::max(have, n);
    return true;
}

void KvCache::clear(int32_t seq) {
    truncate(seq, 0);
}

void KvCache::truncate(int32_t seq, int64_t n) {
    auto& table = tables_.at(seq);
    int64_t keep_blocks = (n + block_size_ - 1) / block_size_;
    while (static_cast<int64_t>(table.size()) > keep_blocks) {
        release(table.back());
        table.pop_back();
    }
    lengths_[seq] = std::min(lengths_[seq], n);
}

void KvCache::share_prefix(int32_t src, int32_t dst, int64_t n) {
    if (src == dst) {
        truncate(src, n);
        return;
    }
    clear(dst);
    n = std::min(n, lengths_.at(src));
    int64_t blocks = (n + block_size_ - 1) / block_size_;
    for (int64_t b = 0; b < blocks; ++b) {
        int64_t block = tables_[src][b];
        ++refcount_[block];
        tables_[dst].push_back(block);
    }
    lengths_[dst] = n;
}

bool KvCache::discard(int32_t seq, int64_t n_keep, int64_t n_discard, const KeyRewrite& rewrite) {
    const int64_t length = lengths_.at(seq);
    if (n_keep < 0 || n_discard <= 0 || n_keep + n_discard > length)
        throw Error("KV cache: cannot discard positions [" + std::to_string(n_keep) + ", " +
                    std::to_string(n_keep + n_discard) + ") of a sequence of " +
                    std::to_string(length));
    const int64_t kept = length - n_discard;
    auto& table = tables_[seq];
    // Every block from the first moved-into position to the new end is written.
    const int64_t first_written = n_keep / block_size_;
    const int64_t end_written = (kept + block_size_ - 1) / block_size_;
    int64_t copies = 0;
    for (int64_t b = first_written; b < end_written; ++b) copies += refcount_[table[b]] > 1;
    if (copies > free_blocks()) return false;
    for (int64_t b = first_written; b < end_written; ++b) {
        if (refcount_[table[b]] > 1) table[b] = copy_block(table[b]);
    }
    const auto& t = kernels::traits(type_);
    // A block's worth of rows at a time: rewrite() sees several rows per call, and the rows
    // read all precede the rows written (the destination is n_discard positions lower).
    std::vector<float> keys(static_cast<size_t>(block_size_ * kv_dim_));
    for (int64_t l = 0; l < n_layer_; ++l) {
        for (int64_t to = n_keep; to < kept; to += block_size_) {
            const int64_t n = std::min(block_size_, kept - to);
            for (int64_t r = 0; r < n; ++r)
                t.to_float(slot(k_, l, seq, to + n_discard + r), &keys[r * kv_dim_], kv_dim_);
            rewrite(l, keys.data(), n);
            for (int64_t r = 0; r < n; ++r) {
                t.from_float(&keys[r * kv_dim_], slot(k_, l, seq, to + r), kv_dim_);
                std::memcpy(slot(v_, l, seq, to + r), slot(v_, l, seq, to + n_discard + r),
                            static_cast<size_t>(row_bytes_));
            }
        }
    }
    truncate(seq, kept);
    return true;
}

int64_t KvCache::blocks_held_by(const std::vector<int32_t>& seqs) const {
    std::vector<bool> seen(static_cast<size_t>(n_blocks_), false);
    int64_t n = 0;
    for (int32_t seq : seqs) {
        for (int64_t block : tables_.at(static_cast<size_t>(seq))) {
            if (!seen[static_cast<size_t>(block)]) {
                seen[static_cast<size_t>(block)] = true;
                ++n;
            }
        }
    }
    return n;
}

}  // namespace hearth::model
