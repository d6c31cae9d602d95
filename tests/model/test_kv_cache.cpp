#include <gtest/gtest.h>

#include "model/kv_cache.h"

using hearth::model::KvCache;

TEST(KvCache, AllocatesBlocksAndFreesThem) {
    KvCache cache(2, 4, 8, 4, 3);
    EXPECT_EQ(cache.free_blocks(), 8);
    ASSERT_TRUE(cache.reserve(0, 9));  // 3 blocks
    EXPECT_EQ(cache.free_blocks(), 5);
    EXPECT_EQ(cache.length(0), 9);
    cache.truncate(0, 4);
    EXPECT_EQ(cache.free_blocks(), 7);
    cache.clear(0);
    EXPECT_EQ(cache.free_blocks(), 8);
    EXPECT_FALSE(cache.reserve(1, 33));  // more than 8 blocks of 4
    EXPECT_EQ(cache.free_blocks(), 8);
}

TEST(KvCache, SharedBlocksAreCopiedOnWrite) {
    KvCache cache(1, 2, 8, 4, 2);
    ASSERT_TRUE(cache.reserve(0, 6));
    for (int p = 0; p < 6; ++p) cache.key(0, 0, p)[0] = static_cast<float>(p);
    cache.share_prefix(0, 1, 6);
    EXPECT_EQ(cache.free_blocks(), 6);  // nothing copied yet
    EXPECT_EQ(cache.key(0, 1, 5)[0], 5.0f);
    ASSERT_TRUE(cache.reserve(1, 7));  // writes into the shared second block: it is copied
    EXPECT_EQ(cache.free_blocks(), 5);
    cache.key(0, 1, 6)[0] = 100.0f;
    cache.key(0, 1, 5)[0] = -1.0f;  // sequence 1's own copy now
    EXPECT_EQ(cache.key(0, 0, 5)[0], 5.0f);
    EXPECT_EQ(cache.key(0, 1, 4)[0], 4.0f);
    cache.clear(0);
    EXPECT_EQ(cache.key(0, 1, 0)[0], 0.0f);  // first block still held by sequence 1
    cache.clear(1);
    EXPECT_EQ(cache.free_blocks(), 8);
}
