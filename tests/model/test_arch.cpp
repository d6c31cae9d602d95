// Architecture plumbing around the numpy reference check (tests/reference): clear errors for
// what hearth cannot run, the embedding API's contract, and batching invariants for the
// features the reference cannot see (sliding windows across cache blocks and batches).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

#include "core/error.h"
#include "gguf/writer.h"
#include "model/arch.h"
#include "model/layers.h"
#include "runtime/context.h"
#include "split_files.h"
#include "synthetic_files.h"
#include "tools/synthetic.h"

using namespace hearth;

namespace {

using hearth::testing::error_of;
using hearth::testing::synthesized;
using hearth::testing::temp_path;

TEST(Architectures, UnsupportedArchitectureIsNamed) {
    const std::string path = temp_path("mamba");
    gguf::Writer w;
    w.set("general.architecture", gguf::Value::string("mamba"));
    w.write(path);
    const std::string msg = error_of([&] { model::Model::load(path); });
    EXPECT_NE(msg.find("'mamba'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
    EXPECT_NE(msg.find("gemma2"), std::string::npos) << "lists what is supported: " << msg;
}

TEST(Architectures, TableCoversTheIssue) {
    for (const char* arch : {"llama", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3", "bert",
                             "nomic-bert", "qwen2moe", "qwen3moe", "olmoe", "gpt-oss"}) {
        EXPECT_EQ(model::arch_spec(arch).name, arch);
    }
    EXPECT_EQ(model::arch_spec("qwen2").rope_style, kernels::RopeStyle::NeoX);
    EXPECT_EQ(model::arch_spec("llama").rope_style, kernels::RopeStyle::Normal);
}

TEST(Architectures, EveryDecoderLoadsAndGivesFiniteLogits) {
    for (const char* arch : {"llama", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3"}) {
        auto m = model::Model::load(synthesized(arch));
        EXPECT_FALSE(m->is_embedding_model()) << arch;
        runtime::Context ctx(m, {.n_ctx = 64, .max_seqs = 1, .threads = 1});
        const float* logits = ctx.append(0, {1, 2, 3});
        for (int64_t i = 0; i < m->hparams().n_vocab; ++i)
            ASSERT_TRUE(std::isfinite(logits[i])) << arch;
    }
}

// A sequence gives the same logits alone and batched with another whose positions differ, when
// its window slides across KV-cache blocks (gemma2: window 4, blocks of 4).
TEST(Architectures, SlidingWindowIsPerSequenceInABatch) {
    auto m = model::Model::load(synthesized("gemma2"));
    const std::vector<int32_t> a = {5, 9, 3, 7, 1, 2, 8, 4, 6, 11};
    const std::vector<int32_t> b = {20, 21, 22};
    runtime::Context alone(m, {.n_ctx = 64, .max_seqs = 1, .threads = 1, .kv_block_size = 4});
    const float* last = alone.append(0, a);
    const std::vector<float> want(last, last + m->hparams().n_vocab);

    runtime::Context both(m, {.n_ctx = 64, .max_seqs = 2, .threads = 2, .kv_block_size = 4});
    both.append(1, b);
    model::Batch batch;
    both.cache().reserve(0, static_cast<int64_t>(a.size()));
    both.cache().reserve(1, static_cast<int64_t>(b.size()) + 1);
    for (size_t i = 0; i < a.size(); ++i)
        batch.add(a[i], 0, static_cast<int32_t>(i), i + 1 == a.size());
    batch.add(30, 1, static_cast<int32_t>(b.size()), true);
    const std::vector<float>& got = both.decode(batch);
    for (int64_t i = 0; i < m->hparams().n_vocab; ++i) ASSERT_NEAR(got[i], want[i], 1e-5f) << i;
}

TEST(Architectures, Phi3PicksLongRopeFactorsBeyondTheOriginalContext) {
    const std::string path = synthesized("phi3");
    auto short_ctx = model::Model::load(path);
    auto long_ctx = model::Model::load(path, {.n_ctx = 1000});
    EXPECT_NE(short_ctx->weights().rope_global.inv_freq, long_ctx->weights().rope_global.inv_freq);
    EXPECT_GT(short_ctx->weights().rope_global.mscale, 1.0f);  // context 128 over original 32
}

TEST(Embeddings, BertGivesOneUnitVectorPerInput) {
    auto m = model::Model::load(synthesized("bert"));
    ASSERT_TRUE(m->is_embedding_model());
    kernels::ThreadPool pool(1);
    std::vector<float> e = m->embed({1, 17, 42, 2}, model::Pooling::Default, true, pool);
    ASSERT_EQ(static_cast<int64_t>(e.size()), m->hparams().n_embd);
    double norm = 0;
    for (float v : e) norm += v * v;
    EXPECT_NEAR(norm, 1.0, 1e-5);
    EXPECT_NE(e, m->embed({1, 18, 42, 2}, model::Pooling::Default, true, pool)) << "input matters";
    EXPECT_NE(e, m->embed({1, 17, 42, 2}, model::Pooling::Cls, true, pool)) << "pooling matters";
}

TEST(Embeddings, ClearErrors) {
    auto bert = model::Model::load(synthesized("bert"));
    kernels::ThreadPool pool(1);
    auto message = [&](const std::vector<int32_t>& tokens, model::Pooling pooling) {
        return error_of([&] { bert->embed(tokens, pooling, true, pool); });
    };
    EXPECT_NE(message({}, model::Pooling::Mean).find("empty"), std::string::npos);
    EXPECT_NE(message({1, 2}, model::Pooling::None).find("one vector per token"),
              std::string::npos);
    EXPECT_NE(message({99999}, model::Pooling::Mean).find("outside the vocabulary"),
              std::string::npos);
    runtime::Context ctx(bert, {.n_ctx = 16, .max_seqs = 1, .threads = 1});
    EXPECT_NE(error_of([&] { ctx.append(0, {1}); }).find("is an embedding model"),
              std::string::npos);
}

// Decoders embed too (last-token pooling by default), but only files that declare a
// pooling_type count as embedding models.
TEST(Embeddings, DecodersPoolTheirLastState) {
    auto llama = model::Model::load(synthesized("llama"));
    EXPECT_FALSE(llama->is_embedding_model());
    kernels::ThreadPool pool(1);
    std::vector<float> e = llama->embed({1, 2, 3}, model::Pooling::Default, true, pool);
    EXPECT_EQ(e, llama->embed({1, 2, 3}, model::Pooling::Last, true, pool));
    EXPECT_NE(e, llama->embed({1, 2, 4}, model::Pooling::Last, true, pool));
}

// --- rerankers --------------------------------------------------------------------------------

// The preset's file with `change` applied to its metadata and tensors, written again.
std::string rewritten(const std::string& path, const std::string& stem,
                      const std::function<void(gguf::Writer&, const gguf::TensorInfo&)>& tensor,
                      const std::function<void(gguf::Writer&)>& change) {
    const gguf::File original = gguf::File::open(path);
    gguf::Writer w(original.alignment());
    for (const auto& kv : original.metadata()) w.set(kv.key, kv.value);
    for (const auto& t : original.tensors()) tensor(w, t);
    change(w);
    const std::string out = temp_path(stem);
    w.write(out);
    return out;
}

void copy_tensor(gguf::Writer& w, const gguf::TensorInfo& t) {
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                 std::vector<uint8_t>(t.data, t.data + t.n_bytes));
}

std::string synthesized_reranker(const std::string& arch = "bert") {
    const std::string path = temp_path(arch + "-reranker");
    tools::SyntheticOptions o;
    o.architecture = arch;
    o.shape = tools::synthetic_shape("bert-reranker-tiny");
    o.seed = 7;
    tools::write_synthetic_model(o, path);
    return path;
}

// A cross-encoder scores pairs and makes no embeddings; a plain encoder does not rerank.
TEST(Rerankers, ScorePairsAndMakeNoEmbeddings) {
    auto reranker = model::Model::load(synthesized_reranker());
    EXPECT_TRUE(reranker->is_reranker());
    EXPECT_FALSE(reranker->is_embedding_model());
    kernels::ThreadPool pool(1);
    const std::vector<int32_t> tokens = {1, 5, 9, 2, 7, 8, 2};
    const float score = reranker->rank(tokens, 4, pool);
    EXPECT_TRUE(std::isfinite(score));
    // Where the second segment starts matters: its tokens get the second token type.
    EXPECT_NE(score, reranker->rank(tokens, 2, pool));
    EXPECT_NE(error_of([&] {
                  reranker->embed(tokens, model::Pooling::Default, true, pool);
              }).find("reranker"),
              std::string::npos);
    EXPECT_NE(error_of([&] { reranker->rank({}, 0, pool); }).find("empty"), std::string::npos);
    auto bert = model::Model::load(synthesized("bert"));
    EXPECT_FALSE(bert->is_reranker());
    EXPECT_NE(error_of([&] { bert->rank(tokens, 4, pool); }).find("not a reranker"),
              std::string::npos);
}

// Pairs scored together (one encoder pass, or several when they exceed kRankBatchTokens)
// score as they do one by one: attention stays within each pair, and nomic-bert's rotary
// positions restart at each pair.
TEST(Rerankers, BatchedPairsScoreAsAlone) {
    for (const char* arch : {"bert", "nomic-bert"}) {
        auto m = model::Model::load(synthesized_reranker(arch));
        kernels::ThreadPool pool(2);
        std::vector<std::vector<int32_t>> tokens;
        std::vector<model::EncoderInput> pairs;
        for (int64_t length : {7, 30, 3, 900, 1500, 12}) {
            std::vector<int32_t> t;
            for (int64_t i = 0; i < length; ++i)
                t.push_back(static_cast<int32_t>((i * 31 + length) % m->hparams().n_vocab));
            tokens.push_back(std::move(t));
        }
        for (const auto& t : tokens) pairs.push_back({t, t.size() / 2});
        const std::vector<float> together = m->rank(pairs, pool);
        ASSERT_EQ(together.size(), pairs.size());
        for (size_t i = 0; i < pairs.size(); ++i) {
            const float alone = m->rank(tokens[i], tokens[i].size() / 2, pool);
            EXPECT_NEAR(together[i], alone, 1e-4f * std::max(1.0f, std::abs(alone)))
                << arch << " pair " << i;
        }
    }
}

// Files the head's keys and tensors disagree about are refused at load, naming the problem;
// a head without the dense layer (BertForSequenceClassification's) is a reranker too.
TEST(Rerankers, InconsistentHeadsAreRefused) {
    const std::string reranker = synthesized_reranker();
    auto without = [](std::initializer_list<const char*> names) {
        return [names](gguf::Writer& w, const gguf::TensorInfo& t) {
            for (const char* n : names)
                if (t.name == n) return;
            copy_tensor(w, t);
        };
    };
    auto unchanged = [](gguf::Writer&) {};
    std::string msg = error_of([&] {
        model::Model::load(rewritten(reranker, "no-head",
                                     without({"cls.output.weight", "cls.output.bias"}), unchanged));
    });
    EXPECT_NE(msg.find("rank pooling"), std::string::npos) << msg;
    msg = error_of([&] {
        model::Model::load(rewritten(reranker, "labels", copy_tensor, [](gguf::Writer& w) {
            w.set("bert.classifier.output_labels",
                  gguf::Value::array(gguf::ValueType::String,
                                     {gguf::Value::string("a"), gguf::Value::string("b")}));
        }));
    });
    EXPECT_NE(msg.find("output_labels"), std::string::npos) << msg;
    auto projection_only = model::Model::load(
        rewritten(reranker, "projection", without({"cls.weight", "cls.bias"}), unchanged));
    EXPECT_TRUE(projection_only->is_reranker());
    kernels::ThreadPool pool(1);
    EXPECT_TRUE(std::isfinite(projection_only->rank({1, 2, 3}, 2, pool)));
}

// --- mixture of experts ---------------------------------------------------------------------

std::string synthesized_moe(const std::string& name, const std::string& type = "F32") {
    const tools::SyntheticPreset& p = tools::synthetic_preset(name + "-tiny");
    const std::string path = temp_path(name + "-" + type);
    tools::SyntheticOptions o;
    o.architecture = p.architecture;
    o.shape = p.shape;
    o.type = type;
    o.seed = 7;
    tools::write_synthetic_model(o, path);
    return path;
}

const char* const kMoeModels[] = {"qwen3moe", "qwen2moe", "olmoe", "mixtral", "gpt-oss"};

// Every position's logits of `tokens` in sequence 0, fed in batches of `step` tokens.
std::vector<float> logits_in_steps(const model::Model& m, const std::vector<int32_t>& tokens,
                                   size_t step, int threads) {
    const auto& hp = m.hparams();
    model::KvCache cache(hp.n_layer, hp.kv_dim(), 64, 4, 1);
    model::ForwardScratch scratch;
    kernels::ThreadPool pool(threads);
    std::vector<float> all, logits;
    for (size_t begin = 0; begin < tokens.size(); begin += step) {
        const size_t end = std::min(tokens.size(), begin + step);
        model::Batch batch;
        cache.reserve(0, static_cast<int64_t>(end));
        for (size_t i = begin; i < end; ++i)
            batch.add(tokens[i], 0, static_cast<int32_t>(i), true);
        m.forward(batch, cache, pool, scratch, logits);
        all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
}

double max_relative_difference(const std::vector<float>& got, const std::vector<float>& want) {
    double scale = 0, worst = 0;
    for (float w : want) scale = std::max(scale, static_cast<double>(std::fabs(w)));
    for (size_t i = 0; i < want.size(); ++i)
        worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]) / scale);
    return worst;
}

// The prompt path (tokens grouped by expert, one matmul per expert) equals the decode path (one
// token, the chosen experts' rows only), also quantized (different activation blocks per call).
TEST(MixtureOfExperts, GroupedPromptEqualsPerTokenDecode) {
    const std::vector<int32_t> tokens = {5, 9, 3, 7, 1, 2, 8, 4, 6, 11, 40, 200, 17, 99};
    for (const char* name : kMoeModels) {
        for (const char* type : {"F32", "Q8_0"}) {
            auto m = model::Model::load(synthesized_moe(name, type));
            EXPECT_GT(m->hparams().n_expert, 0) << name;
            const std::vector<float> decoded = logits_in_steps(*m, tokens, 1, 2);
            const std::vector<float> grouped = logits_in_steps(*m, tokens, tokens.size(), 2);
            ASSERT_EQ(decoded.size(), grouped.size());
            EXPECT_LT(max_relative_difference(grouped, decoded), 1e-5) << name << " " << type;
            const std::vector<float> halves = logits_in_steps(*m, tokens, 5, 1);
            EXPECT_LT(max_relative_difference(halves, decoded), 1e-5) << name << " " << type;
        }
    }
}

// Greedy decoding picks the same tokens at any thread count and batch split.
TEST(MixtureOfExperts, GreedyOutputIsStable) {
    for (const char* name : kMoeModels) {
        auto m = model::Model::load(synthesized_moe(name));
        auto greedy = [&](int threads) {
            runtime::Context ctx(m, {.n_ctx = 64, .max_seqs = 1, .threads = threads});
            std::vector<int32_t> out;
            const float* logits = ctx.append(0, {1, 2, 3, 4});
            for (int step = 0; step < 12; ++step) {
                const int32_t next = static_cast<int32_t>(
                    std::max_element(logits, logits + m->hparams().n_vocab) - logits);
                out.push_back(next);
                logits = ctx.append(0, {next});
            }
            return out;
        };
        const std::vector<int32_t> one = greedy(1);
        EXPECT_EQ(greedy(2), one) << name;
        EXPECT_EQ(greedy(1), one) << name;
        EXPECT_GT(std::set<int32_t>(one.begin(), one.end()).size(), 1u) << name;
    }
}

TEST(MixtureOfExperts, RouterPicksTopKAndRenormalises) {
    const float logits[] = {0.0f, 2.0f, -1.0f, 2.0f, 1.0f};
    int32_t chosen[3];
    float w[3];
    model::layers::route(logits, 5, 3, false, chosen, w);
    EXPECT_EQ(chosen[0], 1);  // ties go to the lower id
    EXPECT_EQ(chosen[1], 3);
    EXPECT_EQ(chosen[2], 4);
    double z = 0;
    for (float l : logits) z += std::exp(l);
    EXPECT_NEAR(w[0], std::exp(2.0) / z, 1e-6);
    EXPECT_NEAR(w[2], std::exp(1.0) / z, 1e-6);
    model::layers::route(logits, 5, 3, true, chosen, w);
    EXPECT_NEAR(w[0] + w[1] + w[2], 1.0, 1e-6);
    EXPECT_NEAR(w[2] / w[0], std::exp(-1.0), 1e-6);
}

// gpt-oss as llama.cpp reads it: even layers slide (set_swa_pattern(2)), sinks and the
// router's and experts' biases loaded, YaRN by 32 from 4096, the chosen logits' softmax.
TEST(GptOss, LoadsItsPieces) {
    auto m = model::Model::load(synthesized_moe("gpt-oss"));
    const model::HParams& hp = m->hparams();
    EXPECT_EQ(hp.sliding_window, 4);
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const model::LayerWeights& lw = m->weights().layers[l];
        EXPECT_EQ(lw.sliding, l % 2 == 0) << l;
        EXPECT_NE(lw.attn_sinks, nullptr);
        EXPECT_NE(lw.bo, nullptr);
        EXPECT_NE(lw.router_bias, nullptr);
        EXPECT_NE(lw.down_exps_bias, nullptr);
    }
    EXPECT_TRUE(hp.expert_weights_norm);
    EXPECT_EQ(hp.rope_scaling, model::RopeScaling::Yarn);
    EXPECT_FLOAT_EQ(hp.rope_freq_scale, 1.0f / 32);
    EXPECT_EQ(hp.rope_orig_ctx, 4096);
    EXPECT_FLOAT_EQ(hp.rms_eps, 1e-5f);
    EXPECT_EQ(hp.q_dim(), 2 * hp.n_embd);  // like the real model, q_dim != n_embd
}

