// The scheduler against the single-sequence loop: batching must not change a single token.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "runtime/scheduler.h"
#include "test_helpers.h"

namespace hearth::runtime {
namespace {

struct Collected {
    std::string text;
    FinishReason finish = FinishReason::Stop;
    int64_t completion_tokens = 0;
    int64_t cached = 0;
};

// Submits all requests at once and waits for every final event.
std::vector<Collected> run_all(Scheduler& scheduler, std::vector<SequenceRequest> reqs) {
    auto results = std::make_shared<std::vector<Collected>>(reqs.size());
    auto done = std::make_shared<std::vector<std::promise<void>>>(reqs.size());
    for (size_t i = 0; i < reqs.size(); ++i) {
        reqs[i].on_event = [results, done, i](SequenceEvent&& ev) {
            (*results)[i].text += ev.text;
            if (!ev.finished) return;
            (*results)[i].finish = ev.finish;
            (*results)[i].completion_tokens = ev.completion_tokens;
            (*results)[i].cached = ev.cached_prompt_tokens;
            (*done)[i].set_value();
        };
    }
    std::vector<std::future<void>> waits;
    for (auto& p : *done) waits.push_back(p.get_future());
    EXPECT_FALSE(scheduler.submit(std::move(reqs)).empty());
    for (auto& w : waits) w.wait();
    return *results;
}

TEST(Scheduler, BatchedGreedyEqualsSingleSequenceLoop) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 4, .threads = 1, .prefill_chunk = 7});
    const std::vector<std::string> prompts = {
        "Once upon a time", "The cat",   "Lily and Tom went to the park",
        "One day",          "A big dog", "She was happy"};
    std::vector<SequenceRequest> reqs;
    for (const auto& p : prompts) {
        SequenceRequest r;
        r.prompt = oracle.tok->encode(p, true, false);
        r.sampling = testing::Oracle::greedy();
        r.max_tokens = 40;
        reqs.push_back(std::move(r));
    }
    auto got = run_all(scheduler, std::move(reqs));
    for (size_t i = 0; i < prompts.size(); ++i) {
        auto want = oracle.run_text(prompts[i], 40);
        EXPECT_EQ(got[i].text, want.text) << prompts[i];
        EXPECT_EQ(got[i].completion_tokens, static_cast<int64_t>(want.tokens.size()));
        EXPECT_STREQ(finish_reason_name(got[i].finish), finish_reason_name(want.finish));
    }
}

TEST(Scheduler, SeededSamplingEqualsSingleSequenceLoop) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 3, .threads = 1});
    std::vector<SequenceRequest> reqs;
    for (uint64_t seed = 1; seed <= 5; ++seed) {
        SequenceRequest r;
        r.prompt = oracle.tok->encode("Once upon a time", true, false);
        r.sampling.temperature = 1.0f;
        r.sampling.seed = seed;
        r.max_tokens = 30;
        reqs.push_back(std::move(r));
    }
    auto got = run_all(scheduler, std::move(reqs));
    for (uint64_t seed = 1; seed <= 5; ++seed) {
        SamplingParams s;
        s.temperature = 1.0f;
        s.seed = seed;
        EXPECT_EQ(got[seed - 1].text, oracle.run_text("Once upon a time", 30, s).text)
            << "seed " << seed;
    }
}

TEST(Scheduler, ReusesACachedPromptPrefix) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 2, .threads = 1});
    auto make = [&](const std::string& text) {
        SequenceRequest r;
        r.prompt = oracle.tok->encode(text, true, false);
        r.sampling = testing::Oracle::greedy();
        r.max_tokens = 20;
        std::vector<SequenceRequest> v;
        v.push_back(std::move(r));
        return v;
    };
    auto first = run_all(scheduler, make("Once upon a time, there was a little girl"));
    auto second = run_all(scheduler, make("Once upon a time, there was a little boy"));
    EXPECT_EQ(first[0].cached, 0);
    EXPECT_GT(second[0].cached, 5);
    EXPECT_EQ(second[0].text, oracle.run_text("Once upon a time, there was a little boy", 20).text);
    EXPECT_GT(scheduler.stats().prompt_tokens_reused, 5u);
}

