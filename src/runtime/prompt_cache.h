#pragma once
// Prompt cache on disk: the keys and values of long prompts' whole KV blocks, saved once their
// prefill is done and loaded back when a later prompt starts with the same tokens, also after a
// restart or a model unload (long system prompts, agents' tool lists).
//
// Keys: a prefix of k whole blocks is named by a chained hash, h_0 = H(model identity, KV type
// and shape), h_i = H(h_{i-1}, block i's token ids). One file per saved prompt, named by the
// hash of its last block, holds every block of that prompt; the in-memory index maps each of its
// block boundaries' hashes to it, so a prompt sharing only the first blocks (the same system
// prompt, another question) loads those. Files are checked on load (header, layout, checksums,
// and the token ids themselves, which must equal the prompt's: a hash is only a pointer), and a
// file that fails is deleted with a warning; the directory is kept under a size bound by
// deleting the least recently used files (mtime, touched on every load).
//
// File format (native byte order, version 1):
//   FileHeader (56 bytes: magic "HEARTHPC", version, KV type, model identity, n_layer, kv_dim,
//   block_size, n_blocks, row_bytes, CRC-32 of the header's first 48 bytes and the token ids),
//   the token ids (n_blocks x block_size int32),
//   then per block: for each layer its keys then its values (block_size rows of row_bytes each),
//   followed by the block's CRC-32.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "model/kv_cache.h"
#include "model/model.h"

namespace hearth::runtime {

struct PromptCacheParams {
    std::string dir;                  // created when missing
    uint64_t max_bytes = 2ull << 30;  // beyond it, least recently used files are deleted
    int64_t min_tokens = 256;         // shorter prompts are not saved
};

class PromptCache {
  public:
    // Files must match `model_id` (model::Model::identity()) and `cache`'s type, layers, row
    // size and block size; others (another model's, in a shared directory) are left alone.
    // Reads the headers and token ids of the directory's files (deleting broken ones); throws
    // hearth::Error when the directory cannot be created.
    PromptCache(PromptCacheParams params, uint64_t model_id, const model::KvCache& cache);
    ~PromptCache();  // writes what is queued
    PromptCache(const PromptCache&) = delete;
    PromptCache& operator=(const PromptCache&) = delete;

    struct Match {
        uint64_t file = 0;   // which file (the hash of its last block)
        int64_t tokens = 0;  // whole blocks of the prompt that file holds; 0: none
    };
    // The longest whole-block prefix of prompt[0, limit) a file holds.
    Match lookup(std::span<const int32_t> prompt, int64_t limit) const;

    // Writes positions [from, match.tokens) of `prompt` into `seq`, which must be reserved up to
    // match.tokens and hold the prompt before `from` (a multiple of the block size). Returns how
    // far `seq` now holds the prompt: match.tokens, or less (at worst `from`) when the file
    // turned out unusable (then deleted, with a warning) or holds other tokens (a collision).
    // Never throws.
    int64_t load(const Match& match, std::span<const int32_t> prompt, int64_t from,
                 model::KvCache& cache, int32_t seq);

    // Saves the whole blocks of `tokens` (what `seq` holds at positions 0...) unless there are
    // fewer than min_tokens or a file has them already. The rows are copied now; a background
    // thread writes the file (atomically: a temporary file, then a rename). Skipped when two
    // saves are already waiting or the waiting rows would pass 1 GiB.
    void save(std::span<const int32_t> tokens, const model::KvCache& cache, int32_t seq);

    // Waits until queued saves are written (tests, benchmarks).
    void flush();

    static constexpr const char* kExtension = ".hpc";

  private:
    struct Pending {
        uint64_t file = 0;
        std::vector<int32_t> tokens;  // whole blocks
        std::vector<uint8_t> blocks;  // per block, per layer: keys then values
    };
    struct Indexed {
        std::vector<int32_t> tokens;
    };

    std::vector<uint64_t> chain(std::span<const int32_t> tokens, int64_t blocks) const;
    std::string path_of(uint64_t file) const;
    void run();
    void scan();
    void write(const Pending& p);
    void evict();
    // Index maintenance; called with mutex_ held.
    void index(uint64_t file, std::vector<int32_t> tokens);
    void forget(uint64_t file);
    void drop(uint64_t file, const std::string& why);  // warns, deletes, forgets

    PromptCacheParams params_;
    uint64_t model_id_;
    gguf::TensorType kv_type_;
    int64_t n_layer_, kv_dim_, block_size_;
    size_t row_bytes_;
    uint64_t seed_;  // h_0

    mutable std::mutex mutex_;  // guards everything below but the thread
    std::condition_variable wake_, idle_;
    std::unordered_map<uint64_t, Indexed> files_;
    std::unordered_map<uint64_t, std::pair<uint64_t, int64_t>> prefixes_;  // h_k -> (file, k)
    std::deque<Pending> queue_;
    bool writing_ = false, stop_ = false;
    std::thread writer_;
};

}  // namespace hearth::runtime
