// Ops against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/fp16.h"
#include "kernels/ops.h"

using namespace hearth::kernels;

TEST(Ops, RmsNorm) {
    float x[] = {3, 4};
    float w[] = {1, 2};
    float out[2];
    rms_norm(x, w, out, 2, 0.0f);
    float rms = std::sqrt((9.0f + 16.0f) / 2);
    EXPECT_FLOAT_EQ(out[0], 3 / rms);
    EXPECT_FLOAT_EQ(out[1], 8 / rms);
}

TEST(Ops, RopeRotatesPairsByPositionTimesFrequency) {
    // One head of 4 dims, base 100: pair 0 rotates by pos, pair 1 by pos / 100^(2/4) = pos / 10.
    float x[] = {1, 0, 1, 0};
    rope(x, 1, 4, 4, 3, 100.0f, 1.0f, RopeStyle::Normal);
    EXPECT_NEAR(x[0], std::cos(3.0), 1e-6);
    EXPECT_NEAR(x[1], std::sin(3.0), 1e-6);
    EXPECT_NEAR(x[2], std::cos(0.3), 1e-6);
    EXPECT_NEAR(x[3], std::sin(0.3), 1e-6);
    float y[] = {1, 1, 0, 0};  // NeoX pairs (0, 2) and (1, 3)
    rope(y, 1, 4, 4, 3, 100.0f, 1.0f, RopeStyle::NeoX);
    EXPECT_NEAR(y[0], std::cos(3.0), 1e-6);
    EXPECT_NEAR(y[2], std::sin(3.0), 1e-6);
    EXPECT_NEAR(y[1], std::cos(0.3), 1e-6);
    EXPECT_NEAR(y[3], std::sin(0.3), 1e-6);
}

TEST(Ops, SoftmaxAndSwiglu) {
    float x[] = {1000, 1000};
    softmax(x, 2);
    EXPECT_FLOAT_EQ(x[0], 0.5f);
    float g[] = {0, 2};
    float u[] = {5, 3};
    float out[2];
    swiglu(g, u, out, 2);
    EXPECT_FLOAT_EQ(out[0], 0);
    EXPECT_NEAR(out[1], 2 / (1 + std::exp(-2.0)) * 3, 1e-6);
}

TEST(Fp16, KnownBitPatterns) {
    EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
    EXPECT_EQ(fp32_to_fp16(-2.0f), 0xC000);
    EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);
    EXPECT_EQ(fp32_to_fp16(1e6f), 0x7C00);
    EXPECT_EQ(fp32_to_fp16(5.960464477539063e-08f), 0x0001);  // smallest subnormal
    EXPECT_FLOAT_EQ(fp16_to_fp32(0x3555), 0.333251953125f);
    EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
    for (uint32_t h = 0; h < 0x7C00; ++h) {  // every finite positive half round-trips
        ASSERT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h);
    }
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
    EXPECT_FLOAT_EQ(bf16_to_fp32(0xC040), -3.0f);
}