TEST(Scheduler, StopStringsAndCancellation) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 2, .threads = 1});
    SequenceRequest r;
    r.prompt = oracle.tok->encode("Once upon a time", true, false);
    r.sampling = testing::Oracle::greedy();
    r.max_tokens = 40;
    r.stop = {" little"};
    std::vector<SequenceRequest> v;
    v.push_back(std::move(r));
    auto got = run_all(scheduler, std::move(v));
    EXPECT_EQ(got[0].text, ", there was a");
    EXPECT_EQ(got[0].finish, FinishReason::Stop);
}

TEST(Scheduler, FullQueueRefusesEverythingOrNothing) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 64, .parallel = 1, .threads = 1, .max_queue = 2});
    std::vector<SequenceRequest> three(3);
    for (auto& r : three) {
        r.prompt = {1};
        r.on_event = [](SequenceEvent&&) {};
    }
    EXPECT_TRUE(scheduler.submit(std::move(three)).empty());
}

}  // namespace
}  // namespace hearth::runtime

namespace hearth::runtime {
namespace {

TEST(Scheduler, SequencesWithOnePromptEvaluateItOnce) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 4, .threads = 1, .prefill_chunk = 16});
    const std::string prompt =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
        "park with her friends. One day, she saw a big red ball";
    const auto tokens = oracle.tok->encode(prompt, true, false);
    ASSERT_GT(tokens.size(), 40u);
    std::vector<SequenceRequest> reqs;
    for (uint64_t seed = 0; seed < 3; ++seed) {
        SequenceRequest r;
        r.prompt = tokens;
        r.sampling.temperature = 1.0f;
        r.sampling.seed = seed;
        r.max_tokens = 20;
        reqs.push_back(std::move(r));
    }
    auto got = run_all(scheduler, std::move(reqs));
    EXPECT_EQ(got[0].cached, 0);
    for (uint64_t seed = 0; seed < 3; ++seed) {
        if (seed > 0) {
            EXPECT_EQ(got[seed].cached, static_cast<int64_t>(tokens.size()) - 1);
        }
        SamplingParams s;
        s.temperature = 1.0f;
        s.seed = seed;
        EXPECT_EQ(got[seed].text, oracle.run(tokens, 20, s).text) << "seed " << seed;
    }
    EXPECT_EQ(scheduler.stats().prompt_tokens_evaluated, tokens.size() + 2);
}

}  // namespace
}  // namespace hearth::runtime

namespace hearth::runtime {
namespace {

// Fair prefill: a short prompt submitted behind a long one is evaluated first and finishes
// while the long one is still being evaluated, chunk by chunk; the long one's answer is still
// the single-sequence loop's.
TEST(Scheduler, AShortPromptDoesNotWaitBehindALongOne) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 2, .threads = 1, .prefill_chunk = 8});
    std::string long_text;
    for (int i = 0; i < 12; ++i) long_text += "Lily and Tom went to the park. ";
    auto order = std::make_shared<std::vector<std::string>>();
    auto mutex = std::make_shared<std::mutex>();
    auto make = [&](const std::string& text, const std::string& name, int32_t max_tokens) {
        SequenceRequest r;
        r.prompt = oracle.tok->encode(text, true, false);
        r.sampling = testing::Oracle::greedy();
        r.max_tokens = max_tokens;
        r.on_event = [order, mutex, name](SequenceEvent&& ev) {
            if (!ev.finished) return;
            std::lock_guard lock(*mutex);
            order->push_back(name);
        };
        return r;
    };
    SequenceRequest long_request = make(long_text, "long", 1);
    ASSERT_GT(long_request.prompt.size(), 100u);  // many chunks of 8
    std::vector<SequenceRequest> both;
    both.push_back(std::move(long_request));
    both.push_back(make("Once upon", "short", 3));
    ASSERT_EQ(scheduler.submit(std::move(both)).size(), 2u);
    for (int i = 0; i < 500; ++i) {
        {
            std::lock_guard lock(*mutex);
            if (order->size() == 2) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard lock(*mutex);
    ASSERT_EQ(order->size(), 2u);
    EXPECT_EQ((*order)[0], "short");
    EXPECT_EQ((*order)[1], "long");
}

}  // namespace
}  // namespace hearth::runtime

