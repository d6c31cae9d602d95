// The gpt-oss forward pass (OpenAI's gpt-oss-20b / -120b): the llama-family layer with experts,
// and four changes. Attention has Q/K/V/O biases and a learned sink logit per head, which joins
// the softmax denominator so a head may attend to nothing; even layers attend to the last
// `sliding_window` (128) positions only, odd layers to all. The FFN is a mixture of experts with
// biases on the router and on every expert's projections, weighted by the softmax of the k
// chosen router logits, each expert a clamped SwiGLU (Activation::SwigluOai). RoPE is NeoX with
// YaRN scaling, one table for every layer. The FFN's norm is named `post_attention_norm`.
#include <cmath>

#include "kernels/ops.h"
#include "model/layers.h"
#include "model/model.h"

namespace hearth::model {

void Model::forward_gpt_oss(const Batch& batch, KvCache& cache, kernels::ThreadPool& pool,
                            ForwardScratch& sc, std::vector<float>& logits) const {
    const HParams& hp = hparams_;
    const int64_t n = static_cast<int64_t>(batch.size());
    if (n == 0) return;
    layers::check_batch(batch, cache, hp);
    layers::reserve_scratch(sc, hp, n);
    const int64_t E = hp.n_embd;

    for (int64_t i = 0; i < n; ++i)
        kernels::dequantize_row(weights_.token_embd, batch.tokens[i], &sc.x[i * E]);

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights& lw = weights_.layers[l];
        const layers::AttentionParams attention{
            .scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim)),
            .softcap = 0,
            .window = lw.sliding ? hp.sliding_window : 0,
            .sinks = lw.attn_sinks};
        layers::rms_norm_rows(sc.x.data(), lw.attn_norm, sc.xn.data(), n, E, hp.rms_eps);
        layers::decoder_attention(lw, l, weights_.rope_global, attention, batch, hp, cache, sc,
                                  pool);
        kernels::add_inplace(sc.x.data(), sc.proj.data(), n * E);

        layers::rms_norm_rows(sc.x.data(), lw.ffn_norm, sc.xn.data(), n, E, hp.rms_eps);
        layers::moe_feed_forward(*spec_, lw, hp, sc.xn.data(), n, sc, pool);
        kernels::add_inplace(sc.x.data(), sc.ffn.data(), n * E);
    }

    layers::output_logits(weights_, hp, batch, sc, pool, logits);
}

}  // namespace hearth::model
