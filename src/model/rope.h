#pragma once
// Rotary position embedding with every frequency variant folded into one table at load time.
// Each rotated pair i turns by angle position * inv_freq[i]; linear scaling, YaRN, Llama 3
// `rope_freqs` and phi3 LongRoPE factors all only change inv_freq (and YaRN / LongRoPE scale
// cos and sin by `mscale`), so the per-token work is the same for all of them.
#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "model/hparams.h"

namespace hearth::model {

struct RopeTable {
    kernels::RopeStyle style = kernels::RopeStyle::Normal;
    int64_t rope_dims = 0;
    std::vector<float> inv_freq;  // rope_dims / 2 angles per position
    float mscale = 1.0f;

    // base^(-2i/d), then the scaling of `scaling` with `freq_scale` (= 1 / factor), then divided
    // by freq_factors[i] when given (rope_dims / 2 floats).
    static RopeTable build(const HParams& hp, float freq_base, RopeScaling scaling,
                           float freq_scale, const float* freq_factors);

    // Rotates the first rope_dims dims of each of the n_q heads of q and n_k heads of k.
    void apply(float* q, int64_t n_q, float* k, int64_t n_k, int64_t head_dim,
               int64_t position) const;

    // Turns n_k key heads that apply() rotated at some position p so they become the keys
    // apply() gives at p + delta (context shift: delta < 0). Rotations compose, so this is one
    // more rotation by delta, without mscale (the stored keys already carry it once).
    void shift_keys(float* k, int64_t n_k, int64_t head_dim, int64_t delta) const;

  private:
    void rotate(float* q, int64_t n_q, float* k, int64_t n_k, int64_t head_dim, int64_t position,
                float scale) const;
};

}  // namespace hearth::model
