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

int64_t window_blocks(int64_t window, int64_t chunk, int64_t block_size) {
    return (window - 1 + chunk + block_size - 1) / block_size + 1;
}

KvCache::KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_blocks, int64_t block_size,
                 int64_t max_seqs, TensorType type, const KvWindow& window)
    : n_layer_(n_layer),
      kv_dim_(kv_dim),
      block_size_(block_size),
      type_(type),
      row_bytes_(static_cast<int64_t>(kv_row_bytes(type, kv_dim))) {
    if (n_blocks <= 0 || block_size <= 0 || max_seqs <= 0)
        throw Error("KV cache needs at least one block and one sequence");
    const bool windowed = window.tokens > 0 && std::count(window.sliding.begin(),
                                                          window.sliding.end(), true) > 0;
    if (windowed && static_cast<int64_t>(window.sliding.size()) != n_layer)
        throw Error("KV cache: the window names " + std::to_string(window.sliding.size()) +
                    " layers, the model has " + std::to_string(n_layer));
    if (windowed && window.n_blocks <= 0)
        throw Error("KV cache: a window needs at least one block of its own");
    window_tokens_ = windowed ? window.tokens : 0;
    for (int64_t l = 0; l < n_layer; ++l) {
        const bool slides = windowed && window.sliding[l];
        Pool& p = slides ? window_ : full_;
        in_window_.push_back(slides);
        index_.push_back(static_cast<int64_t>(p.layers.size()));
        p.layers.push_back(l);
    }
    init_pool(full_, n_blocks, max_seqs);
    init_pool(window_, windowed ? window.n_blocks : 0, max_seqs);
    lengths_.assign(max_seqs, 0);
    window_start_.assign(max_seqs, 0);
}

void KvCache::init_pool(Pool& p, int64_t n_blocks, int64_t max_seqs) {
    p.n_blocks = n_blocks;
    const size_t n = p.layers.size() * static_cast<size_t>(n_blocks * block_size_ * row_bytes_);
    if (n > 0) {
        p.k = ZeroedPages(n);
        p.v = ZeroedPages(n);
    }
    p.refcount.assign(n_blocks, 0);
    p.resident.assign(n_blocks, false);
    for (int64_t b = n_blocks - 1; b >= 0; --b) p.free.push_back(b);
    p.tables.resize(max_seqs);
}

void KvCache::release(Pool& p, int64_t block) {
    if (block != kHole && --p.refcount[block] == 0) p.free.push_back(block);
}

int64_t KvCache::take_free_block(Pool& p) {
    const int64_t block = p.free.back();
    p.free.pop_back();
    p.refcount[block] = 1;
    p.resident[block] = true;
    return block;
}

void KvCache::release_free_memory() {
    const size_t block_bytes = static_cast<size_t>(block_size_ * row_bytes_);
    for (Pool* p : {&full_, &window_}) {
        for (int64_t block : p->free) {
            if (!p->resident[block]) continue;
            for (size_t l = 0; l < p->layers.size(); ++l) {
                const size_t at = (l * p->n_blocks + block) * block_bytes;
                p->k.discard(at, block_bytes);
                p->v.discard(at, block_bytes);
            }
            p->resident[block] = false;
        }
    }
}

size_t KvCache::bytes_in_use() const {
    return static_cast<size_t>(full_.n_blocks - full_.free_blocks()) * block_bytes() +
           static_cast<size_t>(window_.n_blocks - window_.free_blocks()) * window_block_bytes();
}

int64_t KvCache::copy_block(Pool& p, int64_t block) {
    const int64_t fresh = take_free_block(p);
    const size_t block_bytes = static_cast<size_t>(block_size_ * row_bytes_);
    for (size_t l = 0; l < p.layers.size(); ++l) {
        const size_t from = (l * p.n_blocks + block) * block_bytes;
        const size_t to = (l * p.n_blocks + fresh) * block_bytes;
        std::memcpy(p.k.data() + to, p.k.data() + from, block_bytes);
        std::memcpy(p.v.data() + to, p.v.data() + from, block_bytes);
    }
    release(p, block);
    return fresh;
}

