// MXFP4 (OCP Microscaling Formats spec v1.0, as GGUF stores it: one E8M0 byte, then 16 bytes
// whose low nibbles are elements 0..15 and high nibbles 16..31). The expected values here are
// decoded from the spec's bit layouts (E2M1: sign, 2 exponent bits with bias 1, 1 mantissa bit;
// E8M0: 2^(e - 127)), not from the kernels' level table. The other MXFP4 checks (every SIMD
// level against the scalar kernels, repacked matmuls, round-trip error) run with the other
// types in test_quants.cpp.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gguf/types.h"
#include "kernels/quants.h"
#include "kernels/type_traits.h"

using namespace hearth::kernels;
using hearth::gguf::TensorType;

namespace {

// E2M1 code -> value, from its bits.
double e2m1(int code) {
    const int sign = code >> 3, exponent = (code >> 1) & 3, mantissa = code & 1;
    const double magnitude =
        exponent == 0 ? 0.5 * mantissa : std::ldexp(1.0 + 0.5 * mantissa, exponent - 1);
    return sign ? -magnitude : magnitude;
}

double e8m0(int e) {
    return std::ldexp(1.0, e - 127);
}

std::vector<float> dequantize(const std::vector<uint8_t>& q, int64_t n) {
    std::vector<float> out(n);
    traits(TensorType::MXFP4, CpuLevel::Scalar).to_float(q.data(), out.data(), n);
    return out;
}

std::vector<uint8_t> quantize(const std::vector<float>& x) {
    std::vector<uint8_t> out(hearth::gguf::bytes_for(TensorType::MXFP4, x.size()));
    traits(TensorType::MXFP4, CpuLevel::Scalar).from_float(x.data(), out.data(), x.size());
    return out;
}

// The code of element i of a quantized block.
int code_of(const std::vector<uint8_t>& q, int i) {
    const uint8_t byte = q[1 + i % 16];
    return i < 16 ? byte & 0xF : byte >> 4;
}

}  // namespace

TEST(MXFP4, TypeTableRow) {
    const auto& info = hearth::gguf::type_info(TensorType::MXFP4);
    EXPECT_EQ(static_cast<uint32_t>(info.type), 39u);  // ggml's id
    EXPECT_EQ(info.block_size, 32u);
    EXPECT_EQ(info.bytes_per_block, 17u);
    EXPECT_EQ(hearth::gguf::type_from_name("mxfp4"), TensorType::MXFP4);
    EXPECT_TRUE(is_supported(TensorType::MXFP4));
    EXPECT_EQ(traits(TensorType::MXFP4).vec_dot_type, TensorType::Q8_0);
}

// Every code at several exponents, including the two that give subnormal float scales.
TEST(MXFP4, DequantizesEveryCodeAsTheSpecDefinesIt) {
    for (int e : {0, 1, 2, 100, 124, 127, 130, 200, 250}) {
        std::vector<uint8_t> block(17);
        block[0] = static_cast<uint8_t>(e);
        // Element j: code j; element 16 + j: code 15 - j.
        for (int j = 0; j < 16; ++j) block[1 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
        const auto got = dequantize(block, 32);
        for (int i = 0; i < 32; ++i) {
            const int code = i < 16 ? i : 15 - (i - 16);
            EXPECT_EQ(got[i], static_cast<float>(e8m0(e) * e2m1(code)))
                << "e " << e << " element " << i << " code " << code;
        }
    }
}

// A block of 32 whose values are all E2M1 values times 2^k comes back exactly, with the
// exponent byte 127 + k (the largest magnitude, 6 = 1.5 * 2^2, sets k).
TEST(MXFP4, ExactlyRepresentableBlocksRoundTrip) {
    for (int k : {-20, -3, 0, 5}) {
        std::vector<float> x(32);
        for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(std::ldexp(e2m1((i * 7) % 16), k));
        x[5] = static_cast<float>(std::ldexp(6.0, k));  // the block's largest magnitude
        const auto q = quantize(x);
        EXPECT_EQ(q[0], 127 + k);
        const auto y = dequantize(q, 32);
        for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], x[i]) << "k " << k << " element " << i;
    }
}

