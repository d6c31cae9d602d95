// kernels::attention_tile on every CPU level against a double-precision reference written here,
// with keys and values stored in every KV-cache type (the reference reads the values the
// type-traits table's scalar dequantization gives), and each level's widening of stored KV rows
// against the scalar one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu.h"
#include "kernels/type_traits.h"

using namespace hearth::kernels;
namespace gguf = hearth::gguf;

namespace {

struct Case {
    int64_t head_dim;
    int n_queries;
    int64_t n_keys;
    int64_t window;  // 0: every query sees keys 0..last
    float softcap;
    bool sinks = false;  // a sink logit per query (gpt-oss) in the softmax denominator
    TensorType kv_type = TensorType::F32;
    int64_t kv_offset = 0;  // elements of other heads before this one in each stored row
};

// Rows of `n` floats stored as `type` (quantized by the scalar table), and the floats they hold.
struct StoredRows {
    std::vector<uint8_t> bytes;
    std::vector<float> values;  // what the stored rows dequantize to
    size_t row_bytes;
    std::vector<const void*> rows;

    StoredRows(const std::vector<float>& x, int64_t n_rows, int64_t n, TensorType type)
        : bytes(gguf::bytes_for(type, n) * n_rows), values(x.size()) {
        row_bytes = gguf::bytes_for(type, n);
        const TypeTraits& t = traits(type, CpuLevel::Scalar);
        for (int64_t r = 0; r < n_rows; ++r) {
            t.from_float(&x[r * n], &bytes[r * row_bytes], n);
            t.to_float(&bytes[r * row_bytes], &values[r * n], n);
            rows.push_back(&bytes[r * row_bytes]);
        }
    }
};

// Query i sees keys first_i..last_i; the last ones are staggered like consecutive prompt rows.
void check(const Case& c, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const int64_t hd = c.head_dim;
    // Each stored row holds this head after kv_offset elements of others, and whole blocks.
    const int64_t bs = gguf::type_info(c.kv_type).block_size;
    const int64_t row = (c.kv_offset + hd + bs - 1) / bs * bs;
    std::vector<float> keys(c.n_keys * row), values(c.n_keys * row);
    for (float& x : keys) x = u(rng);
    for (float& x : values) x = u(rng);
    const StoredRows stored_k(keys, c.n_keys, row, c.kv_type);
    const StoredRows stored_v(values, c.n_keys, row, c.kv_type);
    std::vector<const float*> k(c.n_keys), v(c.n_keys);  // what the reference reads
    for (int64_t j = 0; j < c.n_keys; ++j) {
        k[j] = &stored_k.values[j * row + c.kv_offset];
        v[j] = &stored_v.values[j * row + c.kv_offset];
    }
    const float scale = 1.0f;  // large scores: the exponentials span a wide range
    std::vector<float> q(c.n_queries * hd);
    for (float& x : q) x = u(rng);
    std::vector<float> sinks(c.n_queries);
    for (float& x : sinks) x = 3.0f * u(rng);  // around the scores' size: a visible share
    std::vector<int64_t> first(c.n_queries), last(c.n_queries);
    std::vector<const float*> qp(c.n_queries);
    for (int i = 0; i < c.n_queries; ++i) {
        last[i] = std::max<int64_t>(0, c.n_keys - 1 - (i / 4) * 3);
        first[i] = c.window > 0 ? std::max<int64_t>(0, last[i] - c.window + 1) : 0;
        qp[i] = &q[i * hd];
    }

    for (CpuLevel level : supported_cpu_levels()) {
        set_cpu_level(level);
        std::vector<float> out(c.n_queries * hd, NAN);
        std::vector<float*> op(c.n_queries);
        for (int i = 0; i < c.n_queries; ++i) op[i] = &out[i * hd];
        std::vector<float> scratch(attention_scratch_floats(hd));
        const int width = attention_tile_width();
        for (int i0 = 0; i0 < c.n_queries; i0 += width) {
            const AttentionTile t{hd,
                                  std::min(width, c.n_queries - i0),
                                  &qp[i0],
                                  &op[i0],
                                  &first[i0],
                                  &last[i0],
                                  stored_k.rows.data(),
                                  stored_v.rows.data(),
                                  scale,
                                  c.softcap,
                                  c.sinks ? &sinks[i0] : nullptr,
                                  c.kv_type,
                                  c.kv_offset};
            attention_tile(t, scratch.data());
        }
        for (int i = 0; i < c.n_queries; ++i) {
            std::vector<double> s;
            double max = -INFINITY;
            for (int64_t j = first[i]; j <= last[i]; ++j) {
                double dot = 0;
                for (int64_t d = 0; d < hd; ++d) dot += double(q[i * hd + d]) * k[j][d];
                dot *= scale;
                if (c.softcap > 0) dot = c.softcap * std::tanh(dot / c.softcap);
                s.push_back(dot);
                max = std::max(max, dot);
            }
            double sum = 0;
            for (double& x : s) sum += (x = std::exp(x - max));
            if (c.sinks) sum += std::exp(double{sinks[i]} - max);
            for (int64_t d = 0; d < hd; ++d) {
                double ref = 0, magnitude = 0;
                for (int64_t j = first[i]; j <= last[i]; ++j) {
                    const double p = s[j - first[i]] / sum;
                    ref += p * v[j][d];
                    magnitude += p * std::fabs(v[j][d]);
                }
                ASSERT_NEAR(out[i * hd + d], ref, 1e-5 * magnitude)
                    << cpu_level_name(level) << " query " << i << " dim " << d << " head_dim " << hd
                    << " keys " << c.n_keys << " window " << c.window << " softcap " << c.softcap
                    << " sinks " << c.sinks << " kv " << gguf::type_name(c.kv_type)
                    << " offset " << c.kv_offset;
            }
        }
    }
    set_cpu_level(detected_cpu_level());
}

}  // namespace

