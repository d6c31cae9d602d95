// Context shift (Model::shift_positions, KvCache::discard): after dropping positions, the keys
// that moved must be the keys the same tokens give at their new positions. Layer 0's keys and
// values depend only on the token and its position, so a fresh evaluation of the kept tokens is
// an exact oracle there; deeper layers' keys were computed with the longer history, so they are
// checked against an independent rotation of what was stored (rope_oracle.h).
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "core/error.h"
#include "model/arch.h"
#include "model/rope.h"
#include "rope_oracle.h"
#include "runtime/context.h"
#include "synthetic_files.h"
#include "tools/synthetic.h"

using namespace hearth;

namespace {

using gguf::TensorType;
using hearth::testing::max_abs;
using hearth::testing::max_abs_diff;

// --- RopeTable::shift_keys: keys rotated at p, turned by d, equal keys rotated at p + d.

struct RopeCase {
    const char* name;
    kernels::RopeStyle style;
    int64_t rope_dims;  // of head_dim 32
    model::RopeScaling scaling;
    float freq_scale;
    bool freq_factors;
};

TEST(RopeShift, TurningRotatedKeysEqualsRotatingAtTheNewPosition) {
    const RopeCase cases[] = {
        {"normal", kernels::RopeStyle::Normal, 32, model::RopeScaling::None, 1.0f, false},
        {"neox partial dims", kernels::RopeStyle::NeoX, 16, model::RopeScaling::None, 1.0f, false},
        {"linear scaling", kernels::RopeStyle::NeoX, 32, model::RopeScaling::Linear, 0.25f, false},
        {"yarn (mscale)", kernels::RopeStyle::NeoX, 32, model::RopeScaling::Yarn, 0.125f, false},
        {"freq factors", kernels::RopeStyle::Normal, 24, model::RopeScaling::None, 1.0f, true},
    };
    const int64_t head_dim = 32, n_heads = 3;
    for (const RopeCase& c : cases) {
        model::HParams hp;
        hp.head_dim = head_dim;
        hp.rope_dims = c.rope_dims;
        hp.rope_style = c.style;
        hp.rope_orig_ctx = 512;
        std::vector<float> factors(static_cast<size_t>(c.rope_dims / 2));
        for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + 0.5f * static_cast<float>(i);
        const model::RopeTable t = model::RopeTable::build(
            hp, 10000.0f, c.scaling, c.freq_scale, c.freq_factors ? factors.data() : nullptr);
        if (c.scaling == model::RopeScaling::Yarn) EXPECT_GT(t.mscale, 1.0f) << c.name;

        std::vector<float> x(static_cast<size_t>(n_heads * head_dim));
        for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i) + 0.1f);
        for (const auto& [from, delta] : {std::pair{700, -300}, std::pair{40, -17}, std::pair{5, 9}}) {
            std::vector<float> stored = x, fresh = x;
            t.apply(nullptr, 0, stored.data(), n_heads, head_dim, from);
            t.shift_keys(stored.data(), n_heads, head_dim, delta);
            t.apply(nullptr, 0, fresh.data(), n_heads, head_dim, from + delta);
            EXPECT_LT(max_abs_diff(stored, fresh), 3e-4f * max_abs(fresh))
                << c.name << " from " << from << " by " << delta;
            // Dims past rope_dims are not rotated, so shifting leaves them as they were.
            std::vector<float> unrotated = x;
            t.apply(nullptr, 0, unrotated.data(), n_heads, head_dim, from);
            for (int64_t h = 0; h < n_heads; ++h)
                for (int64_t d = c.rope_dims; d < head_dim; ++d)
                    EXPECT_EQ(stored[h * head_dim + d], unrotated[h * head_dim + d]) << c.name;
        }
    }
}

// --- The cache after a shift, per architecture and KV type.

std::string model_for(const std::string& arch) {
    if (arch == "stories260K") return std::string(HEARTH_TEST_DATA) + "/models/stories260K.gguf";
    const std::string preset = arch == "gpt-oss" ? "gpt-oss-tiny" : "tiny";
    const std::string path = hearth::testing::temp_path(arch);
    tools::write_synthetic_model(arch, tools::synthetic_shape(preset), path, 7);
    return path;
}

std::vector<int32_t> some_tokens(int64_t n, int64_t n_vocab) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 37 + 11) % (n_vocab - 3) + 2);
    return t;
}

