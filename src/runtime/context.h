#pragma once
// An engine context: one model, its KV cache with slots for `max_seqs` sequences, the thread
// pool and the scratch buffers of one scheduler.
#include <memory>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/model.h"

namespace hearth::runtime {

struct ContextParams {
    int64_t n_ctx = 2048;  // tokens of KV cache in total, shared by all sequences
    int64_t max_seqs = 1;
    int threads = 0;  // 0: ThreadPool::default_thread_count()
    int64_t kv_block_size = 32;
    // What the KV cache stores (model/kv_cache.h): F16 halves F32's memory and bandwidth.
    gguf::TensorType kv_type = gguf::TensorType::F16;
    // Above 0: a model's sliding-window layers keep only their window (model/kv_cache.h
    // KvWindow), in a pool sized for max_seqs windows, and decode() may then add at most this
    // many positions to a sequence at once (append() goes in pieces of it). 0: every layer
    // keeps every position (context shift and the prompt cache on disk need that).
    int64_t window_chunk = 0;
};

// The KV cache's window for `model` (none when it has no sliding layers or chunk is 0).
model::KvWindow kv_window(const model::Model& model, int64_t n_blocks, int64_t block_size,
                          int64_t max_seqs, int64_t chunk);

class Context {
  public:
    Context(std::shared_ptr<const model::Model> model, const ContextParams& params);

    const model::Model& model() const { return *model_; }
    model::KvCache& cache() { return cache_; }
    const model::KvCache& cache() const { return cache_; }
    kernels::ThreadPool& pool() { return pool_; }
    int threads() const { return pool_.size(); }
    int64_t n_ctx() const { return n_ctx_; }

    // Runs a batch; positions must have been reserved in the cache (see append()). Returns
    // the logits rows for the batch rows that asked for them, in batch order.
    const std::vector<float>& decode(const model::Batch& batch);

    // Appends `tokens` to sequence `seq` (reserving cache space) and returns the logits of the
    // last one. Throws hearth::Error when the context is full.
    const float* append(int32_t seq, const std::vector<int32_t>& tokens);

  private:
    std::shared_ptr<const model::Model> model_;
    int64_t n_ctx_;
    int64_t window_chunk_;
    model::KvCache cache_;
    kernels::ThreadPool pool_;
    model::ForwardScratch scratch_;
    std::vector<float> logits_;
    model::Batch batch_;
};

}  // namespace hearth::runtime
