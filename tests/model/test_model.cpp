// The llama forward pass against the reference engine's results on stories260K (oracle data in
// tests/data/reference), and batching invariants: a batch of several sequences gives each the
// logits it gets alone.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/context.h"
#include "runtime/generate.h"
#include "tokenizer/tokenizer.h"

using namespace hearth;

namespace {

const std::string kModel = std::string(HEARTH_TEST_DATA) + "/models/stories260K.gguf";

nlohmann::json reference() {
    std::ifstream in(std::string(HEARTH_TEST_DATA) +
                     "/reference/stories260K-once-upon-a-time.json");
    return nlohmann::json::parse(in);
}

// |a - b| relative to the size of the logits vector (elementwise relative error is meaningless
// for logits near zero).
double max_relative_error(const float* got, const std::vector<float>& want) {
    double scale = 0;
    for (float w : want) scale = std::max(scale, static_cast<double>(std::fabs(w)));
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i)
        worst = std::max(worst, std::fabs(got[i] - want[i]) / scale);
    return worst;
}

// Parameter: threads. The logits are compared with an F32 KV cache, the engine's exact math
// (an F16 cache moves them by more than 1e-4: tests/model/test_kv_types.cpp bounds that drift).
class Stories : public ::testing::TestWithParam<int> {
  protected:
    runtime::ContextParams params(gguf::TensorType kv_type = gguf::TensorType::F32) const {
        return {.n_ctx = 256, .max_seqs = 1, .threads = GetParam(), .kv_type = kv_type};
    }
};

TEST_P(Stories, PromptLogitsMatchReference) {
    auto ref = reference();
    auto model = model::Model::load(kModel);
    runtime::Context ctx(model, params());
    std::vector<int32_t> prompt = ref["tokens"];
    const float* logits = ctx.append(0, prompt);
    std::vector<float> want = ref["logits"];
    ASSERT_EQ(want.size(), 512u);
    double err = max_relative_error(logits, want);
    EXPECT_LT(err, 1e-4) << "max relative logit error " << err;
}

