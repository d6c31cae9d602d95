#include "model/layers.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>

#include "core/error.h"
#include "kernels/attention.h"
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

// gpt-oss's SwiGLU variant: the gate clamped above and the up projection on both sides at 7,
// a sharper sigmoid (1.702, the GELU approximation's constant), and up + 1.
void swiglu_oai(const float* gate, const float* up, float* out, int64_t n) {
    constexpr float kAlpha = 1.702f, kLimit = 7.0f;
    for (int64_t j = 0; j < n; ++j) {
        const float g = std::min(gate[j], kLimit);
        const float u = std::clamp(up[j], -kLimit, kLimit);
        out[j] = g / (1.0f + std::exp(-kAlpha * g)) * (u + 1.0f);
    }
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
        case Activation::SwigluOai:
            return swiglu_oai(gate, up, out, n);
    }
}

}  // namespace

void gated_activation(Activation act, const float* gate, const float* up, float* out, int64_t n) {
    activate(act, gate, up, out, n);
}

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
        // Sliding layers read keys from pos - window + 1 on: they must still be held.
        const int64_t first_read = std::max<int64_t>(0, batch.positions[i] - cache.window() + 1);
        if (cache.window() > 0 && cache.window_start(batch.seq_ids[i]) > first_read) {
            throw Error("position " + std::to_string(batch.positions[i]) + " of sequence " +
                        std::to_string(batch.seq_ids[i]) +
                        " needs sliding-window keys the KV cache has released");
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
    if (lw.qk_norm_whole) {  // olmoe: one norm over all heads of each row
        rms_norm_rows(sc.q.data(), lw.q_norm, sc.q.data(), n, hp.q_dim(), hp.rms_eps);
        rms_norm_rows(sc.k.data(), lw.k_norm, sc.k.data(), n, hp.kv_dim(), hp.rms_eps);
        return;
    }
    rms_norm_rows(sc.q.data(), lw.q_norm, sc.q.data(), n * hp.n_head, hp.head_dim, hp.rms_eps);
    rms_norm_rows(sc.k.data(), lw.k_norm, sc.k.data(), n * hp.n_head_kv, hp.head_dim, hp.rms_eps);
}

// Attention jobs [0, n_jobs) in contiguous runs claimed by whichever threads are running
// (ThreadPool::run_chunks: a preempted thread does not hold the others up). body(thread,
// begin, end) gets the thread's index for its scratch. Short work stays on the calling thread:
// cheaper than waking the others.
void run_jobs(kernels::ThreadPool& pool, int64_t work, int64_t n_jobs,
              const std::function<void(int, int64_t, int64_t)>& body) {
    if (work < (int64_t{1} << 16) || pool.size() == 1) {
        body(0, 0, n_jobs);
        return;
    }
    const int64_t n_runs = std::min<int64_t>(n_jobs, 4 * pool.size());
    pool.run_chunks(n_runs, [&](int64_t run) {
        body(kernels::ThreadPool::thread_index(), n_jobs * run / n_runs,
             n_jobs * (run + 1) / n_runs);
    });
}

namespace {

// How a tile of attention queries is made: `rows` consecutive batch rows (of one sequence)
// times `heads` query heads of one GQA group. Groups narrower than the kernel's tile take
// several rows; wider ones are split into `chunks` of heads.
struct TileShape {
    int64_t rows, heads, chunks;
};

TileShape tile_shape(const HParams& hp) {
    const int64_t width = kernels::attention_tile_width();
    const int64_t group = hp.n_head / hp.n_head_kv;
    const int64_t heads = std::min(group, width);
    return {std::max<int64_t>(1, width / group), heads, (group + heads - 1) / heads};
}

// The queries of one tile: (row, head) pairs that share a sequence and a kv head.
struct TileQueries {
    const float* q[16];
    float* out[16];
    int64_t first[16], last[16];
    float sinks[16];
    int n = 0;
};

}  // namespace

