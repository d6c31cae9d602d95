// The encoder forward pass (bert, nomic-bert): final hidden states of one input, and the
// classification head of rerankers. BERT is post-norm: each block's output is added to its
// input and then LayerNorm-ed. Attention is bidirectional over the whole input. bert adds
// learned absolute positions to the embeddings; nomic-bert rotates Q and K (RoPE) instead and
// uses a SwiGLU FFN.
#include <cmath>
#include <span>

#include "kernels/ops.h"
#include "model/layers.h"
#include "model/model.h"

namespace hearth::model {

namespace {

// Sum of token, segment and position embeddings. Tokens from `second_segment` on belong to
// segment B (the document of a reranker's pair) when the file has a second segment row;
// files with one row (XLM-RoBERTa) use it for both segments, as their tokenizer does.
void embed_tokens(const Weights& w, std::span<const int32_t> tokens, size_t second_segment,
                  int64_t E, float* x) {
    std::vector<float> row(static_cast<size_t>(E));
    for (size_t i = 0; i < tokens.size(); ++i) {
        float* xi = x + i * E;
        kernels::dequantize_row(w.token_embd, tokens[i], xi);
        if (w.token_types.data) {
            const int64_t segment = i >= second_segment && w.token_types.rows > 1 ? 1 : 0;
            kernels::dequantize_row(w.token_types, segment, row.data());
            kernels::add_inplace(xi, row.data(), E);
        }
        if (w.position_embd.data) {
            kernels::dequantize_row(w.position_embd, static_cast<int64_t>(i), row.data());
            kernels::add_inplace(xi, row.data(), E);
        }
    }
}

}  // namespace

void Model::encode(std::span<const EncoderInput> inputs, kernels::ThreadPool& pool,
                   ForwardScratch& sc) const {
    const HParams& hp = hparams_;
    const Weights& w = weights_;
    const int64_t E = hp.n_embd;
    std::vector<int64_t> start;  // each input's first row
    int64_t n = 0;
    for (const EncoderInput& in : inputs) {
        start.push_back(n);
        n += static_cast<int64_t>(in.tokens.size());
    }
    layers::reserve_scratch(sc, hp, n);
    float* x = sc.x.data();

    for (size_t s = 0; s < inputs.size(); ++s)
        embed_tokens(w, inputs[s].tokens, inputs[s].second_segment, E, x + start[s] * E);
    layers::layer_norm_rows(x, w.embd_norm, w.embd_norm_bias, x, n, E, hp.layer_norm_eps);

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights& lw = w.layers[l];
        layers::project_qkv(lw, hp, x, n, sc, pool);
        for (size_t s = 0; s < inputs.size(); ++s) {
            float* q = &sc.q[start[s] * hp.q_dim()];
            float* k = &sc.k[start[s] * hp.kv_dim()];
            const int64_t len = static_cast<int64_t>(inputs[s].tokens.size());
            if (!spec_->learned_positions) {  // nomic-bert: positions by rotation
                for (int64_t i = 0; i < len; ++i) {
                    w.rope_global.apply(q + i * hp.q_dim(), hp.n_head, k + i * hp.kv_dim(),
                                        hp.n_head_kv, hp.head_dim, i);
                }
            }
            layers::full_attention(hp, q, k, &sc.v[start[s] * hp.kv_dim()], len,
                                   &sc.attn[start[s] * hp.q_dim()], sc.attention, pool);
        }
        kernels::matmul(lw.wo, sc.attn.data(), n, sc.proj.data(), pool, sc.matmul);
        if (lw.bo) layers::add_bias_rows(sc.proj.data(), lw.bo, n, E);
        kernels::add_inplace(x, sc.proj.data(), n * E);
        layers::layer_norm_rows(x, lw.post_attn_norm, lw.post_attn_norm_bias, x, n, E,
                                hp.layer_norm_eps);

        layers::feed_forward(*spec_, lw, hp, x, n, sc, pool);
        kernels::add_inplace(x, sc.ffn.data(), n * E);
        layers::layer_norm_rows(x, lw.post_ffn_norm, lw.post_ffn_norm_bias, x, n, E,
                                hp.layer_norm_eps);
    }
}

// The sequence-classification head of a cross-encoder (RoBERTa's): h = tanh(W h_cls + b), then
// scores = W_out h + b_out; without the dense layer the projection reads h_cls itself.
std::vector<float> Model::classify(const float* cls_state, kernels::ThreadPool& pool,
                                   ForwardScratch& sc) const {
    const Weights& w = weights_;
    std::vector<float> h(cls_state, cls_state + hparams_.n_embd);
    if (w.cls.data) {
        std::vector<float> dense(static_cast<size_t>(w.cls.rows));
        kernels::matmul(w.cls, h.data(), 1, dense.data(), pool, sc.matmul);
        if (w.cls_bias) kernels::add_inplace(dense.data(), w.cls_bias, w.cls.rows);
        for (float& v : dense) v = std::tanh(v);
        h = std::move(dense);
    }
    std::vector<float> scores(static_cast<size_t>(w.cls_out.rows));
    kernels::matmul(w.cls_out, h.data(), 1, scores.data(), pool, sc.matmul);
    if (w.cls_out_bias) kernels::add_inplace(scores.data(), w.cls_out_bias, w.cls_out.rows);
    return scores;
}

}  // namespace hearth::model