namespace hearth::runtime {
namespace {

// Speculative decoding by prompt lookup changes how many passes a sequence takes, never its
// tokens: greedy and seeded sampling equal the single-sequence loop, with and without logprobs,
// and on text that repeats itself most drafts are kept.
TEST(SchedulerSpeculation, OutputEqualsTheSingleSequenceLoop) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 3, .threads = 1, .draft_tokens = 4});
    const std::vector<std::string> prompts = {
        "Lily and Tom went to the park. Lily and Tom went to the park. Lily and Tom",
        "Once upon a time, there was a little girl named Lily. Once upon a time",
        "The cat sat on the mat. The dog sat on the mat. The bird"};
    std::vector<SequenceRequest> reqs;
    for (const auto& p : prompts) {
        for (uint64_t seed : {0, 7}) {
            SequenceRequest r;
            r.prompt = oracle.tok->encode(p, true, false);
            r.sampling = seed == 0 ? testing::Oracle::greedy() : SamplingParams{};
            if (seed) {
                r.sampling.temperature = 0.8f;
                r.sampling.seed = seed;
            }
            r.max_tokens = 60;
            reqs.push_back(std::move(r));
        }
    }
    auto got = run_all(scheduler, std::move(reqs));
    for (size_t i = 0; i < got.size(); ++i) {
        const std::string& prompt = prompts[i / 2];
        SamplingParams s = testing::Oracle::greedy();
        if (i % 2) {
            s = SamplingParams{};
            s.temperature = 0.8f;
            s.seed = 7;
        }
        auto want = oracle.run_text(prompt, 60, s);
        EXPECT_EQ(got[i].text, want.text) << prompt << " sampled " << (i % 2);
        EXPECT_EQ(got[i].completion_tokens, static_cast<int64_t>(want.tokens.size()));
    }
    const SchedulerStats stats = scheduler.stats();
    EXPECT_GT(stats.draft_tokens_proposed, 0u);
    EXPECT_GT(stats.draft_tokens_accepted, 0u);
    EXPECT_LE(stats.draft_tokens_accepted, stats.draft_tokens_proposed);
}

TEST(SchedulerSpeculation, MaxTokensAndStopStringsEndWhereTheyWould) {
    testing::Oracle oracle;
    const std::string prompt = "Lily and Tom went to the park. Lily and Tom went to the park.";
    auto requests = [&] {
        std::vector<SequenceRequest> reqs;
        for (int32_t max_tokens : {1, 2, 5, 200}) {  // 200: the context ends it first
            SequenceRequest r;
            r.prompt = oracle.tok->encode(prompt, true, false);
            r.sampling = testing::Oracle::greedy();
            r.max_tokens = max_tokens;
            reqs.push_back(std::move(r));
        }
        reqs.back().stop = {"park"};  // ... or this stop string, earlier
        reqs.push_back(reqs.back());
        reqs.back().stop.clear();
        return reqs;
    };
    Scheduler speculating(oracle.model, *oracle.tok,
                          {.ctx_per_seq = 96, .parallel = 2, .threads = 1, .draft_tokens = 8});
    Scheduler plain(oracle.model, *oracle.tok, {.ctx_per_seq = 96, .parallel = 2, .threads = 1});
    auto got = run_all(speculating, requests());
    auto want = run_all(plain, requests());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].text, want[i].text) << i;
        EXPECT_EQ(got[i].completion_tokens, want[i].completion_tokens) << i;
        EXPECT_STREQ(finish_reason_name(got[i].finish), finish_reason_name(want[i].finish)) << i;
    }
}

}  // namespace
}  // namespace hearth::runtime