void KvCache::store(int64_t layer, int32_t seq, int64_t pos, const float* key,
                    const float* value) {
    const auto from_float = kernels::traits(type_).from_float;
    from_float(key, slot(&Pool::k, layer, seq, pos), kv_dim_);
    from_float(value, slot(&Pool::v, layer, seq, pos), kv_dim_);
}

void KvCache::store_rows(int64_t layer, int32_t seq, int64_t pos, const uint8_t* key,
                         const uint8_t* value) {
    std::memcpy(slot(&Pool::k, layer, seq, pos), key, static_cast<size_t>(row_bytes_));
    std::memcpy(slot(&Pool::v, layer, seq, pos), value, static_cast<size_t>(row_bytes_));
}

int64_t KvCache::reusable(int32_t seq, int64_t n) const {
    const int64_t start = window_start_.at(seq);
    if (start == 0) return n;
    return n - window_tokens_ + 1 >= start ? n : 0;
}

void KvCache::release_out_of_window(int32_t seq, int64_t from) {
    if (window_tokens_ == 0) return;
    // A query at `from` or later reads keys from - window + 1 and later: the whole blocks
    // before that one are out of every future query's window.
    const int64_t first_read = std::max<int64_t>(0, from - window_tokens_ + 1);
    auto& table = window_.tables[seq];
    const int64_t end = std::min<int64_t>(first_read / block_size_, static_cast<int64_t>(table.size()));
    for (int64_t b = window_start_[seq] / block_size_; b < end; ++b) {
        release(window_, table[b]);
        table[b] = kHole;
    }
    window_start_[seq] = std::max(window_start_[seq], end * block_size_);
}

int64_t KvCache::blocks_to_take(const Pool& p, int32_t seq, int64_t n) const {
    const auto& table = p.tables[seq];
    const int64_t needed = (n + block_size_ - 1) / block_size_;
    const auto held = static_cast<int64_t>(table.size());
    int64_t take = std::max<int64_t>(0, needed - held);
    // Blocks that will be written and are shared must be copied first (copy-on-write).
    for (int64_t b = lengths_[seq] / block_size_; b < std::min(held, needed); ++b)
        take += table[b] == kHole || p.refcount[table[b]] > 1;
    return take;
}

void KvCache::make_writable(Pool& p, int32_t seq, int64_t n) {
    auto& table = p.tables[seq];
    const int64_t needed = (n + block_size_ - 1) / block_size_;
    for (int64_t b = lengths_[seq] / block_size_; b < std::min<int64_t>(table.size(), needed); ++b) {
        if (table[b] == kHole)
            table[b] = take_free_block(p);
        else if (p.refcount[table[b]] > 1)
            table[b] = copy_block(p, table[b]);
    }
    while (static_cast<int64_t>(table.size()) < needed) table.push_back(take_free_block(p));
}

bool KvCache::reserve(int32_t seq, int64_t n) {
    const int64_t have = lengths_.at(seq);
    release_out_of_window(seq, have);
    if (blocks_to_take(full_, seq, n) > full_.free_blocks() ||
        (window_tokens_ > 0 && blocks_to_take(window_, seq, n) > window_.free_blocks()))
        return false;
    make_writable(full_, seq, n);
    if (window_tokens_ > 0) make_writable(window_, seq, n);
    lengths_[seq] = std::max(have, n);
    return true;
}

void KvCache::clear(int32_t seq) {
    truncate(seq, 0);
}

void KvCache::truncate_pool(Pool& p, int32_t seq, int64_t n) {
    auto& table = p.tables.at(seq);
    const int64_t keep_blocks = (n + block_size_ - 1) / block_size_;
    while (static_cast<int64_t>(table.size()) > keep_blocks) {
        release(p, table.back());
        table.pop_back();
    }
}

void KvCache::truncate(int32_t seq, int64_t n) {
    truncate_pool(full_, seq, n);
    truncate_pool(window_, seq, n);
    lengths_.at(seq) = std::min(lengths_[seq], n);
    if (window_.tables[seq].empty()) window_start_[seq] = 0;
}

