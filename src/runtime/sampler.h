#pragma once
// Sampling as a chain of small steps over one logits row: penalties -> top-k -> top-p ->
// min-p -> temperature -> pick. Each step is a free function testable alone; Sampler runs the
// chain with a seeded generator so equal seeds give equal output. With a grammar, tokens the
// grammar does not allow are dropped before the chain (grammar_matcher.h).
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "runtime/grammar_matcher.h"

namespace hearth::runtime {

struct Candidate {
    int32_t id;
    float logit;
    float p;  // filled by softmax_candidates
};

struct SamplingParams {
    float temperature = 0.8f;               // <= 0: greedy
    int32_t top_k = 40;                     // <= 0: off
    float top_p = 0.95f;                    // >= 1: off
    float min_p = 0.05f;                    // <= 0: off
    float repeat_penalty = 1.0f;            // 1: off
    float frequency_penalty = 0.0f;         // 0: off
    float presence_penalty = 0.0f;          // 0: off
    int32_t penalty_last_n = 64;            // how many recent tokens penalties look at
    uint64_t seed = 0xFFFFFFFFFFFFFFFFull;  // this value: random seed
    // Structured output: only tokens the grammar allows, end of generation only when the
    // grammar is complete. Null: unconstrained. token_table: the tokenizer's token bytes,
    // required with a grammar (runtime::generate and the Scheduler fill it when null).
    std::shared_ptr<const Grammar> grammar;
    std::shared_ptr<const TokenTable> token_table;
};

// Settings given in part, each set field replacing the one below it: a model's YAML
// `parameters:` over SamplingParams' defaults, then a request's own fields over those. The
// defaults live in SamplingParams alone.
struct SamplingOverrides {
    std::optional<float> temperature, top_p, min_p, repeat_penalty, frequency_penalty,
        presence_penalty;
    std::optional<int32_t> top_k;
    std::optional<uint64_t> seed;

    SamplingParams applied_to(SamplingParams base) const {
        if (temperature) base.temperature = *temperature;
        if (top_p) base.top_p = *top_p;
        if (min_p) base.min_p = *min_p;
        if (repeat_penalty) base.repeat_penalty = *repeat_penalty;
        if (frequency_penalty) base.frequency_penalty = *frequency_penalty;
        if (presence_penalty) base.presence_penalty = *presence_penalty;
        if (top_k) base.top_k = *top_k;
        if (seed) base.seed = *seed;
        return base;
    }
    bool empty() const {
        return !temperature && !top_p && !min_p && !repeat_penalty && !frequency_penalty &&
               !presence_penalty && !top_k && !seed;
    }
};

// The steps (public for tests).
void apply_penalties(std::vector<Candidate>& c, const std::deque<int32_t>& recent, float repeat,
                     float frequency, float presence);
void sort_and_keep_top_k(std::vector<Candidate>& c, int32_t k);  // sorts descending by logit
void softmax_candidates(std::vector<Candidate>& c);              // needs sorted input
void keep_top_p(std::vector<Candidate>& c, float p);             // needs softmax
void keep_min_p(std::vector<Candidate>& c, float min_p);         // needs softmax
void apply_temperature(std::vector<Candidate>& c, float t);

// SplitMix64-seeded xoshiro256**: fully specified, so a seed means the same stream everywhere.
class Rng {
  public:
    explicit Rng(uint64_t seed);
    uint64_t next();
    double uniform();  // [0, 1)

  private:
    uint64_t s_[4];
};

class Sampler {
  public:
    // Throws hearth::Error when params has a grammar but no token_table.
    Sampler(const SamplingParams& params, int32_t n_vocab);

    // The next token; -1 when a grammar allows no token at all (generation must stop).
    int32_t sample(const float* logits);
    // A generated token: the penalties see it and the grammar advances over its bytes.
    void accept(int32_t token);
    // A prompt token: only the penalties see it.
    void accept_prompt(int32_t token);
    bool has_grammar() const { return matcher_ != nullptr; }
    // The grammar is complete and allows nothing more: generation is over.
    bool grammar_finished() const { return matcher_ && matcher_->finished(); }
    const GrammarMatcher* matcher() const { return matcher_.get(); }
    uint64_t seed() const { return seed_; }
    // Probabilities of the final distribution (for logprobs), valid after sample().
    const std::vector<Candidate>& candidates() const { return candidates_; }

  private:
    SamplingParams params_;
    int32_t n_vocab_;
    uint64_t seed_;
    Rng rng_;
    std::deque<int32_t> recent_;
    std::vector<Candidate> candidates_;
    std::unique_ptr<GrammarMatcher> matcher_;
};

}  // namespace hearth::runtime
