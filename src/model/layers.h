#pragma once
// The building blocks the forward functions are written in: each is one step of a transformer
// layer over a batch of rows. The forward functions (llama.cpp, gemma.cpp, bert.cpp) compose
// them top to bottom; the kernels they call live in src/kernels.
#include <cstdint>
#include <vector>

#include "model/arch.h"
#include "model/batch.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace hearth::model::layers {

void grow(std::vector<float>& v, size_t n);

// Sizes every scratch buffer for n rows.
void reserve_scratch(ForwardScratch& sc, const HParams& hp, int64_t n);

// Throws hearth::Error for token ids outside the vocabulary and positions not reserved.
void check_batch(const Batch& batch, const KvCache& cache, const HParams& hp);

void rms_norm_rows(const float* x, const float* weight, float* out, int64_t n_rows, int64_t dim,
                   float eps);
void layer_norm_rows(const float* x, const float* weight, const float* bias, float* out,
                     int64_t n_rows, int64_t dim, float eps);
void add_bias_rows(float* y, const float* bias, int64_t n_rows, int64_t dim);
void scale(float* x, int64_t n, float factor);
// x = cap * tanh(x / cap): bounds logits smoothly (gemma2).
void soft_cap(float* x, int64_t n, float cap);

// x -> Q, K, V rows in sc.q / sc.k / sc.v (split from the fused matrix, biases added).
void project_qkv(const LayerWeights& lw, const HParams& hp, const float* x, int64_t n,
                 ForwardScratch& sc, kernels::ThreadPool& pool);

// Per-head RMSNorm of Q and K (qwen3, gemma3), when the layer has one.
void qk_norm(const LayerWeights& lw, const HParams& hp, int64_t n, ForwardScratch& sc);

struct AttentionParams {
    float scale;     // multiplies q.k
    float softcap;   // 0: off
    int64_t window;  // attend to the last `window` positions only; 0: all
    const float* sinks = nullptr;  // n_head logits joining each head's softmax denominator
                                   // (gpt-oss attention sinks); null: none
};

// Causal attention of every batch row over its own sequence's cached positions.
void cached_attention(const Batch& batch, int64_t layer, const HParams& hp, const KvCache& cache,
                      const AttentionParams& params, const float* q, float* out,
                      AttentionScratch& scratch, kernels::ThreadPool& pool);

// Bidirectional attention of n rows over each other (encoders; no cache). q, k, v: n rows.
void full_attention(const HParams& hp, const float* q, const float* k, const float* v, int64_t n,
                    float* out, AttentionScratch& scratch, kernels::ThreadPool& pool);

// Decoder self-attention of the normalized rows sc.xn: projections, Q/K norms, RoPE, K/V into
// the cache, attention, output projection into sc.proj.
void decoder_attention(const LayerWeights& lw, int64_t layer, const RopeTable& rope,
                       const AttentionParams& params, const Batch& batch, const HParams& hp,
                       KvCache& cache, ForwardScratch& sc, kernels::ThreadPool& pool);

// Feed-forward of the rows x into sc.ffn: act(gate) * up or act(up), then down.
void feed_forward(const ArchSpec& spec, const LayerWeights& lw, const HParams& hp, const float* x,
                  int64_t n, ForwardScratch& sc, kernels::ThreadPool& pool);

// out = act(gate) * up (or act(gate) without up), n values.
void gated_activation(Activation act, const float* gate, const float* up, float* out, int64_t n);

// Mixture-of-experts feed-forward of the rows x into sc.ffn (model/moe.cpp): the router's
// softmax picks n_expert_used experts per row; each chosen expert's weights are read once per
// batch for all the rows routed to it; plus the shared expert where the layer has one. The
// router's and experts' biases (gpt-oss) are added where the layer has them.
void moe_feed_forward(const ArchSpec& spec, const LayerWeights& lw, const HParams& hp,
                      const float* x, int64_t n, ForwardScratch& sc, kernels::ThreadPool& pool);

// The router's choice for one row: softmax over all logits, the k largest probabilities (ties
// to the lower expert id), renormalised to sum 1 when `renormalise`.
void route(const float* logits, int64_t n_expert, int64_t k, bool renormalise, int32_t* chosen,
           float* weights);

// Final norm and output projection of the batch rows that want logits.
void output_logits(const Weights& w, const HParams& hp, const Batch& batch, ForwardScratch& sc,
                   kernels::ThreadPool& pool, std::vector<float>& logits);

}  // namespace hearth::model::layers
