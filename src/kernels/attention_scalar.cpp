// The portable level of the attention tile (attention_simd.h over four plain floats), and the
// reference the SIMD levels follow.
#include <cmath>

#include "kernels/attention_simd.h"
#include "kernels/type_traits.h"

namespace hearth::kernels {

namespace scalar {
namespace {

// Four lanes of plain floats: the portable path, and the reference the SIMD ones follow.
struct V4 {
    struct reg {
        float x[4];
    };
    static constexpr int W = 4;
    static constexpr int kUnroll = 4;
    template <class F>
    static reg each(F f) {
        reg r;
        for (int i = 0; i < W; ++i) r.x[i] = f(i);
        return r;
    }
    static reg zero() { return set1(0.0f); }
    static reg set1(float v) {
        return each([&](int) { return v; });
    }
    static reg load(const float* p) {
        return each([&](int i) { return p[i]; });
    }
    static void store(float* p, reg a) {
        for (int i = 0; i < W; ++i) p[i] = a.x[i];
    }
    static reg add(reg a, reg b) {
        return each([&](int i) { return a.x[i] + b.x[i]; });
    }
    static reg sub(reg a, reg b) {
        return each([&](int i) { return a.x[i] - b.x[i]; });
    }
    static reg mul(reg a, reg b) {
        return each([&](int i) { return a.x[i] * b.x[i]; });
    }
    static reg fmadd(reg a, reg b, reg c) {
        return each([&](int i) { return a.x[i] * b.x[i] + c.x[i]; });
    }
    static reg max(reg a, reg b) {
        return each([&](int i) { return a.x[i] > b.x[i] ? a.x[i] : b.x[i]; });
    }
    static reg exp(reg a) {
        return each([&](int i) { return std::exp(a.x[i]); });
    }
    static reg mask_outside(reg s, reg j, reg first, reg last) {
        return each(
            [&](int i) { return j.x[i] < first.x[i] || j.x[i] > last.x[i] ? -INFINITY : s.x[i]; });
    }
    static void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n) {
        scalar::kv_to_float(type, src, dst, n);
    }
};

}  // namespace

// The type-traits table's own conversion: the reference the SIMD levels' widenings match.
void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n) {
    traits(type, CpuLevel::Scalar).to_float(src, dst, n);
}

void attention_tile(const AttentionTile& tile, float* scratch) {
    attention_tile_impl<V4>(tile, scratch);
}

}  // namespace scalar

}  // namespace hearth::kernels
