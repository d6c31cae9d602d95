// The prefill pacer's budgets, from step timings chosen so the expected budgets are exact
// (powers of two): the hand-computed oracle is decode step time / cost of one prompt token.
#include <gtest/gtest.h>

#include "runtime/prefill_pacer.h"

namespace hearth::runtime {
namespace {

TEST(PrefillPacer, FullChunksUntilItHasMeasuredBothCosts) {
    PrefillPacer pacer(256);
    EXPECT_EQ(pacer.budget(0), 256);
    EXPECT_EQ(pacer.budget(4), 256);
    pacer.observe(4, 0, 0.125);  // decode only
    EXPECT_EQ(pacer.budget(4), 256);
    pacer.observe(0, 64, 0.5);  // prompt only: 1/128 s a token
    EXPECT_DOUBLE_EQ(pacer.seconds_per_prompt_token(), 0.0078125);
    EXPECT_EQ(pacer.budget(4), 16);  // 0.125 s of prompt tokens
    EXPECT_EQ(pacer.budget(0), 256);  // nobody decoding: no reason to hold back
}

TEST(PrefillPacer, AMixedStepChargesTheDecodeRowsTheirKnownCost) {
    PrefillPacer pacer(256);
    pacer.observe(4, 0, 0.125);
    pacer.observe(4, 32, 0.125 + 32 * 0.0078125);
    EXPECT_DOUBLE_EQ(pacer.seconds_per_prompt_token(), 0.0078125);
    EXPECT_EQ(pacer.budget(2), 16);
}

TEST(PrefillPacer, FollowsAChangeOfLoadAsAMovingAverage) {
    PrefillPacer pacer(256);
    pacer.observe(1, 0, 0.125);
    pacer.observe(1, 0, 0.25);
    EXPECT_DOUBLE_EQ(pacer.decode_step_seconds(), 0.75 * 0.125 + 0.25 * 0.25);
}

TEST(PrefillPacer, BudgetsStayBetweenTheFloorAndTheChunk) {
    PrefillPacer slow_prompt(256);
    slow_prompt.observe(4, 0, 0.01);
    slow_prompt.observe(0, 1, 1.0);  // one prompt token costs 100 decode steps
    EXPECT_EQ(slow_prompt.budget(4), 8);
    PrefillPacer fast_prompt(256);
    fast_prompt.observe(4, 0, 1.0);
    fast_prompt.observe(0, 256, 0.001);
    EXPECT_EQ(fast_prompt.budget(4), 256);
    PrefillPacer tiny(4);  // a floor above the chunk is the chunk
    tiny.observe(4, 0, 0.01);
    tiny.observe(0, 1, 1.0);
    EXPECT_EQ(tiny.budget(4), 4);
    PrefillPacer p(256);
    p.observe(4, 0, 0.0);
    p.observe(0, 8, -1.0);
    EXPECT_EQ(p.budget(4), 256);
}

}  // namespace
}  // namespace hearth::runtime
