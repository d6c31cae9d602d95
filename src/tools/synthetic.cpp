#include "tools/synthetic.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gguf/reader.h"
#include "gguf/writer.h"
#include "kernels/thread_pool.h"
#include "model/arch.h"
#include "tools/quantize_model.h"

namespace hearth::tools {

namespace {

using gguf::Value;
using model::ArchSpec;
using model::Family;

// splitmix64's finalizer: every row draws its own stream from (seed, tensor, row), so rows are
// generated in parallel yet reproducibly, identical on every platform (std distributions and
// std::hash are not).
uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t hash_name(const std::string& s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

// How a tensor's values are drawn: offset + spread * uniform(-1, 1).
struct Fill {
    float offset;
    float spread;
};

void fill_row(uint64_t stream, Fill fill, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        stream = mix(stream);
        const float u = static_cast<float>(stream >> 40) / static_cast<float>(1 << 24) * 2 - 1;
        out[i] = fill.offset + fill.spread * u;
    }
}

// Adds tensors in the recipe's types (the 3-D expert matrices in the expert recipe's),
// counting parameters and bytes in the report.
class ModelWriter {
  public:
    ModelWriter(const std::string& arch, const QuantRecipe& recipe,
                const QuantRecipe& expert_recipe, int n_layer, bool has_output, uint64_t seed,
                kernels::ThreadPool& pool, SyntheticReport& report)
        : arch_(arch),
          recipe_(recipe),
          expert_recipe_(expert_recipe),
          n_layer_(n_layer),
          has_output_(has_output),
          seed_(seed),
          pool_(pool),
          report_(report) {}

    gguf::Writer& gguf() { return writer_; }
    void key(const std::string& suffix, Value v) {
        writer_.set(arch_ + "." + suffix, std::move(v));
    }

    // A [cols, rows] matrix with variance 1/cols, so activations keep their size through it.
    void matrix(const std::string& name, int64_t cols, int64_t rows, float gain = 1.0f) {
        tensor(name, {cols, rows}, {0.0f, gain * std::sqrt(3.0f / static_cast<float>(cols))});
    }
    // n_expert matrices of [cols, rows] stacked as one 3-D tensor (llama.cpp's `*_exps`).
    void experts(const std::string& name, int64_t cols, int64_t rows, int64_t n_expert,
                 float gain = 1.0f) {
        tensor(name, {cols, rows, n_expert},
               {0.0f, gain * std::sqrt(3.0f / static_cast<float>(cols))});
    }
    // One bias of n values per expert: [n, n_expert] (gpt-oss's `*_exps.bias`).
    void expert_biases(const std::string& name, int64_t n, int64_t n_expert) {
        tensor(name, {n, n_expert}, {0.0f, 0.2f});
    }
    void vector(const std::string& name, int64_t n, Fill fill) { tensor(name, {n}, fill); }
    void norm(const std::string& name, int64_t n) { vector(name, n, {1.0f, 0.2f}); }
    void bias(const std::string& name, int64_t n) { vector(name, n, {0.0f, 0.2f}); }

