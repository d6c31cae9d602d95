#include "kernels/synth_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gguf/reader.h"
#include "gguf/writer.h"
#include "kernels/quantize_model.h"
#include "kernels/thread_pool.h"

namespace hearth::kernels {

namespace {

using gguf::Value;
using gguf::ValueType;

// splitmix64: a counter-based generator, so every row draws its own stream from
// (seed, tensor, row) and rows can be generated in parallel yet reproducibly.
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

// Fills `n` floats with N(0, sigma) by Box-Muller from the stream `state`.
void gaussian_row(uint64_t state, float sigma, float* out, int64_t n) {
    for (int64_t i = 0; i < n; i += 2) {
        state = mix(state);
        double u1 = ((state >> 11) + 1) * 0x1.0p-53;
        state = mix(state);
        double u2 = (state >> 11) * 0x1.0p-53;
        double radius = sigma * std::sqrt(-2.0 * std::log(u1));
        out[i] = static_cast<float>(radius * std::cos(2 * M_PI * u2));
        if (i + 1 < n) out[i + 1] = static_cast<float>(radius * std::sin(2 * M_PI * u2));
    }
}

struct TensorSpec {
    std::string name;
    std::vector<int64_t> dims;  // ne[0] first
    bool is_norm;
};

std::vector<TensorSpec> llama_tensors(const SynthPreset& p, int64_t n_vocab) {
    const int64_t head_dim = p.n_embd / p.n_heads, kv_dim = head_dim * p.n_kv_heads;
    std::vector<TensorSpec> specs = {{"token_embd.weight", {p.n_embd, n_vocab}, false}};
    for (int64_t l = 0; l < p.n_layers; ++l) {
        std::string blk = "blk." + std::to_string(l) + ".";
        specs.push_back({blk + "attn_norm.weight", {p.n_embd}, true});
        specs.push_back({blk + "attn_q.weight", {p.n_embd, p.n_embd}, false});
        specs.push_back({blk + "attn_k.weight", {p.n_embd, kv_dim}, false});
        specs.push_back({blk + "attn_v.weight", {p.n_embd, kv_dim}, false});
        specs.push_back({blk + "attn_output.weight", {p.n_embd, p.n_embd}, false});
        specs.push_back({blk + "ffn_norm.weight", {p.n_embd}, true});
        specs.push_back({blk + "ffn_gate.weight", {p.n_embd, p.n_ff}, false});
        specs.push_back({blk + "ffn_up.weight", {p.n_embd, p.n_ff}, false});
        specs.push_back({blk + "ffn_down.weight", {p.n_ff, p.n_embd}, false});
    }
    specs.push_back({"output_norm.weight", {p.n_embd}, true});
    if (!p.tied_embeddings) specs.push_back({"output.weight", {p.n_embd, n_vocab}, false});
    return specs;
}

// Copies every tokenizer.* key; pads the token list (and its parallel arrays) with unused
// tokens up to `n_vocab`. Returns the final vocabulary size.
int64_t copy_tokenizer(const gguf::File& vocab, int64_t n_vocab, gguf::Writer& writer,
                       SynthReport& report) {
    const Value* tokens = vocab.find("tokenizer.ggml.tokens");
    if (!tokens || tokens->type() != ValueType::Array) {
        throw Error(
            "'" + vocab.name() +
            "' has no tokenizer.ggml.tokens array; pass a vocab GGUF (tests/data/vocab/*.gguf)");
    }
    const int64_t have = static_cast<int64_t>(tokens->as_array().items.size());
    const int64_t want = std::max(have, n_vocab);
    if (n_vocab > 0 && have > n_vocab)
        report.notes.push_back("the tokenizer has " + std::to_string(have) +
                               " tokens, more than the preset's " + std::to_string(n_vocab) +
                               "; using " + std::to_string(have));
    report.padded_tokens = want - have;
    for (const auto& kv : vocab.metadata()) {
        if (kv.key.rfind("tokenizer.", 0) != 0) continue;
        if (kv.value.type() != ValueType::Array ||
            static_cast<int64_t>(kv.value.as_array().items.size()) != have || have == want) {
            writer.set(kv.key, kv.value);
            continue;
        }
        // A per-token array: extend it.
        gguf::Array arr = kv.value.as_array();
        for (int64_t i = have; i < want; ++i) {
            if (kv.key == "tokenizer.ggml.tokens")
                arr.items.push_back(Value::string("<|synth_pad_" + std::to_string(i) + "|>"));
            else if (kv.key == "tokenizer.ggml.scores")
                arr.items.push_back(Value::f32(0.0f));
            else if (kv.key == "tokenizer.ggml.token_type")
                arr.items.push_back(Value::i32(5));  // unused
            else
                arr.items.push_back(arr.items.back());
        }
        writer.set(kv.key, Value::array(arr.element_type, std::move(arr.items)));
    }
    return want;
}

void set_hyperparameters(const SynthPreset& p, const SynthOptions& o, uint32_t file_type,
                         gguf::Writer& writer) {
    writer.set("general.architecture", Value::string("llama"));
    writer.set("general.name", Value::string("hearth-synth-" + std::string(p.name)));
    writer.set("general.file_type", Value::u32(file_type));
    writer.set("general.quantization_version", Value::u32(2));
    writer.set("general.description", Value::string("random weights N(0, 0.02), seed " +
                                                    std::to_string(o.seed) + " (hearth synth)"));
    writer.set("llama.context_length", Value::u32(static_cast<uint32_t>(p.context_length)));
    writer.set("llama.embedding_length", Value::u32(static_cast<uint32_t>(p.n_embd)));
    writer.set("llama.feed_forward_length", Value::u32(static_cast<uint32_t>(p.n_ff)));
    writer.set("llama.block_count", Value::u32(static_cast<uint32_t>(p.n_layers)));
    writer.set("llama.attention.head_count", Value::u32(static_cast<uint32_t>(p.n_heads)));
    writer.set("llama.attention.head_count_kv", Value::u32(static_cast<uint32_t>(p.n_kv_heads)));
    writer.set("llama.rope.dimension_count",
               Value::u32(static_cast<uint32_t>(p.n_embd / p.n_heads)));
    writer.set("llama.attention.layer_norm_rms_epsilon", Value::f32(1e-5f));
    writer.set("llama.rope.freq_base", Value::f32(p.rope_freq_base));
}

}  // namespace

const std::vector<SynthPreset>& synth_presets() {
    static const std::vector<SynthPreset> presets = {
        {"tiny", "4 layers, n_embd 256: fast tests", 256, 4, 8, 4, 768, 0, true, 2048, 10000.0f},
        {"135m", "SmolLM2-135M shape", 576, 30, 9, 3, 1536, 49152, true, 8192, 100000.0f},
        {"1b", "Llama-3.2-1B shape", 2048, 16, 32, 8, 8192, 128256, true, 131072, 500000.0f},
        {"3b", "Llama-3.2-3B shape", 3072, 28, 24, 8, 8192, 128256, true, 131072, 500000.0f},
        {"7b", "Llama-2-7B shape", 4096, 32, 32, 32, 11008, 32000, false, 4096, 10000.0f},
    };
    return presets;
}

std::optional<SynthPreset> find_synth_preset(std::string_view name) {
    for (const auto& p : synth_presets()) {
        if (p.name == name) return p;
    }
    return std::nullopt;
}

SynthReport synthesize_model(const SynthOptions& o, const std::string& out_path,
                             const std::function<void(size_t, size_t)>& progress) {
    auto recipe = find_quant_recipe(o.recipe);
    if (!recipe)
        throw Error("unknown type '" + o.recipe + "'; see `hearth quantize --help` for the list");
    const SynthPreset& p = o.preset;
    gguf::File vocab = gguf::File::open(o.vocab_path);
    gguf::Writer writer;
    SynthReport report;
    set_hyperparameters(p, o, recipe->file_type, writer);
    report.n_vocab = copy_tokenizer(vocab, p.n_vocab, writer, report);

    ThreadPool pool(std::max(1, o.n_threads));
    const auto specs = llama_tensors(p, report.n_vocab);
    for (size_t ti = 0; ti < specs.size(); ++ti) {
        const TensorSpec& spec = specs[ti];
        TensorChoice choice =
            choose_tensor_type(*recipe, spec.name, static_cast<int>(spec.dims.size()), spec.dims[0],
                               static_cast<int>(p.n_layers), !p.tied_embeddings);
        if (!choice.note.empty()) report.notes.push_back(choice.note);
        const int64_t cols = spec.dims[0];
        report.n_params += static_cast<uint64_t>(cols) * (spec.dims.size() > 1 ? spec.dims[1] : 1);
        const uint64_t stream = mix(o.seed ^ hash_name(spec.name));
        const bool is_norm = spec.is_norm;
        add_converted_tensor(
            writer, spec.name, choice.type, spec.dims,
            [=](int64_t first, int64_t n, float* out) {
                for (int64_t r = 0; r < n; ++r) {
                    if (is_norm)
                        std::fill_n(out + r * cols, cols, 1.0f);
                    else
                        gaussian_row(mix(stream + static_cast<uint64_t>(first + r)), 0.02f,
                                     out + r * cols, cols);
                }
            },
            pool);
    }
    writer.write(out_path, progress);
    return report;
}

}  // namespace hearth::kernels
