// The KV cache's sliding-window pool (model/kv_cache.h KvWindow): the sliding layers hold only
// the blocks their next queries can read, counted by hand here, while the other layers hold
// every position; prefixes are reusable only while their window is held.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "model/kv_cache.h"

using hearth::model::KvCache;
using hearth::model::KvWindow;

namespace {

// 3 layers (1 slides, window 6), rows of 2 floats, blocks of 4 positions.
KvCache windowed(int64_t n_blocks, int64_t window_blocks, int64_t max_seqs = 2) {
    return KvCache(3, 2, n_blocks, 4, max_seqs, hearth::gguf::TensorType::F32,
                   KvWindow{.tokens = 6, .sliding = {false, true, false}, .n_blocks = window_blocks});
}

int64_t window_used(const KvCache& c) {
    return c.window_n_blocks() - c.window_free_blocks();
}

}  // namespace

TEST(KvWindow, BlocksNeededByAChunkAfterTheWindow) {
    // Window 6 and chunks of 4 in blocks of 4: keys from 5 positions before the chunk and its 4
    // span 9 positions, 3 blocks, and a fourth when they straddle block ends.
    EXPECT_EQ(hearth::model::window_blocks(6, 4, 4), 4);
    EXPECT_EQ(hearth::model::window_blocks(4096, 256, 32), 137);  // (4095 + 256) / 32 up, + 1
}

TEST(KvWindow, SlidingLayersReleaseWhatNoQueryCanRead) {
    KvCache c = windowed(16, 8);
    ASSERT_EQ(c.window(), 6);
    ASSERT_TRUE(c.reserve(0, 4));  // block 0 in both pools
    EXPECT_EQ(c.free_blocks(), 15);
    EXPECT_EQ(window_used(c), 1);
    // Positions 4..7: queries from 4 read keys from 0 on: nothing is released.
    ASSERT_TRUE(c.reserve(0, 8));
    EXPECT_EQ(window_used(c), 2);
    // Positions 8..11: keys from 3 on; block 0 still holds position 3.
    ASSERT_TRUE(c.reserve(0, 12));
    EXPECT_EQ(window_used(c), 3);
    EXPECT_EQ(c.window_start(0), 0);
    // Positions 12..15: keys from 7 on: block 0 (0..3) goes back to the pool.
    ASSERT_TRUE(c.reserve(0, 16));
    EXPECT_EQ(window_used(c), 3);
    EXPECT_EQ(c.window_start(0), 4);
    EXPECT_EQ(c.free_blocks(), 12);  // the other layers keep all 4 blocks
    // One position at a time up to 40: at most the blocks of positions (p - 5) .. p.
    for (int64_t n = 17; n <= 40; ++n) {
        ASSERT_TRUE(c.reserve(0, n));
        const int64_t first = std::max<int64_t>(0, n - 1 - 5) / 4;
        EXPECT_EQ(window_used(c), (n + 3) / 4 - first) << n;
    }
    EXPECT_EQ(c.free_blocks(), 6);  // 10 blocks for 40 positions
    EXPECT_EQ(c.window_start(0), 32);  // position 39 reads keys 34..39, block 8 (32..35) on
    c.clear(0);
    EXPECT_EQ(window_used(c), 0);
    EXPECT_EQ(c.free_blocks(), 16);
    EXPECT_EQ(c.window_start(0), 0);
}

TEST(KvWindow, RowsKeepTheirValuesAndReadsStayInTheWindow) {
    KvCache c = windowed(16, 8);
    for (int64_t p = 0; p < 30; ++p) {
        ASSERT_TRUE(c.reserve(0, p + 1));
        for (int64_t l = 0; l < 3; ++l) {
            const float row[2] = {static_cast<float>(100 * l + p), -1.0f};
            c.store(l, 0, p, row, row);
        }
    }
    auto key0 = [&](int64_t layer, int64_t pos) {
        return reinterpret_cast<const float*>(c.key(layer, 0, pos))[0];
    };
    for (int64_t p = 0; p < 30; ++p) {
        EXPECT_EQ(key0(0, p), static_cast<float>(p));
        EXPECT_EQ(key0(2, p), static_cast<float>(200 + p));
    }
    for (int64_t p = c.window_start(0); p < 30; ++p) EXPECT_EQ(key0(1, p), 100.0f + p);
    EXPECT_LE(c.window_start(0), 30 - 6);
}

TEST(KvWindow, APrefixIsReusableOnlyWhileItsWindowIsHeld) {
    KvCache c = windowed(16, 8);
    ASSERT_TRUE(c.reserve(0, 12));
    ASSERT_TRUE(c.reserve(0, 20));  // from 12: keys 7.. are read, block 0 goes
    ASSERT_EQ(c.window_start(0), 4);
    // Continuing after n positions reads n - 5 ..: held for n >= 9.
    EXPECT_EQ(c.reusable(0, 20), 20);
    EXPECT_EQ(c.reusable(0, 9), 9);
    EXPECT_EQ(c.reusable(0, 8), 0);
    // A shared prefix shares the window's blocks and the holes.
    c.share_prefix(0, 1, 16);
    EXPECT_EQ(c.window_start(1), 4);
    EXPECT_EQ(c.reusable(1, 16), 16);
    EXPECT_EQ(window_used(c), 4);  // blocks 1..4 of sequence 0; sequence 1 shares 1..3
    ASSERT_TRUE(c.reserve(1, 17));  // position 16 starts a block of its own
    EXPECT_EQ(c.length(1), 17);
    // Sequence 1's queries from 16 read keys 11..: block 1 (4..7) is released by it, still
    // held by sequence 0.
    EXPECT_EQ(c.window_start(1), 8);
    EXPECT_EQ(window_used(c), 5);
    c.clear(0);
    EXPECT_EQ(window_used(c), 3);  // sequence 1: blocks 2..3 shared before, 4 its own
}

TEST(KvWindow, AFullWindowPoolRefusesWithoutChangingLengths) {
    KvCache c = windowed(16, 3);  // room for one window of 3 blocks
    ASSERT_TRUE(c.reserve(0, 12));
    EXPECT_FALSE(c.reserve(1, 4));  // the other layers have room, the sliding ones do not
    EXPECT_EQ(c.length(1), 0);
    EXPECT_EQ(c.free_blocks(), 13);
    // Sequence 0 goes on forever in its 3 blocks (window 6, one position at a time).
    for (int64_t n = 13; n <= 60; ++n) ASSERT_TRUE(c.reserve(0, n)) << n;
}

TEST(KvWindow, ContextShiftRefusesOnceTheWindowMoved) {
    KvCache c = windowed(16, 8);
    ASSERT_TRUE(c.reserve(0, 8));
    ASSERT_TRUE(c.reserve(0, 12));
    auto keep = [](int64_t, float*, int64_t) {};
    EXPECT_TRUE(c.discard(0, 0, 2, keep));  // nothing released yet: it shifts as before
    ASSERT_TRUE(c.reserve(0, 24));
    EXPECT_THROW(c.discard(0, 0, 4, keep), hearth::Error);
}

TEST(KvWindow, NoWindowWithoutSlidingLayers) {
    KvCache c(2, 2, 8, 4, 1, hearth::gguf::TensorType::F32,
              KvWindow{.tokens = 6, .sliding = {false, false}, .n_blocks = 4});
    EXPECT_EQ(c.window(), 0);
    EXPECT_THROW(KvCache(2, 2, 8, 4, 1, hearth::gguf::TensorType::F32,
                         KvWindow{.tokens = 6, .sliding = {true}, .n_blocks = 4}),
                 hearth::Error);
}
