#pragma once
// Hyperparameters read from `{arch}.*` GGUF keys, with the defaults llama-family files assume.
#include <cstdint>
#include <string>

#include "gguf/reader.h"
#include "kernels/ops.h"

namespace hearth::model {

enum class RopeScaling { None, Linear, Yarn };

// How per-token states become one embedding (GGUF `{arch}.pooling_type` numbering). Rank: a
// reranker (cross-encoder), whose classification head turns the [CLS] state into a score.
enum class Pooling { Default = -1, None = 0, Mean = 1, Cls = 2, Last = 3, Rank = 4 };

struct HParams {
    std::string architecture;
    int64_t n_vocab = 0;
    int64_t n_ctx_train = 0;
    int64_t n_embd = 0;
    int64_t n_ff = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;
    int64_t rope_dims = 0;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // 1 / scaling factor (linear and YaRN)
    float rms_eps = 1e-5f;
    kernels::RopeStyle rope_style = kernels::RopeStyle::Normal;

    // Context extension (`rope.scaling.*`): YaRN blends interpolated and extrapolated
    // frequencies; LongRoPE (phi3) divides frequencies by `rope_factors_*` tensors.
    RopeScaling rope_scaling = RopeScaling::None;
    int64_t rope_orig_ctx = 0;     // context the model was pre-trained with before extension
    float rope_attn_factor = 0;    // scale of cos/sin; 0: derived from the scaling
    float yarn_beta_fast = 32.0f;  // YaRN ramp boundaries, in rotations over the original context
    float yarn_beta_slow = 1.0f;
    float rope_freq_base_swa = 10000.0f;  // gemma3: RoPE base of the sliding-window layers

    // Gemma 2/3.
    float attn_softcap = 0;   // scores = cap * tanh(scores / cap); 0: off
    float final_softcap = 0;  // the same on the output logits
    int64_t sliding_window = 0;

    // Embeddings. Encoders default to mean pooling; decoders to the last token (the one that
    // has seen the whole input), as decoder embedding models (Qwen3-Embedding) do.
    bool causal = true;
    float layer_norm_eps = 1e-12f;
    Pooling pooling = Pooling::Mean;
    bool declares_pooling = false;  // `pooling_type` present: the file is made for embeddings

    // Mixture of experts (n_expert > 0): each layer's FFN is n_expert_used of n_expert experts
    // of n_ff_exp rows chosen per token by a router, plus an optional shared expert.
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    int64_t n_ff_exp = 0;    // `expert_feed_forward_length`, else feed_forward_length (Mixtral)
    int64_t n_ff_shexp = 0;  // `expert_shared_feed_forward_length`, else n_ff_exp (qwen2moe)
    bool expert_weights_norm = false;  // renormalise the chosen weights to sum 1

    int64_t kv_dim() const { return n_head_kv * head_dim; }
    int64_t q_dim() const { return n_head * head_dim; }

    // Reads and validates; throws hearth::Error naming the missing or inconsistent key, or the
    // unsupported architecture.
    static HParams from_gguf(const gguf::File& file);
};

}  // namespace hearth::model
