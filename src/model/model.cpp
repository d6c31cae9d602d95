#include "model/model.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/checksum.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "kernels/cpu.h"
#include "kernels/type_traits.h"
#include "model/arch.h"
#include "model/repack_cache.h"

namespace hearth::model {

namespace {

// A vector of n floats (norm weights, biases, RoPE factors): always F32 in GGUF files.
const float* vector_f32(const gguf::File& f, const std::string& name, int64_t n) {
    const gguf::TensorInfo& t = f.tensor(name);
    if (t.type != gguf::TensorType::F32 || t.n_elements() != n) {
        throw Error("tensor '" + name + "' must be F32 with " + std::to_string(n) +
                    " elements, found " + std::string(gguf::type_name(t.type)) + " " +
                    t.shape_string());
    }
    return reinterpret_cast<const float*>(t.data);
}

const float* optional_vector_f32(const gguf::File& f, const std::string& name, int64_t n) {
    return f.find_tensor(name) ? vector_f32(f, name, n) : nullptr;
}

kernels::WeightMatrix matrix(const gguf::File& f, const std::string& name, int64_t cols,
                             int64_t rows) {
    const gguf::TensorInfo& t = f.tensor(name);
    if (t.ne[0] != cols || t.n_rows() != rows) {
        throw Error("tensor '" + name + "' has shape " + t.shape_string() + ", expected [" +
                    std::to_string(cols) + ", " + std::to_string(rows) + "]");
    }
    kernels::traits(t.type);  // refuses types we cannot compute with, naming them
    return kernels::WeightMatrix::from_tensor(t);
}

void load_attention(const gguf::File& f, const std::string& p, const ArchSpec& spec,
                    const HParams& hp, LayerWeights& lw) {
    const int64_t E = hp.n_embd;
    if (spec.fused_qkv) {
        lw.wqkv = matrix(f, p + "attn_qkv.weight", E, hp.q_dim() + 2 * hp.kv_dim());
    } else {
        lw.wq = matrix(f, p + "attn_q.weight", E, hp.q_dim());
        lw.wk = matrix(f, p + "attn_k.weight", E, hp.kv_dim());
        lw.wv = matrix(f, p + "attn_v.weight", E, hp.kv_dim());
    }
    // Biases are required where the architecture defines them and accepted wherever present.
    auto bias = [&](const std::string& name, int64_t n) {
        return spec.qkv_bias ? vector_f32(f, p + name, n) : optional_vector_f32(f, p + name, n);
    };
    if (!spec.fused_qkv) {
        lw.bq = bias("attn_q.bias", hp.q_dim());
        lw.bk = bias("attn_k.bias", hp.kv_dim());
        lw.bv = bias("attn_v.bias", hp.kv_dim());
    }
    lw.wo = matrix(f, p + "attn_output.weight", hp.q_dim(), E);
    const bool gpt_oss = spec.family == Family::GptOss;
    lw.bo = gpt_oss ? vector_f32(f, p + "attn_output.bias", E)
                    : optional_vector_f32(f, p + "attn_output.bias", E);
    if (gpt_oss) lw.attn_sinks = vector_f32(f, p + "attn_sinks.weight", hp.n_head);
    if (spec.qk_norm) {
        // Per head (head_dim weights), or over all heads at once (olmoe: q_dim and kv_dim).
        lw.qk_norm_whole = hp.q_dim() != hp.head_dim &&
                           f.tensor(p + "attn_q_norm.weight").n_elements() == hp.q_dim();
        lw.q_norm = vector_f32(f, p + "attn_q_norm.weight",
                               lw.qk_norm_whole ? hp.q_dim() : hp.head_dim);
        lw.k_norm = vector_f32(f, p + "attn_k_norm.weight",
                               lw.qk_norm_whole ? hp.kv_dim() : hp.head_dim);
    }
}

// A 3-D expert tensor [cols, rows, n_expert] as one 2-D view per expert: expert e's rows are
// the contiguous slice e of the tensor, so a matmul over the view reads only that expert.
std::vector<kernels::WeightMatrix> expert_matrices(const gguf::File& f, const std::string& name,
                                                   int64_t cols, int64_t rows, int64_t n_expert) {
    const gguf::TensorInfo& t = f.tensor(name);
    if (t.n_dims != 3 || t.ne[0] != cols || t.ne[1] != rows || t.ne[2] != n_expert) {
        throw Error("tensor '" + name + "' has shape " + t.shape_string() + ", expected [" +
                    std::to_string(cols) + ", " + std::to_string(rows) + ", " +
                    std::to_string(n_expert) + "]");
    }
    kernels::traits(t.type);
    kernels::WeightMatrix w;
    w.type = t.type;
    w.cols = cols;
    w.rows = rows;
    w.row_bytes = gguf::bytes_for(t.type, static_cast<uint64_t>(cols));
    std::vector<kernels::WeightMatrix> experts;
    for (int64_t e = 0; e < n_expert; ++e) {
        w.data = t.data + static_cast<size_t>(e * rows) * w.row_bytes;
        experts.push_back(w);
    }
    return experts;
}

void load_experts(const gguf::File& f, const std::string& p, const ArchSpec& spec,
                  const HParams& hp, LayerWeights& lw) {
    const int64_t E = hp.n_embd, n = hp.n_expert, ff = hp.n_ff_exp;
    lw.router = matrix(f, p + "ffn_gate_inp.weight", E, n);
    lw.gate_exps = expert_matrices(f, p + "ffn_gate_exps.weight", E, ff, n);
    lw.up_exps = expert_matrices(f, p + "ffn_up_exps.weight", E, ff, n);
    lw.down_exps = expert_matrices(f, p + "ffn_down_exps.weight", ff, E, n);
    if (spec.family == Family::GptOss) {  // biases [rows, n_expert]: one row per expert
        lw.router_bias = vector_f32(f, p + "ffn_gate_inp.bias", n);
        lw.gate_exps_bias = vector_f32(f, p + "ffn_gate_exps.bias", ff * n);
        lw.up_exps_bias = vector_f32(f, p + "ffn_up_exps.bias", ff * n);
        lw.down_exps_bias = vector_f32(f, p + "ffn_down_exps.bias", E * n);
    }
    if (f.find_tensor(p + "ffn_up_shexp.weight")) {
        const int64_t sff = hp.n_ff_shexp;
        lw.w_gate_shexp = matrix(f, p + "ffn_gate_shexp.weight", E, sff);
        lw.w_up_shexp = matrix(f, p + "ffn_up_shexp.weight", E, sff);
        lw.w_down_shexp = matrix(f, p + "ffn_down_shexp.weight", sff, E);
        lw.gate_inp_shexp = optional_vector_f32(f, p + "ffn_gate_inp_shexp.weight", E);
    }
}

void load_ffn(const gguf::File& f, const std::string& p, const ArchSpec& spec, const HParams& hp,
              LayerWeights& lw) {
    const int64_t E = hp.n_embd;
    if (hp.n_expert > 0) return load_experts(f, p, spec, hp, lw);
    if (spec.fused_gate_up) {
        lw.w_up = matrix(f, p + "ffn_up.weight", E, 2 * hp.n_ff);
    } else {
        if (spec.gated_ffn) lw.w_gate = matrix(f, p + "ffn_gate.weight", E, hp.n_ff);
        lw.w_up = matrix(f, p + "ffn_up.weight", E, hp.n_ff);
    }
    lw.w_down = matrix(f, p + "ffn_down.weight", hp.n_ff, E);
    lw.b_up = optional_vector_f32(f, p + "ffn_up.bias", hp.n_ff);
    lw.b_down = optional_vector_f32(f, p + "ffn_down.bias", E);
}

// Decoders normalize before each block (pre-norm); gemma2/3 also after (post-norms). gpt-oss
// files call the norm before the FFN `post_attention_norm` (HF's name for it).
void load_decoder_norms(const gguf::File& f, const std::string& p, const ArchSpec& spec,
                        const HParams& hp, LayerWeights& lw) {
    lw.attn_norm = vector_f32(f, p + "attn_norm.weight", hp.n_embd);
    lw.ffn_norm = vector_f32(
        f, p + (spec.family == Family::GptOss ? "post_attention_norm.weight" : "ffn_norm.weight"),
        hp.n_embd);
    if (spec.post_norms) {
        lw.post_attn_norm = vector_f32(f, p + "post_attention_norm.weight", hp.n_embd);
        lw.post_ffn_norm = vector_f32(f, p + "post_ffw_norm.weight", hp.n_embd);
    }
}

// BERT normalizes after each residual add (post-norm), with LayerNorm weight and bias.
void load_encoder_norms(const gguf::File& f, const std::string& p, const HParams& hp,
                        LayerWeights& lw) {
    lw.post_attn_norm = vector_f32(f, p + "attn_output_norm.weight", hp.n_embd);
    lw.post_attn_norm_bias = vector_f32(f, p + "attn_output_norm.bias", hp.n_embd);
    lw.post_ffn_norm = vector_f32(f, p + "layer_output_norm.weight", hp.n_embd);
    lw.post_ffn_norm_bias = vector_f32(f, p + "layer_output_norm.bias", hp.n_embd);
}

// phi3 LongRoPE: per-pair divisors for contexts within (short) or beyond (long) the original
// training context, and a cos/sin scale that compensates the longer context's flatter attention.
const float* longrope_factors(const gguf::File& f, HParams& hp, const LoadOptions& options,
                              float& mscale) {
    const int64_t n = hp.rope_dims / 2;
    const bool is_long = options.n_ctx > hp.rope_orig_ctx;
    const float* factors = optional_vector_f32(
        f, is_long ? "rope_factors_long.weight" : "rope_factors_short.weight", n);
    if (!factors) return nullptr;
    if (hp.rope_attn_factor > 0) {
        mscale = hp.rope_attn_factor;
    } else if (hp.n_ctx_train > hp.rope_orig_ctx) {
        const double scale =
            static_cast<double>(hp.n_ctx_train) / static_cast<double>(hp.rope_orig_ctx);
        mscale = static_cast<float>(
            std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(hp.rope_orig_ctx))));
    }
    return factors;
}

