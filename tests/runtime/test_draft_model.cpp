// Speculative decoding with a draft model: whatever the draft model guesses, the scheduler's
// output equals runtime::generate() on the target alone (the single-sequence oracle); a draft
// model of another vocabulary is refused when the scheduler is built.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <future>

#include "core/error.h"
#include "runtime/draft_model.h"
#include "runtime/scheduler.h"
#include "test_helpers.h"
#include "tools/quantize_model.h"
#include "tools/synthetic.h"

namespace hearth::runtime {
namespace {

std::string temp_path(const std::string& stem) {
    return ::testing::TempDir() + "/" + stem + "-" + std::to_string(getpid()) + ".gguf";
}

// Loads the file and removes it: the mapping keeps the data.
std::shared_ptr<model::Model> load_and_remove(const std::string& path) {
    auto model = model::Model::load(path);
    std::remove(path.c_str());
    return model;
}

// stories260K quantized: the same vocabulary, slightly different predictions.
std::shared_ptr<model::Model> quantized_stories(const std::string& type) {
    const std::string path = temp_path("stories-" + type);
    tools::quantize_model(testing::stories_path(), path, *tools::find_quant_recipe(type), 1);
    return load_and_remove(path);
}

// Random weights with `vocab_file`'s tokenizer: a draft that is almost always wrong.
std::shared_ptr<model::Model> random_model_with_vocab(const std::string& vocab_file,
                                                      const std::string& stem) {
    tools::SyntheticOptions options;
    options.shape = tools::synthetic_shape("tiny");
    options.vocab_path = vocab_file;
    const std::string path = temp_path(stem);
    tools::write_synthetic_model(options, path);
    return load_and_remove(path);
}

struct Result {
    std::string text;
    int64_t completion_tokens = 0;
};

std::vector<Result> run_all(Scheduler& scheduler, std::vector<SequenceRequest> reqs) {
    auto results = std::make_shared<std::vector<Result>>(reqs.size());
    auto done = std::make_shared<std::vector<std::promise<void>>>(reqs.size());
    std::vector<std::future<void>> waits;
    for (size_t i = 0; i < reqs.size(); ++i) {
        waits.push_back((*done)[i].get_future());
        reqs[i].on_event = [results, done, i](SequenceEvent&& ev) {
            (*results)[i].text += ev.text;
            if (!ev.finished) return;
            (*results)[i].completion_tokens = ev.completion_tokens;
            (*done)[i].set_value();
        };
    }
    EXPECT_FALSE(scheduler.submit(std::move(reqs)).empty());
    for (auto& w : waits) w.wait();
    return *results;
}

const std::vector<std::string> kPrompts = {
    "Once upon a time", "Lily and Tom went to the park. Lily and Tom went to the park. Lily",
    "The cat sat on the mat.", "One day, a little boy named Tim"};
constexpr int32_t kMaxTokens = 48;

SamplingParams seeded(uint64_t seed) {
    SamplingParams s;
    s.temperature = 0.8f;
    s.seed = seed;
    return s;
}

// Every prompt greedily, then every prompt with seeded sampling, all submitted at once; each
// output must equal the oracle's for the same prompt and sampling.
void expect_oracle_output(testing::Oracle& oracle, Scheduler& scheduler) {
    std::vector<SequenceRequest> reqs;
    std::vector<SamplingParams> samplings;
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < kPrompts.size(); ++i) {
            SequenceRequest r;
            r.prompt = oracle.tok->encode(kPrompts[i], true, false);
            r.sampling = pass == 0 ? testing::Oracle::greedy() : seeded(11 + i);
            r.max_tokens = kMaxTokens;
            samplings.push_back(r.sampling);
            reqs.push_back(std::move(r));
        }
    }
    auto got = run_all(scheduler, std::move(reqs));
    for (size_t i = 0; i < got.size(); ++i) {
        const std::string& prompt = kPrompts[i % kPrompts.size()];
        auto want = oracle.run_text(prompt, kMaxTokens, samplings[i]);
        EXPECT_EQ(got[i].text, want.text) << prompt << (i < kPrompts.size() ? " greedy" : " sampled");
        EXPECT_EQ(got[i].completion_tokens, static_cast<int64_t>(want.tokens.size())) << prompt;
    }
}

SchedulerParams with_draft(std::shared_ptr<const model::Model> draft, bool prompt_lookup = false) {
    SchedulerParams p{.ctx_per_seq = 256, .parallel = 3, .threads = 1, .prefill_chunk = 16};
    p.draft_tokens = 4;
    p.prompt_lookup = prompt_lookup;
    p.draft_model = std::move(draft);
    return p;
}

