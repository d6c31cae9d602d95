#pragma once
// A loaded model: read-only weights used in place from the mapped GGUF, its hyperparameters,
// and the forward function of its architecture. Many contexts (KV caches) may share one Model.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "kernels/thread_pool.h"
#include "model/batch.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/rope.h"

namespace hearth::model {

struct ArchSpec;
class RepackCache;

// One layer's tensors. Optional ones (biases, Q/K norms, post-norms) are null when the
// architecture has none; the forward functions test the pointer once per layer, not per element.
struct LayerWeights {
    const float* attn_norm = nullptr;
    kernels::WeightMatrix wq, wk, wv, wo;
    kernels::WeightMatrix wqkv;  // fused Q, K, V rows (phi3, nomic-bert); then wq/wk/wv are empty
    const float* bq = nullptr;
    const float* bk = nullptr;
    const float* bv = nullptr;
    const float* bo = nullptr;
    const float* q_norm = nullptr;  // head_dim weights shared by all heads
    const float* k_norm = nullptr;
    bool qk_norm_whole = false;  // olmoe: q_norm / k_norm span all heads (q_dim / kv_dim weights)
    const float* post_attn_norm = nullptr;  // gemma2/3 RMSNorm; bert's post-attention LayerNorm
    const float* post_attn_norm_bias = nullptr;
    const float* ffn_norm = nullptr;
    kernels::WeightMatrix w_gate, w_up, w_down;  // fused gate+up: w_up has 2 * n_ff rows
    const float* b_up = nullptr;
    const float* b_down = nullptr;
    const float* post_ffn_norm = nullptr;  // gemma2/3 RMSNorm; bert's output LayerNorm
    const float* post_ffn_norm_bias = nullptr;
    // Mixture of experts (HParams::n_expert > 0) instead of w_gate/w_up/w_down: the router,
    // and each expert's slice of the 3-D `ffn_{gate,up,down}_exps` tensors as a 2-D view (one
    // expert's rows are contiguous); the shared expert and its sigmoid gate (qwen2moe).
    kernels::WeightMatrix router;  // `ffn_gate_inp`: n_expert rows of n_embd
    std::vector<kernels::WeightMatrix> gate_exps, up_exps, down_exps;
    kernels::WeightMatrix w_gate_shexp, w_up_shexp, w_down_shexp;
    const float* gate_inp_shexp = nullptr;  // n_embd weights: sigmoid(dot(x, w)) scales shexp
    // gpt-oss: biases of the router (n_expert) and of each expert's projections (expert e's
    // n_ff_exp or n_embd values at e * that length), and one attention sink logit per head.
    const float* router_bias = nullptr;
    const float* gate_exps_bias = nullptr;
    const float* up_exps_bias = nullptr;
    const float* down_exps_bias = nullptr;
    const float* attn_sinks = nullptr;
    bool sliding = false;  // attends only to the last `sliding_window` positions (local RoPE)
};

struct Weights {
    kernels::WeightMatrix token_embd;
    kernels::WeightMatrix token_types;    // bert: segment embeddings (A: row 0, B: row 1)
    kernels::WeightMatrix position_embd;  // bert: learned absolute positions
    const float* embd_norm = nullptr;     // bert: LayerNorm of the summed embeddings
    const float* embd_norm_bias = nullptr;
    const float* output_norm = nullptr;
    kernels::WeightMatrix output;  // token_embd when the embeddings are tied
    // bert rerankers (cross-encoders): the classification head on the [CLS] state. `cls` is
    // RoBERTa's dense layer before the tanh (absent when the head is one projection, as in
    // BertForSequenceClassification files, whose converter drops the pooler); `cls_out`
    // projects to the labels, the first of which is the relevance score.
    kernels::WeightMatrix cls;
    const float* cls_bias = nullptr;
    kernels::WeightMatrix cls_out;
    const float* cls_out_bias = nullptr;
    std::vector<LayerWeights> layers;
    RopeTable rope_global;  // all layers but the sliding ones
    RopeTable rope_local;   // sliding-window layers (gemma3 uses a different base there)