// A cross-encoder's head (llama.cpp's names): optional dense `cls` [E, E] before a tanh, then
// `cls.output` [E, labels]. `{arch}.classifier.output_labels`, when present, names the labels.
void load_classification_head(const gguf::File& f, const HParams& hp, Weights& w) {
    const int64_t E = hp.n_embd;
    const gguf::TensorInfo* out = f.find_tensor("cls.output.weight");
    if (!out) {
        if (hp.pooling == Pooling::Rank) {
            throw Error("'" + f.name() +
                        "' declares rank pooling (a reranker) but has no classification head "
                        "(cls.output.weight)");
        }
        return;
    }
    const int64_t labels = out->n_rows();
    if (labels < 1) throw Error("'" + f.name() + "': cls.output.weight has no rows");
    if (const gguf::Value* names = f.find(hp.architecture + ".classifier.output_labels")) {
        const size_t n = names->as_array().items.size();
        if (n != static_cast<size_t>(labels)) {
            throw Error("'" + f.name() + "': " + std::to_string(n) +
                        " classifier.output_labels but cls.output.weight has " +
                        std::to_string(labels) + " rows");
        }
    }
    if (f.find_tensor("cls.weight")) {
        w.cls = matrix(f, "cls.weight", E, E);
        w.cls_bias = optional_vector_f32(f, "cls.bias", E);
    }
    w.cls_out = matrix(f, "cls.output.weight", E, labels);
    w.cls_out_bias = optional_vector_f32(f, "cls.output.bias", labels);
}

}  // namespace

