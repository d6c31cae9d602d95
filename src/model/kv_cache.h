#pragma once
// Key/value cache in fixed-size blocks. Each sequence owns a block table (logical block ->
// physical block); blocks are reference-counted so sequences can share a prompt prefix or fork
// without copying, and a shared block is copied only when one of its owners writes to it.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hearth::model {

class KvCache {
  public:
    KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_blocks, int64_t block_size,
            int64_t max_seqs);

    int64_t block_size() const { return block_size_; }
    int64_t capacity_tokens() const { return n_blocks_ * block_size_; }
    int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
    int64_t max_seqs() const { return static_cast<int64_t>(tables_.size()); }
    size_t bytes() const { return k_.size() * sizeof(float) * 2; }

    // Number of positions stored for `seq`.
    int64_t length(int32_t seq) const { return lengths_.at(seq); }

    // Makes positions [0, n) of `seq` present and writable (allocating, and copying shared
    // blocks that will be written). Returns false when the cache is out of blocks.
    bool reserve(int32_t seq, int64_t n);
    // Frees everything `seq` holds.
    void clear(int32_t seq);
    // Keeps only the first n positions of `seq`.
    void truncate(int32_t seq, int64_t n);
    // Makes `dst` share the first n positions of `src` (dst is cleared first).
    void share_prefix(int32_t src, int32_t dst, int64_t n);

    float* key(int64_t layer, int32_t seq, int64_t pos) { return slot(k_, layer, seq, pos); }
    float* value(int64_t layer, int32_t seq, int64_t pos) { return slot(v_, layer, seq, pos); }
    const float* key(int64_t layer, int32_t seq, int64_t pos) const {
        return const_cast<KvCache*>(this)->key(layer, seq, pos);
    }
    const float* value(int64_t layer, int32_t seq, int64_t pos) const {
        return const_cast<KvCache*>(this)->value(layer, seq, pos);
    }

  private:
    float* slot(std::vector<float>& store, int64_t layer, int32_t seq, int64_t pos) {
        int64_t block = tables_[seq][pos / block_size_];
        return store.data() +
               ((layer * n_blocks_ + block) * block_size_ + pos % block_size_) * kv_dim_;
    }
    void release(int64_t block);
    int64_t copy_block(int64_t block);

    int64_t n_layer_, kv_dim_, n_blocks_, block_size_;
    std::vector<float> k_, v_;
    std::vector<int32_t> refcount_;
    std::vector<int64_t> free_;
    std::vector<std::vector<int64_t>> tables_;
    std::vector<int64_t> lengths_;
};

}  // namespace hearth::model