namespace hearth::runtime {
namespace {

// The KV pool (SchedulerParams::kv_tokens): every sequence's keys and values share one pool of
// 32-token blocks, and a sequence is admitted only when the pool can hold its prompt and its
// room to generate; until then it waits in the queue, in order. The oracle is the
// single-sequence loop (runtime::generate on a context of its own).

struct Timeline {
    std::vector<std::string> events;  // "start i" at a sequence's first token, "end i" at its end
    std::vector<Collected> results;
    std::vector<std::string> errors;
    int most_alive = 0;
};

// Runs the requests (each reporting every token) and records when each starts and ends. The
// first `first_batch` are submitted together, then the rest (a second caller arriving).
Timeline run_timeline(Scheduler& scheduler, std::vector<SequenceRequest> reqs,
                      size_t first_batch = SIZE_MAX) {
    auto t = std::make_shared<Timeline>();
    t->results.resize(reqs.size());
    t->errors.resize(reqs.size());
    auto alive = std::make_shared<std::vector<int>>(reqs.size(), 0);  // 0 new, 1 alive, 2 done
    auto done = std::make_shared<std::vector<std::promise<void>>>(reqs.size());
    for (size_t i = 0; i < reqs.size(); ++i) {
        reqs[i].top_logprobs = 0;  // an event for every token
        // Events come from the scheduler's one thread, in order.
        reqs[i].on_event = [t, alive, done, i](SequenceEvent&& ev) {
            auto& state = (*alive)[i];
            if (state == 0 && !ev.finished) {
                state = 1;
                t->events.push_back("start " + std::to_string(i));
                t->most_alive = std::max<int>(
                    t->most_alive, static_cast<int>(std::count(alive->begin(), alive->end(), 1)));
            }
            t->results[i].text += ev.text;
            if (!ev.finished) return;
            state = 2;
            t->events.push_back("end " + std::to_string(i));
            t->results[i].finish = ev.finish;
            t->results[i].completion_tokens = ev.completion_tokens;
            t->errors[i] = ev.error;
            (*done)[i].set_value();
        };
    }
    std::vector<std::future<void>> waits;
    for (auto& p : *done) waits.push_back(p.get_future());
    const auto split = reqs.begin() + static_cast<ptrdiff_t>(std::min(first_batch, reqs.size()));
    std::vector<SequenceRequest> second(std::make_move_iterator(split),
                                        std::make_move_iterator(reqs.end()));
    reqs.erase(split, reqs.end());
    EXPECT_FALSE(scheduler.submit(std::move(reqs)).empty());
    if (!second.empty()) EXPECT_FALSE(scheduler.submit(std::move(second)).empty());
    for (auto& w : waits) w.wait();
    return *t;
}

std::vector<SequenceRequest> greedy_requests(testing::Oracle& oracle,
                                             const std::vector<std::string>& prompts,
                                             int32_t max_tokens) {
    std::vector<SequenceRequest> reqs;
    for (const auto& p : prompts) {
        SequenceRequest r;
        r.prompt = oracle.tok->encode(p, true, false);
        r.sampling = testing::Oracle::greedy();
        r.max_tokens = max_tokens;
        reqs.push_back(std::move(r));
    }
    return reqs;
}

size_t position(const std::vector<std::string>& events, const std::string& event) {
    return static_cast<size_t>(std::find(events.begin(), events.end(), event) - events.begin());
}

const std::vector<std::string> kPrompts = {"Once upon a time",
                                           "The cat",
                                           "Lily and Tom went to the park",
                                           "Once upon a time, there was a little boy",
                                           "A big dog",
                                           "She was happy"};

// Each request needs 2 blocks (a prompt under 14 tokens + 40 to generate): a 4-block pool runs
// two at a time whatever --parallel says, interleaving them and reusing each other's freed
// blocks; a 2-block pool one at a time. Every answer is still the single-sequence loop's, so
// no sequence read another's blocks.
TEST(SchedulerKvPool, ASmallPoolMakesSequencesWaitNotChangeTheirTokens) {
    testing::Oracle oracle;
    for (int64_t pool : {64, 128, 0}) {
        Scheduler scheduler(oracle.model, *oracle.tok,
                            {.ctx_per_seq = 256, .parallel = 4, .threads = 1, .prefill_chunk = 7,
                             .kv_tokens = pool});
        auto reqs = greedy_requests(oracle, kPrompts, 40);
        for (const auto& r : reqs) ASSERT_LE(r.prompt.size() + 40, 64u);
        Timeline t = run_timeline(scheduler, std::move(reqs));
        for (size_t i = 0; i < kPrompts.size(); ++i) {
            auto want = oracle.run_text(kPrompts[i], 40);
            EXPECT_EQ(t.results[i].text, want.text) << "pool " << pool << ": " << kPrompts[i];
            EXPECT_EQ(t.results[i].completion_tokens, static_cast<int64_t>(want.tokens.size()));
            EXPECT_EQ(t.errors[i], "");
        }
        if (pool > 0) {
            EXPECT_EQ(t.most_alive, pool / 64) << "pool " << pool;
        } else {
            EXPECT_GE(t.most_alive, 3);  // room for all 4 slots
        }
        EXPECT_EQ(scheduler.params().kv_tokens, pool > 0 ? pool : 4 * 256);
    }
}

// In order: a request that does not fit yet holds back the ones behind it, even one small
// enough to fit beside what runs (no starvation of large requests).
TEST(SchedulerKvPool, WaitingRequestsStartInOrder) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 4, .threads = 1, .kv_tokens = 128});
    auto reqs = greedy_requests(oracle, {"Once upon a time", "The cat", "A big dog"}, 80);
    reqs[2].max_tokens = 5;  // 1 block; the first two need 3 of the 4 each
    Timeline t = run_timeline(scheduler, std::move(reqs));
    EXPECT_LT(position(t.events, "end 0"), position(t.events, "start 1"));
    EXPECT_LT(position(t.events, "end 0"), position(t.events, "start 2"));
    EXPECT_EQ(t.results[1].text, oracle.run_text("The cat", 80).text);
    EXPECT_EQ(t.results[2].text, oracle.run_text("A big dog", 5).text);
}