    const RopeTable& rope_of(const LayerWeights& lw) const {
        return lw.sliding ? rope_local : rope_global;
    }
};

// Buffers a forward pass writes; grown to the largest batch seen, then reused.
struct AttentionScratch {
    std::vector<float> floats;       // per thread: kernels::attention_tile scratch
    std::vector<const void*> rows;   // per thread: key and value row pointers
    std::vector<float> widened;      // per thread: a prompt's cached keys and values as floats
    std::vector<int64_t> tiles;      // (first batch row, rows) of each tile
};
// Mixture-of-experts scratch: router outputs, each row's chosen experts, rows grouped by expert.
struct MoeScratch {
    std::vector<float> router;         // n x n_expert logits
    std::vector<int32_t> chosen;       // n x n_expert_used expert ids
    std::vector<float> weights;        // n x n_expert_used mixing weights
    std::vector<int32_t> offsets;      // n_expert + 1: start of each expert's group in `rows`
    std::vector<int32_t> rows;         // (row, slot) pairs flattened as row * k + slot, by expert
    std::vector<float> xg, gate, up, out;  // gathered inputs, hidden, expert outputs
    std::vector<kernels::MatmulOutput> outputs;  // decode: the chosen experts' gate and up
};
struct ForwardScratch {
    std::vector<float> x, xn, q, k, v, qkv, attn, proj, gate, up, ffn, logits_in;
    MoeScratch moe;
    AttentionScratch attention;
    kernels::MatmulScratch matmul;
};

// One input of a batched encoder pass, as a view: its tokens, and the index where its second
// segment (token type 1: a pair's second text) starts, tokens.size() when it has none.
struct EncoderInput {
    std::span<const int32_t> tokens;
    size_t second_segment;
};

struct LoadOptions {
    bool mlock = false;
    // Repack the quantized matrices whose type has repacked kernels at the CPU's level
    // (kernels::has_repacked_kernels: AVX-512 and AVX2; HEARTH_REPACK=0 turns it off). Costs a
    // copy of those weights in RAM instead of the mapped file's pages: the repacked-weights
    // cache file's pages, shared with other processes, or private memory (repack_cache).
    bool repack = true;
    // Context size the model will serve; phi3 LongRoPE picks its long factors beyond the
    // original training context. 0: the original context (short factors).
    int64_t n_ctx = 0;
    // Threads that repack at load (0: ThreadPool::default_thread_count(), as for compute).
    int threads = 0;
    // Where the repacked copies are cached, mapped and shared with the other processes that
    // serve the model (model/repack_cache.h): "" for HEARTH_REPACK_CACHE when set, else beside
    // the model or in $XDG_CACHE_HOME/hearth/repack; a folder; "off" for private copies.
    std::string repack_cache;
};

class Model {
  public:
    static std::shared_ptr<Model> load(const std::string& path, const LoadOptions& options = {});

    const HParams& hparams() const { return hparams_; }
    const gguf::File& file() const { return file_; }
    const Weights& weights() const { return weights_; }
    // Where the weights a forward pass reads live: the repacked copies, and the mapped file's
    // tensors minus the ranges repacking copied away. What `mlock: true` locks.
    std::vector<std::pair<const uint8_t*, size_t>> weight_ranges_in_use() const;
    // The matrices with a repacked copy, in the order of the repacked-weights cache's index.
    std::vector<const kernels::WeightMatrix*> repacked_matrices() const;
    // The cache file the repacked copies are mapped from; empty when they are private memory.
    std::string repack_cache_path() const;
    // What tells this model's weights from another's in cache keys (prompt cache, repacked
    // weights): FNV-1a over the GGUF header (metadata and tensor list), the tensor names and
    // the first 64 bytes of every tensor's data, so two files with the same header (a
    // fine-tune, another synthetic seed) differ too. Cheap: no full-file hash.
    uint64_t identity() const;
    // Bytes of tensor data (what the model costs in RAM once its pages are touched).
    uint64_t weight_bytes() const;
    // Bytes of weight matrices one decode step reads (repacked copies where they are used; the
    // output matrix in full, the token embedding only where it is the output): the memory
    // traffic that bounds generation speed when the weights do not fit in cache.
    uint64_t decode_bytes_per_token() const;

    // Runs the batch through the network, writing K/V into `cache`, and returns logits for the
    // rows whose want_logits flag is set, in batch order: logits[i * n_vocab ...].
    // Throws hearth::Error for embedding models (see embed()).
    void forward(const Batch& batch, KvCache& cache, kernels::ThreadPool& pool,
                 ForwardScratch& scratch, std::vector<float>& logits) const;

