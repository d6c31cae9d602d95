#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace hearth::model {

namespace {

// YaRN: the pair index at which a frequency makes `n_rotations` full turns over the original
// context. Pairs turning faster than beta_fast keep their frequency (extrapolate); pairs turning
// slower than beta_slow are interpolated by freq_scale; a linear ramp blends the ones between.
double yarn_correction_dim(double n_rotations, const HParams& hp, double freq_base) {
    return hp.rope_dims * std::log(hp.rope_orig_ctx / (n_rotations * 2 * std::numbers::pi)) /
           (2 * std::log(freq_base));
}

void apply_yarn(RopeTable& t, const HParams& hp, float freq_base, float freq_scale) {
    const double low =
        std::max(0.0, std::floor(yarn_correction_dim(hp.yarn_beta_fast, hp, freq_base)));
    const double high = std::min<double>(
        hp.rope_dims - 1, std::ceil(yarn_correction_dim(hp.yarn_beta_slow, hp, freq_base)));
    for (size_t i = 0; i < t.inv_freq.size(); ++i) {
        const double ramp = std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0);
        const double extrapolated_share = 1.0 - ramp;
        t.inv_freq[i] *= static_cast<float>(freq_scale * ramp + extrapolated_share);
    }
    // Longer contexts flatten attention; YaRN sharpens it back through the magnitude of q and k.
    t.mscale =
        hp.rope_attn_factor > 0 ? hp.rope_attn_factor : 1.0f + 0.1f * std::log(1.0f / freq_scale);
}

}  // namespace

RopeTable RopeTable::build(const HParams& hp, float freq_base, RopeScaling scaling,
                           float freq_scale, const float* freq_factors) {
    RopeTable t;
    t.style = hp.rope_style;
    t.rope_dims = hp.rope_dims;
    t.inv_freq.resize(static_cast<size_t>(hp.rope_dims / 2));
    for (size_t i = 0; i < t.inv_freq.size(); ++i) {
        t.inv_freq[i] =
            std::pow(freq_base, -2.0f * static_cast<float>(i) / static_cast<float>(hp.rope_dims));
    }
    if (scaling == RopeScaling::Linear) {
        for (float& f : t.inv_freq) f *= freq_scale;
    } else if (scaling == RopeScaling::Yarn) {
        apply_yarn(t, hp, freq_base, freq_scale);
    }
    if (freq_factors) {
        for (size_t i = 0; i < t.inv_freq.size(); ++i) t.inv_freq[i] /= freq_factors[i];
    }
    return t;
}

void RopeTable::apply(float* q, int64_t n_q, float* k, int64_t n_k, int64_t head_dim,
                      int64_t position) const {
    rotate(q, n_q, k, n_k, head_dim, position, mscale);
}

void RopeTable::shift_keys(float* k, int64_t n_k, int64_t head_dim, int64_t delta) const {
    rotate(nullptr, 0, k, n_k, head_dim, delta, 1.0f);
}

void RopeTable::rotate(float* q, int64_t n_q, float* k, int64_t n_k, int64_t head_dim,
                       int64_t position, float scale) const {
    const int64_t half = rope_dims / 2;
    const bool neox = style == kernels::RopeStyle::NeoX;
    for (int64_t i = 0; i < half; ++i) {
        const float theta = static_cast<float>(position) * inv_freq[i];
        const float c = std::cos(theta) * scale;
        const float s = std::sin(theta) * scale;
        // Normal (GPT-J) style rotates adjacent pairs; NeoX rotates dims i and i + half.
        const int64_t a = neox ? i : 2 * i;
        const int64_t b = neox ? i + half : 2 * i + 1;
        auto rotate = [&](float* head) {
            const float x0 = head[a];
            const float x1 = head[b];
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        };
        for (int64_t h = 0; h < n_q; ++h) rotate(q + h * head_dim);
        for (int64_t h = 0; h < n_k; ++h) rotate(k + h * head_dim);
    }
}

}  // namespace hearth::model
