// The synthetic-model writer: reproducible bytes, the presets' shapes, quantized files with a
// real tokenizer, weight scales.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "gguf/reader.h"
#include "model/model.h"
#include "runtime/context.h"
#include "synthetic_files.h"
#include "tools/synthetic.h"

using namespace hearth;

namespace {

using hearth::testing::error_of;
using hearth::testing::synthesized;
using hearth::testing::temp_path;

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Rows are drawn from per-row streams, so the thread count cannot change the file.
TEST(Synthetic, SameSeedSameBytesAtAnyThreadCount) {
    tools::SyntheticOptions o;
    o.architecture = "qwen3";
    o.type = "Q4_K_M";
    o.seed = 3;
    tools::write_synthetic_model(o, temp_path("1"));
    o.n_threads = 3;
    tools::write_synthetic_model(o, temp_path("2"));
    EXPECT_EQ(file_bytes(temp_path("1")), file_bytes(temp_path("2")));
    o.seed = 4;
    tools::write_synthetic_model(o, temp_path("3"));
    EXPECT_NE(file_bytes(temp_path("1")), file_bytes(temp_path("3")));
    EXPECT_THROW(tools::synthetic_shape("70b"), Error);
    o.type = "Q9_Z";
    EXPECT_NE(error_of([&] { tools::write_synthetic_model(o, temp_path("4")); }).find("Q4_K_M"),
              std::string::npos)
        << "an unknown type lists the known ones";
}

// The preset table holds the shapes the issue names (Llama-3.2-1B for 1b).
TEST(Synthetic, PresetsHaveRealShapes) {
    const tools::SyntheticShape s = tools::synthetic_shape("1b");
    EXPECT_EQ(s.n_embd, 2048);
    EXPECT_EQ(s.n_layer, 16);
    EXPECT_EQ(s.n_head, 32);
    EXPECT_EQ(s.n_head_kv, 8);
    EXPECT_EQ(s.n_ff, 8192);
    EXPECT_EQ(s.n_vocab, 128256);
    EXPECT_TRUE(s.tied_embeddings.value_or(false));
    std::string names;
    for (const auto& p : tools::synthetic_presets()) names += p.name + " ";
    EXPECT_EQ(names,
              "tiny 135m 1b 3b 7b qwen3moe-tiny qwen2moe-tiny olmoe-tiny mixtral-tiny "
              "gpt-oss-tiny "
              "qwen3moe-30b-a3b qwen2moe-a2.7b olmoe-1b-7b mixtral-8x7b gpt-oss-20b "
              "bert-reranker-tiny bge-reranker-base ");
    // bge-reranker-base's config.json (XLMRobertaForSequenceClassification): 12 layers of 768,
    // 12 heads, FFN 3072, 250002 tokens, 514 positions less the 2 the converter drops.
    const tools::SyntheticPreset& reranker = tools::synthetic_preset("bge-reranker-base");
    EXPECT_EQ(reranker.architecture, "bert");
    EXPECT_TRUE(reranker.shape.classifier_head);
    EXPECT_EQ(reranker.shape.n_layer, 12);
    EXPECT_EQ(reranker.shape.n_embd, 768);
    EXPECT_EQ(reranker.shape.n_head, 12);
    EXPECT_EQ(reranker.shape.n_ff, 3072);
    EXPECT_EQ(reranker.shape.n_vocab, 250002);
    EXPECT_EQ(reranker.shape.n_ctx, 512);
    // Qwen3-30B-A3B's config.json: 48 layers of 2048, 32/4 heads of 128, 128 experts of 768
    // rows, 8 per token.
    const tools::SyntheticPreset& moe = tools::synthetic_preset("qwen3moe-30b-a3b");
    EXPECT_EQ(moe.architecture, "qwen3moe");
    EXPECT_EQ(moe.shape.n_layer, 48);
    EXPECT_EQ(moe.shape.n_embd, 2048);
    EXPECT_EQ(moe.shape.n_head_kv, 4);
    EXPECT_EQ(moe.shape.head_dim, 128);
    EXPECT_EQ(moe.shape.n_expert, 128);
    EXPECT_EQ(moe.shape.n_expert_used, 8);
    EXPECT_EQ(moe.shape.n_ff_exp, 768);
    EXPECT_EQ(moe.shape.n_vocab, 151936);
    // gpt-oss-20b's config.json: 24 layers of 2880, 64/8 heads of 64, 32 experts of 2880 rows,
    // 4 per token, o200k_harmony's 201088 tokens.
    const tools::SyntheticPreset& oss = tools::synthetic_preset("gpt-oss-20b");
    EXPECT_EQ(oss.architecture, "gpt-oss");
    EXPECT_EQ(oss.expert_type, "MXFP4");  // as openai ships them and every gpt-oss GGUF keeps them
    EXPECT_EQ(oss.shape.n_layer, 24);
    EXPECT_EQ(oss.shape.n_embd, 2880);
    EXPECT_EQ(oss.shape.n_head, 64);
    EXPECT_EQ(oss.shape.n_head_kv, 8);
    EXPECT_EQ(oss.shape.head_dim, 64);
    EXPECT_EQ(oss.shape.n_expert, 32);
    EXPECT_EQ(oss.shape.n_expert_used, 4);
    EXPECT_EQ(oss.shape.n_ff_exp, 2880);
    EXPECT_EQ(oss.shape.n_vocab, 201088);
    EXPECT_EQ(oss.shape.sliding_window, 128);
    EXPECT_EQ(oss.shape.rope_freq_base, 150000.0f);
}

// A quantized model with a real tokenizer: the recipe's mix, the vocab file's size and keys,
// and the architecture's own tensors, loadable and runnable.
TEST(Synthetic, QuantizedWithTokenizer) {
    const std::string path = temp_path("gemma2");
    tools::SyntheticOptions o;
    o.architecture = "gemma2";
    o.type = "Q4_K_M";
    o.vocab_path = HEARTH_TEST_DATA "/vocab/ggml-vocab-llama-spm.gguf";
    o.n_threads = 2;
    const tools::SyntheticReport report = tools::write_synthetic_model(o, path);
    EXPECT_EQ(report.n_vocab, 32000);
    EXPECT_TRUE(report.notes.empty());  // tiny rows fill 256-blocks
    auto m = model::Model::load(path);
    const gguf::File& f = m->file();
    EXPECT_EQ(f.get_u64("general.file_type"), 15u);
    EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(f.find("tokenizer.ggml.scores")->as_array().items.size(), 32000u);
    EXPECT_EQ(f.tensor("token_embd.weight").ne[1], 32000);
    EXPECT_EQ(f.tensor("token_embd.weight").type, gguf::TensorType::Q6_K);  // tied output
    EXPECT_EQ(f.find_tensor("output.weight"), nullptr);
    EXPECT_EQ(f.tensor("blk.1.attn_q.weight").type, gguf::TensorType::Q4_K);
    EXPECT_EQ(f.tensor("blk.2.attn_v.weight").type,
              gguf::TensorType::Q6_K);  // the _M mix: (2 - 0) % 3 == 2
    EXPECT_EQ(f.tensor("blk.0.post_ffw_norm.weight").type, gguf::TensorType::F32);
    EXPECT_EQ(f.get_u64("gemma2.attention.sliding_window"), 4u);
    runtime::Context ctx(m, {.n_ctx = 64, .max_seqs = 1, .threads = 1});
    const float* logits = ctx.append(0, {1, 2, 3});
    for (int64_t i = 0; i < m->hparams().n_vocab; ++i) ASSERT_TRUE(std::isfinite(logits[i]));
}

// Matrices have variance 1 / row length (uniform), norms 1 +- 0.2: activations keep their size.
TEST(Synthetic, WeightScales) {
    const std::string path = synthesized("llama");
    gguf::File f = gguf::File::open(path);
    const auto& t = f.tensor("blk.1.ffn_up.weight");
    const float* w = reinterpret_cast<const float*>(t.data);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < t.n_elements(); ++i) sum += w[i], sq += double(w[i]) * w[i];
    const double mean = sum / t.n_elements();
    EXPECT_NEAR(mean, 0.0, 2e-3);
    EXPECT_NEAR(std::sqrt(sq / t.n_elements() - mean * mean), 1.0 / std::sqrt(256.0), 1e-3);
    const float* norm = reinterpret_cast<const float*>(f.tensor("blk.0.attn_norm.weight").data);
    for (int i = 0; i < 256; ++i) ASSERT_NEAR(norm[i], 1.0f, 0.2f);
}

// The reranker presets' classification head exists only on encoders.
TEST(Synthetic, ClassificationHeadsAreForEncoders) {
    tools::SyntheticOptions o;
    o.architecture = "llama";
    o.shape = tools::synthetic_shape("bert-reranker-tiny");
    const std::string msg =
        error_of([&] { tools::write_synthetic_model(o, temp_path("llama-head")); });
    EXPECT_NE(msg.find("classification head"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'llama'"), std::string::npos) << msg;
}

}  // namespace
