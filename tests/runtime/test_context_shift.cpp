// Context shift in the scheduler (SchedulerParams::context_shift) on stories260K with a 64-token
// context: without it a sequence ends with "length" at the window; with it the sequence goes on,
// and what it samples after a shift comes from a cache equal to the oracle's: the rows of the
// unshifted evaluation, the kept ones as they were and the moved keys turned back by an
// independent rotation (tests/model/rope_oracle.h), evaluated by a fresh context.
#include <gtest/gtest.h>

#include <cmath>
#include <future>

#include "rope_oracle.h"
#include "runtime/scheduler.h"
#include "test_helpers.h"

namespace hearth::runtime {
namespace {

constexpr int64_t kCtx = 64;

struct Generated {
    std::vector<TokenLogprob> tokens;
    FinishReason finish = FinishReason::Stop;
    int64_t completion_tokens = 0;
    int64_t cached = 0;
};

Generated run_one(Scheduler& scheduler, SequenceRequest req) {
    auto run = std::make_shared<Generated>();
    auto done = std::make_shared<std::promise<void>>();
    req.on_event = [run, done](SequenceEvent&& ev) {
        run->tokens.insert(run->tokens.end(), ev.logprobs.begin(), ev.logprobs.end());
        if (!ev.finished) return;
        run->finish = ev.finish;
        run->completion_tokens = ev.completion_tokens;
        run->cached = ev.cached_prompt_tokens;
        done->set_value();
    };
    auto finished = done->get_future();
    std::vector<SequenceRequest> reqs;
    reqs.push_back(std::move(req));
    EXPECT_FALSE(scheduler.submit(std::move(reqs)).empty());
    finished.wait();
    return *run;
}

SchedulerParams params(bool shift) {
    return {.ctx_per_seq = kCtx,
            .parallel = 1,
            .threads = 1,
            .kv_type = gguf::TensorType::F32,
            .context_shift = shift};
}

SequenceRequest request(const testing::Oracle& oracle, int32_t max_tokens, int32_t n_keep) {
    SequenceRequest r;
    r.prompt = oracle.tok->encode("Once upon a time, there was a little girl", true, false);
    r.sampling = testing::Oracle::greedy();
    r.max_tokens = max_tokens;
    r.ignore_eos = true;  // the tiny model ends stories early; the test needs long ones
    r.top_logprobs = 5;
    r.n_keep = n_keep;
    return r;
}

TEST(ContextShift, OffTheSequenceEndsAtTheWindow) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok, params(false));
    const SequenceRequest req = request(oracle, 200, 1);
    const auto prompt = static_cast<int64_t>(req.prompt.size());
    const Generated run = run_one(scheduler, req);
    EXPECT_EQ(run.finish, FinishReason::Length);
    // The last token is sampled from the logits of position kCtx - 1 and never stored.
    EXPECT_EQ(run.completion_tokens, kCtx - prompt + 1);
    EXPECT_EQ(scheduler.stats().context_shifts, 0u);
}

TEST(ContextShift, OnTheSequenceGeneratesPastTheWindow) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok, params(true));
    const Generated run = run_one(scheduler, request(oracle, 200, 1));
    EXPECT_EQ(run.finish, FinishReason::Length);  // max_tokens
    EXPECT_EQ(run.completion_tokens, 200);
    EXPECT_EQ(run.tokens.size(), 200u);
    // 64 positions, one kept: each shift frees 31.
    EXPECT_GE(scheduler.stats().context_shifts, 5u);
}

