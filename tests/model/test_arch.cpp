// Architecture plumbing around the numpy reference check (tests/reference): clear errors for
// what hearth cannot run, the embedding API's contract, and batching invariants for the
// features the reference cannot see (sliding windows across cache blocks and batches).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "core/error.h"
#include "gguf/writer.h"
#include "model/arch.h"
#include "runtime/context.h"
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
    for (const char* arch :
         {"llama", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3", "bert", "nomic-bert"}) {
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

}  // namespace

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
