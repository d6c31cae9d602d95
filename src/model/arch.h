#pragma once
// What differs between the architectures hearth runs, as data: one row per GGUF
// `general.architecture`. Loading reads this table to decide which tensors to map; the forward
// functions read the loaded weights, so no architecture if-chains sit in the hot loop.
#include <string>
#include <string_view>

#include "kernels/ops.h"

namespace hearth::model {

// Architectures whose math differs get their own forward function; within a family the
// differences are optional tensors and the flags below.
enum class Family {
    Llama,  // pre-norm decoder: llama, mistral (as llama), qwen2, qwen3, phi3, and the
            // mixture-of-experts ones: mixtral (as llama), qwen2moe, qwen3moe, olmoe
    Gemma,  // llama plus scaled embeddings, GELU, post-norms, soft-capping, sliding windows
    Bert,   // post-norm bidirectional encoder producing embeddings: bert, nomic-bert
    GptOss,  // llama with experts plus attention sinks, biased experts and router, clamped
             // SwiGLU, alternating sliding-window layers: gpt-oss
};

// SwigluOai: gpt-oss's clamped gate: min(g, 7) * sigmoid(1.702 * min(g, 7)) * (clamp(u, -7, 7) + 1).
enum class Activation { Silu, GeluTanh, GeluErf, SwigluOai };

struct ArchSpec {
    std::string_view name;
    Family family;
    kernels::RopeStyle rope_style;
    Activation activation;
    bool fused_qkv;          // `attn_qkv` holds the Q rows, then K, then V
    bool fused_gate_up;      // `ffn_up` holds the gate rows, then the up rows (2 * n_ff)
    bool gated_ffn;          // act(gate) * up; otherwise act(up) (classic BERT)
    bool qkv_bias;           // `attn_{q,k,v}.bias` are required
    bool qk_norm;            // RMSNorm of Q and K before RoPE: per head (qwen3, gemma3) or over
                             // all heads at once (olmoe: the weights span q_dim / kv_dim)
    bool post_norms;         // norm of the attention / FFN output before the residual add
    bool learned_positions;  // `position_embd` added to the embeddings instead of RoPE
    int sliding_pattern;     // n: layers with (layer % n) < n - 1 use the sliding window; 0: none
    bool local_rope;         // sliding layers use rope.freq_base_swa, unscaled (gemma3)
    bool moe;                // `expert_count` is required: the FFN is a mixture of experts (llama
                             // has experts when its file has expert_count > 0: Mixtral)
    bool moe_norm_topk;      // default of `expert_weights_norm`: the chosen experts' softmax
                             // weights are renormalised to sum 1 (qwen3moe, Mixtral); gpt-oss
                             // always (its softmax over the k chosen logits is the same thing)
};

// The row for `architecture`; throws hearth::Error naming it and listing the supported ones.
const ArchSpec& arch_spec(const std::string& architecture);
std::string supported_architectures();  // "llama, qwen2, ..." for messages and --help

}  // namespace hearth::model