TEST(Attention, TileMatchesDoubleReference) {
    uint32_t seed = 1;
    for (int64_t hd : {64, 128, 80, 4}) {
        for (int n_queries : {1, 4, 16, 5}) {
            for (int64_t n_keys : {1, 15, 17, 333}) {
                for (int64_t window : {0, 1, 10}) {
                    for (float softcap : {0.0f, 5.0f}) {
                        check({hd, n_queries, n_keys, window, softcap}, seed++);
                    }
                    check({hd, n_queries, n_keys, window, 0.0f, true}, seed++);
                }
            }
        }
    }
}

TEST(Attention, TileReadsEveryKvTypeAtAnyHeadOffset) {
    // Heads that start and end inside a block (stories260K has 8-element heads in one
    // 32-element row) and heads of whole blocks at a block boundary or not.
    uint32_t seed = 1000;
    for (TensorType type : {TensorType::F16, TensorType::Q8_0, TensorType::Q4_0}) {
        for (auto [hd, offset] : {std::pair<int64_t, int64_t>{8, 0}, {8, 24}, {8, 40}, {64, 0},
                                  {64, 64}, {64, 16}, {128, 256}, {80, 0}}) {
            for (int n_queries : {1, 5, 16}) {
                for (int64_t n_keys : {1, 17, 100}) {
                    check({hd, n_queries, n_keys, 0, 0.0f, false, type, offset}, seed++);
                    check({hd, n_queries, n_keys, 7, 5.0f, true, type, offset}, seed++);
                }
            }
        }
    }
}

TEST(Attention, KvWideningMatchesScalarAtEveryLevel) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0}) {
        for (int64_t n : {32, 64, 96, 256, 4096}) {
            std::vector<float> x(n);
            for (float& f : x) f = u(rng);
            x[3] = 0.0f;
            x[5] = 6.0e-6f;  // an F16 subnormal
            const StoredRows stored(x, 1, n, type);
            std::vector<float> got(n, NAN);
            for (CpuLevel level : supported_cpu_levels()) {
                const auto widen = level == CpuLevel::Avx512 ? &avx512::kv_to_float
                                   : level == CpuLevel::Avx2 ? &avx2::kv_to_float
                                                             : &scalar::kv_to_float;
                widen(type, stored.rows[0], got.data(), n);
                for (int64_t i = 0; i < n; ++i) {
                    ASSERT_EQ(got[i], stored.values[i])
                        << cpu_level_name(level) << " " << gguf::type_name(type) << " n " << n << " element " << i;
                }
            }
        }
    }
}

