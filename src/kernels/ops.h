#pragma once
// Element-wise and row operations of transformer layers (float32). Scalar reference code; the
// matmuls dominate time, these stay simple.
#include <cstdint>

namespace hearth::kernels {

// out = x / rms(x) * weight
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// Rotary position embedding on `n_heads` heads of `head_dim` floats each, rotating the first
// `rope_dims` dims of each head. Normal (GPT-J / llama) style rotates adjacent pairs (2i, 2i+1);
// NeoX style rotates (i, i + rope_dims/2).
enum class RopeStyle { Normal, NeoX };
void rope(float* x, int n_heads, int head_dim, int rope_dims, int64_t position, float freq_base,
          float freq_scale, RopeStyle style);

// In-place numerically stable softmax.
void softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]  (SwiGLU)
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);

float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace hearth::kernels