    // Context shift (runtime::Scheduler): whether positions can move, i.e. every layer's keys
    // carry their position as a RoPE rotation. Encoders (bert) and learned positions cannot.
    bool can_shift_positions() const;
    // Removes positions [n_keep, n_keep + n_discard) of `seq` from `cache`: the later positions
    // move down by n_discard and their keys turn back by n_discard positions with each layer's
    // RoPE (KvCache::discard). The rest of the cache is then what the same tokens would have
    // stored at their new positions, up to the history they were computed with. Returns false
    // when the cache lacks the blocks to unshare what changes. Throws for a model that cannot
    // shift.
    bool shift_positions(KvCache& cache, int32_t seq, int64_t n_keep, int64_t n_discard) const;

    // Made for embeddings: an encoder (bert, nomic-bert; these cannot generate text) or a
    // decoder whose file declares a pooling_type (e.g. Qwen3-Embedding).
    bool is_embedding_model() const;
    // One n_embd vector for the whole input (tokens as the model's tokenizer made them, with
    // its [CLS]/[SEP]). Works for every model: decoders pool their final normalized hidden
    // states. Pooling::Default is the file's pooling_type (else mean for encoders, last token
    // for decoders); Pooling::None is refused (it would give one vector per token).
    // normalize: scale to unit L2 length. Thread-safe: each call has its own scratch.
    std::vector<float> embed(const std::vector<int32_t>& tokens, Pooling pooling, bool normalize,
                             kernels::ThreadPool& pool) const;

    // A cross-encoder: a bert-family model with a classification head (cls.output.weight).
    bool is_reranker() const { return weights_.cls_out.data != nullptr; }
    // The relevance scores (the head's raw logit, as the reference engine's rerank returns) of
    // query-document pairs, tokens as Tokenizer::encode_pair made them; the tokens from
    // `second_segment` on are the document (segment B). The pairs run through the encoder
    // together, up to kRankBatchTokens tokens a pass (each weight matrix read once a pass;
    // attention stays within each pair), and score as they would one by one. Throws
    // hearth::Error for a model that is not a reranker and for bad tokens. Thread-safe like
    // embed().
    std::vector<float> rank(std::span<const EncoderInput> pairs, kernels::ThreadPool& pool) const;
    float rank(const std::vector<int32_t>& tokens, size_t second_segment,
               kernels::ThreadPool& pool) const;
    static constexpr int64_t kRankBatchTokens = 2048;

  private:
    Model(gguf::File file);
    void load_weights(const LoadOptions& options);
    void repack_weights(const LoadOptions& options);
    void lock_weights() const;
    void forward_llama(const Batch& batch, KvCache& cache, kernels::ThreadPool& pool,
                       ForwardScratch& scratch, std::vector<float>& logits) const;
    void forward_gemma(const Batch& batch, KvCache& cache, kernels::ThreadPool& pool,
                       ForwardScratch& scratch, std::vector<float>& logits) const;
    void forward_gpt_oss(const Batch& batch, KvCache& cache, kernels::ThreadPool& pool,
                         ForwardScratch& scratch, std::vector<float>& logits) const;
    // Final hidden state of every token of the inputs, one after the other (total tokens x
    // n_embd in scratch.x); each input attends only to itself.
    void encode(std::span<const EncoderInput> inputs, kernels::ThreadPool& pool,
                ForwardScratch& scratch) const;
    // The classification head on one [CLS] state: the scores of the head's labels.
    std::vector<float> classify(const float* cls_state, kernels::ThreadPool& pool,
                                ForwardScratch& scratch) const;
    void decoder_states(const std::vector<int32_t>& tokens, kernels::ThreadPool& pool,
                        ForwardScratch& scratch) const;

    gguf::File file_;
    HParams hparams_;
    const ArchSpec* spec_ = nullptr;
    Weights weights_;
    // What weights_' `repacked` pointers use: a mapped cache file, or private buffers.
    std::shared_ptr<const RepackCache> repack_cache_;
    std::vector<kernels::AlignedBuffer> repacked_;
};

}  // namespace hearth::model
