// Sliding-window layers that keep only their window (runtime::ContextParams::window_chunk) give
// the logits of the same model with the whole cache: those layers read only the window, so the
// released positions were never read. A gemma2 file (every other layer slides) with a window of
// 6 in blocks of 4, over 80 positions (13 windows), in one prompt and one token at a time.
#include <gtest/gtest.h>

#include <vector>

#include "runtime/context.h"
#include "synthetic_files.h"
#include "tools/synthetic.h"

using namespace hearth;

namespace {

constexpr int64_t kWindow = 6;
constexpr int64_t kBlock = 4;
constexpr int64_t kChunk = 5;
constexpr int kTokens = 80;

std::shared_ptr<model::Model> gemma2_with_window() {
    tools::SyntheticShape shape = tools::synthetic_shape("tiny");
    shape.sliding_window = kWindow;
    const std::string path = hearth::testing::temp_path("gemma2-window");
    tools::write_synthetic_model("gemma2", shape, path, 11);
    return model::Model::load(path);
}

std::vector<int32_t> tokens(int64_t n_vocab) {
    std::vector<int32_t> t;
    for (int i = 0; i < kTokens; ++i) t.push_back(static_cast<int32_t>((i * 53 + 3) % n_vocab));
    return t;
}

runtime::ContextParams params(int64_t window_chunk) {
    return {.n_ctx = 256, .max_seqs = 1, .threads = 1, .kv_block_size = kBlock,
            .kv_type = gguf::TensorType::F32, .window_chunk = window_chunk};
}

std::vector<float> row(const float* logits, int64_t n) {
    return {logits, logits + n};
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol,
                 int step) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << step << " " << i;
}

}  // namespace

TEST(WindowCache, OnePromptGivesTheWholeCachesLogits) {
    auto m = gemma2_with_window();
    const int64_t V = m->hparams().n_vocab;
    const auto t = tokens(V);
    runtime::Context whole(m, params(0));
    runtime::Context windowed(m, params(kChunk));
    ASSERT_EQ(whole.cache().window(), 0);
    ASSERT_EQ(windowed.cache().window(), kWindow);
    // The windowed context goes in pieces of kChunk; the whole cache evaluates one batch.
    const auto want = row(whole.append(0, t), V);
    expect_near(row(windowed.append(0, t), V), want, 1e-4f, 0);
    // Same pieces on both sides: the same arithmetic, so the same logits to the bit.
    runtime::Context whole_pieces(m, params(0));
    for (int i = 0; i < kTokens; i += kChunk)
        whole_pieces.append(0, {t.begin() + i, t.begin() + i + kChunk});
    EXPECT_EQ(row(windowed.append(0, {7}), V), row(whole_pieces.append(0, {7}), V));
}

TEST(WindowCache, DecodingTokenByTokenGivesTheWholeCachesLogits) {
    auto m = gemma2_with_window();
    const int64_t V = m->hparams().n_vocab;
    const auto t = tokens(V);
    runtime::Context whole(m, params(0));
    runtime::Context windowed(m, params(1));
    for (int i = 0; i < kTokens; ++i) {
        const auto want = row(whole.append(0, {t[i]}), V);
        EXPECT_EQ(row(windowed.append(0, {t[i]}), V), want) << i;
    }
    // Held: gemma2 slides in layers 0 and 2 of 4. The other two keep all 80 positions (20
    // blocks); the sliding ones blocks 18 and 19 (72..79), where the window of position 79
    // (74..79) is.
    const auto& cache = windowed.cache();
    EXPECT_EQ(cache.n_blocks() - cache.free_blocks(), 20);
    EXPECT_EQ(cache.window_n_blocks() - cache.window_free_blocks(), 2);
    EXPECT_EQ(cache.window_start(0), 72);
    EXPECT_EQ(cache.bytes_in_use(), 20 * cache.block_bytes() + 2 * cache.window_block_bytes());
    EXPECT_EQ(cache.block_bytes(), cache.window_block_bytes());  // 2 layers each
    EXPECT_EQ(cache.block_bytes(), 2u * 2 * kBlock * m->hparams().kv_dim() * sizeof(float));
    // The whole cache holds 20 blocks of all 4 layers.
    EXPECT_EQ(whole.cache().bytes_in_use(), 20 * 2 * cache.block_bytes());
}

TEST(WindowCache, ABatchReadingReleasedKeysIsRefused) {
    auto m = gemma2_with_window();
    runtime::Context windowed(m, params(kChunk));
    windowed.append(0, tokens(m->hparams().n_vocab));
    // Back to position 20, whose window (15..20) the sliding layers released.
    windowed.cache().truncate(0, 21);
    model::Batch batch;
    batch.add(1, 0, 20, true);
    EXPECT_THROW(windowed.decode(batch), Error);
}