// The target drafting for itself guesses its own greedy choices: every greedy draft the target
// gets to check is kept. Only a sequence's last step may leave drafts unchecked (it ended at
// EOS or max_tokens inside them), and sampled sequences reject some.
TEST(DraftModel, SelfDraftKeepsEveryGreedyDraft) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok, with_draft(oracle.model));
    std::vector<SequenceRequest> reqs;
    for (const std::string& p : kPrompts) {
        SequenceRequest r;
        r.prompt = oracle.tok->encode(p, true, false);
        r.sampling = testing::Oracle::greedy();
        r.max_tokens = kMaxTokens;
        reqs.push_back(std::move(r));
    }
    auto got = run_all(scheduler, std::move(reqs));
    for (size_t i = 0; i < kPrompts.size(); ++i)
        EXPECT_EQ(got[i].text, oracle.run_text(kPrompts[i], kMaxTokens).text) << kPrompts[i];
    const SchedulerStats stats = scheduler.stats();
    EXPECT_GT(stats.draft_tokens_accepted, static_cast<uint64_t>(kPrompts.size()) * 10);
    EXPECT_LE(stats.draft_tokens_proposed - stats.draft_tokens_accepted,
              kPrompts.size() * 4u);  // at most one step's drafts per sequence lost
    // Far fewer passes than tokens: each step kept up to 5 tokens per sequence.
    EXPECT_LT(stats.steps, stats.tokens_generated / 2);

    expect_oracle_output(oracle, scheduler);
}

// A draft that predicts differently (stories260K in Q4_0) or almost never right (random weights
// over the same vocabulary): drafts are rejected part of the time, output never changes.
TEST(DraftModel, DifferentDraftModelsLeaveOutputUnchanged) {
    testing::Oracle oracle;
    for (auto draft : {quantized_stories("Q4_0"),
                       random_model_with_vocab(testing::stories_path(), "random-stories")}) {
        Scheduler scheduler(oracle.model, *oracle.tok, with_draft(draft));
        expect_oracle_output(oracle, scheduler);
        const SchedulerStats stats = scheduler.stats();
        EXPECT_GT(stats.draft_tokens_proposed, 0u);
        EXPECT_LT(stats.draft_tokens_accepted, stats.draft_tokens_proposed);
    }
}

// With prompt lookup too: lookup drafts where the text repeats, the model elsewhere.
TEST(DraftModel, WithPromptLookupLeavesOutputUnchanged) {
    testing::Oracle oracle;
    Scheduler scheduler(oracle.model, *oracle.tok,
                        with_draft(quantized_stories("Q8_0"), /*prompt_lookup=*/true));
    expect_oracle_output(oracle, scheduler);
    EXPECT_GT(scheduler.stats().draft_tokens_accepted, 0u);
}

// Longer than a catch-up pass (512 tokens) and reusing slots: the draft model's cache follows
// each slot's tokens through prefix reuse and new requests.
TEST(DraftModel, LongPromptsAndReusedSlots) {
    testing::Oracle oracle;
    SchedulerParams p = with_draft(oracle.model);
    p.ctx_per_seq = 700;
    p.parallel = 2;
    p.prefill_chunk = 700;
    Scheduler scheduler(oracle.model, *oracle.tok, p);
    std::string long_text;
    for (int i = 0; i < 40; ++i) long_text += "Lily saw a big red ball in the park. ";
    const std::vector<std::string> prompts = {long_text + "Then", long_text + "The", "Tom"};
    for (int round = 0; round < 2; ++round) {
        std::vector<SequenceRequest> reqs;
        for (const std::string& text : prompts) {
            SequenceRequest r;
            r.prompt = oracle.tok->encode(text, true, false);
            ASSERT_LT(r.prompt.size() + 20, 700u);
            r.sampling = testing::Oracle::greedy();
            r.max_tokens = 20;
            reqs.push_back(std::move(r));
        }
        auto got = run_all(scheduler, std::move(reqs));
        for (size_t i = 0; i < prompts.size(); ++i) {
            runtime::Context ctx(oracle.model, {.n_ctx = 1024, .max_seqs = 1, .threads = 1});
            runtime::GenerateRequest req;
            req.prompt = oracle.tok->encode(prompts[i], true, false);
            req.max_tokens = 20;
            req.sampling = testing::Oracle::greedy();
            EXPECT_EQ(got[i].text, runtime::generate(ctx, *oracle.tok, req).text) << i;
        }
    }
    EXPECT_GT(scheduler.stats().draft_tokens_accepted, 0u);
}

TEST(DraftModel, ADifferentVocabularyIsRefused) {
    testing::Oracle oracle;
    auto other = random_model_with_vocab(
        std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-llama-spm.gguf", "random-llama-spm");
    try {
        Scheduler scheduler(oracle.model, *oracle.tok, with_draft(other));
        FAIL() << "a draft model of another vocabulary was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("vocabulary has 32000 tokens, the model's 512"),
                  std::string::npos)
            << e.what();
    }
}

TEST(DraftModel, VocabularyComparisonNamesTheFirstDifferentToken) {
    tokenizer::Vocab a, b;
    a.tokens = {"<s>", "</s>", "hello", "world"};
    b.tokens = a.tokens;
    EXPECT_NO_THROW(check_same_vocabulary(a, b));
    b.tokens[2] = "hullo";
    try {
        check_same_vocabulary(a, b);
        FAIL() << "a different token was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("at token 2 ('hullo' instead of 'hello')"),
                  std::string::npos)
            << e.what();
    }
    b.tokens.pop_back();
    EXPECT_THROW(check_same_vocabulary(a, b), Error);
}

}  // namespace
}  // namespace hearth::runtime