// gpt-oss's SwiGLU, values worked out by hand from its definition: gate clamped above at 7, up
// to [-7, 7], gate * sigmoid(1.702 * gate) * (up + 1).
TEST(GptOss, ClampedSwiglu) {
    const float gate[] = {10.0f, 0.5f, -1.0f, 2.0f};
    const float up[] = {3.0f, 2.0f, -9.0f, 100.0f};
    float out[4];
    model::layers::gated_activation(model::Activation::SwigluOai, gate, up, out, 4);
    auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    EXPECT_NEAR(out[0], 7.0 * sigmoid(1.702 * 7.0) * 4.0, 1e-5);     // gate clamped
    EXPECT_NEAR(out[1], 0.5 * sigmoid(1.702 * 0.5) * 3.0, 1e-6);     // nothing clamped
    EXPECT_NEAR(out[2], -1.0 * sigmoid(-1.702) * -6.0, 1e-6);        // up clamped below
    EXPECT_NEAR(out[3], 2.0 * sigmoid(1.702 * 2.0) * 8.0, 1e-5);     // up clamped above
}

TEST(MixtureOfExperts, ClearErrors) {
    // An MoE architecture without experts, and experts on an architecture that has none.
    EXPECT_NE(error_of([&] { synthesized("qwen3moe"); }).find("qwen3moe-tiny"), std::string::npos);
    tools::SyntheticOptions o;
    o.architecture = "gemma";
    o.shape = tools::synthetic_shape("qwen3moe-tiny");
    EXPECT_NE(error_of([&] { tools::write_synthetic_model(o, temp_path("gemma-moe")); })
                  .find("has no experts"),
              std::string::npos);
}

}  // namespace

