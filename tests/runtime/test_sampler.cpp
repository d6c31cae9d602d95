// Each sampler step against hand-computed results, and the seeded generator's determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "runtime/sampler.h"

using namespace hearth::runtime;

namespace {

std::vector<Candidate> make(std::vector<float> logits) {
    std::vector<Candidate> c;
    for (size_t i = 0; i < logits.size(); ++i) c.push_back({static_cast<int32_t>(i), logits[i], 0});
    return c;
}

std::vector<int32_t> ids(const std::vector<Candidate>& c) {
    std::vector<int32_t> out;
    for (const auto& x : c) out.push_back(x.id);
    return out;
}

TEST(SamplerSteps, TopKKeepsTheKLargestSorted) {
    auto c = make({1, 5, 3, 4, 2});
    sort_and_keep_top_k(c, 3);
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3, 2}));
}

TEST(SamplerSteps, SoftmaxMatchesHandComputation) {
    auto c = make({2, 1, 0});
    sort_and_keep_top_k(c, 0);
    softmax_candidates(c);
    double z = std::exp(2.0) + std::exp(1.0) + 1.0;
    EXPECT_NEAR(c[0].p, std::exp(2.0) / z, 1e-6);
    EXPECT_NEAR(c[2].p, 1.0 / z, 1e-6);
}

TEST(SamplerSteps, TopPKeepsSmallestSetReachingP) {
    auto c = make({std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)});
    sort_and_keep_top_k(c, 0);
    softmax_candidates(c);
    keep_top_p(c, 0.75f);  // 0.5 alone does not reach 0.75; 0.5 + 0.3 does
    EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1}));
}

TEST(SamplerSteps, MinPDropsUnlikelyTokens) {
    auto c = make({std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)});
    sort_and_keep_top_k(c, 0);
    softmax_candidates(c);
    keep_min_p(c, 0.2f);  // threshold 0.1: keeps 0.5, 0.3, 0.15
    EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 2}));
}

TEST(SamplerSteps, PenaltiesFollowTheirDefinitions) {
    auto c = make({2.0f, -2.0f, 1.0f});
    std::deque<int32_t> recent = {0, 1, 0};
    apply_penalties(c, recent, 2.0f, 0.5f, 0.25f);
    EXPECT_FLOAT_EQ(c[0].logit, 2.0f / 2 - 2 * 0.5f - 0.25f);   // seen twice
    EXPECT_FLOAT_EQ(c[1].logit, -2.0f * 2 - 1 * 0.5f - 0.25f);  // seen once, negative
    EXPECT_FLOAT_EQ(c[2].logit, 1.0f);                          // not seen
}

TEST(Sampler, GreedyPicksArgmax) {
    Sampler s({.temperature = 0}, 4);
    float logits[] = {0.1f, 3.0f, 2.9f, -1.0f};
    EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, SameSeedSameStreamDifferentSeedDifferentStream) {
    std::vector<float> logits(50);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
    auto draw = [&](uint64_t seed) {
        Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed},
                  50);
        std::vector<int32_t> out;
        for (int i = 0; i < 64; ++i) out.push_back(s.sample(logits.data()));
        return out;
    };
    EXPECT_EQ(draw(7), draw(7));
    EXPECT_NE(draw(7), draw(8));
}

TEST(Sampler, FrequenciesFollowTheDistribution) {
    // Two tokens with p = 0.75 / 0.25: over 20000 draws the share is within a few sigma.
    float logits[] = {std::log(3.0f), 0.0f};
    Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 1}, 2);
    int first = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) first += s.sample(logits) == 0;
    EXPECT_NEAR(static_cast<double>(first) / n, 0.75, 0.015);
}

TEST(Rng, UniformIsInUnitInterval) {
    Rng r(5);
    for (int i = 0; i < 10000; ++i) {
        double u = r.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
    }
}

}  // namespace
