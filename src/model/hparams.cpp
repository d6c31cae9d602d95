#include "model/hparams.h"

#include "core/error.h"
#include "model/arch.h"

namespace hearth::model {

namespace {

int64_t positive(const gguf::File& f, const std::string& key, int64_t value) {
    if (value <= 0 || value > (int64_t{1} << 40)) {
        throw Error("'" + f.name() + "': " + key + " = " + std::to_string(value) +
                    " is not a valid size");
    }
    return value;
}

RopeScaling rope_scaling_type(const gguf::File& f, const std::string& key) {
    const std::string type = f.get_string(key, "none");
    if (type == "none") return RopeScaling::None;
    if (type == "linear") return RopeScaling::Linear;
    if (type == "yarn") return RopeScaling::Yarn;
    throw Error("'" + f.name() + "': " + key + " = '" + type +
                "' is not a RoPE scaling hearth knows (none, linear, yarn)");
}

void read_rope_scaling(const gguf::File& f, const std::string& a, HParams& hp) {
    // Older files only have rope.scale_linear; newer ones have rope.scaling.{type,factor}.
    double factor = f.get_f64(a + "rope.scale_linear", 1.0);
    hp.rope_scaling = factor != 1.0 ? RopeScaling::Linear : RopeScaling::None;
    if (f.has(a + "rope.scaling.type"))
        hp.rope_scaling = rope_scaling_type(f, a + "rope.scaling.type");
    factor = f.get_f64(a + "rope.scaling.factor", factor);
    if (hp.rope_scaling == RopeScaling::None || factor <= 0) factor = 1.0;
    hp.rope_freq_scale = static_cast<float>(1.0 / factor);
    hp.rope_orig_ctx =
        static_cast<int64_t>(f.get_u64(a + "rope.scaling.original_context_length", hp.n_ctx_train));
    hp.rope_attn_factor = static_cast<float>(f.get_f64(a + "rope.scaling.attn_factor", 0.0));
    hp.yarn_beta_fast = static_cast<float>(f.get_f64(a + "rope.scaling.yarn_beta_fast", 32.0));
    hp.yarn_beta_slow = static_cast<float>(f.get_f64(a + "rope.scaling.yarn_beta_slow", 1.0));
    hp.rope_freq_base_swa = static_cast<float>(f.get_f64(a + "rope.freq_base_swa", 10000.0));
}

void read_experts(const gguf::File& f, const ArchSpec& spec, const std::string& a, HParams& hp) {
    hp.n_expert = static_cast<int64_t>(f.get_u64(a + "expert_count", 0));
    if (hp.n_expert == 0) {
        if (spec.moe) throw Error("'" + f.name() + "': " + a + "expert_count is missing");
        return;
    }
    hp.n_expert = positive(f, a + "expert_count", hp.n_expert);
    hp.n_expert_used = positive(f, a + "expert_used_count",
                                static_cast<int64_t>(f.get_u64(a + "expert_used_count", 0)));
    if (hp.n_expert_used > hp.n_expert) {
        throw Error("'" + f.name() + "': " + a + "expert_used_count " +
                    std::to_string(hp.n_expert_used) + " exceeds expert_count " +
                    std::to_string(hp.n_expert));
    }
    hp.n_ff_exp = f.has(a + "expert_feed_forward_length")
                      ? positive(f, a + "expert_feed_forward_length",
                                 static_cast<int64_t>(f.get_u64(a + "expert_feed_forward_length")))
                      : hp.n_ff;
    hp.n_ff_shexp =
        f.has(a + "expert_shared_feed_forward_length")
            ? positive(f, a + "expert_shared_feed_forward_length",
                       static_cast<int64_t>(f.get_u64(a + "expert_shared_feed_forward_length")))
            : hp.n_ff_exp;
    // gpt-oss takes the softmax of the k chosen logits whatever the file says (llama.cpp's
    // SOFTMAX_WEIGHT gating): the same as the full softmax renormalised over the chosen.
    hp.expert_weights_norm = spec.family == Family::GptOss ||
                             f.get_bool(a + "expert_weights_norm", spec.moe_norm_topk);
}

}  // namespace

HParams HParams::from_gguf(const gguf::File& f) {
    HParams hp;
    hp.architecture = f.get_string("general.architecture");
    const ArchSpec* found = nullptr;
    try {
        found = &arch_spec(hp.architecture);
    } catch (const Error& e) {
        throw Error("'" + f.name() + "': " + e.what());
    }
    const ArchSpec& spec = *found;
    const std::string a = hp.architecture + ".";
    auto get = [&](const std::string& key) {
        return positive(f, a + key, static_cast<int64_t>(f.get_u64(a + key)));
    };
    hp.n_embd = get("embedding_length");
    hp.n_ff = get("feed_forward_length");
    hp.n_layer = get("block_count");
    hp.n_head = get("attention.head_count");
    hp.n_head_kv =
        f.has(a + "attention.head_count_kv") ? get("attention.head_count_kv") : hp.n_head;
    hp.n_ctx_train = f.has(a + "context_length") ? get("context_length") : 2048;
    hp.head_dim =
        f.has(a + "attention.key_length") ? get("attention.key_length") : hp.n_embd / hp.n_head;
    hp.rope_dims = f.has(a + "rope.dimension_count") ? get("rope.dimension_count") : hp.head_dim;
    hp.rope_freq_base = static_cast<float>(f.get_f64(a + "rope.freq_base", 10000.0));
    hp.rms_eps = static_cast<float>(f.get_f64(a + "attention.layer_norm_rms_epsilon", 1e-5));
    hp.rope_style = spec.rope_style;
    read_rope_scaling(f, a, hp);

    hp.attn_softcap = static_cast<float>(f.get_f64(a + "attn_logit_softcapping", 0.0));
    hp.final_softcap = static_cast<float>(f.get_f64(a + "final_logit_softcapping", 0.0));
    hp.sliding_window = static_cast<int64_t>(f.get_u64(a + "attention.sliding_window", 0));

    hp.causal = f.get_bool(a + "attention.causal", spec.family != Family::Bert);
    hp.layer_norm_eps = static_cast<float>(f.get_f64(a + "attention.layer_norm_epsilon", 1e-12));
    const Pooling default_pooling = spec.family == Family::Bert ? Pooling::Mean : Pooling::Last;
    hp.declares_pooling = f.has(a + "pooling_type");
    const uint64_t pooling = f.get_u64(a + "pooling_type", static_cast<uint64_t>(default_pooling));
    if (pooling > static_cast<uint64_t>(Pooling::Rank)) {
        throw Error("'" + f.name() + "': " + a + "pooling_type = " + std::to_string(pooling) +
                    " is not a pooling hearth knows (0 none, 1 mean, 2 cls, 3 last, 4 rank)");
    }
    if (pooling == static_cast<uint64_t>(Pooling::Rank) && spec.family != Family::Bert) {
        throw Error("'" + f.name() + "': a " + hp.architecture +
                    " reranker (pooling_type 4, rank): hearth reranks with bert-family "
                    "cross-encoders only");
    }
    hp.pooling = static_cast<Pooling>(pooling);

    read_experts(f, spec, a, hp);

    if (hp.n_head % hp.n_head_kv != 0) {
        throw Error("'" + f.name() + "': head_count " + std::to_string(hp.n_head) +
                    " is not a multiple of head_count_kv " + std::to_string(hp.n_head_kv));
    }
    if (hp.rope_dims > hp.head_dim || hp.rope_dims % 2 != 0) {
        throw Error("'" + f.name() + "': rope.dimension_count " + std::to_string(hp.rope_dims) +
                    " does not fit head size " + std::to_string(hp.head_dim));
    }
    return hp;
}

}  // namespace hearth::model
