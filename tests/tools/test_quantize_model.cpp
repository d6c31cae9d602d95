// quantize end to end: files it writes are valid GGUF, follow the recipe, load in
// the engine and run a forward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "gguf/reader.h"
#include "runtime/context.h"
#include "tools/quantize_model.h"

using namespace hearth;
using gguf::TensorType;

namespace {

const std::string kStories = HEARTH_TEST_DATA "/models/stories260K.gguf";

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("hearth-tools-" + name)).string();
}

// Loads the model and runs a short prompt: every logit must be finite.
void expect_runs(const std::string& path) {
    auto model = model::Model::load(path);
    runtime::ContextParams params;
    params.n_ctx = 64;
    params.threads = 2;
    runtime::Context ctx(model, params);
    const float* logits = ctx.append(0, {1, 2, 3, 4, 5});
    int64_t n_vocab = model->file().tensor("token_embd.weight").ne[1];
    for (int64_t i = 0; i < n_vocab; ++i) ASSERT_TRUE(std::isfinite(logits[i])) << i;
}

}  // namespace

TEST(QuantizeRecipes, MixesGiveAttnVFfnDownAndOutputMoreBits) {
    auto q4km = *tools::find_quant_recipe("q4_k_m");
    EXPECT_EQ(q4km.file_type, 15u);
    auto type = [&](const std::string& name, int n_dims = 2, int64_t cols = 2048) {
        return tools::choose_tensor_type(q4km, name, n_dims, cols, 16, false).type;
    };
    EXPECT_EQ(type("blk.0.attn_v.weight"), TensorType::Q6_K);  // first eighth
    EXPECT_EQ(type("blk.3.attn_v.weight"), TensorType::Q4_K);
    EXPECT_EQ(type("blk.4.ffn_down.weight"), TensorType::Q6_K);  // (4 - 2) % 3 == 2
    EXPECT_EQ(type("blk.15.ffn_down.weight"), TensorType::Q6_K);
    EXPECT_EQ(type("blk.5.attn_q.weight"), TensorType::Q4_K);
    EXPECT_EQ(type("token_embd.weight"), TensorType::Q6_K);  // tied: it is the output matrix
    EXPECT_EQ(type("blk.5.attn_norm.weight", 1), TensorType::F32);
    auto fallback = tools::choose_tensor_type(q4km, "blk.0.ffn_down.weight", 2, 172, 16, false);
    EXPECT_EQ(fallback.type, TensorType::F16);
    EXPECT_NE(fallback.note.find("172"), std::string::npos);
    // Rows that fit 32-blocks but not 256-blocks (SmolLM2's 576) take llama.cpp's fallbacks.
    EXPECT_EQ(tools::choose_tensor_type(q4km, "blk.9.ffn_up.weight", 2, 576, 16, false).type,
              TensorType::Q5_0);
    EXPECT_EQ(tools::choose_tensor_type(q4km, "blk.0.ffn_down.weight", 2, 576, 16, false).type,
              TensorType::Q8_0);  // Q6_K in the mix -> Q8_0
    EXPECT_FALSE(tools::find_quant_recipe("Q9_Z").has_value());
}

// llama.cpp's MXFP4_MOE (src/llama-quant.cpp): tensors with a third dimension (the stacked
// experts) MXFP4, every other matrix Q8_0, the output too; routers and norms stay F32.
TEST(QuantizeRecipes, Mxfp4MoeGivesExpertsMxfp4AndTheRestQ8_0) {
    auto recipe = *tools::find_quant_recipe("mxfp4_moe");
    EXPECT_EQ(recipe.file_type, 38u);  // LLAMA_FTYPE_MOSTLY_MXFP4_MOE
    auto type = [&](const std::string& name, int n_dims, int64_t cols = 2880) {
        return tools::choose_tensor_type(recipe, name, n_dims, cols, 24, true).type;
    };
    EXPECT_EQ(type("blk.0.ffn_gate_exps.weight", 3), TensorType::MXFP4);
    EXPECT_EQ(type("blk.0.ffn_down_exps.weight", 3), TensorType::MXFP4);
    EXPECT_EQ(type("blk.0.attn_q.weight", 2), TensorType::Q8_0);
    EXPECT_EQ(type("output.weight", 2), TensorType::Q8_0);
    EXPECT_EQ(type("token_embd.weight", 2), TensorType::Q8_0);
    EXPECT_EQ(type("blk.0.ffn_gate_inp.weight", 2), TensorType::F32);
    EXPECT_EQ(type("blk.0.attn_norm.weight", 1), TensorType::F32);
    EXPECT_EQ(type("blk.0.ffn_gate_exps.bias", 2), TensorType::F32);
    // MXFP4 needs whole 32-blocks; otherwise F16, with a note.
    auto odd = tools::choose_tensor_type(recipe, "blk.0.ffn_up_exps.weight", 3, 100, 24, true);
    EXPECT_EQ(odd.type, TensorType::F16);
    EXPECT_NE(odd.note.find("MXFP4"), std::string::npos) << odd.note;
    // The plain type: every matrix MXFP4, the output Q6_K as for the other 4-bit types.
    auto plain = *tools::find_quant_recipe("MXFP4");
    EXPECT_EQ(tools::choose_tensor_type(plain, "blk.0.attn_q.weight", 2, 2048, 24, true).type,
              TensorType::MXFP4);
    EXPECT_EQ(tools::choose_tensor_type(plain, "output.weight", 2, 2048, 24, true).type,
              TensorType::Q6_K);
}

TEST(QuantizeModel, Stories260KEveryRecipeLoadsAndRuns) {
    for (const char* name :
         {"Q8_0", "Q4_0", "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q6_K", "IQ4_XS", "MXFP4", "F16"}) {
        SCOPED_TRACE(name);
        auto recipe = *tools::find_quant_recipe(name);
        std::string out = temp_path(std::string(name) + ".gguf");
        auto report = tools::quantize_model(kStories, out, recipe, 2);
        gguf::File f = gguf::File::open(out);
        EXPECT_EQ(f.get_u64("general.file_type"), recipe.file_type);
        EXPECT_EQ(f.tensor("blk.0.attn_norm.weight").type, TensorType::F32);
        // stories260K's ffn_down rows hold 172 floats: no block type fits, F16 does.
        EXPECT_EQ(f.tensor("blk.0.ffn_down.weight").type,
                  recipe.base == TensorType::F32 ? TensorType::F32 : TensorType::F16);
        if (recipe.base != TensorType::F16) {
            EXPECT_FALSE(report.notes.empty());
        }
        expect_runs(out);
        std::remove(out.c_str());
    }
}