// Round to nearest: the spec scale is 2^(floor(log2(amax)) - 2); values between two levels go
// to the nearer, an exact midpoint to the smaller magnitude (as the reference engine's search
// does: it keeps the first of equal errors, and its table lists magnitudes in rising order),
// and magnitudes past 6 x scale clip to 6 x scale.
TEST(MXFP4, RoundsToNearestTiesToSmallerMagnitudeAndClips) {
    std::vector<float> x(32, 0.0f);
    x[0] = 4.0f;    // amax in [4, 8): scale 1 (e = 127)
    x[1] = 0.25f;   // midpoint of 0 and 0.5 -> 0
    x[2] = 0.26f;   // -> 0.5
    x[3] = -0.75f;  // midpoint of -0.5 and -1 -> -0.5
    x[4] = 2.5f;    // midpoint of 2 and 3 -> 2
    x[5] = 3.5f;    // midpoint of 3 and 4 -> 3
    x[6] = 5.0f;    // midpoint of 4 and 6 -> 4
    x[7] = 5.01f;   // -> 6
    x[8] = -7.9f;   // past -6: clips to -6
    x[9] = -0.1f;   // rounds to zero: stored as +0 (code 0), never -0 (code 8)
    x[17] = 1.2f;   // element 17: a high nibble -> 1
    const auto q = quantize(x);
    ASSERT_EQ(q[0], 127);
    const double want[] = {4, 0, 0.5, -0.5, 2, 3, 4, 6, -6, 0};
    for (int i = 0; i < 10; ++i) EXPECT_EQ(e2m1(code_of(q, i)), want[i]) << "element " << i;
    EXPECT_EQ(code_of(q, 9), 0);
    EXPECT_EQ(e2m1(code_of(q, 17)), 1.0);
    for (int i : {10, 16, 31}) EXPECT_EQ(code_of(q, i), 0);
}

// The exponent comes from log2f as in the reference engine: for an amax just below a power of
// two, log2f rounds up to the integer (log2(8 - 2^-21) = 3 - 8.6e-8 is nearer 3.0f than any
// float below it), so the scale is the larger one and amax lands on level 4, not clipped to 6.
TEST(MXFP4, ExponentFollowsLog2fRounding) {
    std::vector<float> x(32, 0.0f);
    x[0] = std::nextafter(8.0f, 0.0f);
    ASSERT_EQ(std::floor(std::log2(x[0])), 3.0f);
    const auto q = quantize(x);
    EXPECT_EQ(q[0], 128);
    EXPECT_EQ(dequantize(q, 32)[0], 8.0f);
    // Tiny and zero blocks take the smallest exponent.
    std::vector<float> tiny(32, 0.0f);
    tiny[3] = 1e-39f;
    EXPECT_EQ(quantize(tiny)[0], 0);
    EXPECT_EQ(quantize(std::vector<float>(32, 0.0f))[0], 0);
}

// Requantizing MXFP4 weights (as `hearth quantize` does to a gpt-oss file's experts) loses
// nothing: any block's values, E2M1 levels times a power of two, come back exactly. Exponents
// stay where 6 x 2^(e - 127) and the smallest level are normal floats.
TEST(MXFP4, RequantizingMxfp4ValuesIsExact) {
    std::mt19937 rng(5);
    const int64_t n = 32 * 2000;
    std::vector<uint8_t> bytes(hearth::gguf::bytes_for(TensorType::MXFP4, n));
    for (size_t b = 0; b < bytes.size() / 17; ++b) {
        bytes[b * 17] = static_cast<uint8_t>(5 + rng() % 245);
        for (int j = 1; j < 17; ++j) bytes[b * 17 + j] = static_cast<uint8_t>(rng());
        if (b % 7 == 0)  // small codes only: the block's largest magnitude below 6
            for (int j = 1; j < 17; ++j) bytes[b * 17 + j] &= static_cast<uint8_t>(0x99 + (b % 3) * 0x22);
    }
    const auto x = dequantize(bytes, n);
    const auto y = dequantize(quantize(x), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], x[i]) << "element " << i;
}

