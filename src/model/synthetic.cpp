#include "model/synthetic.h"

#include <cmath>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "gguf/writer.h"
#include "kernels/type_traits.h"
#include "model/arch.h"

namespace hearth::model {

namespace {

using gguf::TensorType;
using gguf::Value;

// splitmix64: tiny, seedable, identical on every platform (std distributions are not).
class Random {
  public:
    explicit Random(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    float uniform() {
        return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
    }

  private:
    uint64_t state_;
};

uint64_t tensor_seed(uint64_t seed, const std::string& name) {
    return seed ^ std::hash<std::string>{}(name);
}

// How a tensor's values are drawn: offset + spread * uniform(-1, 1).
struct Fill {
    float offset;
    float spread;
};

class ModelWriter {
  public:
    ModelWriter(const std::string& arch, const SyntheticShape& shape, uint64_t seed)
        : arch_(arch), shape_(shape), seed_(seed) {}

    gguf::Writer& gguf() { return writer_; }
    void key(const std::string& suffix, Value v) {
        writer_.set(arch_ + "." + suffix, std::move(v));
    }

    // A [cols, rows] matrix with variance 1/cols, so activations keep their size through it.
    void matrix(const std::string& name, int64_t cols, int64_t rows, float gain = 1.0f) {
        tensor(name, shape_.weight_type, {cols, rows},
               {0.0f, gain * std::sqrt(3.0f / static_cast<float>(cols))});
    }
    void vector(const std::string& name, int64_t n, Fill fill) {
        tensor(name, TensorType::F32, {n}, fill);
    }
    void norm(const std::string& name, int64_t n) { vector(name, n, {1.0f, 0.2f}); }
    void bias(const std::string& name, int64_t n) { vector(name, n, {0.0f, 0.2f}); }

  private:
    void tensor(const std::string& name, TensorType type, std::vector<int64_t> dims, Fill fill) {
        const uint64_t seed = tensor_seed(seed_, name);
        const int64_t row = dims[0];
        writer_.add_tensor(name, type, dims, [=](uint8_t* out, uint64_t n_bytes) {
            Random rng(seed);
            const kernels::TypeTraits& tt = kernels::traits(type);
            const uint64_t row_bytes = gguf::bytes_for(type, row);
            std::vector<float> values(static_cast<size_t>(row));
            for (uint64_t off = 0; off < n_bytes; off += row_bytes) {
                for (float& v : values) v = fill.offset + fill.spread * rng.uniform();
                tt.from_float(values.data(), out + off, row);
            }
        });
    }