Model::Model(gguf::File file) : file_(std::move(file)) {}

std::shared_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
    std::shared_ptr<Model> m(new Model(gguf::File::open(path)));
    m->hparams_ = HParams::from_gguf(m->file_);
    m->spec_ = &arch_spec(m->hparams_.architecture);
    m->load_weights(options);
    const char* repack_env = std::getenv("HEARTH_REPACK");
    if (options.repack && !(repack_env && std::string_view(repack_env) == "0") &&
        kernels::cpu_level() != kernels::CpuLevel::Scalar) {
        m->repack_weights(options);
    }
    if (options.mlock) m->lock_weights();
    return m;
}

void Model::load_weights(const LoadOptions& options) {
    const gguf::File& f = file_;
    const ArchSpec& spec = *spec_;
    HParams& hp = hparams_;
    const int64_t E = hp.n_embd;
    hp.n_vocab = f.tensor("token_embd.weight").n_rows();

    Weights& w = weights_;
    w.token_embd = matrix(f, "token_embd.weight", E, hp.n_vocab);
    if (spec.family == Family::Bert) {
        if (const gguf::TensorInfo* types = f.find_tensor("token_types.weight")) {
            w.token_types = matrix(f, "token_types.weight", E, types->n_rows());
        }
        if (spec.learned_positions)
            w.position_embd = matrix(f, "position_embd.weight", E, hp.n_ctx_train);
        w.embd_norm = vector_f32(f, "token_embd_norm.weight", E);
        w.embd_norm_bias = vector_f32(f, "token_embd_norm.bias", E);
        load_classification_head(f, hp, w);
    } else {
        w.output_norm = vector_f32(f, "output_norm.weight", E);
        w.output = f.find_tensor("output.weight") ? matrix(f, "output.weight", E, hp.n_vocab)
                                                  : w.token_embd;
    }

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights lw;
        load_attention(f, p, spec, hp, lw);
        load_ffn(f, p, spec, hp, lw);
        if (spec.family == Family::Bert) {
            load_encoder_norms(f, p, hp, lw);
        } else {
            load_decoder_norms(f, p, spec, hp, lw);
        }
        const int n = spec.sliding_pattern;
        lw.sliding = n > 0 && hp.sliding_window > 0 && l % n < n - 1;
        w.layers.push_back(lw);
    }

    // Llama 3 stores its frequency divisors as `rope_freqs`; phi3 as `rope_factors_{long,short}`.
    float longrope_mscale = 1.0f;
    const float* factors = optional_vector_f32(f, "rope_freqs.weight", hp.rope_dims / 2);
    if (const float* lr = longrope_factors(f, hp, options, longrope_mscale)) factors = lr;
    w.rope_global =
        RopeTable::build(hp, hp.rope_freq_base, hp.rope_scaling, hp.rope_freq_scale, factors);
    w.rope_global.mscale *= longrope_mscale;
    // gemma3's local layers keep the original short-context RoPE; gemma2 has one RoPE for all.
    w.rope_local = spec.local_rope ? RopeTable::build(hp, hp.rope_freq_base_swa, RopeScaling::None,
                                                      1.0f, nullptr)
                                   : w.rope_global;
}