// Each element's code against a brute-force search over all 16 codes (nearest value, then the
// smaller magnitude, then +0 over -0) on random data at many scales, including values placed
// exactly on midpoints.
TEST(MXFP4, EveryCodeIsTheNearestLevel) {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int block = 0; block < 2000; ++block) {
        std::vector<float> x(32);
        const float sigma = std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
        for (auto& v : x) v = normal(rng) * sigma;
        if (block % 2 == 1) {  // snap some values onto midpoints of the block's scale
            float amax = 0;
            for (float v : x) amax = std::max(amax, std::fabs(v));
            const float scale = std::ldexp(1.0f, static_cast<int>(std::floor(std::log2(amax))) - 2);
            const float mid[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
            for (int i = 1; i < 32; i += 3) x[i] = mid[rng() % 7] * scale * (rng() % 2 ? 1 : -1);
        }
        const auto q = quantize(x);
        const double scale = e8m0(q[0]);
        for (int i = 0; i < 32; ++i) {
            int best = 0;
            for (int c = 1; c < 16; ++c) {
                const double err = std::fabs(e2m1(c) * scale - x[i]);
                const double best_err = std::fabs(e2m1(best) * scale - x[i]);
                if (err < best_err || (err == best_err && std::fabs(e2m1(c)) < std::fabs(e2m1(best))))
                    best = c;
            }
            ASSERT_EQ(code_of(q, i), best) << "block " << block << " element " << i << " x " << x[i];
        }
    }
}

// Optional: the reference engine's own quantizer and dequantizer (ggml's libggml-base, when
// the lead's build of it is present) give the same bytes and floats as ours. Skipped
// otherwise; HEARTH_GGML_BASE names another copy of the library.
TEST(MXFP4, SameBytesAsTheReferenceEngine) {
    const char* env = std::getenv("HEARTH_GGML_BASE");
    const char* home = std::getenv("HOME");
    const std::string path =
        env ? env : std::string(home ? home : "") + "/llama.cpp/build/bin/libggml-base.so";
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) GTEST_SKIP() << "no reference engine library at " << path;
    using Quantize = void (*)(const float*, void*, int64_t);
    using Dequantize = void (*)(const void*, float*, int64_t);
    auto ref_quantize = reinterpret_cast<Quantize>(dlsym(lib, "quantize_row_mxfp4_ref"));
    auto ref_dequantize = reinterpret_cast<Dequantize>(dlsym(lib, "dequantize_row_mxfp4"));
    if (!ref_quantize || !ref_dequantize) {
        dlclose(lib);
        GTEST_SKIP() << path << " has no MXFP4 functions";
    }
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t n = 32 * 4096;
    std::vector<float> x(n);
    for (int64_t b = 0; b < n / 32; ++b) {
        const float sigma = std::ldexp(1.0f, static_cast<int>(rng() % 60) - 30);
        for (int i = 0; i < 32; ++i) x[b * 32 + i] = normal(rng) * sigma;
        if (b % 3 == 0) x[b * 32 + rng() % 32] = std::nextafter(std::ldexp(1.0f, 2), 0.0f) * sigma;
    }
    std::vector<uint8_t> ours = quantize(x), theirs(ours.size());
    ref_quantize(x.data(), theirs.data(), n);
    EXPECT_EQ(ours, theirs);
    std::vector<uint8_t> bytes(ours.size());
    for (auto& byte : bytes) byte = static_cast<uint8_t>(rng());  // every exponent byte too
    std::vector<float> ref_floats(n);
    ref_dequantize(bytes.data(), ref_floats.data(), n);
    const auto our_floats = dequantize(bytes, n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(our_floats[i], ref_floats[i]) << "element " << i;
    dlclose(lib);
}
