#pragma once
// Random-weight models of every supported architecture, with real tensor names, shapes and
// metadata, in any weight type `hearth quantize` knows and optionally with the tokenizer of a
// vocab GGUF: how tests and benchmarks get realistic models without a model hub. `hearth synth`
// is the command-line face of this file.
//
// Each architecture's file exercises its distinctive parts: llama has Llama 3 `rope_freqs`,
// qwen2 QKV biases and YaRN, qwen3 Q/K norms, phi3 fused projections, partial rotation and
// LongRoPE factors, gemma2 soft-capping and sliding windows, gemma3 local and global RoPE, bert
// learned positions (and, as a reranker, a classification head), nomic-bert fused QKV with
// RoPE; the mixture-of-experts ones (qwen3moe,
// qwen2moe, olmoe, llama with experts as Mixtral) 3-D expert tensors and a router, qwen2moe a
// shared expert with its sigmoid gate, olmoe Q/K norms over all heads; gpt-oss attention sinks,
// Q/K/V/O, router and expert biases, YaRN and sliding-window layers.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hearth::tools {

struct SyntheticShape {
    int64_t n_vocab = 256;  // without a vocab file; with one, its token count wins
    int64_t n_embd = 256;
    int64_t n_ff = 768;
    int64_t n_layer = 4;  // gemma3 gets at least 6, so one layer in six is global
    int64_t n_head = 8;
    int64_t n_head_kv = 4;  // encoders use n_head (no grouped-query attention)
    int64_t head_dim = 0;   // 0: n_embd / n_head, doubled for qwen3 and gemma (q_dim != n_embd)
    int64_t n_ctx = 2048;
    int64_t sliding_window = 4;       // gemma2/3, gpt-oss: small in tests, so short inputs cross it
    float rope_freq_base = 10000.0f;  // architectures with a distinctive base use their own
    // Output matrix = token embeddings. Unset: the architecture's habit (qwen2 ties). Gemma
    // always ties; encoders have no output matrix.
    std::optional<bool> tied_embeddings;
    // Mixture of experts (0: a dense FFN): n_expert experts of n_ff_exp rows, n_expert_used per
    // token; n_ff_shexp > 0 adds a gated shared expert (qwen2moe). Mixtral and OLMoE files
    // have no expert_feed_forward_length key: their experts use n_ff.
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    int64_t n_ff_exp = 0;
    int64_t n_ff_shexp = 0;
    // Encoders only: a reranker (cross-encoder), with RoBERTa's classification head on the
    // [CLS] state (`cls` dense + tanh, `cls.output` to one label) and rank pooling, as
    // llama.cpp's converter writes bge-reranker.
    bool classifier_head = false;
};

struct SyntheticPreset {
    std::string name;
    std::string description;
    SyntheticShape shape;
    std::string architecture;  // the architecture the shape is for; empty: any (llama default)
    // The type real files store the experts in when it differs from the rest (gpt-oss ships
    // them as MXFP4): `hearth synth` writes them so unless --type is given. Empty: none.
    std::string expert_type = {};
};

// tiny (tests), 135m (SmolLM2-135M), 1b (Llama-3.2-1B), 3b (Llama-3.2-3B), 7b (Llama-2-7B);
// mixture of experts: ARCH-tiny for qwen3moe, qwen2moe, olmoe, mixtral and gpt-oss (tests),
// qwen3moe-30b-a3b, qwen2moe-a2.7b, olmoe-1b-7b, mixtral-8x7b, gpt-oss-20b; rerankers (bert
// with a classification head): bert-reranker-tiny (tests), bge-reranker-base.
const std::vector<SyntheticPreset>& synthetic_presets();
// The preset (its architecture may be empty); throws hearth::Error naming an unknown preset.
const SyntheticPreset& synthetic_preset(const std::string& preset);
// The preset's shape; throws hearth::Error naming an unknown preset and listing the known ones.
SyntheticShape synthetic_shape(const std::string& preset);

struct SyntheticOptions {
    std::string architecture = "llama";  // see model::supported_architectures()
    SyntheticShape shape;
    std::string type = "F32";  // a `hearth quantize` recipe or type name (Q4_K_M keeps its mix)
    std::string expert_type;   // the 3-D expert matrices' type or recipe; empty: `type`'s
    std::string vocab_path;    // optional: a GGUF whose tokenizer.* keys are copied
    std::string name;          // general.name; empty: "synthetic ARCH"
    uint64_t seed = 42;        // the same seed writes the same bytes, at any thread count
    int n_threads = 1;
};

struct SyntheticReport {
    int64_t n_vocab = 0;
    uint64_t n_params = 0;
    uint64_t tensor_bytes = 0;
    std::vector<std::string> notes;  // tensors whose rows did not fit the type's blocks
};

// Writes the model to `path` (through path.partial, renamed when complete). progress(done,
// total) is called after each tensor.
SyntheticReport write_synthetic_model(const SyntheticOptions& options, const std::string& path,
                                      const std::function<void(size_t, size_t)>& progress = {});

// Shorthand for tests: F32 weights, no tokenizer.
void write_synthetic_model(const std::string& architecture, const SyntheticShape& shape,
                           const std::string& path, uint64_t seed);

}  // namespace hearth::tools