void KvCache::share_pool(Pool& p, int32_t src, int32_t dst, int64_t n) {
    const int64_t blocks = (n + block_size_ - 1) / block_size_;
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t block = p.tables[src][b];
        if (block != kHole) ++p.refcount[block];
        p.tables[dst].push_back(block);
    }
}

void KvCache::share_prefix(int32_t src, int32_t dst, int64_t n) {
    if (src == dst) {
        truncate(src, n);
        return;
    }
    clear(dst);
    n = std::min(n, lengths_.at(src));
    share_pool(full_, src, dst, n);
    if (window_tokens_ > 0) share_pool(window_, src, dst, n);
    lengths_[dst] = n;
    window_start_[dst] = window_.tables[dst].empty() ? 0 : window_start_[src];
}

void KvCache::copy_shared(Pool& p, int32_t seq, int64_t first, int64_t end) {
    auto& table = p.tables[seq];
    for (int64_t b = first; b < end; ++b) {
        if (p.refcount[table[b]] > 1) table[b] = copy_block(p, table[b]);
    }
}

bool KvCache::discard(int32_t seq, int64_t n_keep, int64_t n_discard, const KeyRewrite& rewrite) {
    const int64_t length = lengths_.at(seq);
    if (n_keep < 0 || n_discard <= 0 || n_keep + n_discard > length)
        throw Error("KV cache: cannot discard positions [" + std::to_string(n_keep) + ", " +
                    std::to_string(n_keep + n_discard) + ") of a sequence of " +
                    std::to_string(length));
    if (window_start_[seq] > 0)
        throw Error("KV cache: this sequence's sliding-window layers no longer hold its first " +
                    std::to_string(window_start_[seq]) +
                    " positions, so its context cannot shift (keep the whole cache to shift)");
    const int64_t kept = length - n_discard;
    // Every block from the first moved-into position to the new end is written.
    const int64_t first_written = n_keep / block_size_;
    const int64_t end_written = (kept + block_size_ - 1) / block_size_;
    int64_t copies[2] = {0, 0};
    Pool* pools[2] = {&full_, &window_};
    for (int i = 0; i < 2; ++i) {
        if (pools[i]->tables[seq].empty()) continue;
        for (int64_t b = first_written; b < end_written; ++b)
            copies[i] += pools[i]->refcount[pools[i]->tables[seq][b]] > 1;
        if (copies[i] > pools[i]->free_blocks()) return false;
    }
    for (Pool* p : pools) {
        if (!p->tables[seq].empty()) copy_shared(*p, seq, first_written, end_written);
    }
    const auto& t = kernels::traits(type_);
    // A block's worth of rows at a time: rewrite() sees several rows per call, and the rows
    // read all precede the rows written (the destination is n_discard positions lower).
    std::vector<float> keys(static_cast<size_t>(block_size_ * kv_dim_));
    for (int64_t l = 0; l < n_layer_; ++l) {
        for (int64_t to = n_keep; to < kept; to += block_size_) {
            const int64_t n = std::min(block_size_, kept - to);
            for (int64_t r = 0; r < n; ++r)
                t.to_float(slot(&Pool::k, l, seq, to + n_discard + r), &keys[r * kv_dim_], kv_dim_);
            rewrite(l, keys.data(), n);
            for (int64_t r = 0; r < n; ++r) {
                t.from_float(&keys[r * kv_dim_], slot(&Pool::k, l, seq, to + r), kv_dim_);
                std::memcpy(slot(&Pool::v, l, seq, to + r), slot(&Pool::v, l, seq, to + n_discard + r),
                            static_cast<size_t>(row_bytes_));
            }
        }
    }
    truncate(seq, kept);
    return true;
}

int64_t KvCache::blocks_held_by(const std::vector<int32_t>& seqs) const {
    // The pool of the layers that keep every position: what admission and --kv-budget count.
    std::vector<bool> seen(static_cast<size_t>(full_.n_blocks), false);
    int64_t n = 0;
    for (int32_t seq : seqs) {
        for (int64_t block : full_.tables.at(static_cast<size_t>(seq))) {
            if (block >= 0 && !seen[static_cast<size_t>(block)]) {
                seen[static_cast<size_t>(block)] = true;
                ++n;
            }
        }
    }
    return n;
}

}  // namespace hearth::model
