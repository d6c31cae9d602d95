// Dequantization against blocks built by hand: each expected value is computed here from the
// published block formula, written in the loop order of the format's reference description
// (independent of the element-indexed code under test).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/quants.h"
#include "kernels/type_traits.h"

using namespace hearth::kernels;
using hearth::gguf::TensorType;

namespace {

std::mt19937 rng(1234);
uint8_t random_byte() {
    return static_cast<uint8_t>(rng() & 0xFF);
}
template <size_t N>
void fill_random(uint8_t (&bytes)[N]) {
    for (auto& b : bytes) b = random_byte();
}

template <typename Block>
std::vector<float> dequant(TensorType type, const Block& block, int n) {
    std::vector<float> out(n);
    traits(type, CpuLevel::Scalar).to_float(&block, out.data(), n);
    return out;
}

void expect_same(const std::vector<float>& got, const std::vector<float>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << "element " << i;
}

const uint16_t kHalfPoint25 = fp32_to_fp16(0.25f), kHalfMinus1_5 = fp32_to_fp16(-1.5f);

}  // namespace

TEST(DequantBlocks, Q4_0) {
    BlockQ4_0 b{kHalfPoint25, {}};
    fill_random(b.qs);
    std::vector<float> want(32);
    for (int j = 0; j < 16; ++j) {
        want[j] = 0.25f * ((b.qs[j] & 0x0F) - 8);
        want[j + 16] = 0.25f * ((b.qs[j] >> 4) - 8);
    }
    expect_same(dequant(TensorType::Q4_0, b, 32), want);
}

TEST(DequantBlocks, Q4_1) {
    BlockQ4_1 b{kHalfPoint25, kHalfMinus1_5, {}};
    fill_random(b.qs);
    std::vector<float> want(32);
    for (int j = 0; j < 16; ++j) {
        want[j] = 0.25f * (b.qs[j] & 0x0F) - 1.5f;
        want[j + 16] = 0.25f * (b.qs[j] >> 4) - 1.5f;
    }
    expect_same(dequant(TensorType::Q4_1, b, 32), want);
}

TEST(DequantBlocks, Q5_0AndQ5_1) {
    BlockQ5_0 b{kHalfPoint25, {}, {}};
    fill_random(b.qh), fill_random(b.qs);
    BlockQ5_1 b1{kHalfPoint25, kHalfMinus1_5, {}, {}};
    std::memcpy(b1.qh, b.qh, 4), std::memcpy(b1.qs, b.qs, 16);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    std::vector<float> want(32), want1(32);
    for (int j = 0; j < 16; ++j) {
        int x0 = (b.qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
        int x1 = (b.qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
        want[j] = 0.25f * (x0 - 16), want[j + 16] = 0.25f * (x1 - 16);
        want1[j] = 0.25f * x0 - 1.5f, want1[j + 16] = 0.25f * x1 - 1.5f;
    }
    expect_same(dequant(TensorType::Q5_0, b, 32), want);
    expect_same(dequant(TensorType::Q5_1, b1, 32), want1);
}

TEST(DequantBlocks, Q8_0) {
    BlockQ8_0 b{kHalfMinus1_5, {}};
    for (int i = 0; i < 32; ++i) b.qs[i] = static_cast<int8_t>(i * 8 - 128);
    std::vector<float> want(32);
    for (int i = 0; i < 32; ++i) want[i] = -1.5f * (i * 8 - 128);
    expect_same(dequant(TensorType::Q8_0, b, 32), want);
}

TEST(DequantBlocks, IQ4_NL) {
    BlockIQ4_NL b{kHalfPoint25, {}};
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    const int levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                            1,    13,   25,  38,  53,  69,  89,  113};
    std::vector<float> want(32);
    for (int j = 0; j < 16; ++j) want[j] = 0.25f * levels[j], want[j + 16] = 0.25f * levels[15 - j];
    expect_same(dequant(TensorType::IQ4_NL, b, 32), want);
}

TEST(DequantBlocks, Q2_K) {
    BlockQ2_K b;
    fill_random(b.scales), fill_random(b.qs);
    b.d = kHalfPoint25, b.dmin = fp32_to_fp16(0.5f);
    std::vector<float> want;
    const uint8_t* q = b.qs;
    int is = 0;
    for (int n = 0; n < 256; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; ++half) {
                uint8_t sc = b.scales[is++];
                for (int l = 0; l < 16; ++l) {
                    want.push_back(0.25f * (sc & 0xF) * ((q[l + 16 * half] >> shift) & 3) -
                                   0.5f * (sc >> 4));
                }
            }
        }
        q += 32;
    }
    expect_same(dequant(TensorType::Q2_K, b, 256), want);
}