namespace {

// Calls f(matrix) for every weight matrix a decode step multiplies by (`data` is null for the
// ones this model does not have). WeightsT is Weights or const Weights.
template <typename WeightsT, typename F>
void for_each_matrix(WeightsT& weights, F f) {
    for (auto& lw : weights.layers) {
        for (auto* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.wqkv, &lw.w_gate, &lw.w_up, &lw.w_down,
                        &lw.router, &lw.w_gate_shexp, &lw.w_up_shexp, &lw.w_down_shexp})
            f(*w);
    }
    f(weights.output);
}

// The same for every expert's view (a decode step reads n_expert_used of each layer's).
template <typename WeightsT, typename F>
void for_each_expert_matrix(WeightsT& weights, F f) {
    for (auto& lw : weights.layers) {
        for (auto* experts : {&lw.gate_exps, &lw.up_exps, &lw.down_exps})
            for (auto& w : *experts) f(w);
    }
}

}  // namespace

void Model::repack_weights(const LoadOptions& options) {
    // Repacked when the type's row has a packed layout the matrix fits and a kernel for it at
    // this level (kernels/type_traits.h).
    std::vector<kernels::WeightMatrix*> matrices;
    auto plan = [&](kernels::WeightMatrix& w) {
        if (w.data && kernels::can_repack(w) && kernels::traits(w.type).packed_matmul)
            matrices.push_back(&w);
    };
    for_each_matrix(weights_, plan);
    for_each_expert_matrix(weights_, plan);
    if (matrices.empty()) return;

    const int threads = options.threads;
    kernels::ThreadPool pool(threads > 0 ? threads : kernels::ThreadPool::default_thread_count());
    const std::vector<const kernels::WeightMatrix*> sources(matrices.begin(), matrices.end());
    repack_cache_ = open_repack_cache(
        file_, {identity(), repack_cache_stamp(file_), kernels::cpu_level()}, sources,
        options.repack_cache, pool);
    for (size_t i = 0; i < matrices.size(); ++i) {
        kernels::WeightMatrix& w = *matrices[i];
        if (repack_cache_) {
            w.repacked = repack_cache_->copy(i);
        } else {
            kernels::AlignedBuffer buffer =
                kernels::AlignedBuffer::allocate(kernels::repacked_bytes(w));
            pool.parallel_for(w.rows / kernels::kRepackRows, [&](int64_t begin, int64_t end) {
                kernels::repack(w, buffer.data.get(), begin, end);
            });
            w.repacked = buffer.data.get();
            repacked_.push_back(std::move(buffer));
        }
        file_.release_pages(w.data, static_cast<size_t>(w.rows) * w.row_bytes);
    }
}

