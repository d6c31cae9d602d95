// Prompt-lookup drafts on hand-made histories: the expected drafts are read off by eye.
#include <gtest/gtest.h>

#include "runtime/prompt_lookup.h"

namespace hearth::runtime {
namespace {

using Tokens = std::vector<int32_t>;

TEST(PromptLookup, DraftsWhatFollowedTheLastEarlierOccurrence) {
    // ... 1 2 3 [4 5 6] ... 1 2 3 -> 4 5 6
    EXPECT_EQ(lookup_draft({1, 2, 3, 4, 5, 6, 9, 1, 2, 3}, 3, 1, 3), (Tokens{4, 5, 6}));
    // The most recent occurrence wins: 2 3 7 later than 2 3 4.
    EXPECT_EQ(lookup_draft({2, 3, 4, 8, 2, 3, 7, 8, 2, 3}, 2, 1, 2), (Tokens{7, 8}));
    // Capped by max_draft and by the end of the history.
    EXPECT_EQ(lookup_draft({1, 2, 3, 4, 5, 6, 9, 1, 2, 3}, 3, 1, 2), (Tokens{4, 5}));
    EXPECT_EQ(lookup_draft({5, 6, 5, 6}, 2, 1, 8), (Tokens{5, 6}));
}

TEST(PromptLookup, FallsBackToShorterNgrams) {
    // No earlier "8 3", but an earlier "3" followed by 4 5.
    EXPECT_EQ(lookup_draft({3, 4, 5, 8, 3}, 3, 1, 2), (Tokens{4, 5}));
    EXPECT_TRUE(lookup_draft({3, 4, 5, 8, 3}, 3, 2, 2).empty());  // min_ngram 2: no guess
}

TEST(PromptLookup, NothingToDraft) {
    EXPECT_TRUE(lookup_draft({}, 3, 1, 4).empty());
    EXPECT_TRUE(lookup_draft({7}, 3, 1, 4).empty());
    EXPECT_TRUE(lookup_draft({1, 2, 3, 4}, 3, 1, 4).empty());  // no repeat
    EXPECT_TRUE(lookup_draft({1, 2, 1, 2}, 2, 1, 0).empty());  // max_draft 0
}

}  // namespace
}  // namespace hearth::runtime