TEST(Attention, WidenedHeadIsTheStoredRowsSlice) {
    // widen_kv_head (a prompt's keys, widened once) gives the scalar table's values of one head.
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0}) {
        const int64_t n = 256;
        std::vector<float> x(n);
        for (float& f : x) f = u(rng);
        const StoredRows stored(x, 1, n, type);
        for (auto [hd, offset] : {std::pair<int64_t, int64_t>{8, 0}, {8, 24}, {8, 40}, {64, 64},
                                  {64, 16}, {128, 128}}) {
            for (CpuLevel level : supported_cpu_levels()) {
                set_cpu_level(level);
                std::vector<float> got(hd, NAN), tmp(attention_kv_row_floats(hd));
                widen_kv_head(type, stored.rows[0], offset, hd, got.data(), tmp.data());
                for (int64_t i = 0; i < hd; ++i)
                    ASSERT_EQ(got[i], stored.values[offset + i])
                        << cpu_level_name(level) << " " << gguf::type_name(type) << " hd " << hd
                        << " offset " << offset << " element " << i;
            }
        }
    }
    set_cpu_level(detected_cpu_level());
}

TEST(Attention, ExtremeScoresStayFinite) {
    // Scores far apart: the online softmax must rescale without overflow or 0/0.
    for (CpuLevel level : supported_cpu_levels()) {
        set_cpu_level(level);
        const int64_t hd = 4, n_keys = 20;
        std::vector<float> keys(n_keys * hd), values(n_keys * hd);
        std::vector<const void*> k(n_keys), v(n_keys);
        for (int64_t j = 0; j < n_keys; ++j) {
            for (int64_t d = 0; d < hd; ++d) {
                keys[j * hd + d] = static_cast<float>(j * 100);
                values[j * hd + d] = static_cast<float>(j);
            }
            k[j] = &keys[j * hd];
            v[j] = &values[j * hd];
        }
        const float qv[4] = {1, 1, 1, 1};
        const float* q[1] = {qv};
        float o[4];
        float* out[1] = {o};
        const int64_t first[1] = {0}, last[1] = {n_keys - 1};
        std::vector<float> scratch(attention_scratch_floats(hd));
        attention_tile({hd, 1, q, out, first, last, k.data(), v.data(), 1.0f, 0.0f},
                       scratch.data());
        for (float x : o) EXPECT_FLOAT_EQ(x, n_keys - 1) << cpu_level_name(level);
    }
    set_cpu_level(detected_cpu_level());
}

TEST(Attention, SinkFarAboveTheScoresTakesTheWholeShare) {
    // exp(sink - max) overflows float: the output goes to 0 (the query attends to nothing), not
    // to NaN; a sink far below changes nothing.
    for (CpuLevel level : supported_cpu_levels()) {
        set_cpu_level(level);
        const int64_t hd = 4;
        const float key[4] = {1, 0, 0, 0}, value[4] = {1, 2, 3, 4};
        const void* k[1] = {key};
        const void* v[1] = {value};
        const float qv[4] = {1, 1, 1, 1};
        const float* q[1] = {qv};
        float o[4];
        float* out[1] = {o};
        const int64_t first[1] = {0}, last[1] = {0};
        std::vector<float> scratch(attention_scratch_floats(hd));
        const float high[1] = {200.0f}, low[1] = {-200.0f};
        attention_tile({hd, 1, q, out, first, last, k, v, 1.0f, 0.0f, high}, scratch.data());
        for (float x : o) EXPECT_EQ(x, 0.0f) << cpu_level_name(level);
        attention_tile({hd, 1, q, out, first, last, k, v, 1.0f, 0.0f, low}, scratch.data());
        for (int d = 0; d < 4; ++d) EXPECT_FLOAT_EQ(o[d], value[d]) << cpu_level_name(level);
    }
    set_cpu_level(detected_cpu_level());
}
