// The KV cache's types on stories260K: what F16, Q8_0 and Q4_0 rows change in the logits, against
// the F32 cache on the same tokens, bounded by the error each type's rounding allows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "runtime/context.h"
#include "runtime/scheduler.h"
#include "tokenizer/tokenizer.h"

using namespace hearth;
using gguf::TensorType;

namespace {

const std::string kModel = std::string(HEARTH_TEST_DATA) + "/models/stories260K.gguf";

// The logits of every position of `tokens` (fed one prompt, then one token at a time).
std::vector<std::vector<float>> logits_along(const std::shared_ptr<const model::Model>& model,
                                             const std::vector<int32_t>& prompt,
                                             const std::vector<int32_t>& continuation,
                                             TensorType kv_type) {
    runtime::Context ctx(model, {.n_ctx = 256, .max_seqs = 1, .threads = 2, .kv_type = kv_type});
    const int64_t V = model->hparams().n_vocab;
    std::vector<std::vector<float>> out;
    const float* l = ctx.append(0, prompt);
    out.emplace_back(l, l + V);
    for (int32_t t : continuation) {
        l = ctx.append(0, {t});
        out.emplace_back(l, l + V);
    }
    return out;
}

// The largest error of one stored element relative to the largest magnitude in its block (F16:
// to its own magnitude, which is no larger): F16 rounds to 11 significant bits; Q8_0 stores
// round(x / d) with d = max / 127, so |error| <= d / 2 = max / 254; Q4_0 stores round(x / d) with
// d = max / 8 (the signed maximum maps to -8), so |error| <= max / 16.
double element_error(TensorType type) {
    switch (type) {
        case TensorType::F16:
            return std::ldexp(1.0, -11);
        case TensorType::Q8_0:
            return 1.0 / 254;
        case TensorType::Q4_0:
            return 1.0 / 16;
        default:
            return 0;
    }
}

}  // namespace

TEST(KvTypes, LogitDriftAgainstF32StaysWithinTheRoundingOfEachType) {
    std::shared_ptr<const model::Model> model = model::Model::load(kModel);
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    const std::vector<int32_t> prompt = tok->encode("Once upon a time, there was a little girl", true, false);
    // The F32 cache's greedy continuation; every type is then fed these same tokens.
    std::vector<int32_t> greedy;
    {
        runtime::Context ctx(model, {.n_ctx = 256, .max_seqs = 1, .threads = 2,
                                     .kv_type = TensorType::F32});
        const int64_t V = model->hparams().n_vocab;
        const float* l = ctx.append(0, prompt);
        for (int i = 0; i < 96; ++i) {
            greedy.push_back(static_cast<int32_t>(std::max_element(l, l + V) - l));
            l = ctx.append(0, {greedy.back()});
        }
    }
    const auto want = logits_along(model, prompt, greedy, TensorType::F32);
    double logit_scale = 0;
    for (const auto& row : want)
        for (float x : row) logit_scale = std::max(logit_scale, std::fabs(double{x}));

    double previous = 0;
    for (TensorType type : {TensorType::F16, TensorType::Q8_0, TensorType::Q4_0}) {
        const auto got = logits_along(model, prompt, greedy, type);
        double drift = 0;
        int argmax_changes = 0;  // positions whose greedy pick differs from the F32 cache's
        for (size_t p = 0; p < want.size(); ++p) {
            for (size_t i = 0; i < want[p].size(); ++i)
                drift = std::max(drift, std::fabs(double{got[p][i]} - want[p][i]));
            argmax_changes += std::max_element(got[p].begin(), got[p].end()) - got[p].begin() !=
                              std::max_element(want[p].begin(), want[p].end()) - want[p].begin();
        }
        // Each layer's attention reads keys and values with that relative error. A value's
        // error moves the output by as much relative to its size; a key's error moves a score,
        // and the softmax weight through both its numerator and the normaliser (twice). The
        // layers add up, and the output projection carries the change to the logits in
        // proportion: (1 + 2) -> at most 4 x n_layer x error x the logits' scale.
        const double bound =
            4.0 * static_cast<double>(model->hparams().n_layer) * element_error(type) * logit_scale;
        std::printf("kv %s: max |logit - f32 logit| = %.3g over %zu positions (bound %.3g, "
                    "logits up to %.3g); greedy pick differs at %d positions\n",
                    std::string(model::kv_type_name(type)).c_str(), drift, want.size(), bound,
                    logit_scale, argmax_changes);
        EXPECT_LE(drift, bound) << model::kv_type_name(type);
        // The stored type is really used: rounding changes something, and coarser types more.
        EXPECT_GT(drift, previous) << model::kv_type_name(type);
        previous = drift;
    }
}

TEST(KvTypes, SchedulerCacheBytesFollowTheType) {
    std::shared_ptr<const model::Model> model = model::Model::load(kModel);
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    auto bytes = [&](TensorType type) {
        runtime::Scheduler s(model, *tok, {.ctx_per_seq = 64, .parallel = 2, .kv_type = type});
        return s.kv_cache_bytes();
    };
    const auto& hp = model->hparams();
    const size_t f32 = bytes(TensorType::F32);
    // Positions (whole blocks of the cache) x layers x key and value x row bytes.
    EXPECT_EQ(f32 % (hp.n_layer * 2 * hp.kv_dim() * 4), 0u);
    EXPECT_EQ(bytes(TensorType::F16) * 2, f32);
    EXPECT_EQ(bytes(TensorType::Q8_0) * 128, f32 * 34);  // 32 floats -> a 34-byte block
    EXPECT_EQ(bytes(TensorType::Q4_0) * 128, f32 * 18);  // 32 floats -> an 18-byte block
}