// Fair share (#21): one slot; key A queues ten requests, then key B one. Admission goes
// round-robin across keys, so B's starts no later than A's second (whether A's first was
// already running when B's arrived or not), A's still start in their order, and every answer is
// the single-sequence loop's.
TEST(SchedulerFairShare, OneFloodingKeyDoesNotDelayAnothersRequest) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok, {.ctx_per_seq = 128, .parallel = 1, .threads = 1});
    std::vector<std::string> prompts(10, "Once upon a time");
    prompts.push_back("The cat");
    auto reqs = greedy_requests(oracle, prompts, 8);
    for (size_t i = 0; i < reqs.size(); ++i) reqs[i].fair_share_group = i < 10 ? "key-a" : "key-b";
    Timeline t = run_timeline(scheduler, std::move(reqs), /*first_batch=*/10);
    EXPECT_LT(position(t.events, "start 10"), position(t.events, "start 1"));
    for (size_t i = 1; i < 10; ++i)
        EXPECT_LT(position(t.events, "start " + std::to_string(i - 1)),
                  position(t.events, "start " + std::to_string(i)));
    EXPECT_EQ(t.results[10].text, oracle.run_text("The cat", 8).text);
    EXPECT_EQ(t.results[9].text, oracle.run_text("Once upon a time", 8).text);
}

// Three keys queue at once, A four requests, B two, C one: admissions take turns A B C A B A A.
TEST(SchedulerFairShare, KeysTakeTurns) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok, {.ctx_per_seq = 128, .parallel = 1, .threads = 1});
    auto reqs = greedy_requests(oracle, std::vector<std::string>(7, "The cat"), 4);
    const char* groups[] = {"a", "a", "a", "a", "b", "b", "c"};
    for (size_t i = 0; i < reqs.size(); ++i) reqs[i].fair_share_group = groups[i];
    Timeline t = run_timeline(scheduler, std::move(reqs));
    std::vector<std::string> starts;
    for (const std::string& e : t.events)
        if (e.rfind("start ", 0) == 0) starts.push_back(e.substr(6));
    EXPECT_EQ(starts, (std::vector<std::string>{"0", "4", "6", "1", "5", "2", "3"}));
}

// No sequence may be longer than the pool: output stops there with finish "length", as at the
// end of a context of that size; a prompt longer than the pool can never fit and is refused
// at once with a clear error, without holding up or leaking blocks from the requests after it.
TEST(SchedulerKvPool, NoSequenceOutgrowsThePool) {
    testing::Oracle oracle;
    Scheduler pooled(oracle.model, *oracle.tok,
                     {.ctx_per_seq = 256, .parallel = 2, .threads = 1, .kv_tokens = 64});
    Scheduler short_context(oracle.model, *oracle.tok,
                            {.ctx_per_seq = 64, .parallel = 2, .threads = 1});
    EXPECT_EQ(pooled.params().ctx_per_seq, 64);

    std::string long_text;
    for (int i = 0; i < 10; ++i) long_text += "Lily and Tom went to the park. ";
    auto reqs = greedy_requests(oracle, {long_text, "Once upon a time", "Once upon a time"}, 200);
    ASSERT_GT(reqs[0].prompt.size(), 64u);
    reqs[1].ignore_eos = reqs[2].ignore_eos = true;
    Timeline t = run_timeline(pooled, reqs);
    EXPECT_EQ(t.results[0].finish, FinishReason::Length);
    EXPECT_EQ(t.results[0].completion_tokens, 0);
    EXPECT_NE(t.errors[0].find("--kv-budget"), std::string::npos) << t.errors[0];

    reqs.erase(reqs.begin());
    auto want = run_all(short_context, reqs);
    for (size_t i = 1; i < 3; ++i) {
        EXPECT_EQ(t.errors[i], "");
        EXPECT_EQ(t.results[i].finish, FinishReason::Length);
        EXPECT_EQ(t.results[i].text, want[i - 1].text);
        EXPECT_EQ(t.results[i].completion_tokens, want[i - 1].completion_tokens);
    }
}

}  // namespace
}  // namespace hearth::runtime

