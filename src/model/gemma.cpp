// The Gemma-family forward pass (gemma, gemma2, gemma3). Llama's layer with four changes:
// embeddings scaled by sqrt(n_embd); GELU-gated FFN; gemma2/3 normalize each block's output
// again before the residual add (post-norms) and alternate sliding-window layers with global
// ones; gemma2 soft-caps attention scores and final logits with cap * tanh(x / cap).
//
// Norm weights: Gemma's RMSNorm multiplies by (1 + w). llama.cpp's converter stores w + 1 in
// the GGUF file (every tensor ending in "norm.weight"), so the stored weight is used as is.
#include <cmath>

#include "kernels/ops.h"
#include "model/layers.h"
#include "model/model.h"

namespace hearth::model {

namespace {

// Gemma scales q.k by query_pre_attn_scalar^-0.5, which GGUF files do not record. It equals
// head_dim for every size but the 27B models (gemma2: 46 layers, gemma3: 62 layers), where it
// is n_embd / n_head; llama.cpp tells them apart the same way, by layer count.
float gemma_attention_scale(const HParams& hp) {
    const bool is_27b = (hp.architecture == "gemma2" && hp.n_layer == 46) ||
                        (hp.architecture == "gemma3" && hp.n_layer == 62);
    const int64_t query_pre_attn_scalar = is_27b ? hp.n_embd / hp.n_head : hp.head_dim;
    return 1.0f / std::sqrt(static_cast<float>(query_pre_attn_scalar));
}

}  // namespace

void Model::forward_gemma(const Batch& batch, KvCache& cache, kernels::ThreadPool& pool,
                          ForwardScratch& sc, std::vector<float>& logits) const {
    const HParams& hp = hparams_;
    const int64_t n = static_cast<int64_t>(batch.size());
    if (n == 0) return;
    layers::check_batch(batch, cache, hp);
    layers::reserve_scratch(sc, hp, n);
    const int64_t E = hp.n_embd;
    const float attention_scale = gemma_attention_scale(hp);

    for (int64_t i = 0; i < n; ++i)
        kernels::dequantize_row(weights_.token_embd, batch.tokens[i], &sc.x[i * E]);
    layers::scale(sc.x.data(), n * E, std::sqrt(static_cast<float>(E)));

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights& lw = weights_.layers[l];
        const RopeTable& rope = weights_.rope_of(lw);
        const layers::AttentionParams attention{.scale = attention_scale,
                                                .softcap = hp.attn_softcap,
                                                .window = lw.sliding ? hp.sliding_window : 0};
        layers::rms_norm_rows(sc.x.data(), lw.attn_norm, sc.xn.data(), n, E, hp.rms_eps);
        layers::decoder_attention(lw, l, rope, attention, batch, hp, cache, sc, pool);
        if (lw.post_attn_norm)
            layers::rms_norm_rows(sc.proj.data(), lw.post_attn_norm, sc.proj.data(), n, E,
                                  hp.rms_eps);
        kernels::add_inplace(sc.x.data(), sc.proj.data(), n * E);

        layers::rms_norm_rows(sc.x.data(), lw.ffn_norm, sc.xn.data(), n, E, hp.rms_eps);
        layers::feed_forward(*spec_, lw, hp, sc.xn.data(), n, sc, pool);
        if (lw.post_ffn_norm)
            layers::rms_norm_rows(sc.ffn.data(), lw.post_ffn_norm, sc.ffn.data(), n, E, hp.rms_eps);
        kernels::add_inplace(sc.x.data(), sc.ffn.data(), n * E);
    }

    layers::output_logits(weights_, hp, batch, sc, pool, logits);
    if (hp.final_softcap > 0)
        layers::soft_cap(logits.data(), static_cast<int64_t>(logits.size()), hp.final_softcap);
}

}  // namespace hearth::model