  private:
    void tensor(const std::string& name, std::vector<int64_t> dims, Fill fill) {
        const int64_t cols = dims[0];
        int64_t rows = 1;
        for (size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
        const QuantRecipe& recipe = dims.size() == 3 ? expert_recipe_ : recipe_;
        const TensorChoice choice = choose_tensor_type(recipe, name, static_cast<int>(dims.size()),
                                                       cols, n_layer_, has_output_);
        if (!choice.note.empty()) report_.notes.push_back(choice.note);
        report_.n_params += static_cast<uint64_t>(cols * rows);
        report_.tensor_bytes += gguf::bytes_for(choice.type, static_cast<uint64_t>(cols * rows));
        const uint64_t stream = seed_ ^ hash_name(name);
        add_converted_tensor(
            writer_, name, choice.type, dims,
            [stream, fill, cols](int64_t first, int64_t n, float* out) {
                for (int64_t r = 0; r < n; ++r)
                    fill_row(mix(stream + static_cast<uint64_t>(first + r)), fill, out + r * cols,
                             cols);
            },
            pool_);
    }

    std::string arch_;
    QuantRecipe recipe_;
    QuantRecipe expert_recipe_;
    int n_layer_;
    bool has_output_;
    uint64_t seed_;
    kernels::ThreadPool& pool_;
    SyntheticReport& report_;
    gguf::Writer writer_;
};

// The preset's shape adjusted to the architecture; head_dim resolved.
SyntheticShape arch_shape(const ArchSpec& spec, SyntheticShape s) {
    if (spec.moe && s.n_expert == 0) {
        throw Error("architecture '" + std::string(spec.name) +
                    "' is a mixture of experts: use a preset with experts (" +
                    std::string(spec.name) + "-tiny, ...)");
    }
    if (s.n_expert > 0 && !spec.moe && spec.name != "llama") {
        throw Error("architecture '" + std::string(spec.name) +
                    "' has no experts: the preset's are for qwen3moe, qwen2moe, olmoe, gpt-oss "
                    "or llama");
    }
    if (s.classifier_head && spec.family != Family::Bert) {
        const std::string arch(spec.name);
        throw Error("a classification head (reranker) is for bert and nomic-bert, not '" + arch +
                    "'");
    }
    const bool wide_heads = spec.name == "qwen3" || spec.family == Family::Gemma;
    if (s.head_dim == 0) s.head_dim = s.n_embd / s.n_head * (wide_heads ? 2 : 1);
    if (spec.family == Family::Bert) {
        s.n_head_kv = s.n_head;                      // encoders have no grouped-query attention
        s.n_ctx = std::min<int64_t>(s.n_ctx, 2048);  // learned positions: one row each
        s.tied_embeddings = false;                   // no output matrix at all
    } else if (spec.family == Family::Gemma) {
        s.tied_embeddings = true;
    } else if (!s.tied_embeddings) {
        s.tied_embeddings = spec.name == "qwen2";
    }
    if (spec.name == "gemma3") s.n_layer = std::max<int64_t>(s.n_layer, 6);
    return s;
}

// phi3 rotates only part of each head, as Phi-4-mini does (partial_rotary_factor 0.75).
int64_t rope_dims(const ArchSpec& spec, int64_t head_dim) {
    return spec.name == "phi3" ? head_dim * 3 / 4 / 2 * 2 : head_dim;
}

Value u32(int64_t v) {
    return Value::u32(static_cast<uint32_t>(v));
}

void write_hparams(ModelWriter& w, const ArchSpec& spec, const SyntheticShape& s) {
    w.key("context_length", u32(s.n_ctx));
    w.key("embedding_length", u32(s.n_embd));
    w.key("feed_forward_length", u32(s.n_ff));
    w.key("block_count", u32(s.n_layer));
    w.key("attention.head_count", u32(s.n_head));
    w.key("attention.head_count_kv", u32(s.n_head_kv));
    w.key("attention.key_length", u32(s.head_dim));
    w.key("attention.value_length", u32(s.head_dim));
    w.key("rope.dimension_count", u32(rope_dims(spec, s.head_dim)));
    w.key("rope.freq_base", Value::f32(s.rope_freq_base));
    if (spec.family == Family::Bert) {
        w.key("attention.layer_norm_epsilon", Value::f32(1e-12f));
        w.key("attention.causal", Value::boolean(false));
        w.key("pooling_type", Value::u32(s.classifier_head ? 4 : 1));  // rank or mean
        if (s.classifier_head) {
            w.key("classifier.output_labels",
                  Value::array(gguf::ValueType::String, {Value::string("LABEL_0")}));
        }
    } else {
        w.key("attention.layer_norm_rms_epsilon", Value::f32(1e-6f));
    }
}

// Each architecture's distinctive keys, with values that make their effect visible in a
// short test (small windows and caps, contexts extended beyond a short original one).
void write_arch_keys(ModelWriter& w, const std::string& arch, const SyntheticShape& s) {
    if (arch == "qwen2") {
        // Base and original context chosen so YaRN's ramp blends several pairs (not only
        // the all-extrapolated and all-interpolated ends) even with small heads.
        w.key("rope.freq_base", Value::f32(10000.0f));
        w.key("rope.scaling.type", Value::string("yarn"));
        w.key("rope.scaling.factor", Value::f32(4.0f));
        w.key("rope.scaling.original_context_length", Value::u32(1024));
    } else if (arch == "qwen3") {
        w.key("rope.freq_base", Value::f32(1000000.0f));
    } else if (arch == "phi3") {
        w.key("rope.scaling.original_context_length", u32(s.n_ctx / 4));
    } else if (arch == "gemma2") {
        w.key("attn_logit_softcapping", Value::f32(2.0f));
        w.key("final_logit_softcapping", Value::f32(3.0f));
        w.key("attention.sliding_window", u32(s.sliding_window));
    } else if (arch == "gemma3") {
        w.key("rope.freq_base", Value::f32(1000000.0f));
        w.key("rope.scaling.type", Value::string("linear"));
        w.key("rope.scaling.factor", Value::f32(8.0f));
        w.key("attention.sliding_window", u32(s.sliding_window));
    } else if (arch == "nomic-bert") {
        w.key("rope.freq_base", Value::f32(1000.0f));
    } else if (arch == "gpt-oss") {
        // What llama.cpp's converter writes from gpt-oss's config.json: YaRN from a 4096-token
        // original context by 32, the window of the sliding layers, RMSNorm eps 1e-5.
        w.key("attention.layer_norm_rms_epsilon", Value::f32(1e-5f));
        w.key("attention.sliding_window", u32(s.sliding_window));
        w.key("rope.scaling.type", Value::string("yarn"));
        w.key("rope.scaling.factor", Value::f32(32.0f));
        w.key("rope.scaling.original_context_length", Value::u32(4096));
        w.key("rope.scaling.yarn_beta_fast", Value::f32(32.0f));
        w.key("rope.scaling.yarn_beta_slow", Value::f32(1.0f));
    }
    if (s.n_expert > 0) {
        w.key("expert_count", u32(s.n_expert));
        w.key("expert_used_count", u32(s.n_expert_used));
        // What llama.cpp's converter writes: qwen2moe/qwen3moe have the experts' own length
        // (and qwen2moe the shared expert's), Mixtral and OLMoE use feed_forward_length.
        if (arch == "qwen3moe" || arch == "qwen2moe" || arch == "gpt-oss")
            w.key("expert_feed_forward_length", u32(s.n_ff_exp));
        if (arch == "qwen2moe") w.key("expert_shared_feed_forward_length", u32(s.n_ff_shexp));
    }
}

void write_global_tensors(ModelWriter& w, const std::string& arch, const ArchSpec& spec,
                          const SyntheticShape& s) {
    const int64_t E = s.n_embd;
    w.matrix("token_embd.weight", E, s.n_vocab, std::sqrt(static_cast<float>(E)) * 0.5f);
    if (spec.family == Family::Bert) {
        w.matrix("token_types.weight", E, 2, 4.0f);
        if (spec.learned_positions) w.matrix("position_embd.weight", E, s.n_ctx, 4.0f);
        w.norm("token_embd_norm.weight", E);
        w.bias("token_embd_norm.bias", E);
        if (s.classifier_head) {
            w.matrix("cls.weight", E, E, 2.0f);  // gain 2: the tanh is not all linear
            w.bias("cls.bias", E);
            w.matrix("cls.output.weight", E, 1);
            w.bias("cls.output.bias", 1);
        }
        return;
    }
    w.norm("output_norm.weight", E);
    if (!*s.tied_embeddings) w.matrix("output.weight", E, s.n_vocab, 2.0f);
    if (arch == "llama" && s.n_expert == 0)
        w.vector("rope_freqs.weight", s.head_dim / 2, {4.5f, 3.5f});  // Llama 3: 1..8
    if (arch == "phi3") {
        w.vector("rope_factors_short.weight", rope_dims(spec, s.head_dim) / 2, {1.5f, 0.5f});
        w.vector("rope_factors_long.weight", rope_dims(spec, s.head_dim) / 2, {8.0f, 6.0f});
    }
}

void write_attention(ModelWriter& w, const ArchSpec& spec, const SyntheticShape& s,
                     const std::string& p) {
    const int64_t E = s.n_embd;
    const int64_t q_dim = s.n_head * s.head_dim;
    const int64_t kv_dim = s.n_head_kv * s.head_dim;
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
    if (spec.qk_norm && spec.name == "olmoe") {  // one norm over all heads
        w.norm(p + "attn_q_norm.weight", q_dim);
        w.norm(p + "attn_k_norm.weight", kv_dim);
    } else if (spec.qk_norm) {
        w.norm(p + "attn_q_norm.weight", s.head_dim);
        w.norm(p + "attn_k_norm.weight", s.head_dim);
    }
    w.matrix(p + "attn_output.weight", q_dim, E);
    if (spec.family == Family::GptOss) {
        w.bias(p + "attn_output.bias", E);
        // Sink logits around the scores' size, so some heads give the sink a real share.
        w.vector(p + "attn_sinks.weight", s.n_head, {1.0f, 2.0f});
    }
}

// The router, the experts as 3-D tensors, qwen2moe's shared expert and its gate, gpt-oss's
// biases.
void write_experts(ModelWriter& w, const std::string& arch, const SyntheticShape& s,
                   const std::string& p) {
    const int64_t E = s.n_embd;
    const bool gpt_oss = arch == "gpt-oss";
    const int64_t ff =
        arch == "qwen3moe" || arch == "qwen2moe" || gpt_oss ? s.n_ff_exp : s.n_ff;
    // A router gain of 4 spreads its logits, so the choice of experts is clear-cut. gpt-oss's
    // gate and up get a gain of 4 so that a good share of them cross its SwiGLU's clamp at 7.
    const float gain = gpt_oss ? 4.0f : 1.0f;
    w.matrix(p + "ffn_gate_inp.weight", E, s.n_expert, 4.0f);
    w.experts(p + "ffn_gate_exps.weight", E, ff, s.n_expert, gain);
    w.experts(p + "ffn_up_exps.weight", E, ff, s.n_expert, gain);
    w.experts(p + "ffn_down_exps.weight", ff, E, s.n_expert);
    if (gpt_oss) {
        w.bias(p + "ffn_gate_inp.bias", s.n_expert);
        w.expert_biases(p + "ffn_gate_exps.bias", ff, s.n_expert);
        w.expert_biases(p + "ffn_up_exps.bias", ff, s.n_expert);
        w.expert_biases(p + "ffn_down_exps.bias", E, s.n_expert);
    }
    if (s.n_ff_shexp > 0) {
        w.vector(p + "ffn_gate_inp_shexp.weight", E, {0.0f, std::sqrt(3.0f / E)});
        w.matrix(p + "ffn_gate_shexp.weight", E, s.n_ff_shexp);
        w.matrix(p + "ffn_up_shexp.weight", E, s.n_ff_shexp);
        w.matrix(p + "ffn_down_shexp.weight", s.n_ff_shexp, E);
    }
}

void write_feed_forward(ModelWriter& w, const ArchSpec& spec, const SyntheticShape& s,
                        const std::string& p) {
    if (s.n_expert > 0) return write_experts(w, std::string(spec.name), s, p);
    if (spec.fused_gate_up) {
        w.matrix(p + "ffn_up.weight", s.n_embd, 2 * s.n_ff);
    } else {
        if (spec.gated_ffn) w.matrix(p + "ffn_gate.weight", s.n_embd, s.n_ff);
        w.matrix(p + "ffn_up.weight", s.n_embd, s.n_ff);
    }
    w.matrix(p + "ffn_down.weight", s.n_ff, s.n_embd);
}

void write_layer(ModelWriter& w, const ArchSpec& spec, const SyntheticShape& s, int64_t l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const int64_t E = s.n_embd;
    write_attention(w, spec, s, p);
    write_feed_forward(w, spec, s, p);
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
    // gpt-oss's converter names the FFN's norm after HF's post_attention_layernorm.
    w.norm(p + (spec.family == Family::GptOss ? "post_attention_norm.weight" : "ffn_norm.weight"),
           E);
    if (spec.post_norms) {
        w.norm(p + "post_attention_norm.weight", E);
        w.norm(p + "post_ffw_norm.weight", E);
    }
}

// Copies every tokenizer.* key of the vocab GGUF; returns its token count (the model's vocab).
int64_t copy_tokenizer(const std::string& vocab_path, gguf::Writer& writer) {
    const gguf::File vocab = gguf::File::open(vocab_path);
    const Value* tokens = vocab.find("tokenizer.ggml.tokens");
    if (!tokens || tokens->type() != gguf::ValueType::Array) {
        throw Error("'" + vocab_path +
                    "' has no tokenizer.ggml.tokens array; pass a vocab GGUF "
                    "(tests/data/vocab/*.gguf) or any model with a tokenizer");
    }
    for (const auto& kv : vocab.metadata()) {
        if (kv.key.rfind("tokenizer.", 0) == 0) writer.set(kv.key, kv.value);
    }
    return static_cast<int64_t>(tokens->as_array().items.size());
}

std::string preset_names() {
    std::string names;
    for (const auto& p : synthetic_presets()) names += (names.empty() ? "" : ", ") + p.name;
    return names;
}

QuantRecipe find_recipe(const std::string& type) {
    auto recipe = find_quant_recipe(type);
    if (!recipe) {
        std::string known;
        for (const auto& r : quant_recipes())
            known += (known.empty() ? "" : ", ") + std::string(r.name);
        throw Error("unknown weight type '" + type + "' (known: " + known + ")");
    }
    return *recipe;
}

}  // namespace

const std::vector<SyntheticPreset>& synthetic_presets() {
    // n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_ctx, sliding_window,
    // rope_freq_base, tied_embeddings
    static const std::vector<SyntheticPreset> presets = {
        {"tiny", "fast tests; rows fill 256-blocks", {}, ""},
        {"135m",
         "SmolLM2-135M shape",
         {49152, 576, 1536, 30, 9, 3, 64, 8192, 512, 100000.0f, true},
         ""},
        {"1b",
         "Llama-3.2-1B shape",
         {128256, 2048, 8192, 16, 32, 8, 64, 131072, 512, 500000.0f, true},
         ""},
        {"3b",
         "Llama-3.2-3B shape",
         {128256, 3072, 8192, 28, 24, 8, 128, 131072, 512, 500000.0f, true},
         ""},
        {"7b",
         "Llama-2-7B shape",
         {32000, 4096, 11008, 32, 32, 32, 128, 4096, 512, 10000.0f, false},
         ""},
        // Mixture of experts: then n_expert, n_expert_used, n_ff_exp, n_ff_shexp. The tiny ones
        // fill 32-blocks (Q8_0), not 256-blocks.
        {"qwen3moe-tiny",
         "tests: 8 experts, top 2",
         {256, 64, 96, 2, 4, 2, 32, 2048, 4, 1000000.0f, false, 8, 2, 32, 0},
         "qwen3moe"},
        {"qwen2moe-tiny",
         "tests: 8 experts, top 4, shared expert",
         {256, 64, 96, 2, 4, 2, 16, 2048, 4, 1000000.0f, false, 8, 4, 32, 64},
         "qwen2moe"},
        {"olmoe-tiny",
         "tests: 8 experts, top 2",
         {256, 64, 32, 2, 4, 4, 16, 2048, 4, 10000.0f, false, 8, 2, 32, 0},
         "olmoe"},
        {"mixtral-tiny",
         "tests: llama with 8 experts, top 2",
         {256, 64, 32, 2, 4, 2, 16, 2048, 4, 1000000.0f, false, 8, 2, 32, 0},
         "llama"},
        {"gpt-oss-tiny",
         "tests: 8 experts, top 4, sinks, window 4 on even layers",
         {256, 64, 32, 2, 8, 2, 16, 2048, 4, 150000.0f, false, 8, 4, 32, 0},
         "gpt-oss",
         "MXFP4"},
        {"qwen3moe-30b-a3b",
         "Qwen3-30B-A3B shape: 128 experts, top 8",
         {151936, 2048, 6144, 48, 32, 4, 128, 40960, 512, 1000000.0f, false, 128, 8, 768, 0},
         "qwen3moe"},
        {"qwen2moe-a2.7b",
         "Qwen1.5-MoE-A2.7B shape: 60 experts, top 4, shared expert",
         {151936, 2048, 5632, 24, 16, 16, 128, 8192, 512, 1000000.0f, false, 60, 4, 1408, 5632},
         "qwen2moe"},
        {"olmoe-1b-7b",
         "OLMoE-1B-7B shape: 64 experts, top 8",
         {50304, 2048, 1024, 16, 16, 16, 128, 4096, 512, 10000.0f, false, 64, 8, 1024, 0},
         "olmoe"},
        {"mixtral-8x7b",
         "Mixtral-8x7B shape (llama with experts): 8 experts, top 2",
         {32000, 4096, 14336, 32, 32, 8, 128, 32768, 512, 1000000.0f, false, 8, 2, 14336, 0},
         "llama"},
        {"gpt-oss-20b",
         "gpt-oss-20b shape: 32 experts, top 4, window 128 on even layers",
         {201088, 2880, 2880, 24, 64, 8, 64, 131072, 128, 150000.0f, false, 32, 4, 2880, 0},
         "gpt-oss",
         "MXFP4"},
        // Rerankers: bert with a classification head (then classifier_head).
        {"bert-reranker-tiny",
         "tests: bert cross-encoder, classification head",
         {256, 256, 768, 4, 8, 8, 0, 2048, 4, 10000.0f, false, 0, 0, 0, 0, true},
         "bert"},
        {"bge-reranker-base",
         "bge-reranker-base shape (XLM-RoBERTa cross-encoder)",
         {250002, 768, 3072, 12, 12, 12, 64, 512, 512, 10000.0f, false, 0, 0, 0, 0, true},
         "bert"},
    };
    return presets;
}

const SyntheticPreset& synthetic_preset(const std::string& preset) {
    for (const auto& p : synthetic_presets()) {
        if (p.name == preset) return p;
    }
    throw Error("unknown synthetic model preset '" + preset + "' (known: " + preset_names() + ")");
}

SyntheticShape synthetic_shape(const std::string& preset) {
    for (const auto& p : synthetic_presets()) {
        if (p.name == preset) return p.shape;
    }
    throw Error("unknown synthetic model preset '" + preset + "' (known: " + preset_names() + ")");
}

SyntheticReport write_synthetic_model(const SyntheticOptions& o, const std::string& path,
                                      const std::function<void(size_t, size_t)>& progress) {
    const ArchSpec& spec = model::arch_spec(o.architecture);
    const QuantRecipe recipe = find_recipe(o.type);
    const QuantRecipe expert_recipe = o.expert_type.empty() ? recipe : find_recipe(o.expert_type);
    SyntheticShape s = arch_shape(spec, o.shape);
    SyntheticReport report;
    kernels::ThreadPool pool(std::max(1, o.n_threads));  // used while writing: keep it alive
    ModelWriter w(o.architecture, recipe, expert_recipe, static_cast<int>(s.n_layer),
                  !*s.tied_embeddings, o.seed, pool, report);
    w.gguf().set("general.architecture", Value::string(o.architecture));
    w.gguf().set("general.name",
                 Value::string(o.name.empty() ? "synthetic " + o.architecture : o.name));
    w.gguf().set("general.description", Value::string("random weights, seed " +
                                                      std::to_string(o.seed) + " (hearth synth)"));
    // A model whose experts differ is labelled by them, as llama.cpp labels gpt-oss's files
    // MOSTLY_MXFP4_MOE whatever the rest is.
    w.gguf().set("general.file_type", Value::u32(o.expert_type.empty() || s.n_expert == 0
                                                     ? recipe.file_type
                                                     : expert_recipe.file_type));
    w.gguf().set("general.quantization_version", Value::u32(2));
    if (!o.vocab_path.empty()) s.n_vocab = copy_tokenizer(o.vocab_path, w.gguf());
    report.n_vocab = s.n_vocab;

    write_hparams(w, spec, s);
    write_arch_keys(w, o.architecture, s);
    write_global_tensors(w, o.architecture, spec, s);
    for (int64_t l = 0; l < s.n_layer; ++l) write_layer(w, spec, s, l);
    w.gguf().write(path, progress);
    return report;
}

void write_synthetic_model(const std::string& architecture, const SyntheticShape& shape,
                           const std::string& path, uint64_t seed) {
    SyntheticOptions options;
    options.architecture = architecture;
    options.shape = shape;
    options.seed = seed;
    write_synthetic_model(options, path);
}

}  // namespace hearth::tools
