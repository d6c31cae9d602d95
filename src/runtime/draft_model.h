#pragma once
// Speculative decoding with a draft model: a small model of the same vocabulary guesses the
// next tokens of every generating sequence greedily, and the scheduler evaluates the guesses in
// its next forward pass of the target, keeping those the target's sampler agrees with
// (Scheduler::verify). Output is what plain decoding gives; only the number of passes changes.
//
// The draft model keeps its own KV cache with one slot per scheduler slot. It learns what a
// slot should hold from the history it is asked to continue: the longest prefix it already
// holds stays (so tokens the target rejected, and a previous request's tail, fall away), the
// rest (prompt tokens, tokens accepted since the last step) is evaluated in batched catch-up
// passes, and each further drafted token costs one pass holding one row per sequence, all
// sequences together. A new long prompt is caught up on 512 tokens a step and drafts once it is
// done, so it does not stall the others. The scheduler's thread pool runs it: drafting and
// verifying alternate.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "tokenizer/vocab.h"

namespace hearth::runtime {

// Throws hearth::Error when `draft` cannot draft for a model of vocabulary `target`: a
// different token count, or a token spelled differently (the first one is named).
void check_same_vocabulary(const tokenizer::Vocab& target, const tokenizer::Vocab& draft);

class DraftModel {
  public:
    // `slots` sequences of up to `ctx_per_slot` tokens each. Throws hearth::Error when the
    // model's vocabulary differs from `target_vocab` or it cannot generate text (an encoder).
    DraftModel(std::shared_ptr<const model::Model> model, const tokenizer::Vocab& target_vocab,
               int64_t slots, int64_t ctx_per_slot, gguf::TensorType kv_type);

    struct Request {
        int32_t slot = 0;
        const std::vector<int32_t>* history = nullptr;  // the sequence's tokens so far
        int max_tokens = 0;                            // drafted at most
    };
    // The greedy continuation of each request's history, up to its max_tokens (fewer, or
    // none, when the slot's context has no room), in request order. Requests name distinct
    // slots.
    std::vector<std::vector<int32_t>> draft(const std::vector<Request>& requests,
                                            kernels::ThreadPool& pool);
    // Forgets every slot's tokens (after an engine failure).
    void clear();

    const model::Model& model() const { return *model_; }
    size_t kv_cache_bytes() const { return cache_.bytes(); }

  private:
    std::shared_ptr<const model::Model> model_;
    int64_t ctx_per_slot_;
    int32_t n_vocab_;
    model::KvCache cache_;
    std::vector<std::vector<int32_t>> cached_;  // per slot: tokens whose keys/values it holds
    model::ForwardScratch scratch_;
    std::vector<float> logits_;
    model::Batch batch_;
};

}  // namespace hearth::runtime