std::vector<const kernels::WeightMatrix*> Model::repacked_matrices() const {
    std::vector<const kernels::WeightMatrix*> matrices;
    auto note = [&](const kernels::WeightMatrix& w) {
        if (w.data && w.repacked) matrices.push_back(&w);
    };
    for_each_matrix(weights_, note);
    for_each_expert_matrix(weights_, note);
    return matrices;
}

std::string Model::repack_cache_path() const {
    return repack_cache_ ? repack_cache_->path() : std::string();
}

uint64_t Model::identity() const {
    const auto header = file_.header_bytes();
    uint64_t h = fnv1a(header.data(), header.size());
    for (const gguf::TensorInfo& t : file_.tensors()) {
        h = fnv1a(t.name.data(), t.name.size(), h);
        if (t.data) h = fnv1a(t.data, std::min<uint64_t>(t.n_bytes, 64), h);
    }
    return h;
}

std::vector<std::pair<const uint8_t*, size_t>> Model::weight_ranges_in_use() const {
    // The file's ranges repacking copied away (and released), unless the raw rows are still
    // read: the token embedding is looked up row by row even when its tied copy, the output
    // matrix, was repacked.
    std::vector<std::pair<const uint8_t*, const uint8_t*>> copied;
    for (const kernels::WeightMatrix* w : repacked_matrices()) {
        if (w->data != weights_.token_embd.data)
            copied.emplace_back(w->data, w->data + static_cast<size_t>(w->rows) * w->row_bytes);
    }
    std::sort(copied.begin(), copied.end());

    std::vector<std::pair<const uint8_t*, size_t>> ranges;
    for (const auto& t : file_.tensors()) {
        const uint8_t* at = t.data;
        const uint8_t* const end = t.data + t.n_bytes;
        for (const auto& [begin, stop] : copied) {  // sorted: walk the copies inside the tensor
            if (stop <= at || begin >= end) continue;
            if (begin > at) ranges.emplace_back(at, static_cast<size_t>(begin - at));
            at = std::max(at, stop);
        }
        if (at < end) ranges.emplace_back(at, static_cast<size_t>(end - at));
    }
    for (const auto& buffer : repacked_) ranges.emplace_back(buffer.data.get(), buffer.size);
    if (repack_cache_) ranges.push_back(repack_cache_->copies_range());
    return ranges;
}