namespace hearth::runtime {
namespace {

// The timings SequenceEvent carries for the metrics. A 2-block pool runs one sequence at a
// time (each needs 2 blocks), so a later sequence is admitted only after the earlier one's
// last token: its queue wait covers that generation. Every sequence reports one gap per token
// after its first (its token count is the single-sequence loop's).
TEST(SchedulerTimings, MilestonesAreOrderedAndGapsCountTokensAfterTheFirst) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        {.ctx_per_seq = 256, .parallel = 4, .threads = 1, .prefill_chunk = 7,
                         .kv_tokens = 64});
    using Clock = std::chrono::steady_clock;
    struct Seen {
        Clock::time_point queued, admitted, prefill, first;
        double gap_sum = 0;
        size_t gaps = 0;
        int64_t tokens = 0;
    };
    const std::vector<std::string> prompts = {"Once upon a time", "The cat", "A big dog"};
    auto seen = std::make_shared<std::vector<Seen>>(prompts.size());
    auto done = std::make_shared<std::vector<std::promise<void>>>(prompts.size());
    auto reqs = greedy_requests(oracle, prompts, 40);
    for (size_t i = 0; i < reqs.size(); ++i) {
        reqs[i].on_event = [seen, done, i](SequenceEvent&& ev) {
            Seen& s = (*seen)[i];
            s.gaps += ev.token_gaps.size();
            for (float g : ev.token_gaps) s.gap_sum += g;
            if (!ev.finished) return;
            s.queued = ev.queued_at;
            s.admitted = ev.admitted_at;
            s.prefill = ev.prefill_started_at;
            s.first = ev.first_token_at;
            s.tokens = ev.completion_tokens;
            (*done)[i].set_value();
        };
    }
    std::vector<std::future<void>> waits;
    for (auto& p : *done) waits.push_back(p.get_future());
    ASSERT_FALSE(scheduler.submit(std::move(reqs)).empty());
    for (auto& w : waits) w.wait();
    for (size_t i = 0; i < prompts.size(); ++i) {
        const Seen& s = (*seen)[i];
        EXPECT_EQ(s.tokens, static_cast<int64_t>(oracle.run_text(prompts[i], 40).tokens.size()));
        ASSERT_GT(s.tokens, 1);
        EXPECT_EQ(s.gaps, static_cast<size_t>(s.tokens - 1)) << prompts[i];
        EXPECT_NE(s.queued, Clock::time_point{});
        EXPECT_LE(s.queued, s.admitted);
        EXPECT_LE(s.admitted, s.prefill);
        EXPECT_LT(s.prefill, s.first);
    }
    // The pool holds one sequence: each waits for the previous one's last token (float gaps:
    // a millisecond of slack).
    for (size_t i = 1; i < prompts.size(); ++i) {
        const Seen& before = (*seen)[i - 1];
        const auto last_token =
            before.first + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(before.gap_sum - 0.001));
        EXPECT_GE((*seen)[i].admitted, last_token) << prompts[i];
    }
    // Once all ended no running sequence holds a block; what stays is a cached prefix.
    SchedulerStats stats;
    for (int i = 0; i < 200; ++i) {
        stats = scheduler.stats();
        if (stats.active == 0 && stats.kv_blocks_used == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(stats.kv_blocks_total, 2);
    EXPECT_EQ(stats.kv_blocks_used, 0);
    EXPECT_GE(stats.kv_blocks_cached, 1);
    EXPECT_LE(stats.kv_blocks_cached, 2);
}

}  // namespace
}  // namespace hearth::runtime