void cached_attention(const Batch& batch, int64_t layer, const HParams& hp, const KvCache& cache,
                      const AttentionParams& params, const float* q, float* out,
                      AttentionScratch& scratch, kernels::ThreadPool& pool) {
    const int64_t n_rows = static_cast<int64_t>(batch.size());
    const int64_t hd = hp.head_dim;
    const int64_t group = hp.n_head / hp.n_head_kv;
    const TileShape shape = tile_shape(hp);
    auto first_key = [&](int64_t row) -> int64_t {
        const int64_t pos = batch.positions[row];
        return params.window > 0 ? std::max<int64_t>(0, pos - params.window + 1) : 0;
    };
    // Tiles of consecutive rows of one sequence (a prompt is one run of rows).
    scratch.tiles.clear();
    int64_t max_pos = 0;
    for (int64_t r = 0; r < n_rows;) {
        int64_t e = r + 1;
        while (e < n_rows && e - r < shape.rows && batch.seq_ids[e] == batch.seq_ids[r]) ++e;
        scratch.tiles.push_back(r);
        scratch.tiles.push_back(e - r);
        r = e;
    }
    for (int32_t p : batch.positions) max_pos = std::max<int64_t>(max_pos, p);
    const int64_t n_tiles = static_cast<int64_t>(scratch.tiles.size()) / 2;
    const int64_t floats = kernels::attention_scratch_floats(hd);
    const int64_t ptrs = 2 * (max_pos + 1);
    grow(scratch.floats, static_cast<size_t>(pool.size() * floats));
    if (scratch.rows.size() < static_cast<size_t>(pool.size() * ptrs))
        scratch.rows.resize(static_cast<size_t>(pool.size() * ptrs));
    const int64_t block = cache.block_size();
    const size_t row_bytes = cache.row_bytes();
    // A prompt's tiles read the same keys one after the other: a cache of another type than
    // F32 is widened to floats once for them (per thread, keys [built_lo, built_hi]) instead of
    // in every tile. A decode tile reads its keys once and widens them in the kernel.
    const gguf::TensorType kv_type = cache.type();
    const int64_t widened_floats =
        kv_type == gguf::TensorType::F32 ? 0 : (max_pos + 1) * 2 * hd + kernels::attention_kv_row_floats(hd);
    grow(scratch.widened, static_cast<size_t>(pool.size() * widened_floats));
    const int64_t per_kv = n_tiles * shape.chunks;

    run_jobs(pool, n_rows * hp.n_head * (max_pos + 1) * hd * 2, hp.n_head_kv * per_kv,
             [&](int ith, int64_t job_begin, int64_t job_end) {
                 float* fs = scratch.floats.data() + ith * floats;
                 const void** kr = scratch.rows.data() + ith * ptrs;
                 const void** vr = kr + ptrs / 2;
                 // The row pointers of keys [built_lo, built_hi] of (built_seq, built_kvh):
                 // consecutive tiles of a prompt reuse them and extend them.
                 int32_t built_seq = -1;
                 int64_t built_kvh = -1, built_lo = 0, built_hi = -1;
                 bool built_widened = false;
                 float* widened = scratch.widened.data() + ith * widened_floats;
                 float* widen_tmp = widened + (max_pos + 1) * 2 * hd;
                 for (int64_t job = job_begin; job < job_end; ++job) {
                     const int64_t kvh = job / per_kv;
                     const int64_t tile = (job % per_kv) / shape.chunks;
                     const int64_t chunk = job % shape.chunks;
                     const int64_t row0 = scratch.tiles[2 * tile];
                     const int64_t nr = scratch.tiles[2 * tile + 1];
                     const int32_t seq = batch.seq_ids[row0];
                     int64_t lo = first_key(row0), hi = 0;
                     for (int64_t r = row0; r < row0 + nr; ++r) {
                         lo = std::min(lo, first_key(r));
                         hi = std::max<int64_t>(hi, batch.positions[r]);
                     }
                     const bool widen =
                         kv_type != gguf::TensorType::F32 && (nr > 1 || shape.chunks > 1);
                     if (seq != built_seq || kvh != built_kvh || lo < built_lo ||
                         widen != built_widened) {
                         built_seq = seq;
                         built_kvh = kvh;
                         built_lo = lo;
                         built_hi = lo - 1;
                         built_widened = widen;
                     }
                     // Rows of one cache block are consecutive: one lookup per block. The
                     // kernel finds the head kvh * hd elements into each row.
                     const uint8_t* kp = nullptr;
                     const uint8_t* vp = nullptr;
                     for (int64_t p = built_hi + 1; p <= hi; ++p) {
                         if (!kp || p % block == 0) {
                             kp = cache.key(layer, seq, p);
                             vp = cache.value(layer, seq, p);
                         } else {
                             kp += row_bytes;
                             vp += row_bytes;
                         }
                         if (widen) {
                             float* kw = widened + (p - built_lo) * 2 * hd;
                             kernels::widen_kv_head(kv_type, kp, kvh * hd, hd, kw, widen_tmp);
                             kernels::widen_kv_head(kv_type, vp, kvh * hd, hd, kw + hd, widen_tmp);
                             kr[p - built_lo] = kw;
                             vr[p - built_lo] = kw + hd;
                         } else {
                             kr[p - built_lo] = kp;
                             vr[p - built_lo] = vp;
                         }
                     }
                     built_hi = std::max(built_hi, hi);

                     TileQueries tq;
                     for (int64_t r = row0; r < row0 + nr; ++r) {
                         for (int64_t i = 0; i < shape.heads; ++i) {
                             const int64_t h = kvh * group + chunk * shape.heads + i;
                             if (h >= (kvh + 1) * group) break;
                             tq.q[tq.n] = q + r * hp.q_dim() + h * hd;
                             tq.out[tq.n] = out + r * hp.q_dim() + h * hd;
                             tq.first[tq.n] = first_key(r) - built_lo;
                             tq.last[tq.n] = batch.positions[r] - built_lo;
                             if (params.sinks) tq.sinks[tq.n] = params.sinks[h];
                             ++tq.n;
                         }
                     }
                     const kernels::AttentionTile t{hd,
                                                    tq.n,
                                                    tq.q,
                                                    tq.out,
                                                    tq.first,
                                                    tq.last,
                                                    kr,
                                                    vr,
                                                    params.scale,
                                                    params.softcap,
                                                    params.sinks ? tq.sinks : nullptr,
                                                    widen ? gguf::TensorType::F32 : kv_type,
                                                    widen ? 0 : kvh * hd};
                     kernels::attention_tile(t, fs);
                 }
             });
}

