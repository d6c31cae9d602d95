// The encoder forward pass (bert, nomic-bert): final hidden states of one input. BERT is
// post-norm: each block's output is added to its input and then LayerNorm-ed. Attention is
// bidirectional over the whole input. bert adds learned absolute positions to the embeddings;
// nomic-bert rotates Q and K (RoPE) instead and uses a SwiGLU FFN.
#include <cmath>

#include "kernels/ops.h"
#include "model/layers.h"
#include "model/model.h"

namespace hearth::model {

namespace {

// Sum of token, segment (always segment 0: one sentence per input) and position embeddings.
void embed_tokens(const Weights& w, const std::vector<int32_t>& tokens, int64_t E, float* x) {
    std::vector<float> row(static_cast<size_t>(E));
    for (size_t i = 0; i < tokens.size(); ++i) {
        float* xi = x + i * E;
        kernels::dequantize_row(w.token_embd, tokens[i], xi);
        if (w.token_types.data) {
            kernels::dequantize_row(w.token_types, 0, row.data());
            kernels::add_inplace(xi, row.data(), E);
        }
        if (w.position_embd.data) {
            kernels::dequantize_row(w.position_embd, static_cast<int64_t>(i), row.data());
            kernels::add_inplace(xi, row.data(), E);
        }
    }
}

}  // namespace

void Model::encode(const std::vector<int32_t>& tokens, kernels::ThreadPool& pool,
                   ForwardScratch& sc) const {
    const HParams& hp = hparams_;
    const Weights& w = weights_;
    const int64_t n = static_cast<int64_t>(tokens.size());
    const int64_t E = hp.n_embd;
    layers::reserve_scratch(sc, hp, n);
    float* x = sc.x.data();

    embed_tokens(w, tokens, E, x);
    layers::layer_norm_rows(x, w.embd_norm, w.embd_norm_bias, x, n, E, hp.layer_norm_eps);

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights& lw = w.layers[l];
        layers::project_qkv(lw, hp, x, n, sc, pool);
        if (!spec_->learned_positions) {  // nomic-bert: positions by rotation
            for (int64_t i = 0; i < n; ++i) {
                w.rope_global.apply(&sc.q[i * hp.q_dim()], hp.n_head, &sc.k[i * hp.kv_dim()],
                                    hp.n_head_kv, hp.head_dim, i);
            }
        }
        layers::full_attention(hp, sc.q.data(), sc.k.data(), sc.v.data(), n, sc.attn.data(),
                               sc.attention, pool);
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

}  // namespace hearth::model
