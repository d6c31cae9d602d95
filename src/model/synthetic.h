#pragma once
// Random-weight models of every supported architecture, with real tensor names, shapes and
// metadata, for tests and benchmarks (no model hub is reachable from test machines). Each
// architecture's file exercises its distinctive parts: llama has Llama 3 `rope_freqs`, qwen2
// QKV biases and YaRN, qwen3 Q/K norms and a head size apart from n_embd / n_head, phi3 fused
// projections, partial rotation and LongRoPE factors, gemma2 soft-capping and sliding
// windows, gemma3 local and global RoPE, bert learned positions, nomic-bert fused QKV with RoPE.
//
// (The `hearth synth` CLI of the kernels branch writes llama models with a tokenizer and quant
// types; this writer is the engine-side one for all architectures and F32/F16 weights.)
#include <cstdint>
#include <string>

#include "gguf/types.h"

namespace hearth::model {

struct SyntheticShape {
    int64_t n_vocab = 256;
    int64_t n_embd = 64;
    int64_t n_ff = 160;
    int64_t n_layer = 2;
    int64_t n_head = 4;
    int64_t n_head_kv = 2;
    int64_t head_dim = 0;  // 0: n_embd / n_head (qwen3 and gemma default to a different one)
    int64_t n_ctx = 128;
    int64_t sliding_window = 4;  // gemma2/3: small, so short tests cross the window
    gguf::TensorType weight_type = gguf::TensorType::F32;  // of the 2-D matrices
};

// "tiny" (tests: a few hundred thousand parameters) or "1b" (benchmarks: TinyLlama-1.1B's
// shape, F32 until quantized formats are in; set weight_type for others). Throws
// hearth::Error naming an unknown preset.
SyntheticShape synthetic_shape(const std::string& preset);

// Writes a model of `architecture` (see supported_architectures()) to `path`; the same seed
// gives the same bytes.
void write_synthetic_model(const std::string& architecture, const SyntheticShape& shape,
                           const std::string& path, uint64_t seed);

}  // namespace hearth::model
