#include "model/layers.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>

#include "core/error.h"
#include "kernels/ops.h"

namespace hearth::model::layers {

namespace {

float gelu_tanh(float x) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

float gelu_erf(float x) {
    return 0.5f * x * (1.0f + std::erf(x / std::numbers::sqrt2_v<float>));
}

float silu(float x) {
    return x / (1.0f + std::exp(-x));
}

// out[j] = act(gate[j]) * up[j], or act(gate[j]) without `up`; the switch sits outside the loop.
template <float (*act)(float)>
void activation_loop(const float* gate, const float* up, float* out, int64_t n) {
    if (up) {
        for (int64_t j = 0; j < n; ++j) out[j] = act(gate[j]) * up[j];
    } else {
        for (int64_t j = 0; j < n; ++j) out[j] = act(gate[j]);
    }
}

void activate(Activation act, const float* gate, const float* up, float* out, int64_t n) {
    switch (act) {
        case Activation::Silu:
            return activation_loop<silu>(gate, up, out, n);
        case Activation::GeluTanh:
            return activation_loop<gelu_tanh>(gate, up, out, n);
        case Activation::GeluErf:
            return activation_loop<gelu_erf>(gate, up, out, n);
    }
}

}  // namespace

void grow(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
}

void reserve_scratch(ForwardScratch& sc, const HParams& hp, int64_t n) {
    const int64_t E = hp.n_embd;
    grow(sc.x, n * E);
    grow(sc.xn, n * E);
    grow(sc.q, n * hp.q_dim());
    grow(sc.k, n * hp.kv_dim());
    grow(sc.v, n * hp.kv_dim());
    grow(sc.qkv, n * (hp.q_dim() + 2 * hp.kv_dim()));
    grow(sc.attn, n * hp.q_dim());
    grow(sc.proj, n * E);
    grow(sc.gate, n * 2 * hp.n_ff);
    grow(sc.up, n * hp.n_ff);
    grow(sc.ffn, n * E);
}

void check_batch(const Batch& batch, const KvCache& cache, const HParams& hp) {
    for (size_t i = 0; i < batch.size(); ++i) {
        if (batch.tokens[i] < 0 || batch.tokens[i] >= hp.n_vocab) {
            throw Error("token id " + std::to_string(batch.tokens[i]) +
                        " is outside the vocabulary (0.." + std::to_string(hp.n_vocab - 1) + ")");
        }
        if (batch.seq_ids[i] < 0 || batch.seq_ids[i] >= cache.max_seqs()) {
            throw Error("sequence id " + std::to_string(batch.seq_ids[i]) +
                        " has no KV cache slot");
        }
        if (batch.positions[i] < 0 || batch.positions[i] >= cache.length(batch.seq_ids[i])) {
            throw Error("position " + std::to_string(batch.positions[i]) +
                        " was not reserved in the KV cache");
        }
    }
}

void rms_norm_rows(const float* x, const float* weight, float* out, int64_t n_rows, int64_t dim,
                   float eps) {
    for (int64_t i = 0; i < n_rows; ++i)
        kernels::rms_norm(x + i * dim, weight, out + i * dim, dim, eps);
}

void layer_norm_rows(const float* x, const float* weight, const float* bias, float* out,
                     int64_t n_rows, int64_t dim, float eps) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * dim;
        float* o = out + r * dim;
        double sum = 0;
        for (int64_t i = 0; i < dim; ++i) sum += xr[i];
        const double mean = sum / dim;
        double var = 0;
        for (int64_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
        const float inv_std = static_cast<float>(1.0 / std::sqrt(var / dim + eps));
        for (int64_t i = 0; i < dim; ++i)
            o[i] = (xr[i] - static_cast<float>(mean)) * inv_std * weight[i] + bias[i];
    }
}

void add_bias_rows(float* y, const float* bias, int64_t n_rows, int64_t dim) {
    for (int64_t r = 0; r < n_rows; ++r) kernels::add_inplace(y + r * dim, bias, dim);
}

