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
//
// Sliding-window layers (gemma2/3, gpt-oss: KvWindow) read only the last `window` positions.
// With a window their rows live in a second pool of blocks with its own block tables, and a
// sequence releases the blocks its next positions can no longer read: those layers hold about
// window + one batch of positions, the other layers every position. A released block leaves a
// hole in the table; the positions below window_start(seq) are gone for those layers, so a
// prefix of the sequence can be continued only if its window is still held (reusable()).
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

// The sliding-window layers of a model and their pool. Without one (tokens == 0 or no layer
// sliding) every layer keeps every position in the one pool.
struct KvWindow {
    int64_t tokens = 0;         // the window: a query at p reads keys p - tokens + 1 .. p
    std::vector<bool> sliding;  // per layer: reads only the window
    int64_t n_blocks = 0;       // blocks of the sliding layers' pool
};

// The most blocks one sequence's sliding layers hold when each reserve() adds at most `chunk`
// positions: the window before the first new position, the new ones, and a partial block at
// each end.
int64_t window_blocks(int64_t window, int64_t chunk, int64_t block_size);

class KvCache {
  public:
    KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_blocks, int64_t block_size,
            int64_t max_seqs, gguf::TensorType type = gguf::TensorType::F32,
            const KvWindow& window = {});

    gguf::TensorType type() const { return type_; }
    size_t row_bytes() const { return row_bytes_; }
    int64_t block_size() const { return block_size_; }
    // The pool of the layers that keep every position (all of them without a window): what a
    // sequence's length is counted against.
    int64_t capacity_tokens() const { return full_.n_blocks * block_size_; }
    int64_t n_blocks() const { return full_.n_blocks; }
    int64_t free_blocks() const { return full_.free_blocks(); }
    int64_t max_seqs() const { return static_cast<int64_t>(lengths_.size()); }
    size_t bytes() const { return full_.bytes() + window_.bytes(); }

    // The sliding layers' window (0: none, every layer keeps every position) and their pool.
    int64_t window() const { return window_tokens_; }
    int64_t window_n_blocks() const { return window_.n_blocks; }
    int64_t window_free_blocks() const { return window_.free_blocks(); }
    // Bytes of one block of each pool (all its layers' key and value rows).
    size_t block_bytes() const { return full_.block_bytes(block_size_, row_bytes_); }
    size_t window_block_bytes() const { return window_.block_bytes(block_size_, row_bytes_); }
    // Bytes of the blocks in use (taken by some sequence), both pools.
    size_t bytes_in_use() const;
    // The first position whose sliding-layer rows `seq` still holds (0 without a window).
    int64_t window_start(int32_t seq) const { return window_start_.at(seq); }
    // n when the first n positions of `seq` can be continued (the window before position n is
    // held), else 0: those positions must be evaluated again.
    int64_t reusable(int32_t seq, int64_t n) const;

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
        return slot(&Pool::k, layer, seq, pos);
    }
    const uint8_t* value(int64_t layer, int32_t seq, int64_t pos) const {
        return slot(&Pool::v, layer, seq, pos);
    }
    // Stores rows already in the cache's type (row_bytes() each, as key() and value() give
    // them) at a reserved position: a prompt cache reading back what it saved.
    void store_rows(int64_t layer, int32_t seq, int64_t pos, const uint8_t* key,
                    const uint8_t* value);
    int64_t n_layer() const { return n_layer_; }
    bool sliding(int64_t layer) const { return in_window_[layer]; }
    int64_t kv_dim() const { return kv_dim_; }

    // Rewrites n_rows consecutive key rows of `layer`, given as floats (kv_dim each).
    using KeyRewrite = std::function<void(int64_t layer, float* keys, int64_t n_rows)>;
    // Context shift: removes positions [n_keep, n_keep + n_discard) of `seq`; the positions after
    // them move down by n_discard, their keys passed through `rewrite` (converted to floats and
    // back to the cache's type) and their values copied as stored. Blocks shared with another
    // sequence are copied before they change. Returns false, changing nothing, when the cache
    // has no blocks left for those copies. Throws when the sliding layers released positions
    // (a cache that keeps only their window cannot shift).
    bool discard(int32_t seq, int64_t n_keep, int64_t n_discard, const KeyRewrite& rewrite);

    // Blocks the given sequences hold, each shared block counted once (metrics: the blocks
    // running sequences hold, apart from idle sequences' cached prefixes).
    int64_t blocks_held_by(const std::vector<int32_t>& seqs) const;

  private:
    static constexpr int64_t kHole = -1;  // a released block in a sliding layers' table
    // One pool of blocks and its block tables, for a set of layers.
    struct Pool {
        std::vector<int64_t> layers;  // the model's layer indexes, in storage order
        int64_t n_blocks = 0;
        ZeroedPages k, v;
        std::vector<int32_t> refcount;
        std::vector<int64_t> free;
        std::vector<bool> resident;  // per block: taken since its memory was last released
        std::vector<std::vector<int64_t>> tables;

        int64_t free_blocks() const { return static_cast<int64_t>(free.size()); }
        size_t block_bytes(int64_t block_size, int64_t row_bytes) const {
            return 2 * layers.size() * static_cast<size_t>(block_size * row_bytes);
        }
        size_t bytes() const { return k.size() + v.size(); }
    };

    const uint8_t* slot(const ZeroedPages Pool::*store, int64_t layer, int32_t seq,
                        int64_t pos) const {
        const Pool& p = in_window_[layer] ? window_ : full_;
        const int64_t block = p.tables[seq][pos / block_size_];
        return (p.*store).data() +
               ((index_[layer] * p.n_blocks + block) * block_size_ + pos % block_size_) *
                   row_bytes_;
    }
    uint8_t* slot(ZeroedPages Pool::*store, int64_t layer, int32_t seq, int64_t pos) {
        return const_cast<uint8_t*>(std::as_const(*this).slot(store, layer, seq, pos));
    }
    void init_pool(Pool& p, int64_t n_blocks, int64_t max_seqs);
    static void release(Pool& p, int64_t block);
    int64_t copy_block(Pool& p, int64_t block);
    static int64_t take_free_block(Pool& p);
    // Blocks reserve(seq, n) takes from `p`: new ones, holes and shared ones it writes.
    int64_t blocks_to_take(const Pool& p, int32_t seq, int64_t n) const;
    void make_writable(Pool& p, int32_t seq, int64_t n);
    // Releases the sliding layers' blocks that positions from `from` on cannot read.
    void release_out_of_window(int32_t seq, int64_t from);
    void truncate_pool(Pool& p, int32_t seq, int64_t n);
    void share_pool(Pool& p, int32_t src, int32_t dst, int64_t n);
    // Copies the blocks [first, end) of `seq` that another sequence shares.
    void copy_shared(Pool& p, int32_t seq, int64_t first, int64_t end);

    int64_t n_layer_, kv_dim_, block_size_;
    gguf::TensorType type_;
    int64_t row_bytes_;
    int64_t window_tokens_ = 0;
    std::vector<bool> in_window_;  // per layer: stored in window_
    std::vector<int64_t> index_;   // per layer: its index in its pool
    Pool full_, window_;
    std::vector<int64_t> lengths_;
    std::vector<int64_t> window_start_;
};

}  // namespace hearth::model
