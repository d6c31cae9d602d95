#include "runtime/context.h"

#include "core/error.h"

namespace hearth::runtime {

Context::Context(std::shared_ptr<const model::Model> model, const ContextParams& params)
    : model_(std::move(model)),
      n_ctx_(params.n_ctx),
      cache_(model_->hparams().n_layer, model_->hparams().kv_dim(),
             (params.n_ctx + params.kv_block_size - 1) / params.kv_block_size, params.kv_block_size,
             params.max_seqs, params.kv_type),
      pool_(params.threads > 0 ? params.threads : kernels::ThreadPool::default_thread_count()) {}

const std::vector<float>& Context::decode(const model::Batch& batch) {
    model_->forward(batch, cache_, pool_, scratch_, logits_);
    return logits_;
}

const float* Context::append(int32_t seq, const std::vector<int32_t>& tokens) {
    if (tokens.empty()) throw Error("nothing to evaluate: the token list is empty");
    const int64_t start = cache_.length(seq);
    const int64_t end = start + static_cast<int64_t>(tokens.size());
    if (end > n_ctx_ || !cache_.reserve(seq, end)) {
        throw Error("context is full: " + std::to_string(end) +
                    " tokens needed, the context holds " + std::to_string(n_ctx_) +
                    " (raise --ctx-size)");
    }
    batch_.clear();
    for (size_t i = 0; i < tokens.size(); ++i) {
        batch_.add(tokens[i], seq, static_cast<int32_t>(start + i), i + 1 == tokens.size());
    }
    return decode(batch_).data();
}

}  // namespace hearth::runtime