void Model::lock_weights() const {
    // Not the whole file: that would read back every page repacking released, holding those
    // weights twice (the issue `mlock: true` had).
    uint64_t bytes = 0;
    bool locked = true;
    for (const auto& [p, n] : weight_ranges_in_use()) {
        locked = lock_in_ram(p, n) && locked;
        bytes += n;
    }
    if (!locked) {
        log::warn("mlock of '{}' failed for some of its {:.1f} MiB of weights ({}); raise the "
                  "limit (ulimit -l, or LimitMEMLOCK=infinity in the systemd unit) or drop "
                  "`mlock: true`",
                  file_.name(), bytes / 1048576.0, std::strerror(errno));
    }
}

void Model::forward(const Batch& batch, KvCache& cache, kernels::ThreadPool& pool,
                    ForwardScratch& scratch, std::vector<float>& logits) const {
    switch (spec_->family) {
        case Family::Llama:
            return forward_llama(batch, cache, pool, scratch, logits);
        case Family::Gemma:
            return forward_gemma(batch, cache, pool, scratch, logits);
        case Family::GptOss:
            return forward_gpt_oss(batch, cache, pool, scratch, logits);
        case Family::Bert:
            break;
    }
    throw Error("'" + file_.name() + "' is an embedding model (" + hparams_.architecture +
                "): it makes embeddings (hearth embed, /v1/embeddings), not text");
}

uint64_t Model::decode_bytes_per_token() const {
    auto bytes = [](const kernels::WeightMatrix& w) -> uint64_t {
        if (!w.data) return 0;
        return w.repacked ? kernels::repacked_bytes(w) : static_cast<uint64_t>(w.rows) * w.row_bytes;
    };
    uint64_t total = 0;
    for_each_matrix(weights_, [&](const kernels::WeightMatrix& w) { total += bytes(w); });
    // Experts: each token reads n_expert_used of n_expert (the average over the experts).
    uint64_t experts = 0;
    for_each_expert_matrix(weights_, [&](const kernels::WeightMatrix& w) { experts += bytes(w); });
    if (hparams_.n_expert > 0)
        total += experts / static_cast<uint64_t>(hparams_.n_expert) *
                 static_cast<uint64_t>(hparams_.n_expert_used);
    return total;
}

bool Model::can_shift_positions() const {
    return spec_->family != Family::Bert && !spec_->learned_positions && hparams_.rope_dims > 0;
}

bool Model::shift_positions(KvCache& cache, int32_t seq, int64_t n_keep, int64_t n_discard) const {
    if (!can_shift_positions())
        throw Error("'" + hparams_.architecture + "' models cannot shift their context");
    const HParams& hp = hparams_;
    return cache.discard(seq, n_keep, n_discard, [&](int64_t layer, float* keys, int64_t rows) {
        // A key row is n_head_kv heads one after the other: the rows are rows * n_head_kv heads.
        weights_.rope_of(weights_.layers[layer])
            .shift_keys(keys, rows * hp.n_head_kv, hp.head_dim, -n_discard);
    });
}

uint64_t Model::weight_bytes() const {
    uint64_t total = 0;
    for (const auto& t : file_.tensors()) total += t.n_bytes;
    return total;
}

}  // namespace hearth::model
