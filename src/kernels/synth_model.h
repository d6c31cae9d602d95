#pragma once
// Random-weight models with real shapes ("llama" architecture, llama.cpp tensor names) and a
// real tokenizer copied from a vocab GGUF: how tests and benchmarks get realistic models
// without a model hub. Weights are N(0, 0.02), norms 1, all from a seed (same seed, same file).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::kernels {

struct SynthPreset {
    std::string_view name;
    std::string_view description;
    int64_t n_embd;
    int64_t n_layers;
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t n_ff;
    int64_t n_vocab;  // padded up to this with unused tokens when the tokenizer is smaller
    bool tied_embeddings;
    int64_t context_length;
    float rope_freq_base;
};

const std::vector<SynthPreset>& synth_presets();
std::optional<SynthPreset> find_synth_preset(std::string_view name);

struct SynthOptions {
    SynthPreset preset;
    std::string vocab_path;      // a GGUF whose tokenizer.* keys are copied
    std::string recipe = "F32";  // any quantize recipe or type name (Q4_K_M, Q8_0, F16 ...)
    uint64_t seed = 42;
    int n_threads = 1;
};

struct SynthReport {
    int64_t n_vocab = 0;        // after padding
    int64_t padded_tokens = 0;  // tokens added to reach the preset's vocab size
    uint64_t n_params = 0;
    std::vector<std::string> notes;
};

SynthReport synthesize_model(const SynthOptions& options, const std::string& out_path,
                             const std::function<void(size_t, size_t)>& progress = {});

}  // namespace hearth::kernels
