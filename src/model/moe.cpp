// Mixture-of-experts feed-forward (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, gpt-oss): a router picks
// n_expert_used of n_expert gated FFNs per token and mixes their outputs by its softmax weights.
// Experts are 2-D views into the 3-D GGUF tensors, so only the chosen experts' rows are read.
// A batch is grouped by expert: the rows routed to expert e are gathered, multiplied by e's
// weights in one matmul (one pass over those weights for the whole batch) and scattered back.
#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "model/layers.h"

namespace hearth::model::layers {

void route(const float* logits, int64_t n_expert, int64_t k, bool renormalise, int32_t* chosen,
           float* weights) {
    float max = logits[0];
    for (int64_t e = 1; e < n_expert; ++e) max = std::max(max, logits[e]);
    double sum = 0;
    for (int64_t e = 0; e < n_expert; ++e) sum += std::exp(static_cast<double>(logits[e] - max));
    // Top k by logit (softmax is monotonic), ties to the lower id: k passes of a max search
    // over the few experts (k <= 8 in practice) beat sorting them.
    for (int64_t j = 0; j < k; ++j) {
        int32_t best = -1;
        for (int64_t e = 0; e < n_expert; ++e) {
            bool taken = false;
            for (int64_t i = 0; i < j; ++i) taken |= chosen[i] == e;
            if (!taken && (best < 0 || logits[e] > logits[best])) best = static_cast<int32_t>(e);
        }
        chosen[j] = best;
        weights[j] = static_cast<float>(std::exp(static_cast<double>(logits[best] - max)) / sum);
    }
    if (renormalise) {
        double total = 0;
        for (int64_t j = 0; j < k; ++j) total += weights[j];
        for (int64_t j = 0; j < k; ++j) weights[j] = static_cast<float>(weights[j] / total);
    }
}

namespace {

// y[r] += w * x[r] over n values.
void add_scaled(float* y, const float* x, float w, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += w * x[i];
}

// Adds expert e's bias (row e of `biases`, `dim` values) to n_rows rows of y; no-op without one.
void add_expert_bias(float* y, const float* biases, int64_t e, int64_t n_rows, int64_t dim) {
    if (biases) add_bias_rows(y, biases + e * dim, n_rows, dim);
}

// The shared expert (qwen2moe): a gated FFN over every row, scaled per row by
// sigmoid(dot(x, gate_inp_shexp)) when the layer has that gate, added to sc.ffn.
void shared_expert(const ArchSpec& spec, const LayerWeights& lw, const HParams& hp,
                   const float* x, int64_t n, ForwardScratch& sc, kernels::ThreadPool& pool) {
    const int64_t E = hp.n_embd, ff = hp.n_ff_shexp;
    MoeScratch& m = sc.moe;
    grow(m.gate, n * ff);
    grow(m.up, n * ff);
    grow(m.out, n * E);
    const kernels::MatmulOutput outputs[] = {{&lw.w_gate_shexp, m.gate.data()},
                                             {&lw.w_up_shexp, m.up.data()}};
    kernels::matmul_group(outputs, x, n, pool, sc.matmul);
    gated_activation(spec.activation, m.gate.data(), m.up.data(), m.up.data(), n * ff);
    kernels::matmul(lw.w_down_shexp, m.up.data(), n, m.out.data(), pool, sc.matmul);
    for (int64_t i = 0; i < n; ++i) {
        float w = 1.0f;
        if (lw.gate_inp_shexp) {
            double dot = 0;
            for (int64_t j = 0; j < E; ++j) dot += double{x[i * E + j]} * lw.gate_inp_shexp[j];
            w = static_cast<float>(1.0 / (1.0 + std::exp(-dot)));
        }
        add_scaled(&sc.ffn[i * E], &m.out[i * E], w, E);
    }
}

}  // namespace

void moe_feed_forward(const ArchSpec& spec, const LayerWeights& lw, const HParams& hp,
                      const float* x, int64_t n, ForwardScratch& sc, kernels::ThreadPool& pool) {
    const int64_t E = hp.n_embd, ff = hp.n_ff_exp, n_exp = hp.n_expert, k = hp.n_expert_used;
    MoeScratch& m = sc.moe;
    grow(m.router, n * n_exp);
    m.chosen.resize(static_cast<size_t>(n * k));
    m.weights.resize(static_cast<size_t>(n * k));
    kernels::matmul(lw.router, x, n, m.router.data(), pool, sc.matmul);
    if (lw.router_bias) add_bias_rows(m.router.data(), lw.router_bias, n, n_exp);
    for (int64_t i = 0; i < n; ++i)
        route(&m.router[i * n_exp], n_exp, k, hp.expert_weights_norm, &m.chosen[i * k],
              &m.weights[i * k]);
    std::fill(sc.ffn.begin(), sc.ffn.begin() + n * E, 0.0f);

    if (n == 1) {
        // Decode: the k experts' gate and up rows in one parallel pass over the same input,
        // then each expert's down projection.
        grow(m.gate, k * ff);
        grow(m.up, k * ff);
        grow(m.out, E);
        std::vector<kernels::MatmulOutput>& outputs = m.outputs;
        outputs.clear();
        for (int64_t j = 0; j < k; ++j) {
            outputs.push_back({&lw.gate_exps[m.chosen[j]], &m.gate[j * ff]});
            outputs.push_back({&lw.up_exps[m.chosen[j]], &m.up[j * ff]});
        }
        kernels::matmul_group(outputs, x, 1, pool, sc.matmul);
        for (int64_t j = 0; j < k; ++j) {
            add_expert_bias(&m.gate[j * ff], lw.gate_exps_bias, m.chosen[j], 1, ff);
            add_expert_bias(&m.up[j * ff], lw.up_exps_bias, m.chosen[j], 1, ff);
        }
        gated_activation(spec.activation, m.gate.data(), m.up.data(), m.up.data(), k * ff);
        for (int64_t j = 0; j < k; ++j) {
            kernels::matmul(lw.down_exps[m.chosen[j]], &m.up[j * ff], 1, m.out.data(), pool,
                            sc.matmul);
            add_expert_bias(m.out.data(), lw.down_exps_bias, m.chosen[j], 1, E);
            add_scaled(sc.ffn.data(), m.out.data(), m.weights[j], E);
        }
    } else {
        // Prompt (or several sequences): group the (row, slot) assignments by expert.
        m.offsets.assign(static_cast<size_t>(n_exp + 1), 0);
        for (int64_t a = 0; a < n * k; ++a) ++m.offsets[m.chosen[a] + 1];
        for (int64_t e = 0; e < n_exp; ++e) m.offsets[e + 1] += m.offsets[e];
        m.rows.resize(static_cast<size_t>(n * k));
        std::vector<int32_t> fill(m.offsets.begin(), m.offsets.end() - 1);
        for (int64_t a = 0; a < n * k; ++a) m.rows[fill[m.chosen[a]]++] = static_cast<int32_t>(a);

        int64_t largest = 0;
        for (int64_t e = 0; e < n_exp; ++e)
            largest = std::max<int64_t>(largest, m.offsets[e + 1] - m.offsets[e]);
        grow(m.xg, largest * E);
        grow(m.gate, largest * ff);
        grow(m.up, largest * ff);
        grow(m.out, largest * E);
        for (int64_t e = 0; e < n_exp; ++e) {
            const int64_t begin = m.offsets[e], count = m.offsets[e + 1] - begin;
            if (count == 0) continue;
            for (int64_t r = 0; r < count; ++r) {
                const int64_t row = m.rows[begin + r] / k;
                std::copy(x + row * E, x + (row + 1) * E, &m.xg[r * E]);
            }
            const kernels::MatmulOutput outputs[] = {{&lw.gate_exps[e], m.gate.data()},
                                                     {&lw.up_exps[e], m.up.data()}};
            kernels::matmul_group(outputs, m.xg.data(), count, pool, sc.matmul);
            add_expert_bias(m.gate.data(), lw.gate_exps_bias, e, count, ff);
            add_expert_bias(m.up.data(), lw.up_exps_bias, e, count, ff);
            gated_activation(spec.activation, m.gate.data(), m.up.data(), m.up.data(),
                             count * ff);
            kernels::matmul(lw.down_exps[e], m.up.data(), count, m.out.data(), pool, sc.matmul);
            add_expert_bias(m.out.data(), lw.down_exps_bias, e, count, E);
            for (int64_t r = 0; r < count; ++r) {
                const int64_t a = m.rows[begin + r];
                add_scaled(&sc.ffn[(a / k) * E], &m.out[r * E], m.weights[a], E);
            }
        }
    }
    if (lw.w_up_shexp.data) shared_expert(spec, lw, hp, x, n, sc, pool);
}

}  // namespace hearth::model::layers