    std::string arch_;
    SyntheticShape shape_;
    uint64_t seed_;
    gguf::Writer writer_;
};

// phi3 rotates only part of each head, as Phi-4-mini does (partial_rotary_factor 0.75).
int64_t rope_dims(const ArchSpec& spec, int64_t head_dim) {
    return spec.name == "phi3" ? head_dim * 3 / 4 / 2 * 2 : head_dim;
}

void write_hparams(ModelWriter& w, const ArchSpec& spec, const SyntheticShape& s,
                   int64_t head_dim) {
    w.gguf().set("general.architecture", Value::string(std::string(spec.name)));
    w.gguf().set("general.name", Value::string("synthetic " + std::string(spec.name)));
    w.key("context_length", Value::u32(static_cast<uint32_t>(s.n_ctx)));
    w.key("embedding_length", Value::u32(static_cast<uint32_t>(s.n_embd)));
    w.key("feed_forward_length", Value::u32(static_cast<uint32_t>(s.n_ff)));
    w.key("block_count", Value::u32(static_cast<uint32_t>(s.n_layer)));
    w.key("attention.head_count", Value::u32(static_cast<uint32_t>(s.n_head)));
    w.key("attention.head_count_kv", Value::u32(static_cast<uint32_t>(s.n_head_kv)));
    w.key("attention.key_length", Value::u32(static_cast<uint32_t>(head_dim)));
    w.key("attention.value_length", Value::u32(static_cast<uint32_t>(head_dim)));
    w.key("rope.dimension_count", Value::u32(static_cast<uint32_t>(rope_dims(spec, head_dim))));
    if (spec.family == Family::Bert) {
        w.key("attention.layer_norm_epsilon", Value::f32(1e-12f));
        w.key("attention.causal", Value::boolean(false));
        w.key("pooling_type", Value::u32(1));  // mean
    } else {
        w.key("attention.layer_norm_rms_epsilon", Value::f32(1e-6f));
    }
}

// Each architecture's distinctive keys, with values that make their effect visible in a
// short test (small windows and caps, contexts extended beyond a short original one).
void write_arch_keys(ModelWriter& w, const std::string& arch, const SyntheticShape& s) {
    if (arch == "qwen2") {
        // Base and original context chosen so YaRN's ramp blends several pairs (not only
        // the all-extrapolated and all-interpolated ends) even with tiny heads.
        w.key("rope.freq_base", Value::f32(10000.0f));
        w.key("rope.scaling.type", Value::string("yarn"));
        w.key("rope.scaling.factor", Value::f32(4.0f));
        w.key("rope.scaling.original_context_length", Value::u32(1024));
    } else if (arch == "qwen3") {
        w.key("rope.freq_base", Value::f32(1000000.0f));
    } else if (arch == "phi3") {
        w.key("rope.scaling.original_context_length",
              Value::u32(static_cast<uint32_t>(s.n_ctx / 4)));
    } else if (arch == "gemma2") {
        w.key("attn_logit_softcapping", Value::f32(2.0f));
        w.key("final_logit_softcapping", Value::f32(3.0f));
        w.key("attention.sliding_window", Value::u32(static_cast<uint32_t>(s.sliding_window)));
    } else if (arch == "gemma3") {
        w.key("rope.freq_base", Value::f32(1000000.0f));
        w.key("rope.scaling.type", Value::string("linear"));
        w.key("rope.scaling.factor", Value::f32(8.0f));
        w.key("attention.sliding_window", Value::u32(static_cast<uint32_t>(s.sliding_window)));
    } else if (arch == "nomic-bert") {
        w.key("rope.freq_base", Value::f32(1000.0f));
    }
}

void write_global_tensors(ModelWriter& w, const std::string& arch, const ArchSpec& spec,
                          const SyntheticShape& s, int64_t head_dim) {
    const int64_t E = s.n_embd;
    w.matrix("token_embd.weight", E, s.n_vocab, std::sqrt(static_cast<float>(E)) * 0.5f);
    if (spec.family == Family::Bert) {
        w.matrix("token_types.weight", E, 2, 4.0f);
        if (spec.learned_positions) w.matrix("position_embd.weight", E, s.n_ctx, 4.0f);
        w.norm("token_embd_norm.weight", E);
        w.bias("token_embd_norm.bias", E);
        return;
    }
    w.norm("output_norm.weight", E);
    // qwen2 and gemma tie the output to the embeddings; the others have their own.
    if (arch != "qwen2" && spec.family != Family::Gemma)
        w.matrix("output.weight", E, s.n_vocab, 2.0f);
    if (arch == "llama")
        w.vector("rope_freqs.weight", head_dim / 2, {4.5f, 3.5f});  // Llama 3: 1..8
    if (arch == "phi3") {
        w.vector("rope_factors_short.weight", rope_dims(spec, head_dim) / 2, {1.5f, 0.5f});
        w.vector("rope_factors_long.weight", rope_dims(spec, head_dim) / 2, {8.0f, 6.0f});
    }
}

void write_layer(ModelWriter& w, const ArchSpec& spec, const SyntheticShape& s, int64_t head_dim,
                 int64_t l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const int64_t E = s.n_embd;
    const int64_t q_dim = s.n_head * head_dim;
    const int64_t kv_dim = s.n_head_kv * head_dim;
    if (spec.fused_qkv) {
        w.matrix(p + "attn_qkv.weight", E, q_dim + 2 * kv_dim, 2.0f);
    } else {
        w.matrix(p + "attn_q.weight", E, q_dim, 2.0f);
        w.matrix(p + "attn_k.weight", E, kv_dim, 2.0f);
        w.matrix(p + "attn_v.weight", E, kv_dim);
    }
    if (spec.qkv_bias) {
        w.bias(p + "attn_q.bias", q_dim);
        w.bias(p + "attn_k.bias", kv_dim);
        w.bias(p + "attn_v.bias", kv_dim);
    }
    if (spec.qk_norm) {
        w.norm(p + "attn_q_norm.weight", head_dim);
        w.norm(p + "attn_k_norm.weight", head_dim);
    }
    w.matrix(p + "attn_output.weight", q_dim, E);
    if (spec.fused_gate_up) {
        w.matrix(p + "ffn_up.weight", E, 2 * s.n_ff);
    } else {
        if (spec.gated_ffn) w.matrix(p + "ffn_gate.weight", E, s.n_ff);
        w.matrix(p + "ffn_up.weight", E, s.n_ff);
    }
    w.matrix(p + "ffn_down.weight", s.n_ff, E);
    if (spec.family == Family::Bert) {
        if (spec.qkv_bias) {
            w.bias(p + "attn_output.bias", E);
            w.bias(p + "ffn_up.bias", s.n_ff);
            w.bias(p + "ffn_down.bias", E);
        }
        w.norm(p + "attn_output_norm.weight", E);
        w.bias(p + "attn_output_norm.bias", E);
        w.norm(p + "layer_output_norm.weight", E);
        w.bias(p + "layer_output_norm.bias", E);
        return;
    }
    w.norm(p + "attn_norm.weight", E);
    w.norm(p + "ffn_norm.weight", E);
    if (spec.post_norms) {
        w.norm(p + "post_attention_norm.weight", E);
        w.norm(p + "post_ffw_norm.weight", E);
    }
}

}  // namespace

SyntheticShape synthetic_shape(const std::string& preset) {
    if (preset == "tiny") return SyntheticShape{};
    if (preset == "1b") {
        return SyntheticShape{.n_vocab = 32000,
                              .n_embd = 2048,
                              .n_ff = 5632,
                              .n_layer = 22,
                              .n_head = 32,
                              .n_head_kv = 4,
                              .head_dim = 64,
                              .n_ctx = 2048,
                              .sliding_window = 512,
                              .weight_type = TensorType::F32};
    }
    throw Error("unknown synthetic model preset '" + preset + "' (known: tiny, 1b)");
}

void write_synthetic_model(const std::string& arch, const SyntheticShape& shape,
                           const std::string& path, uint64_t seed) {
    const ArchSpec& spec = arch_spec(arch);
    SyntheticShape s = shape;
    if (spec.family == Family::Bert)
        s.n_head_kv = s.n_head;  // encoders have no grouped-query attention
    if (arch == "gemma3" && s.n_layer < 6) s.n_layer = 6;  // so one layer in six is global
    int64_t head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
    if (s.head_dim == 0 && (arch == "qwen3" || spec.family == Family::Gemma))
        head_dim *= 2;  // q_dim != n_embd

    ModelWriter w(arch, s, seed);
    write_hparams(w, spec, s, head_dim);
    write_arch_keys(w, arch, s);
    write_global_tensors(w, arch, spec, s, head_dim);
    for (int64_t l = 0; l < s.n_layer; ++l) write_layer(w, spec, s, head_dim, l);
    w.gguf().write(path);
}

}  // namespace hearth::model
