#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "model/kv_cache.h"

using hearth::model::KvCache;
using hearth::gguf::TensorType;

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
    auto put = [&](int32_t seq, int64_t pos, float x) {
        const float row[2] = {x, -x};
        cache.store(0, seq, pos, row, row);
    };
    auto key0 = [&](int32_t seq, int64_t pos) {
        return reinterpret_cast<const float*>(cache.key(0, seq, pos))[0];
    };
    ASSERT_TRUE(cache.reserve(0, 6));
    for (int p = 0; p < 6; ++p) put(0, p, static_cast<float>(p));
    cache.share_prefix(0, 1, 6);
    EXPECT_EQ(cache.free_blocks(), 6);  // nothing copied yet
    EXPECT_EQ(key0(1, 5), 5.0f);
    ASSERT_TRUE(cache.reserve(1, 7));  // writes into the shared second block: it is copied
    EXPECT_EQ(cache.free_blocks(), 5);
    put(1, 6, 100.0f);
    put(1, 5, -1.0f);  // sequence 1's own copy now
    EXPECT_EQ(key0(0, 5), 5.0f);
    EXPECT_EQ(key0(1, 4), 4.0f);
    cache.clear(0);
    EXPECT_EQ(key0(1, 0), 0.0f);  // first block still held by sequence 1
    cache.clear(1);
    EXPECT_EQ(cache.free_blocks(), 8);
}

TEST(KvCache, BytesFollowTheType) {
    // 2 layers x 8 blocks x 4 positions, a key and a value row of 64 elements each.
    const int64_t rows = 2 * 8 * 4 * 2;
    EXPECT_EQ(KvCache(2, 64, 8, 4, 1, TensorType::F32).bytes(), rows * 64 * 4u);
    EXPECT_EQ(KvCache(2, 64, 8, 4, 1, TensorType::F16).bytes(), rows * 64 * 2u);
    // GGUF blocks of 32: Q8_0 is a half scale + 32 bytes, Q4_0 a half scale + 16 bytes.
    EXPECT_EQ(KvCache(2, 64, 8, 4, 1, TensorType::Q8_0).bytes(), rows * 2 * 34u);
    EXPECT_EQ(KvCache(2, 64, 8, 4, 1, TensorType::Q4_0).bytes(), rows * 2 * 18u);
}

TEST(KvCache, StoresRowsInItsTypeAndCopiesThemOnWrite) {
    KvCache cache(1, 32, 4, 2, 2, TensorType::Q8_0);
    ASSERT_TRUE(cache.reserve(0, 2));
    float row[32];
    for (int i = 0; i < 32; ++i) row[i] = static_cast<float>(i - 16);  // d = 16/127
    cache.store(0, 0, 1, row, row);
    cache.share_prefix(0, 1, 2);
    ASSERT_TRUE(cache.reserve(1, 3));  // the shared block is copied, bytes and all
    EXPECT_EQ(std::memcmp(cache.key(0, 0, 1), cache.key(0, 1, 1), cache.row_bytes()), 0);
    EXPECT_EQ(cache.row_bytes(), 34u);
    const int8_t* q = reinterpret_cast<const int8_t*>(cache.value(0, 1, 1) + 2);
    EXPECT_EQ(q[0], -127);  // -16 is the largest magnitude: it maps to -127
    EXPECT_EQ(q[16], 0);
}

TEST(KvCache, NamesItsTypesAndRefusesOthers) {
    EXPECT_EQ(hearth::model::kv_type_from_name("q4_0"), TensorType::Q4_0);
    EXPECT_EQ(hearth::model::kv_type_name(TensorType::F16), "f16");
    EXPECT_THROW(hearth::model::kv_type_from_name("q4_k"), hearth::Error);
    EXPECT_THROW(KvCache(1, 8, 1, 1, 1, TensorType::Q4_K), hearth::Error);
    // Quantized rows must be whole blocks: a model with 40-element rows cannot use q8_0.
    EXPECT_THROW(KvCache(1, 40, 1, 1, 1, TensorType::Q8_0), hearth::Error);
}
