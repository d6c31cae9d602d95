#include "kernels/ops.h"

#include <cmath>

namespace hearth::kernels {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
    double sum = 0;  // double: the mean of squares of thousands of values loses bits in float
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
    float scale = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void rope(float* x, int n_heads, int head_dim, int rope_dims, int64_t position, float freq_base,
          float freq_scale, RopeStyle style) {
    const int half = rope_dims / 2;
    for (int i = 0; i < half; ++i) {
        // theta_i = pos * base^(-2i/d)
        float inv_freq =
            std::pow(freq_base, -2.0f * static_cast<float>(i) / static_cast<float>(rope_dims));
        float theta = static_cast<float>(position) * freq_scale * inv_freq;
        float c = std::cos(theta);
        float s = std::sin(theta);
        for (int h = 0; h < n_heads; ++h) {
            float* v = x + static_cast<int64_t>(h) * head_dim;
            int a = style == RopeStyle::Normal ? 2 * i : i;
            int b = style == RopeStyle::Normal ? 2 * i + 1 : i + half;
            float x0 = v[a];
            float x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void softmax(float* x, int64_t n) {
    float max = x[0];
    for (int64_t i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += x[i];
    }
    float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        float g = gate[i];
        out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void add_inplace(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

float dot_f32(const float* a, const float* b, int64_t n) {
    float acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
    }
    float sum = 0;
    for (; i < n; ++i) sum += a[i] * b[i];
    for (float v : acc) sum += v;
    return sum;
}

}  // namespace hearth::kernels