void scale(float* x, int64_t n, float factor) {
    for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

void soft_cap(float* x, int64_t n, float cap) {
    for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void project_qkv(const LayerWeights& lw, const HParams& hp, const float* x, int64_t n,
                 ForwardScratch& sc, kernels::ThreadPool& pool) {
    const int64_t qd = hp.q_dim();
    const int64_t kvd = hp.kv_dim();
    if (lw.wqkv.data) {
        // One matmul for all three; each output row is [q | k | v].
        const int64_t width = qd + 2 * kvd;
        kernels::matmul(lw.wqkv, x, n, sc.qkv.data(), pool, sc.matmul);
        for (int64_t i = 0; i < n; ++i) {
            const float* row = &sc.qkv[i * width];
            std::copy(row, row + qd, &sc.q[i * qd]);
            std::copy(row + qd, row + qd + kvd, &sc.k[i * kvd]);
            std::copy(row + qd + kvd, row + width, &sc.v[i * kvd]);
        }
    } else {
        // One job for the three: the activations are quantized once and the threads meet
        // once instead of three times.
        const kernels::MatmulOutput outputs[] = {
            {&lw.wq, sc.q.data()}, {&lw.wk, sc.k.data()}, {&lw.wv, sc.v.data()}};
        kernels::matmul_group(outputs, x, n, pool, sc.matmul);
    }
    if (lw.bq) add_bias_rows(sc.q.data(), lw.bq, n, qd);
    if (lw.bk) add_bias_rows(sc.k.data(), lw.bk, n, kvd);
    if (lw.bv) add_bias_rows(sc.v.data(), lw.bv, n, kvd);
}

void qk_norm(const LayerWeights& lw, const HParams& hp, int64_t n, ForwardScratch& sc) {
    if (!lw.q_norm) return;
    rms_norm_rows(sc.q.data(), lw.q_norm, sc.q.data(), n * hp.n_head, hp.head_dim, hp.rms_eps);
    rms_norm_rows(sc.k.data(), lw.k_norm, sc.k.data(), n * hp.n_head_kv, hp.head_dim, hp.rms_eps);
}

// Short attention jobs are cheaper on the calling thread than waking the others.
void run_jobs(kernels::ThreadPool& pool, int64_t work, const std::function<void(int, int)>& jobs) {
    if (work < (int64_t{1} << 16)) {
        jobs(0, 1);
    } else {
        pool.run(jobs);
    }
}

void cached_attention(const Batch& batch, int64_t layer, const HParams& hp, const KvCache& cache,
                      const AttentionParams& params, const float* q, float* out,
                      std::vector<float>& scores, kernels::ThreadPool& pool) {
    const int64_t n_rows = static_cast<int64_t>(batch.size());
    const int64_t hd = hp.head_dim;
    const int64_t group = hp.n_head / hp.n_head_kv;
    int64_t max_pos = 0;
    for (int32_t p : batch.positions) max_pos = std::max<int64_t>(max_pos, p);
    const int64_t stride = max_pos + 1;
    grow(scores, static_cast<size_t>(pool.size() * stride));

    run_jobs(pool, n_rows * hp.n_head * stride * hd * 2, [&](int ith, int nth) {
        float* s = scores.data() + ith * stride;
        for (int64_t job = ith; job < n_rows * hp.n_head; job += nth) {
            const int64_t row = job / hp.n_head;
            const int64_t h = job % hp.n_head;
            const int32_t seq = batch.seq_ids[row];
            const int64_t pos = batch.positions[row];
            const int64_t first =
                params.window > 0 ? std::max<int64_t>(0, pos - params.window + 1) : 0;
            const int64_t n_keys = pos + 1 - first;
            const int64_t kv_off = (h / group) * hd;
            const float* qh = q + row * hp.q_dim() + h * hd;
            for (int64_t p = first; p <= pos; ++p) {
                s[p - first] =
                    kernels::dot_f32(qh, cache.key(layer, seq, p) + kv_off, hd) * params.scale;
            }
            if (params.softcap > 0) soft_cap(s, n_keys, params.softcap);
            kernels::softmax(s, n_keys);
            float* oh = out + row * hp.q_dim() + h * hd;
            std::fill(oh, oh + hd, 0.0f);
            for (int64_t p = first; p <= pos; ++p) {
                const float* vh = cache.value(layer, seq, p) + kv_off;
                const float w = s[p - first];
                for (int64_t d = 0; d < hd; ++d) oh[d] += w * vh[d];
            }
        }
    });
}

void full_attention(const HParams& hp, const float* q, const float* k, const float* v, int64_t n,
                    float* out, std::vector<float>& scores, kernels::ThreadPool& pool) {
    const int64_t hd = hp.head_dim;
    const int64_t group = hp.n_head / hp.n_head_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    grow(scores, static_cast<size_t>(pool.size() * n));
    run_jobs(pool, n * hp.n_head * n * hd * 2, [&](int ith, int nth) {
        float* s = scores.data() + ith * n;
        for (int64_t job = ith; job < n * hp.n_head; job += nth) {
            const int64_t row = job / hp.n_head;
            const int64_t h = job % hp.n_head;
            const int64_t kv_off = (h / group) * hd;
            const float* qh = q + row * hp.q_dim() + h * hd;
            for (int64_t t = 0; t < n; ++t)
                s[t] = kernels::dot_f32(qh, k + t * hp.kv_dim() + kv_off, hd) * scale;
            kernels::softmax(s, n);
            float* oh = out + row * hp.q_dim() + h * hd;
            std::fill(oh, oh + hd, 0.0f);
            for (int64_t t = 0; t < n; ++t) {
                const float* vh = v + t * hp.kv_dim() + kv_off;
                for (int64_t d = 0; d < hd; ++d) oh[d] += s[t] * vh[d];
            }
        }
    });
}

void decoder_attention(const LayerWeights& lw, int64_t layer, const RopeTable& rope,
                       const AttentionParams& params, const Batch& batch, const HParams& hp,
                       KvCache& cache, ForwardScratch& sc, kernels::ThreadPool& pool) {
    const int64_t n = static_cast<int64_t>(batch.size());
    const int64_t kvd = hp.kv_dim();
    project_qkv(lw, hp, sc.xn.data(), n, sc, pool);
    qk_norm(lw, hp, n, sc);
    for (int64_t i = 0; i < n; ++i) {
        float* ki = &sc.k[i * kvd];
        rope.apply(&sc.q[i * hp.q_dim()], hp.n_head, ki, hp.n_head_kv, hp.head_dim,
                   batch.positions[i]);
        std::copy(ki, ki + kvd, cache.key(layer, batch.seq_ids[i], batch.positions[i]));
        std::copy(&sc.v[i * kvd], &sc.v[(i + 1) * kvd],
                  cache.value(layer, batch.seq_ids[i], batch.positions[i]));
    }
    cached_attention(batch, layer, hp, cache, params, sc.q.data(), sc.attn.data(), sc.scores, pool);
    kernels::matmul(lw.wo, sc.attn.data(), n, sc.proj.data(), pool, sc.matmul);
    if (lw.bo) add_bias_rows(sc.proj.data(), lw.bo, n, hp.n_embd);
}

void feed_forward(const ArchSpec& spec, const LayerWeights& lw, const HParams& hp, const float* x,
                  int64_t n, ForwardScratch& sc, kernels::ThreadPool& pool) {
    const int64_t ff = hp.n_ff;
    float* hidden = sc.up.data();  // act(gate) * up, n x ff
    if (spec.fused_gate_up) {
        // Each row of the fused product is [gate | up].
        kernels::matmul(lw.w_up, x, n, sc.gate.data(), pool, sc.matmul);
        for (int64_t i = 0; i < n; ++i) {
            const float* gate = &sc.gate[i * 2 * ff];
            activate(spec.activation, gate, gate + ff, hidden + i * ff, ff);
        }
    } else if (spec.gated_ffn) {
        const kernels::MatmulOutput outputs[] = {{&lw.w_gate, sc.gate.data()},
                                                 {&lw.w_up, sc.up.data()}};
        kernels::matmul_group(outputs, x, n, pool, sc.matmul);
        activate(spec.activation, sc.gate.data(), hidden, hidden, n * ff);
    } else {
        kernels::matmul(lw.w_up, x, n, sc.up.data(), pool, sc.matmul);
        if (lw.b_up) add_bias_rows(sc.up.data(), lw.b_up, n, ff);
        activate(spec.activation, hidden, nullptr, hidden, n * ff);
    }
    kernels::matmul(lw.w_down, hidden, n, sc.ffn.data(), pool, sc.matmul);
    if (lw.b_down) add_bias_rows(sc.ffn.data(), lw.b_down, n, hp.n_embd);
}

void output_logits(const Weights& w, const HParams& hp, const Batch& batch, ForwardScratch& sc,
                   kernels::ThreadPool& pool, std::vector<float>& logits) {
    // Only the rows that want logits pay for the (large) output projection.
    const int64_t E = hp.n_embd;
    int64_t n_out = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
        if (!batch.want_logits[i]) continue;
        kernels::rms_norm(&sc.x[i * E], w.output_norm, &sc.xn[n_out * E], E, hp.rms_eps);
        ++n_out;
    }
    logits.resize(static_cast<size_t>(n_out * hp.n_vocab));
    if (n_out > 0) kernels::matmul(w.output, sc.xn.data(), n_out, logits.data(), pool, sc.matmul);
}

}  // namespace hearth::model::layers
