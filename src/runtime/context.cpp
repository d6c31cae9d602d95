#include "runtime/context.h"

#include <algorithm>

#include "core/error.h"

namespace hearth::runtime {

model::KvWindow kv_window(const model::Model& model, int64_t n_blocks, int64_t block_size,
                          int64_t max_seqs, int64_t chunk) {
    const int64_t window = model.hparams().sliding_window;
    model::KvWindow w;
    if (chunk <= 0 || window <= 0) return w;
    for (const auto& layer : model.weights().layers) w.sliding.push_back(layer.sliding);
    // Some layers slide and some keep every position (a sequence's length is counted in the
    // latter's pool): otherwise the cache is as without a window.
    const auto sliding = std::count(w.sliding.begin(), w.sliding.end(), true);
    if (sliding == 0 || sliding == static_cast<int64_t>(w.sliding.size())) return {};
    w.tokens = window;
    // Every sequence may hold a window at once; never more blocks than the whole pool has.
    w.n_blocks = std::min(n_blocks, max_seqs * model::window_blocks(window, chunk, block_size));
    return w;
}

namespace {

model::KvCache make_cache(const model::Model& model, const ContextParams& p) {
    const auto& hp = model.hparams();
    const int64_t n_blocks = (p.n_ctx + p.kv_block_size - 1) / p.kv_block_size;
    return model::KvCache(hp.n_layer, hp.kv_dim(), n_blocks, p.kv_block_size, p.max_seqs, p.kv_type,
                          kv_window(model, n_blocks, p.kv_block_size, p.max_seqs, p.window_chunk));
}

}  // namespace

Context::Context(std::shared_ptr<const model::Model> model, const ContextParams& params)
    : model_(std::move(model)),
      n_ctx_(params.n_ctx),
      window_chunk_(params.window_chunk),
      cache_(make_cache(*model_, params)),
      pool_(params.threads > 0 ? params.threads : kernels::ThreadPool::default_thread_count()) {}

const std::vector<float>& Context::decode(const model::Batch& batch) {
    model_->forward(batch, cache_, pool_, scratch_, logits_);
    return logits_;
}

const float* Context::append(int32_t seq, const std::vector<int32_t>& tokens) {
    if (tokens.empty()) throw Error("nothing to evaluate: the token list is empty");
    const int64_t start = cache_.length(seq);
    const int64_t end = start + static_cast<int64_t>(tokens.size());
    auto full = [&] {
        return Error("context is full: " + std::to_string(end) +
                     " tokens needed, the context holds " + std::to_string(n_ctx_) +
                     " (raise --ctx-size)");
    };
    if (end > n_ctx_) throw full();
    // With a window, in pieces the window's pool was sized for.
    const int64_t piece = window_chunk_ > 0 && cache_.window() > 0 ? window_chunk_ : end - start;
    const float* logits = nullptr;
    for (int64_t from = start; from < end; from += piece) {
        const int64_t to = std::min(end, from + piece);
        if (!cache_.reserve(seq, to)) throw full();
        batch_.clear();
        for (int64_t p = from; p < to; ++p)
            batch_.add(tokens[static_cast<size_t>(p - start)], seq, static_cast<int32_t>(p), p + 1 == end);
        logits = decode(batch_).data();
    }
    return logits;
}

}  // namespace hearth::runtime
