#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>

#include "core/error.h"

namespace hearth::runtime {

void apply_penalties(std::vector<Candidate>& c, const std::deque<int32_t>& recent, float repeat,
                     float frequency, float presence) {
    if (recent.empty() || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f)) return;
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : recent) ++counts[t];
    for (Candidate& cand : c) {
        auto it = counts.find(cand.id);
        if (it == counts.end()) continue;
        // Repetition penalty as CTRL defines it: shrink positive logits, grow negative ones.
        cand.logit = cand.logit > 0 ? cand.logit / repeat : cand.logit * repeat;
        cand.logit -= static_cast<float>(it->second) * frequency + presence;
    }
}

void sort_and_keep_top_k(std::vector<Candidate>& c, int32_t k) {
    auto by_logit = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    if (k > 0 && static_cast<size_t>(k) < c.size()) {
        std::partial_sort(c.begin(), c.begin() + k, c.end(), by_logit);
        c.resize(k);
    } else {
        std::sort(c.begin(), c.end(), by_logit);
    }
}

void softmax_candidates(std::vector<Candidate>& c) {
    if (c.empty()) return;
    float max = c.front().logit;
    double sum = 0;
    for (Candidate& cand : c) {
        cand.p = std::exp(cand.logit - max);
        sum += cand.p;
    }
    for (Candidate& cand : c) cand.p = static_cast<float>(cand.p / sum);
}

void keep_top_p(std::vector<Candidate>& c, float p) {
    if (p >= 1.0f) return;
    double cumulative = 0;
    size_t keep = c.size();
    for (size_t i = 0; i < c.size(); ++i) {
        cumulative += c[i].p;
        if (cumulative >= p) {
            keep = i + 1;
            break;
        }
    }
    c.resize(std::max<size_t>(keep, 1));
}

void keep_min_p(std::vector<Candidate>& c, float min_p) {
    if (min_p <= 0.0f || c.empty()) return;
    const float threshold = c.front().p * min_p;
    size_t keep = 1;
    while (keep < c.size() && c[keep].p >= threshold) ++keep;
    c.resize(keep);
}

void apply_temperature(std::vector<Candidate>& c, float t) {
    for (Candidate& cand : c) cand.logit /= t;
}

namespace {
uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}
}  // namespace

Rng::Rng(uint64_t seed) {
    for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() {
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

namespace {
uint64_t resolve_seed(uint64_t seed) {
    if (seed != 0xFFFFFFFFFFFFFFFFull) return seed;
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}
}  // namespace

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), seed_(resolve_seed(params.seed)), rng_(seed_) {
    candidates_.reserve(n_vocab);
    if (params_.grammar) {
        if (!params_.token_table)
            throw Error("sampler: a grammar needs the tokenizer's token table "
                        "(SamplingParams::token_table)");
        matcher_ = std::make_unique<GrammarMatcher>(params_.grammar);
    }
}

void Sampler::accept(int32_t token) {
    if (matcher_ && token >= 0 && token < params_.token_table->n_vocab()) {
        // A token the mask did not allow (forced by the caller) leaves the grammar as it was.
        matcher_->accept_bytes(params_.token_table->bytes(token));
    }
    accept_prompt(token);
}

void Sampler::accept_prompt(int32_t token) {
    if (params_.penalty_last_n <= 0) return;
    recent_.push_back(token);
    while (static_cast<int32_t>(recent_.size()) > params_.penalty_last_n) recent_.pop_front();
}

int32_t Sampler::sample(const float* logits) {
    candidates_.clear();
    if (matcher_) {
        // Only the allowed tokens become candidates: the mask is read word by word.
        const std::vector<uint64_t>& mask = matcher_->allowed_tokens(*params_.token_table);
        const size_t words = std::min(mask.size(), (static_cast<size_t>(n_vocab_) + 63) / 64);
        for (size_t w = 0; w < words; ++w) {
            for (uint64_t bits = mask[w]; bits; bits &= bits - 1) {
                const auto id = static_cast<int32_t>(w * 64 + __builtin_ctzll(bits));
                if (id < n_vocab_) candidates_.push_back({id, logits[id], 0.0f});
            }
        }
        if (candidates_.empty()) return -1;
    } else {
        for (int32_t i = 0; i < n_vocab_; ++i) candidates_.push_back({i, logits[i], 0.0f});
    }
    apply_penalties(candidates_, recent_, params_.repeat_penalty, params_.frequency_penalty,
                    params_.presence_penalty);
    if (params_.temperature <= 0.0f) {
        sort_and_keep_top_k(candidates_, 1);
        candidates_.front().p = 1.0f;
        return candidates_.front().id;
    }
    sort_and_keep_top_k(candidates_, params_.top_k);
    softmax_candidates(candidates_);
    keep_top_p(candidates_, params_.top_p);
    keep_min_p(candidates_, params_.min_p);
    apply_temperature(candidates_, params_.temperature);
    softmax_candidates(candidates_);
    double r = rng_.uniform();
    double cumulative = 0;
    for (const Candidate& cand : candidates_) {
        cumulative += cand.p;
        if (r < cumulative) return cand.id;
    }
    return candidates_.back().id;
}

}  // namespace hearth::runtime