void check_shift(const std::string& arch, TensorType type) {
    SCOPED_TRACE(arch + " " + std::string(model::kv_type_name(type)));
    auto m = model::Model::load(model_for(arch));
    const model::HParams& hp = m->hparams();
    const int64_t kvd = hp.kv_dim();
    ASSERT_TRUE(m->can_shift_positions());
    // Blocks of 8: the kept, dropped and moved ranges start and end inside blocks.
    const runtime::ContextParams params{
        .n_ctx = 128, .max_seqs = 2, .threads = 1, .kv_block_size = 8, .kv_type = type};
    const int64_t length = 45, n_keep = 5, n_discard = 19;
    const std::vector<int32_t> tokens = some_tokens(length, hp.n_vocab);
    runtime::Context ctx(m, params);
    ctx.append(0, tokens);
    auto& cache = ctx.cache();
    // Sequence 1 shares every block of sequence 0: they must be copied, not rewritten.
    cache.share_prefix(0, 1, length);

    std::vector<std::vector<std::vector<float>>> keys(hp.n_layer), values(hp.n_layer);
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        for (int64_t p = 0; p < length; ++p) {
            keys[l].push_back(hearth::testing::key_row(cache, l, 0, p, kvd));
            values[l].push_back(hearth::testing::value_row(cache, l, 0, p, kvd));
        }
    }

    ASSERT_TRUE(m->shift_positions(cache, 0, n_keep, n_discard));
    const int64_t kept = length - n_discard;
    EXPECT_EQ(cache.length(0), kept);
    EXPECT_EQ(cache.length(1), length);

    // The oracle: the kept tokens evaluated from scratch at their new positions.
    std::vector<int32_t> kept_tokens(tokens.begin(), tokens.begin() + n_keep);
    kept_tokens.insert(kept_tokens.end(), tokens.begin() + n_keep + n_discard, tokens.end());
    runtime::Context fresh(m, params);
    fresh.append(0, kept_tokens);

    const float tol = hearth::testing::requantized_tolerance(type);
    for (int64_t p = 0; p < kept; ++p) {
        const auto got = hearth::testing::key_row(cache, 0, 0, p, kvd);
        const auto want = hearth::testing::key_row(fresh.cache(), 0, 0, p, kvd);
        EXPECT_LE(max_abs_diff(got, want), tol * max_abs(want)) << "layer 0 key at " << p;
        const auto v = hearth::testing::value_row(cache, 0, 0, p, kvd);
        const auto v_want = hearth::testing::value_row(fresh.cache(), 0, 0, p, kvd);
        EXPECT_LE(max_abs_diff(v, v_want), 2 * tol * max_abs(v_want)) << "layer 0 value at " << p;
    }
    // The oracle can fail: the moved keys without their rotation are far from it (beyond
    // what Q4_0's tolerance can tell).
    if (type != TensorType::Q4_0) {
        const int64_t moved = n_keep + 3;
        const auto unturned = keys[0][moved + n_discard];
        const auto want = hearth::testing::key_row(fresh.cache(), 0, 0, moved, kvd);
        EXPECT_GT(max_abs_diff(unturned, want), 4 * tol * max_abs(want));
    }

    // Every layer: kept rows as they were; moved keys turned back by n_discard positions;
    // values moved as stored.
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const model::RopeTable& t = hearth::testing::table_of_layer(*m, l);
        for (int64_t p = 0; p < kept; ++p) {
            const int64_t from = p < n_keep ? p : p + n_discard;
            const auto got = hearth::testing::key_row(cache, l, 0, p, kvd);
            const auto expected =
                p < n_keep ? keys[l][from]
                           : hearth::testing::rotated_key(keys[l][from], t, hp.n_head_kv,
                                                          hp.head_dim, -n_discard);
            EXPECT_LE(max_abs_diff(got, expected), tol * max_abs(expected))
                << "layer " << l << " key at " << p;
            EXPECT_EQ(hearth::testing::value_row(cache, l, 0, p, kvd), values[l][from])
                << "layer " << l << " value at " << p;
        }
        // The sharing sequence still sees the unshifted rows.
        for (int64_t p = 0; p < length; ++p) {
            ASSERT_EQ(hearth::testing::key_row(cache, l, 1, p, kvd), keys[l][p]) << l << " " << p;
            ASSERT_EQ(hearth::testing::value_row(cache, l, 1, p, kvd), values[l][p]);
        }
    }
}

TEST(ContextShift, MovedKeysAreTheKeysOfTheNewPositions) {
    for (TensorType type :
         {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0})
        check_shift("stories260K", type);
}

// Every RoPE variant the decoders use: NeoX with YaRN (qwen2), QK norms and a large base
// (qwen3), partial rotary dims with LongRoPE factors (phi3), sliding layers (gemma2), local RoPE
// on sliding layers and linear scaling on the global ones (gemma3), YaRN with sinks (gpt-oss).
TEST(ContextShift, EveryRopeVariantShifts) {
    for (const char* arch : {"qwen2", "qwen3", "phi3", "gemma2", "gemma3", "gpt-oss"}) {
        check_shift(arch, TensorType::F32);
        check_shift(arch, TensorType::Q8_0);
    }
}

TEST(ContextShift, EncodersCannotShift) {
    auto m = model::Model::load(model_for("bert"));
    EXPECT_FALSE(m->can_shift_positions());
    model::KvCache cache(1, 32, 4, 8, 1);
    const std::string msg =
        hearth::testing::error_of([&] { m->shift_positions(cache, 0, 0, 1); });
    EXPECT_NE(msg.find("cannot shift"), std::string::npos) << msg;
}

TEST(ContextShift, DiscardRefusesPositionsItDoesNotHold) {
    model::KvCache cache(1, 32, 4, 8, 1);
    ASSERT_TRUE(cache.reserve(0, 10));
    auto none = [](int64_t, float*, int64_t) {};
    EXPECT_THROW(cache.discard(0, 5, 6, none), Error);
    EXPECT_THROW(cache.discard(0, 0, 0, none), Error);
    EXPECT_TRUE(cache.discard(0, 4, 6, none));
    EXPECT_EQ(cache.length(0), 4);
    EXPECT_EQ(cache.free_blocks(), 3);
}

// Copy-on-write needs free blocks: without them the shift changes nothing and says so.
TEST(ContextShift, DiscardWithoutBlocksForCopiesChangesNothing) {
    model::KvCache cache(1, 32, 2, 8, 2);
    ASSERT_TRUE(cache.reserve(0, 16));
    const std::vector<float> row(32, 1.5f);
    for (int p = 0; p < 16; ++p) cache.store(0, 0, p, row.data(), row.data());
    cache.share_prefix(0, 1, 16);
    int calls = 0;
    EXPECT_FALSE(cache.discard(0, 2, 4, [&](int64_t, float*, int64_t) { ++calls; }));
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(cache.length(0), 16);
}

}  // namespace
