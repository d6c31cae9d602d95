// Embeddings: one vector per input from the final hidden states of an encoder (bert.cpp) or of
// a decoder run over the input (decoder embedding models such as Qwen3-Embedding), pooled and
// optionally scaled to unit length. Reranking: a cross-encoder's score of one pair.
#include <cmath>
#include <span>

#include "core/error.h"
#include "kernels/ops.h"
#include "model/arch.h"
#include "model/layers.h"
#include "model/model.h"

namespace hearth::model {

namespace {

void check_tokens(std::span<const int32_t> tokens, const HParams& hp, int64_t max_tokens) {
    if (tokens.empty()) throw Error("cannot embed an empty input: it has no tokens");
    if (max_tokens > 0 && static_cast<int64_t>(tokens.size()) > max_tokens) {
        throw Error("input of " + std::to_string(tokens.size()) +
                    " tokens is longer than the model's " + std::to_string(max_tokens) +
                    "-token context; split it");
    }
    for (int32_t t : tokens) {
        if (t < 0 || t >= hp.n_vocab) {
            throw Error("token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                        std::to_string(hp.n_vocab - 1) + ")");
        }
    }
}

std::vector<float> pool_rows(const float* x, int64_t n, int64_t E, Pooling pooling) {
    std::vector<float> out(static_cast<size_t>(E), 0.0f);
    switch (pooling) {
        case Pooling::Mean:
            for (int64_t i = 0; i < n; ++i) kernels::add_inplace(out.data(), x + i * E, E);
            for (float& v : out) v /= static_cast<float>(n);
            return out;
        case Pooling::Cls:
            std::copy(x, x + E, out.begin());
            return out;
        case Pooling::Last:
            std::copy(x + (n - 1) * E, x + n * E, out.begin());
            return out;
        default:
            throw Error("pooling 'none' gives one vector per token; choose mean, cls or last");
    }
}

void l2_normalize(std::vector<float>& v) {
    double sum = 0;
    for (float x : v) sum += static_cast<double>(x) * x;
    if (sum <= 0) return;
    const float inv = static_cast<float>(1.0 / std::sqrt(sum));
    for (float& x : v) x *= inv;
}

}  // namespace

bool Model::is_embedding_model() const {
    return !is_reranker() && (spec_->family == Family::Bert || hparams_.declares_pooling);
}

void Model::decoder_states(const std::vector<int32_t>& tokens, kernels::ThreadPool& pool,
                           ForwardScratch& sc) const {
    const HParams& hp = hparams_;
    const int64_t n = static_cast<int64_t>(tokens.size());
    constexpr int64_t kBlock = 32;
    KvCache cache(hp.n_layer, hp.kv_dim(), (n + kBlock - 1) / kBlock, kBlock, 1);
    cache.reserve(0, n);
    Batch batch;
    for (int64_t i = 0; i < n; ++i) batch.add(tokens[i], 0, static_cast<int32_t>(i), false);
    std::vector<float> no_logits;
    forward(batch, cache, pool, sc, no_logits);
    // The states the output projection would see: after the final norm.
    layers::rms_norm_rows(sc.x.data(), weights_.output_norm, sc.x.data(), n, hp.n_embd, hp.rms_eps);
}

std::vector<float> Model::embed(const std::vector<int32_t>& tokens, Pooling pooling, bool normalize,
                                kernels::ThreadPool& pool) const {
    if (is_reranker()) {
        throw Error("'" + file_.name() +
                    "' is a reranker: it scores query-document pairs "
                    "(/v1/rerank) and makes no embeddings");
    }
    const bool encoder = spec_->family == Family::Bert;
    check_tokens(tokens, hparams_, weights_.position_embd.data ? hparams_.n_ctx_train : 0);
    ForwardScratch scratch;
    if (encoder) {
        const EncoderInput input{tokens, tokens.size()};
        encode({&input, 1}, pool, scratch);
    } else {
        decoder_states(tokens, pool, scratch);
    }
    const Pooling chosen = pooling == Pooling::Default ? hparams_.pooling : pooling;
    std::vector<float> out =
        pool_rows(scratch.x.data(), static_cast<int64_t>(tokens.size()), hparams_.n_embd, chosen);
    if (normalize) l2_normalize(out);
    return out;
}

std::vector<float> Model::rank(std::span<const EncoderInput> pairs,
                               kernels::ThreadPool& pool) const {
    if (!is_reranker()) {
        throw Error("'" + file_.name() +
                    "' is not a reranker: it has no classification head "
                    "(cls.output.weight)");
    }
    const int64_t max_tokens = weights_.position_embd.data ? hparams_.n_ctx_train : 0;
    for (const EncoderInput& pair : pairs) check_tokens(pair.tokens, hparams_, max_tokens);
    std::vector<float> scores;
    ForwardScratch scratch;
    // Passes of whole pairs up to kRankBatchTokens tokens (a longer pair alone).
    for (size_t first = 0; first < pairs.size();) {
        size_t end = first;
        int64_t tokens = 0;
        while (end < pairs.size() &&
               (end == first ||
                tokens + static_cast<int64_t>(pairs[end].tokens.size()) <= kRankBatchTokens))
            tokens += static_cast<int64_t>(pairs[end++].tokens.size());
        encode(pairs.subspan(first, end - first), pool, scratch);
        int64_t row = 0;  // each pair's [CLS] row
        for (size_t i = first; i < end; ++i) {
            scores.push_back(classify(&scratch.x[row * hparams_.n_embd], pool, scratch).front());
            row += static_cast<int64_t>(pairs[i].tokens.size());
        }
        first = end;
    }
    return scores;
}

float Model::rank(const std::vector<int32_t>& tokens, size_t second_segment,
                  kernels::ThreadPool& pool) const {
    const EncoderInput pair{tokens, second_segment};
    return rank({&pair, 1}, pool).front();
}

}  // namespace hearth::model