// log-softmax of a logits row.
std::vector<float> log_probs(const float* logits, int64_t n) {
    const float max = *std::max_element(logits, logits + n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        out[i] = logits[i] - max - static_cast<float>(std::log(sum));
    return out;
}

void expect_same_distribution(const std::vector<float>& want, const TokenLogprob& got,
                              const std::string& what) {
    EXPECT_NEAR(got.logprob, want[got.id], 2e-3f) << what;
    ASSERT_EQ(got.top.size(), 5u);
    for (const auto& [id, lp] : got.top) EXPECT_NEAR(lp, want[id], 2e-3f) << what << " id " << id;
    // The chosen (greedy) token is the oracle's most likely one.
    EXPECT_EQ(got.id, std::max_element(want.begin(), want.end()) - want.begin()) << what;
}

TEST(ContextShift, AfterAShiftTheLogitsAreThoseOfTheShiftedCache) {
    testing::Oracle oracle;
    const model::Model& m = *oracle.model;
    const model::HParams& hp = m.hparams();
    const int64_t n_vocab = hp.n_vocab, kvd = hp.kv_dim();
    const int32_t n_keep = 4;  // BOS and three more, as a system prompt would be
    const int64_t n_discard = (kCtx - n_keep) / 2;
    SequenceRequest req = request(oracle, 0, n_keep);
    const auto prompt = static_cast<int64_t>(req.prompt.size());
    // Generated token first_after (0-based) is the first sampled after the shift; stop before
    // a second one.
    const int64_t first_after = kCtx - prompt + 1;
    const int32_t checked = 6;
    req.max_tokens = static_cast<int32_t>(first_after + checked);
    Scheduler scheduler(oracle.model, *oracle.tok, params(true));
    const Generated run = run_one(scheduler, req);
    ASSERT_EQ(run.tokens.size(), static_cast<size_t>(req.max_tokens));
    EXPECT_EQ(scheduler.stats().context_shifts, 1u);

    std::vector<int32_t> stream = req.prompt;
    for (const TokenLogprob& t : run.tokens) stream.push_back(t.id);

    // Before the shift: the unshifted evaluation of the first kCtx tokens.
    Context full(oracle.model, {.n_ctx = 2 * kCtx, .max_seqs = 1, .threads = 1,
                                .kv_type = gguf::TensorType::F32});
    const float* last = full.append(0, std::vector<int32_t>(stream.begin(), stream.begin() + kCtx));
    expect_same_distribution(log_probs(last, n_vocab), run.tokens[first_after - 1],
                             "last token before the shift");

    // The oracle's cache: positions [n_keep, n_keep + n_discard) dropped, keys turned back.
    Context shifted(oracle.model, {.n_ctx = 2 * kCtx, .max_seqs = 1, .threads = 1,
                                   .kv_type = gguf::TensorType::F32});
    const int64_t kept = kCtx - n_discard;
    ASSERT_TRUE(shifted.cache().reserve(0, kept));
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const model::RopeTable& table = testing::table_of_layer(m, l);
        for (int64_t p = 0; p < kept; ++p) {
            const int64_t from = p < n_keep ? p : p + n_discard;
            auto key = testing::key_row(full.cache(), l, 0, from, kvd);
            if (p >= n_keep) key = testing::rotated_key(key, table, hp.n_head_kv, hp.head_dim, -n_discard);
            const auto value = testing::value_row(full.cache(), l, 0, from, kvd);
            shifted.cache().store(l, 0, p, key.data(), value.data());
        }
    }
    for (int32_t i = 0; i < checked; ++i) {
        const int64_t pos = kept + i;
        ASSERT_TRUE(shifted.cache().reserve(0, pos + 1));
        model::Batch batch;
        batch.add(stream[static_cast<size_t>(kCtx + i)], 0, static_cast<int32_t>(pos), true);
        const std::vector<float>& logits = shifted.decode(batch);
        expect_same_distribution(log_probs(logits.data(), n_vocab),
                                 run.tokens[static_cast<size_t>(first_after + i)],
                                 "token " + std::to_string(i) + " after the shift");
    }
}

// The rows after n_keep of a shifted slot hold keys computed with a longer history than its
// token list shows: a new prompt equal to that list reuses only the first n_keep, and gets what
// a fresh evaluation gives.
TEST(ContextShift, AShiftedSlotLendsOnlyItsKeptPrefix) {
    testing::Oracle oracle;
    const int32_t n_keep = 4;
    SequenceRequest req = request(oracle, 0, n_keep);
    const auto prompt = static_cast<int64_t>(req.prompt.size());
    req.max_tokens = static_cast<int32_t>(kCtx - prompt + 10);  // one shift
    req.top_logprobs = 0;
    Scheduler scheduler(oracle.model, *oracle.tok, params(true));
    const Generated run = run_one(scheduler, req);
    ASSERT_EQ(scheduler.stats().context_shifts, 1u);

    // What the slot holds: the stream up to the last token (sampled, never stored), shifted.
    std::vector<int32_t> stream = req.prompt;
    for (const TokenLogprob& t : run.tokens) stream.push_back(t.id);
    stream.pop_back();
    const int64_t n_discard = (kCtx - n_keep) / 2;
    std::vector<int32_t> held(stream.begin(), stream.begin() + n_keep);
    held.insert(held.end(), stream.begin() + n_keep + n_discard, stream.end());
    held.push_back(run.tokens.back().id);

    SequenceRequest again = request(oracle, 8, n_keep);
    again.prompt = held;
    again.top_logprobs = 0;
    const Generated second = run_one(scheduler, again);
    EXPECT_EQ(second.cached, n_keep);
    Scheduler fresh(oracle.model, *oracle.tok, params(true));
    const Generated want = run_one(fresh, again);
    EXPECT_EQ(want.cached, 0);
    ASSERT_EQ(second.tokens.size(), want.tokens.size());
    for (size_t i = 0; i < want.tokens.size(); ++i) {
        EXPECT_EQ(second.tokens[i].id, want.tokens[i].id);
        EXPECT_FLOAT_EQ(second.tokens[i].logprob, want.tokens[i].logprob);
    }
}

}  // namespace
}  // namespace hearth::runtime