TEST(DequantBlocks, Q3_K) {
    BlockQ3_K b;
    fill_random(b.hmask), fill_random(b.qs), fill_random(b.scales);
    b.d = kHalfPoint25;
    // The 16 6-bit scales as the format packs them: low nibbles in bytes 0-7 (two per byte),
    // high 2-bit pairs in bytes 8-11.
    int scales[16];
    for (int is = 0; is < 16; ++is) {
        int low = is < 8 ? (b.scales[is] & 0xF) : (b.scales[is - 8] >> 4);
        int high = (b.scales[8 + is % 4] >> (2 * (is / 4))) & 3;
        scales[is] = (low | (high << 4)) - 32;
    }
    std::vector<float> want;
    const uint8_t* q = b.qs;
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < 256; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; ++half) {
                float dl = 0.25f * scales[is++];
                for (int l = 16 * half; l < 16 * half + 16; ++l) {
                    want.push_back(dl * (((q[l] >> shift) & 3) - ((b.hmask[l] & m) ? 0 : 4)));
                }
            }
            m <<= 1;
        }
        q += 32;
    }
    expect_same(dequant(TensorType::Q3_K, b, 256), want);
}

namespace {
// Q4_K/Q5_K scale j as the published get_scale_min_k4 defines it.
void scale_min_reference(int j, const uint8_t* q, int* d, int* m) {
    if (j < 4) {
        *d = q[j] & 63, *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}
}  // namespace

TEST(DequantBlocks, Q4_K) {
    BlockQ4_K b;
    fill_random(b.scales), fill_random(b.qs);
    b.d = kHalfPoint25, b.dmin = fp32_to_fp16(0.5f);
    std::vector<float> want;
    const uint8_t* q = b.qs;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
        int sc1, m1, sc2, m2;
        scale_min_reference(is, b.scales, &sc1, &m1);
        scale_min_reference(is + 1, b.scales, &sc2, &m2);
        for (int l = 0; l < 32; ++l) want.push_back(0.25f * sc1 * (q[l] & 0xF) - 0.5f * m1);
        for (int l = 0; l < 32; ++l) want.push_back(0.25f * sc2 * (q[l] >> 4) - 0.5f * m2);
    }
    expect_same(dequant(TensorType::Q4_K, b, 256), want);
}

TEST(DequantBlocks, Q5_K) {
    BlockQ5_K b;
    fill_random(b.scales), fill_random(b.qs), fill_random(b.qh);
    b.d = kHalfPoint25, b.dmin = fp32_to_fp16(0.5f);
    std::vector<float> want;
    const uint8_t* ql = b.qs;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
        int sc1, m1, sc2, m2;
        scale_min_reference(is, b.scales, &sc1, &m1);
        scale_min_reference(is + 1, b.scales, &sc2, &m2);
        for (int l = 0; l < 32; ++l)
            want.push_back(0.25f * sc1 * ((ql[l] & 0xF) + (b.qh[l] & u1 ? 16 : 0)) - 0.5f * m1);
        for (int l = 0; l < 32; ++l)
            want.push_back(0.25f * sc2 * ((ql[l] >> 4) + (b.qh[l] & u2 ? 16 : 0)) - 0.5f * m2);
    }
    expect_same(dequant(TensorType::Q5_K, b, 256), want);
}

TEST(DequantBlocks, Q6_K) {
    BlockQ6_K b;
    fill_random(b.ql), fill_random(b.qh);
    for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(random_byte());
    b.d = kHalfPoint25;
    std::vector<float> want(256);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; ++l) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            want[n + l] = 0.25f * sc[is] * q1;
            want[n + l + 32] = 0.25f * sc[is + 2] * q2;
            want[n + l + 64] = 0.25f * sc[is + 4] * q3;
            want[n + l + 96] = 0.25f * sc[is + 6] * q4;
        }
    }
    expect_same(dequant(TensorType::Q6_K, b, 256), want);
}

TEST(DequantBlocks, IQ4_XS) {
    BlockIQ4_XS b;
    fill_random(b.scales_l), fill_random(b.qs);
    b.d = kHalfPoint25, b.scales_h = 0xA5C3;
    const int levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                            1,    13,   25,  38,  53,  69,  89,  113};
    std::vector<float> want(256);
    for (int ib = 0; ib < 8; ++ib) {
        int ls = ((b.scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((b.scales_h >> 2 * ib) & 3) << 4);
        float dl = 0.25f * (ls - 32);
        for (int j = 0; j < 16; ++j) {
            want[32 * ib + j] = dl * levels[b.qs[16 * ib + j] & 0xf];
            want[32 * ib + j + 16] = dl * levels[b.qs[16 * ib + j] >> 4];
        }
    }
    expect_same(dequant(TensorType::IQ4_XS, b, 256), want);
}

TEST(DequantBlocks, Q8_KKeepsBlockSums) {
    std::vector<float> x(256);
    for (int i = 0; i < 256; ++i) x[i] = std::sin(i * 0.37f) * 3;
    BlockQ8_K b;
    traits(TensorType::Q8_K, CpuLevel::Scalar).from_float(x.data(), &b, 256);
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) sum += b.qs[16 * g + i];
        EXPECT_EQ(b.bsums[g], sum);
    }
}