void full_attention(const HParams& hp, const float* q, const float* k, const float* v, int64_t n,
                    float* out, AttentionScratch& scratch, kernels::ThreadPool& pool) {
    const int64_t hd = hp.head_dim;
    const int64_t group = hp.n_head / hp.n_head_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const TileShape shape = tile_shape(hp);
    const int64_t n_tiles = (n + shape.rows - 1) / shape.rows;
    const int64_t floats = kernels::attention_scratch_floats(hd);
    grow(scratch.floats, static_cast<size_t>(pool.size() * floats));
    if (scratch.rows.size() < static_cast<size_t>(pool.size() * 2 * n))
        scratch.rows.resize(static_cast<size_t>(pool.size() * 2 * n));
    const int64_t per_kv = n_tiles * shape.chunks;
    run_jobs(pool, n * hp.n_head * n * hd * 2, hp.n_head_kv * per_kv,
             [&](int ith, int64_t job_begin, int64_t job_end) {
                 float* fs = scratch.floats.data() + ith * floats;
                 const void** kr = scratch.rows.data() + ith * 2 * n;
                 const void** vr = kr + n;
                 int64_t built_kvh = -1;
                 for (int64_t job = job_begin; job < job_end; ++job) {
                     const int64_t kvh = job / per_kv;
                     const int64_t tile = (job % per_kv) / shape.chunks;
                     const int64_t chunk = job % shape.chunks;
                     if (kvh != built_kvh) {
                         for (int64_t t = 0; t < n; ++t) {
                             kr[t] = k + t * hp.kv_dim() + kvh * hd;
                             vr[t] = v + t * hp.kv_dim() + kvh * hd;
                         }
                         built_kvh = kvh;
                     }
                     TileQueries tq;
                     for (int64_t r = tile * shape.rows; r < std::min(n, (tile + 1) * shape.rows);
                          ++r) {
                         for (int64_t i = 0; i < shape.heads; ++i) {
                             const int64_t h = kvh * group + chunk * shape.heads + i;
                             if (h >= (kvh + 1) * group) break;
                             tq.q[tq.n] = q + r * hp.q_dim() + h * hd;
                             tq.out[tq.n] = out + r * hp.q_dim() + h * hd;
                             tq.first[tq.n] = 0;
                             tq.last[tq.n] = n - 1;
                             ++tq.n;
                         }
                     }
                     const kernels::AttentionTile t{hd,      tq.n, tq.q, tq.out, tq.first,
                                                    tq.last, kr,   vr,   scale,  0.0f};
                     kernels::attention_tile(t, fs);
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
        cache.store(layer, batch.seq_ids[i], batch.positions[i], ki, &sc.v[i * kvd]);
    }
    cached_attention(batch, layer, hp, cache, params, sc.q.data(), sc.attn.data(), sc.attention,
                     pool);
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