namespace {

void expect_reference_greedy_text(const runtime::ContextParams& params) {
    auto ref = reference();
    auto model = model::Model::load(kModel);
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    runtime::Context ctx(model, params);
    runtime::GenerateRequest req;
    req.prompt = tok->encode(ref["prompt"].get<std::string>(), true, false);
    EXPECT_EQ(req.prompt, ref["tokens"].get<std::vector<int32_t>>());
    req.max_tokens = ref["n_greedy"];
    req.sampling.temperature = 0;
    auto result = runtime::generate(ctx, *tok, req);
    EXPECT_EQ(result.tokens, ref["greedy_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(result.text, ref["greedy_text"].get<std::string>());
}

}  // namespace

TEST_P(Stories, GreedyContinuationMatchesReference) {
    expect_reference_greedy_text(params());
}

// The default F16 cache keeps the reference's greedy text on this model.
TEST_P(Stories, GreedyContinuationMatchesReferenceWithF16Cache) {
    expect_reference_greedy_text(params(gguf::TensorType::F16));
}

TEST_P(Stories, StepLogitsTrackReferenceTop5) {
    auto ref = reference();
    auto model = model::Model::load(kModel);
    runtime::Context ctx(model, params());
    std::vector<int32_t> prompt = ref["tokens"];
    std::vector<int32_t> greedy = ref["greedy_ids"];
    const float* logits = ctx.append(0, prompt);
    for (size_t step = 0; step < greedy.size(); ++step) {
        for (const auto& pair : ref["greedy_top5"][step]) {
            int id = pair[0];
            float want = pair[1];
            EXPECT_NEAR(logits[id], want, 1e-4 * std::max(1.0f, std::fabs(want)))
                << "step " << step << " token " << id;
        }
        logits = ctx.append(0, {greedy[step]});
    }
}

INSTANTIATE_TEST_SUITE_P(Threads, Stories, ::testing::Values(1, 2, 3));

TEST(Batching, SeveralSequencesInOneBatchEqualEachAlone) {
    auto model = model::Model::load(kModel);
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    const std::vector<std::string> prompts = {"Once upon a time", "The cat sat on",
                                              "Lily and Tom went to the park and"};
    const int64_t V = model->hparams().n_vocab;

    std::vector<std::vector<float>> alone;
    for (const auto& p : prompts) {
        runtime::Context ctx(model, {.n_ctx = 128, .max_seqs = 1, .threads = 1});
        const float* l = ctx.append(0, tok->encode(p, true, false));
        alone.emplace_back(l, l + V);
    }

    runtime::Context ctx(model, {.n_ctx = 384, .max_seqs = 3, .threads = 2});
    model::Batch batch;
    for (int s = 0; s < 3; ++s) {
        auto ids = tok->encode(prompts[s], true, false);
        ASSERT_TRUE(ctx.cache().reserve(s, static_cast<int64_t>(ids.size())));
        for (size_t i = 0; i < ids.size(); ++i)
            batch.add(ids[i], s, static_cast<int32_t>(i), i + 1 == ids.size());
    }
    const std::vector<float>& logits = ctx.decode(batch);
    ASSERT_EQ(logits.size(), static_cast<size_t>(3 * V));
    for (int s = 0; s < 3; ++s) {
        EXPECT_LT(max_relative_error(logits.data() + s * V, alone[s]), 1e-5) << "sequence " << s;
    }
}

TEST(Batching, SharedPrefixGivesSameLogitsAsRecomputing) {
    auto model = model::Model::load(kModel);
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    const int64_t V = model->hparams().n_vocab;
    auto prefix = tok->encode("Once upon a time, there was a little girl", true, false);
    auto suffix = tok->encode(" who liked cats", false, false);
    auto full = prefix;
    full.insert(full.end(), suffix.begin(), suffix.end());

    runtime::Context ctx(model, {.n_ctx = 256, .max_seqs = 2, .threads = 1, .kv_block_size = 4});
    const float* l0 = ctx.append(0, full);
    std::vector<float> direct(l0, l0 + V);
    // Sequence 1 reuses sequence 0's cached prefix (copy-on-write blocks), then adds the suffix.
    ctx.cache().share_prefix(0, 1, static_cast<int64_t>(prefix.size()));
    const float* l1 = ctx.append(1, suffix);
    EXPECT_LT(max_relative_error(l1, direct), 1e-6);
    // Writing into sequence 1 must not have changed sequence 0's cache.
    ctx.cache().truncate(0, static_cast<int64_t>(full.size()) - 1);
    const float* again = ctx.append(0, {full.back()});
    EXPECT_LT(max_relative_error(again, direct), 1e-6);
}

TEST(ModelLoad, RefusesWrongFiles) {
    EXPECT_THROW(
        model::Model::load(std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-llama-spm.gguf"),
        Error);
    EXPECT_THROW(model::Model::load("/nonexistent.gguf"), Error);
}

TEST(Generate, ContextFullIsAClearError) {
    auto model = model::Model::load(kModel);
    runtime::Context ctx(model, {.n_ctx = 8, .max_seqs = 1, .threads = 1});
    try {
        ctx.append(0, std::vector<int32_t>(9, 5));
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("context is full"), std::string::npos);
    }
}

TEST(Generate, StopStringsAndSeeds) {
    auto model = model::Model::load(kModel);
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    auto run = [&](runtime::GenerateRequest req) {
        runtime::Context ctx(model, {.n_ctx = 256, .max_seqs = 1, .threads = 2});
        return runtime::generate(ctx, *tok, req);
    };
    runtime::GenerateRequest req;
    req.prompt = tok->encode("Once upon a time", true, false);
    req.max_tokens = 64;
    req.sampling.temperature = 0;
    req.stop = {"Lily"};
    auto stopped = run(req);
    EXPECT_EQ(stopped.text, ", there was a little girl named ");
    EXPECT_EQ(stopped.finish, runtime::FinishReason::Stop);

    req.stop.clear();
    req.sampling.temperature = 1.0f;
    req.sampling.seed = 42;
    auto a = run(req);
    auto b = run(req);
    EXPECT_EQ(a.tokens, b.tokens);
    req.sampling.seed = 43;
    auto c = run(req);
    EXPECT_NE(a.tokens, c.tokens);
}

}  // namespace
