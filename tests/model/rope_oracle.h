#pragma once
// Shared by the context-shift tests (tests/model, tests/runtime): key rows of a KV cache as
// floats, and an independent rotation of stored keys by a number of positions, written from the
// RoPE definition (pair i of each head turns by position * inv_freq[i]; normal style pairs
// (2i, 2i + 1), NeoX style (i, i + rope_dims / 2); dims past rope_dims stay) in double precision.
// It takes only the frequencies from the model's table, which the architecture reference tests
// check against numpy.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/type_traits.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace hearth::testing {

inline std::vector<float> key_row(const model::KvCache& cache, int64_t layer, int32_t seq,
                                  int64_t pos, int64_t kv_dim) {
    std::vector<float> row(static_cast<size_t>(kv_dim));
    kernels::traits(cache.type()).to_float(cache.key(layer, seq, pos), row.data(), kv_dim);
    return row;
}

inline std::vector<float> value_row(const model::KvCache& cache, int64_t layer, int32_t seq,
                                    int64_t pos, int64_t kv_dim) {
    std::vector<float> row(static_cast<size_t>(kv_dim));
    kernels::traits(cache.type()).to_float(cache.value(layer, seq, pos), row.data(), kv_dim);
    return row;
}

// The table a layer's keys were rotated with: gemma's sliding layers have their own.
inline const model::RopeTable& table_of_layer(const model::Model& m, int64_t layer) {
    const auto& w = m.weights();
    return w.layers[static_cast<size_t>(layer)].sliding ? w.rope_local : w.rope_global;
}

// A key row of n_head_kv heads turned by `delta` positions.
inline std::vector<float> rotated_key(const std::vector<float>& key, const model::RopeTable& t,
                                      int64_t n_head_kv, int64_t head_dim, int64_t delta) {
    std::vector<float> out = key;
    const int64_t half = t.rope_dims / 2;
    const bool neox = t.style == kernels::RopeStyle::NeoX;
    for (int64_t h = 0; h < n_head_kv; ++h) {
        const float* in = key.data() + h * head_dim;
        float* o = out.data() + h * head_dim;
        for (int64_t i = 0; i < half; ++i) {
            const int64_t a = neox ? i : 2 * i;
            const int64_t b = neox ? i + half : 2 * i + 1;
            const double angle = static_cast<double>(delta) * static_cast<double>(t.inv_freq[i]);
            const double x = in[a], y = in[b];
            o[a] = static_cast<float>(x * std::cos(angle) - y * std::sin(angle));
            o[b] = static_cast<float>(x * std::sin(angle) + y * std::cos(angle));
        }
    }
    return out;
}

inline float max_abs(const std::vector<float>& v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

// How far apart two rows of the same values may be when one was requantized once more: a few
// rounding steps of the type, relative to the row's largest magnitude (Q8_0 steps are
// max/127, Q4_0's max/8; F16 keeps 11 bits).
inline float requantized_tolerance(gguf::TensorType type) {
    switch (type) {
        case gguf::TensorType::F32:
            return 2e-5f;
        case gguf::TensorType::F16:
            return 3e-3f;
        case gguf::TensorType::Q8_0:
            return 3.0f / 127;
        default:
            return 3.0f / 8;
    }
}

}  // namespace hearth::testing