// A decode step reads n_expert_used of n_expert experts per layer, plus the router.
TEST(Synthetic, DecodeBytesPerTokenCountsTheActiveExperts) {
    const tools::SyntheticShape s = tools::synthetic_shape("qwen3moe-tiny");
    auto m = model::Model::load(synthesized_moe("qwen3moe"));
    const int64_t q_dim = s.n_head * s.head_dim, kv_dim = s.n_head_kv * s.head_dim;
    const int64_t per_layer = s.n_embd * q_dim + 2 * s.n_embd * kv_dim + q_dim * s.n_embd +
                              s.n_embd * s.n_expert                        // router
                              + s.n_expert_used * 3 * s.n_embd * s.n_ff_exp;  // active experts
    const int64_t floats = s.n_layer * per_layer + s.n_vocab * s.n_embd;
    EXPECT_EQ(m->decode_bytes_per_token(), static_cast<uint64_t>(floats) * 4);
}

// What `hearth bench` divides the memory bandwidth by: every matrix of a decode step once,
// the token embedding only where it is also the output. Hand-counted from the shape (F32).
TEST(Synthetic, DecodeBytesPerTokenCountsEveryMatrixOnce) {
    const tools::SyntheticShape s = tools::synthetic_shape("tiny");
    const int64_t head_dim = s.n_embd / s.n_head;
    const int64_t per_layer = s.n_embd * (s.n_head * head_dim)           // wq
                              + 2 * s.n_embd * (s.n_head_kv * head_dim)  // wk, wv
                              + (s.n_head * head_dim) * s.n_embd         // wo
                              + 3 * s.n_embd * s.n_ff;                   // gate, up, down
    for (bool tied : {false, true}) {
        tools::SyntheticOptions o;
        o.architecture = "llama";
        o.type = "F32";
        o.shape = s;
        o.shape.tied_embeddings = tied;
        const std::string path = temp_path(tied ? "tied" : "untied");
        tools::write_synthetic_model(o, path);
        auto m = model::Model::load(path);
        const int64_t floats = s.n_layer * per_layer + s.n_vocab * s.n_embd;  // + output
        EXPECT_EQ(m->decode_bytes_per_token(), static_cast<uint64_t>(floats) * 4)
            << (tied ? "tied" : "untied");
    }
}

// --- split models ---------------------------------------------------------------------------

// A model split in three parts (gguf-split's layout) loads as one: the same tensors, the same
// logits as the file it was split from, a mixture-of-experts model whose experts straddle parts.
TEST(SplitModel, LoadsAsOneAndGivesTheSameLogits) {
    const std::string whole = synthesized_moe("qwen3moe", "Q8_0");
    const std::string stem = std::filesystem::path(temp_path("parts")).replace_extension().string();
    const auto parts = split_files::write_split(whole, stem, 3);
    auto split = model::Model::load(parts[0]);
    auto single = model::Model::load(whole);
    EXPECT_EQ(split->file().n_parts(), 3);
    EXPECT_EQ(split->file().tensors().size(), single->file().tensors().size());
    const std::vector<int32_t> tokens = {5, 9, 3, 7, 1, 2, 8, 4};
    EXPECT_EQ(logits_in_steps(*split, tokens, 3, 2), logits_in_steps(*single, tokens, 3, 2));
    for (const auto& p : parts) std::filesystem::remove(p);
}
