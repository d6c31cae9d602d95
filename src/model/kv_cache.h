#pragma once
// Key/value cache in fixed-size blocks. Each sequence owns a block table (logical block ->
// physical block); blocks are reference-counted so sequences can share a prompt prefix or fork
// without copying, and a shared block is copied only when one of its owners writes to it.
// Every position holds one key row and one value row of kv_dim elements in the cache's type
// (F32, F16, Q8_0 or Q4_0: GGUF blocks, converted through the kernels' type-traits table).
//
// The storage is reserved, not committed (core/zeroed_pages.h): a page costs RAM once a
// position on it is written, so memory follows the tokens held, not the pool's size. Freed
// blocks go on top of the free stack, above the never-used ones, so they are reused before a
// fresh block is touched; fresh blocks are taken lowest first. release_free_memory() gives the
// pages of free blocks back to the OS.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "core/zeroed_pages.h"
#include "gguf/types.h"

namespace hearth::model {

// The types a KV cache can store, by their option names (f32, f16, q8_0, q4_0).
gguf::TensorType kv_type_from_name(std::string_view name);  // throws hearth::Error naming them
std::string_view kv_type_name(gguf::TensorType type);       // "f16"
inline constexpr std::string_view kKvTypeNames = "f32, f16, q8_0, q4_0";
// Bytes of one key (or value) row of kv_dim elements in `type`; throws hearth::Error when
// kv_dim is not a whole number of the type's blocks.
size_t kv_row_bytes(gguf::TensorType type, int64_t kv_dim);
// Bytes one position costs in a cache of n_layer layers: a key and a value row per layer.
size_t kv_bytes_per_token(gguf::TensorType type, int64_t n_layer, int64_t kv_dim);

class KvCache {
  public:
    KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_blocks, int64_t block_size,
            int64_t max_seqs, gguf::TensorType type = gguf::TensorType::F32);

    gguf::TensorType type() const { return type_; }
    size_t row_bytes() const { return row_bytes_; }
    int64_t block_size() const { return block_size_; }
    int64_t capacity_tokens() const { return n_blocks_ * block_size_; }
    int64_t n_blocks() const { return n_blocks_; }
    int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
    int64_t max_seqs() const { return static_cast<int64_t>(tables_.size()); }
    size_t bytes() const { return k_.size() + v_.size(); }

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
    // Gives the memory of free blocks that were written back to the OS (for when the cache is
    // idle: a burst's memory does not stay resident after its sequences are gone).
    void release_free_memory();

    // Stores the key and value rows (kv_dim floats each) of a reserved position, converted to
    // the cache's type.
    void store(int64_t layer, int32_t seq, int64_t pos, const float* key, const float* value);
    // The stored rows (row_bytes() of the cache's type) of a position.
    const uint8_t* key(int64_t layer, int32_t seq, int64_t pos) const {
        return slot(k_, layer, seq, pos);
    }
    const uint8_t* value(int64_t layer, int32_t seq, int64_t pos) const {
        return slot(v_, layer, seq, pos);
    }
    // Stores rows already in the cache's type (row_bytes() each, as key() and value() give
    // them) at a reserved position: a prompt cache reading back what it saved.
    void store_rows(int64_t layer, int32_t seq, int64_t pos, const uint8_t* key,
                    const uint8_t* value);
    int64_t n_layer() const { return n_layer_; }
    int64_t kv_dim() const { return kv_dim_; }

    // Rewrites n_rows consecutive key rows of `layer`, given as floats (kv_dim each).
    using KeyRewrite = std::function<void(int64_t layer, float* keys, int64_t n_rows)>;
    // Context shift: removes positions [n_keep, n_keep + n_discard) of `seq`; the positions after
    // them move down by n_discard, their keys passed through `rewrite` (converted to floats and
    // back to the cache's type) and their values copied as stored. Blocks shared with another
    // sequence are copied before they change. Returns false, changing nothing, when the cache
    // has no blocks left for those copies.
    bool discard(int32_t seq, int64_t n_keep, int64_t n_discard, const KeyRewrite& rewrite);

    // Blocks the given sequences hold, each shared block counted once (metrics: the blocks
    // running sequences hold, apart from idle sequences' cached prefixes).
    int64_t blocks_held_by(const std::vector<int32_t>& seqs) const;

  private:
    const uint8_t* slot(const ZeroedPages& store, int64_t layer, int32_t seq,
                        int64_t pos) const {
        int64_t block = tables_[seq][pos / block_size_];
        return store.data() +
               ((layer * n_blocks_ + block) * block_size_ + pos % block_size_) * row_bytes_;
    }
    uint8_t* slot(ZeroedPages& store, int64_t layer, int32_t seq, int64_t pos) {
        return const_cast<uint8_t*>(std::as_const(*this).slot(store, layer, seq, pos));
    }
    void release(int64_t block);
    int64_t copy_block(int64_t block);
    int64_t take_free_block();

    int64_t n_layer_, kv_dim_, n_blocks_, block_size_;
    gguf::TensorType type_;
    int64_t row_bytes_;
    ZeroedPages k_, v_;
    std::vector<int32_t> refcount_;
    std::vector<int64_t> free_;
    std::vector<bool> resident_;  // per block: taken since its memory was last released
    std::vector<std::vector<int64_t>> tables_;
    std::vector<int64_t> lengths_;
};

}  // namespace hearth::model
