// The llama-family forward pass (llama, mistral, qwen2, qwen3, phi3; with experts mixtral,
// qwen2moe, qwen3moe, olmoe), read top to bottom like the paper: embed, then per layer
// RMSNorm -> attention (RoPE, grouped-query, KV cache) -> residual -> RMSNorm -> gated FFN or
// mixture of experts -> residual; final norm and output projection for the rows that want
// logits. The family's variations (QKV biases, Q/K norms, fused projections, RoPE
// frequency tables) are in the loaded weights, handled inside the building blocks.
#include <cmath>

#include "kernels/ops.h"
#include "model/layers.h"
#include "model/model.h"

namespace hearth::model {

void Model::forward_llama(const Batch& batch, KvCache& cache, kernels::ThreadPool& pool,
                          ForwardScratch& sc, std::vector<float>& logits) const {
    const HParams& hp = hparams_;
    const int64_t n = static_cast<int64_t>(batch.size());
    if (n == 0) return;
    layers::check_batch(batch, cache, hp);
    layers::reserve_scratch(sc, hp, n);
    const int64_t E = hp.n_embd;
    const layers::AttentionParams attention{
        .scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim)), .softcap = 0, .window = 0};

    for (int64_t i = 0; i < n; ++i)
        kernels::dequantize_row(weights_.token_embd, batch.tokens[i], &sc.x[i * E]);

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights& lw = weights_.layers[l];
        layers::rms_norm_rows(sc.x.data(), lw.attn_norm, sc.xn.data(), n, E, hp.rms_eps);
        layers::decoder_attention(lw, l, weights_.rope_global, attention, batch, hp, cache, sc,
                                  pool);
        kernels::add_inplace(sc.x.data(), sc.proj.data(), n * E);

        layers::rms_norm_rows(sc.x.data(), lw.ffn_norm, sc.xn.data(), n, E, hp.rms_eps);
        if (hp.n_expert > 0) {
            layers::moe_feed_forward(*spec_, lw, hp, sc.xn.data(), n, sc, pool);
        } else {
            layers::feed_forward(*spec_, lw, hp, sc.xn.data(), n, sc, pool);
        }
        kernels::add_inplace(sc.x.data(), sc.ffn.data(), n * E);
    }

    layers::output_logits(weights_, hp, batch, sc, pool, logits);
}

}  // namespace hearth::model
