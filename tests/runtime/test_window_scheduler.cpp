// The scheduler with a model whose sliding-window layers keep only their window (gemma2, window
// 8, with stories260K's tokenizer): several sequences at once, prompts in chunks and prefixes
// shared between them give the tokens and log-probabilities of a context that keeps
// every position (the old path), and the window's pool is a fraction of the whole cache's.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <future>

#include "runtime/scheduler.h"
#include "test_helpers.h"
#include "tools/synthetic.h"

namespace hearth::runtime {
namespace {

constexpr int32_t kMaxTokens = 40;

std::shared_ptr<model::Model> gemma2_with_window() {
    tools::SyntheticOptions options;
    options.architecture = "gemma2";
    options.shape = tools::synthetic_shape("tiny");
    options.shape.sliding_window = 8;
    options.vocab_path = testing::stories_path();
    const std::string path =
        ::testing::TempDir() + "/gemma2-window-" + std::to_string(getpid()) + ".gguf";
    tools::write_synthetic_model(options, path);
    auto m = model::Model::load(path);
    std::remove(path.c_str());  // the mapping keeps the data
    return m;
}

// Greedy tokens and the log-probability of each (random weights repeat tokens: the
// log-probabilities tell the positions apart).
struct Generated {
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;
    int64_t cached = 0;
    std::string error;
};

void expect_same(const Generated& got, const Generated& want, const std::string& what) {
    EXPECT_EQ(got.error, "") << what;
    EXPECT_EQ(got.tokens, want.tokens) << what;
    ASSERT_EQ(got.logprobs.size(), want.logprobs.size()) << what;
    for (size_t i = 0; i < got.logprobs.size(); ++i)
        EXPECT_NEAR(got.logprobs[i], want.logprobs[i], 1e-4f) << what << " token " << i;
}

std::vector<Generated> run_all(Scheduler& scheduler, std::vector<SequenceRequest> reqs) {
    auto runs = std::make_shared<std::vector<Generated>>(reqs.size());
    auto done = std::make_shared<std::vector<std::promise<void>>>(reqs.size());
    std::vector<std::future<void>> waits;
    for (size_t i = 0; i < reqs.size(); ++i) {
        waits.push_back((*done)[i].get_future());
        reqs[i].top_logprobs = 0;  // every token's id
        reqs[i].on_event = [runs, done, i](SequenceEvent&& ev) {
            for (const auto& t : ev.logprobs) {
                (*runs)[i].tokens.push_back(t.id);
                (*runs)[i].logprobs.push_back(t.logprob);
            }
            if (!ev.finished) return;
            (*runs)[i].cached = ev.cached_prompt_tokens;
            (*runs)[i].error = ev.error;
            (*done)[i].set_value();
        };
    }
    EXPECT_FALSE(scheduler.submit(std::move(reqs)).empty());
    for (auto& w : waits) w.wait();
    return *runs;
}

SequenceRequest request(const std::vector<int32_t>& prompt) {
    SequenceRequest r;
    r.prompt = prompt;
    r.sampling = testing::Oracle::greedy();
    r.max_tokens = kMaxTokens;
    r.ignore_eos = true;  // random weights: the sequences must run their full length
    return r;
}

// The oracle: a context that keeps every position (the old path), one token at a time,
// greedy, with the chosen token's log-softmax computed here.
Generated whole_cache_run(const std::shared_ptr<model::Model>& m, const std::vector<int32_t>& prompt) {
    Context ctx(m, {.n_ctx = 512, .max_seqs = 1, .threads = 1, .kv_type = gguf::TensorType::F32});
    EXPECT_EQ(ctx.cache().window(), 0);
    const auto V = static_cast<size_t>(m->hparams().n_vocab);
    Generated run;
    const float* logits = ctx.append(0, prompt);
    for (int32_t i = 0; i < kMaxTokens; ++i) {
        const auto best = static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
        double sum = 0;
        for (size_t j = 0; j < V; ++j) sum += std::exp(double{logits[j]} - logits[best]);
        run.tokens.push_back(best);
        run.logprobs.push_back(static_cast<float>(-std::log(sum)));
        logits = ctx.append(0, {best});
    }
    return run;
}

SchedulerParams params(bool context_shift = false) {
    return {.ctx_per_seq = 256, .parallel = 3, .threads = 1, .prefill_chunk = 5,
            .kv_type = gguf::TensorType::F32, .context_shift = context_shift};
}

TEST(SchedulerWindow, ConcurrentSequencesGiveTheWholeCachesTokens) {
    auto m = gemma2_with_window();
    auto tok = tokenizer::Tokenizer::from_gguf(m->file());
    const std::vector<std::string> texts = {
        "Once upon a time, there was a little girl named Lily. She liked to play outside. "
        "One day she saw a big red ball in the park and ran to get it.",
        "The cat sat on the mat and looked at the bird in the tree.",
        "Tom had a small boat. He took it to the lake every day with his dad and his dog Max."};
    std::vector<SequenceRequest> reqs;
    for (const auto& t : texts) reqs.push_back(request(tok->encode(t, true, false)));
    Scheduler windowed(m, *tok, params());
    // Context shift needs every position: the same model then keeps them all. 3 x 256
    // positions of 4 layers against 3 x 256 of the 2 global layers and, for the 2 sliding
    // ones, 3 x 2 blocks of 32 (window 8 + a chunk of 5 fit one block, plus one at an edge).
    Scheduler whole(m, *tok, params(/*context_shift=*/true));
    EXPECT_EQ(windowed.kv_cache_bytes() * 4 * 768, whole.kv_cache_bytes() * (2 * 768 + 2 * 192));
    const auto runs = run_all(windowed, reqs);
    for (size_t i = 0; i < texts.size(); ++i) {
        ASSERT_GT(reqs[i].prompt.size() + kMaxTokens, 3 * 8u) << "several windows long";
        expect_same(runs[i], whole_cache_run(m, reqs[i].prompt), texts[i]);
    }
}

// Sequences with one prompt: the later ones wait for the first's prompt and share its blocks,
// the window included (its last chunk kept the window before it). Once the first has
// generated beyond the window, the prompt's window is gone: the same prompt again is evaluated
// cold. Every run gives the oracle's tokens.
TEST(SchedulerWindow, SharedPrefixesEqualAColdRun) {
    auto m = gemma2_with_window();
    auto tok = tokenizer::Tokenizer::from_gguf(m->file());
    std::string text;
    for (int i = 0; i < 6; ++i) text += "Lily and Tom went to the park to play with a ball. ";
    const auto prompt = tok->encode(text, true, false);
    ASSERT_GT(prompt.size(), 64u);  // blocks of 32 fall out of the window of 8
    const Generated want = whole_cache_run(m, prompt);
    Scheduler scheduler(m, *tok, params());

    const auto together = run_all(scheduler, {request(prompt), request(prompt), request(prompt)});
    EXPECT_EQ(together[0].cached, 0);
    for (const auto& r : together) expect_same(r, want, "together");
    EXPECT_EQ(together[1].cached, static_cast<int64_t>(prompt.size()) - 1);
    EXPECT_EQ(together[2].cached, static_cast<int64_t>(prompt.size()) - 1);

    const auto again = run_all(scheduler, {request(prompt)});
    EXPECT_EQ(again[0].cached, 0) << "the prompt's window was released while generating";
    expect_same(again[0], want, "again");
}

// --kv-budget's split (server/model_pool.cpp): the sliding layers' pool first, then tokens of
// the global layers. gemma2 tiny: 4 layers, 2 sliding, F32 rows of kv_dim floats.
TEST(SchedulerWindow, TheBudgetPaysForWindowsThenForTokensOfTheOtherLayers) {
    auto m = gemma2_with_window();
    const uint64_t row = static_cast<uint64_t>(m->hparams().kv_dim()) * sizeof(float);
    const KvCosts windowed = kv_costs(*m, params());
    EXPECT_EQ(windowed.bytes_per_token, 2 * 2 * row);  // key and value of 2 layers
    EXPECT_EQ(windowed.window_pool_bytes, 3 * 2 * 32 * (2 * 2 * row));  // 3 sequences' windows
    const KvCosts whole = kv_costs(*m, params(/*context_shift=*/true));
    EXPECT_EQ(whole.bytes_per_token, 2 * 4 * row);
    EXPECT_EQ(whole.window_pool_bytes, 0u);
}

}  // namespace
}  // namespace hearth::runtime
