#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

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

// Resident memory of this process in bytes, as the kernel counts it (/proc/self/statm).
static uint64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0, pages = 0;
    statm >> size >> pages;
    return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Memory follows the tokens held: a 2 GiB pool costs next to nothing until positions are
// written, and then about what they occupy. Bounds are generous (a memory check, not timing):
// the old preallocated cache touched all 2 GiB at once.
TEST(KvCache, MemoryFollowsTheTokensWritten) {
    // A 1b-class model: 16 layers, key/value rows of 512 F16 elements (1 KiB): 32 KiB per
    // position; 65536 positions = 2 GiB.
    const int64_t layers = 16, kv_dim = 512, block = 32, blocks = 2048;
    const uint64_t before = resident_bytes();
    KvCache cache(layers, kv_dim, blocks, block, 4, TensorType::F16);
    ASSERT_EQ(cache.bytes(), 2ull << 30);
    const uint64_t empty = resident_bytes();
    EXPECT_LT(empty, before + (16ull << 20)) << "an empty pool must not be resident";

    // 256 positions of one sequence: 256 x 32 KiB = 8 MiB.
    const int64_t tokens = 256;
    ASSERT_TRUE(cache.reserve(0, tokens));
    std::vector<float> row(kv_dim, 1.0f);
    for (int64_t l = 0; l < layers; ++l)
        for (int64_t p = 0; p < tokens; ++p) cache.store(l, 0, p, row.data(), row.data());
    const uint64_t written = resident_bytes();
    const uint64_t held = static_cast<uint64_t>(tokens) * layers * 2 * cache.row_bytes();
    EXPECT_GE(written, empty + held / 2);
    EXPECT_LT(written, empty + held + (16ull << 20));

    // Freed blocks are reused before fresh pages are touched: clearing and writing the same
    // amount again, in another sequence, costs nothing more.
    cache.clear(0);
    ASSERT_TRUE(cache.reserve(1, tokens));
    for (int64_t l = 0; l < layers; ++l)
        for (int64_t p = 0; p < tokens; ++p) cache.store(l, 1, p, row.data(), row.data());
    EXPECT_LT(resident_bytes(), written + (4ull << 20));
    // Unwritten positions read as zeros, as the old zero-filled cache did.
    ASSERT_TRUE(cache.reserve(2, 1));
    const uint8_t* k = cache.key(0, 2, 0);
    for (size_t i = 0; i < cache.row_bytes(); ++i) ASSERT_EQ(k[i], 0);

    // Released, the free blocks' pages leave the process; a held block keeps its rows.
    cache.clear(1);
    cache.store(0, 2, 0, row.data(), row.data());
    cache.release_free_memory();
    EXPECT_LT(resident_bytes(), empty + (4ull << 20));
    KvCache f16(1, kv_dim, 1, block, 1, TensorType::F16);
    ASSERT_TRUE(f16.reserve(0, 1));
    f16.store(0, 0, 0, row.data(), row.data());
    EXPECT_EQ(std::memcmp(cache.key(0, 2, 0), f16.key(0, 0, 0), cache.row_bytes()), 0);
}

// Metrics count running sequences' blocks apart from idle ones' cached prefixes: a block two
// sequences share is one block (hand-counted: blocks of 4 positions).
TEST(KvCache, BlocksHeldBySequencesCountSharedBlocksOnce) {
    KvCache cache(1, 2, 8, 4, 3);
    ASSERT_TRUE(cache.reserve(0, 10));  // 3 blocks
    cache.share_prefix(0, 1, 8);        // sequence 1 shares the first 2
    ASSERT_TRUE(cache.reserve(1, 9));   // and takes a block of its own
    ASSERT_TRUE(cache.reserve(2, 1));   // 1 block
    EXPECT_EQ(cache.blocks_held_by({}), 0);
    EXPECT_EQ(cache.blocks_held_by({0}), 3);
    EXPECT_EQ(cache.blocks_held_by({1}), 3);
    EXPECT_EQ(cache.blocks_held_by({0, 1}), 4);
    EXPECT_EQ(cache.blocks_held_by({0, 1, 2}), 5);
    EXPECT_EQ(cache.blocks_held_by({0, 1, 2}), cache.n_blocks() - cache.free_blocks());
    cache.clear(0);
    EXPECT_EQ(cache.blocks_held_by({1}), 3);  // still its shared ones
}
