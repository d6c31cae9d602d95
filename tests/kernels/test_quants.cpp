#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gguf/types.h"
#include "kernels/cpu.h"
#include "kernels/fp16.h"
#include "kernels/matmul.h"
#include "kernels/quants.h"
#include "kernels/repack.h"
#include "kernels/type_traits.h"

using namespace hearth::kernels;
using hearth::gguf::TensorType;

namespace {

const TensorType kQuantTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                  TensorType::Q5_1, TensorType::Q8_0, TensorType::IQ4_NL,
                                  TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K,
                                  TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_XS,
                                  TensorType::MXFP4};

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

std::vector<uint8_t> quantize(TensorType type, const std::vector<float>& x) {
    std::vector<uint8_t> out(hearth::gguf::bytes_for(type, x.size()));
    traits(type, CpuLevel::Scalar).from_float(x.data(), out.data(), x.size());
    return out;
}

std::vector<float> dequantize(TensorType type, const std::vector<uint8_t>& q, int64_t n) {
    std::vector<float> out(n);
    traits(type, CpuLevel::Scalar).to_float(q.data(), out.data(), n);
    return out;
}

double relative_rms_error(const std::vector<float>& a, const std::vector<float>& b) {
    double err = 0, ref = 0;
    for (size_t i = 0; i < a.size(); ++i) err += (a[i] - b[i]) * (a[i] - b[i]), ref += a[i] * a[i];
    return std::sqrt(err / ref);
}

// Relative RMS error of Gaussian data after a round trip; each bound is about 1.3x what
// round-to-nearest gives for that many bits (the k-quants' scale search lands below it).
double error_bound(TensorType type) {
    switch (type) {
        case TensorType::Q8_0:
            return 0.007;
        case TensorType::Q6_K:
            return 0.025;
        case TensorType::Q5_0:
        case TensorType::Q5_1:
        case TensorType::Q5_K:
            return 0.05;
        case TensorType::Q4_0:
        case TensorType::Q4_1:
        case TensorType::Q4_K:
            return 0.11;
        case TensorType::IQ4_NL:
        case TensorType::IQ4_XS:
            return 0.10;
        case TensorType::MXFP4:  // 8 levels a side and power-of-two scales: coarser than Q4_0
            return 0.16;
        case TensorType::Q3_K:
            return 0.20;
        case TensorType::Q2_K:
            return 0.40;
        default:
            return 0;
    }
}

class EachQuantType : public ::testing::TestWithParam<TensorType> {};

std::string type_param_name(const ::testing::TestParamInfo<TensorType>& info) {
    return std::string(hearth::gguf::type_name(info.param));
}

}  // namespace

TEST_P(EachQuantType, RoundTripErrorWithinFormatBound) {
    const TensorType type = GetParam();
    for (float sigma : {1.0f, 0.02f}) {
        auto x = gaussian(8192, 42, sigma);
        auto y = dequantize(type, quantize(type, x), x.size());
        double err = relative_rms_error(x, y);
        EXPECT_LT(err, error_bound(type)) << hearth::gguf::type_name(type) << " sigma " << sigma;
        RecordProperty("relative_rms_error", std::to_string(err));
    }
}

TEST_P(EachQuantType, ZerosStayZero) {
    const TensorType type = GetParam();
    std::vector<float> x(512, 0.0f);
    for (float v : dequantize(type, quantize(type, x), x.size())) EXPECT_EQ(v, 0.0f);
}

// Every SIMD level's dot product equals the scalar oracle: the integer sums are exact in both,
// only the float accumulation order differs, so 1e-5 of the summed magnitudes bounds the gap.
TEST_P(EachQuantType, SimdDotMatchesScalar) {
    const TensorType type = GetParam();
    const TypeTraits& ref = traits(type, CpuLevel::Scalar);
    const int64_t n = 4096;
    for (uint32_t seed = 1; seed <= 4; ++seed) {
        auto w = quantize(type, gaussian(n, seed));
        auto xf = gaussian(n, seed + 100);
        if (seed == 4) {  // extremes: saturating activations exercise the 16-bit paths
            for (int64_t i = 0; i < n; ++i) xf[i] = (i % 3 == 0) ? -1.0f : 1.0f;
        }
        std::vector<uint8_t> act(hearth::gguf::bytes_for(ref.vec_dot_type, n));
        traits(ref.vec_dot_type, CpuLevel::Scalar).from_float(xf.data(), act.data(), n);
        float expected = ref.vec_dot(n, w.data(), act.data());
        auto wf = dequantize(type, w, n);
        double magnitude = 0;
        for (int64_t i = 0; i < n; ++i) magnitude += std::fabs(wf[i] * xf[i]);
        for (CpuLevel level : supported_cpu_levels()) {
            float got = traits(type, level).vec_dot(n, w.data(), act.data());
            EXPECT_NEAR(got, expected, 1e-5 * magnitude)
                << cpu_level_name(level) << " seed " << seed;
        }
    }
}

// The quantized matmul (activations quantized to 8 bits) against an F32 matmul of the
// dequantized weights: the gap is the activation quantization error only.
TEST_P(EachQuantType, MatmulMatchesDequantizedF32) {
    const TensorType type = GetParam();
    const int64_t rows = 37, cols = 512, tokens = 70;
    auto wq = quantize(type, gaussian(rows * cols, 7));
    auto wf = dequantize(type, wq, rows * cols);
    auto x = gaussian(cols * tokens, 8);
    WeightMatrix w{type, wq.data(), rows, cols, hearth::gguf::bytes_for(type, cols)};
    ThreadPool pool(2);
    MatmulScratch scratch;
    for (CpuLevel level : supported_cpu_levels()) {
        set_cpu_level(level);
        std::vector<float> y(rows * tokens);
        matmul(w, x.data(), tokens, y.data(), pool, scratch);
        for (int64_t t = 0; t < tokens; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
                double ref = 0, magnitude = 0;
                for (int64_t c = 0; c < cols; ++c) {
                    ref += wf[r * cols + c] * x[t * cols + c];
                    magnitude += std::fabs(wf[r * cols + c] * x[t * cols + c]);
                }
                EXPECT_NEAR(y[t * rows + r], ref, 0.01 * magnitude) << cpu_level_name(level);
            }
        }
    }
    set_cpu_level(detected_cpu_level());
}

INSTANTIATE_TEST_SUITE_P(Kernels, EachQuantType, ::testing::ValuesIn(kQuantTypes), type_param_name);

TEST(CpuLevel, NamesRoundTripAndSetIsCapped) {
    for (CpuLevel level : {CpuLevel::Scalar, CpuLevel::Avx2, CpuLevel::Avx512}) {
        EXPECT_EQ(cpu_level_from_name(cpu_level_name(level)), level);
    }
    EXPECT_FALSE(cpu_level_from_name("sse9").has_value());
    EXPECT_EQ(set_cpu_level(CpuLevel::Scalar), CpuLevel::Scalar);
    EXPECT_EQ(cpu_level(), CpuLevel::Scalar);
    EXPECT_EQ(set_cpu_level(CpuLevel::Avx512), detected_cpu_level());
}

// One tile kernel call against the per-pair vec_dot of the same level. The integer sums are
// exact on both paths; only the order of the float block terms differs, so the allowed error
// scales with sum |w_i x_i|.
void expect_tile_matches_vec_dot(TensorType type, CpuLevel level, int64_t n, int64_t tokens) {
    const int64_t rows = 5;
    const TypeTraits& tt = traits(type, level);
    const size_t w_row = hearth::gguf::bytes_for(type, n),
                 a_row = hearth::gguf::bytes_for(tt.vec_dot_type, n);
    auto w = quantize(type, gaussian(n * rows, 5));
    std::vector<float> wf(n * rows);
    traits(type).to_float(w.data(), wf.data(), n * rows);
    auto xf = gaussian(n * tokens, 6);
    std::vector<uint8_t> act(a_row * tokens);
    for (int64_t t = 0; t < tokens; ++t)
        traits(tt.vec_dot_type).from_float(xf.data() + t * n, act.data() + t * a_row, n);
    std::vector<float> out(rows * tokens);
    tt.vec_dot_tile(n, w.data(), w_row, rows, act.data(), a_row, tokens, out.data(), rows);
    for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
            float want = tt.vec_dot(n, w.data() + r * w_row, act.data() + t * a_row);
            double l1 = 0;
            for (int64_t i = 0; i < n; ++i) l1 += std::fabs(double(wf[r * n + i]) * xf[t * n + i]);
            EXPECT_NEAR(out[t * rows + r], want, 1e-6 * l1) << "row " << r << " token " << t;
        }
    }
}

// Tile kernels (several tokens per weight row pass) equal the per-pair vec_dot of their level.
// 15 tokens = passes of 8, 4, 2 and 1 token; 6 = 4 + 2; 3 = 2 + 1.
TEST(TileKernels, MatchVecDotOnEveryLevel) {
    for (int64_t n : {1024, 96}) {  // 96: an odd number of 32-blocks takes the one-by-one path
        for (TensorType type : kQuantTypes) {
            for (CpuLevel level : supported_cpu_levels()) {
                if (!traits(type, level).vec_dot_tile ||
                    n % hearth::gguf::type_info(type).block_size != 0)
                    continue;
                for (int64_t tokens : {15, 6, 3}) {
                    SCOPED_TRACE(std::string(hearth::gguf::type_name(type)) + " " +
                                 std::string(cpu_level_name(level)) + " " + std::to_string(tokens) +
                                 " tokens");
                    expect_tile_matches_vec_dot(type, level, n, tokens);
                }
            }
        }
    }
}

// Activation quantization is bit-identical on every level (the dot products see the same bytes).
TEST(ActivationQuantization, SameBytesOnEveryLevel) {
    auto x = gaussian(4096, 77);
    x[5] = 0.0f,
    x[300] = 12.5f;  // an exact half after scaling is likely somewhere; ties must agree
    for (TensorType type : {TensorType::Q8_0, TensorType::Q8_K}) {
        std::vector<uint8_t> ref(hearth::gguf::bytes_for(type, x.size()));
        traits(type, CpuLevel::Scalar).from_float(x.data(), ref.data(), x.size());
        for (CpuLevel level : supported_cpu_levels()) {
            std::vector<uint8_t> got(ref.size());
            traits(type, level).from_float(x.data(), got.data(), x.size());
            EXPECT_EQ(got, ref) << hearth::gguf::type_name(type) << " " << cpu_level_name(level);
        }
    }
}

// matmul_group (shared input, one parallel region) gives what separate matmuls give.
TEST(MatmulGroup, EqualsSeparateMatmuls) {
    const int64_t cols = 512;
    struct Spec {
        TensorType type;
        int64_t rows;
    };
    const Spec specs[] = {{TensorType::Q4_K, 96}, {TensorType::Q6_K, 33}, {TensorType::Q4_K, 64}};
    std::vector<std::vector<uint8_t>> data;
    std::vector<WeightMatrix> weights;
    for (const Spec& s : specs) {
        data.push_back(quantize(s.type, gaussian(s.rows * cols, static_cast<uint32_t>(s.rows))));
    }
    for (size_t i = 0; i < data.size(); ++i) {
        weights.push_back({specs[i].type, data[i].data(), specs[i].rows, cols,
                           hearth::gguf::bytes_for(specs[i].type, cols)});
    }
    ThreadPool pool(2);
    MatmulScratch scratch;
    for (int64_t tokens : {1, 19}) {
        auto x = gaussian(cols * tokens, 9);
        std::vector<std::vector<float>> separate, grouped;
        std::vector<MatmulOutput> outputs;
        for (const WeightMatrix& w : weights) {
            separate.emplace_back(w.rows * tokens);
            grouped.emplace_back(w.rows * tokens);
        }
        for (size_t i = 0; i < weights.size(); ++i) {
            matmul(weights[i], x.data(), tokens, separate[i].data(), pool, scratch);
            outputs.push_back({&weights[i], grouped[i].data()});
        }
        matmul_group(outputs, x.data(), tokens, pool, scratch);
        for (size_t i = 0; i < weights.size(); ++i) {
            for (size_t j = 0; j < separate[i].size(); ++j)
                EXPECT_FLOAT_EQ(grouped[i][j], separate[i][j]);
        }
    }
}

// run_chunks: every chunk exactly once, interleaved with run() jobs (workers may skip chunk
// jobs entirely but must take part in every run()).
TEST(ThreadPoolChunks, EveryChunkOnceMixedWithRun) {
    ThreadPool pool(3);
    for (int round = 0; round < 300; ++round) {
        const int64_t n = 1 + round % 37;
        std::vector<std::atomic<int>> hits(n);
        pool.run_chunks(n, [&](int64_t c) { hits[c].fetch_add(1); });
        for (int64_t c = 0; c < n; ++c) ASSERT_EQ(hits[c].load(), 1) << "round " << round;
        std::atomic<int> ran{0};
        pool.run([&](int, int) { ran.fetch_add(1); });
        ASSERT_EQ(ran.load(), 3);
    }
}

namespace {
// Byte offsets of the fp16 scale fields (d, and m/dmin where the format has one) in a block.
std::vector<size_t> scale_offsets(TensorType type) {
    switch (type) {
        case TensorType::Q4_1:
        case TensorType::Q5_1:
        case TensorType::Q4_K:
        case TensorType::Q5_K:
            return {0, 2};
        case TensorType::Q2_K:
            return {80, 82};
        case TensorType::Q3_K:
            return {108};
        case TensorType::Q6_K:
            return {208};
        default:
            return {0};
    }
}
}  // namespace

// With every float scale set to 1 and small activations, each dot product is an integer well
// below 2^24, so every float operation is exact: SIMD and scalar must agree bit for bit (the
// integer parts of the kernels are identical, not just close).
TEST(SimdIntegerParts, ExactlyEqualScalar) {
    const int64_t n = 1024;
    const uint16_t one = fp32_to_fp16(1.0f);
    for (TensorType type : kQuantTypes) {
        const TypeTraits& ref = traits(type, CpuLevel::Scalar);
        const auto& info = hearth::gguf::type_info(type);
        auto w = quantize(type, gaussian(n, 31));
        for (size_t b = 0; b < w.size() / info.bytes_per_block; ++b) {
            if (type == TensorType::MXFP4) {  // E8M0 byte: 2^(128 - 127) halved for the levels
                w[b * info.bytes_per_block] = 128;
                continue;
            }
            for (size_t offset : scale_offsets(type))
                std::memcpy(&w[b * info.bytes_per_block + offset], &one, 2);
        }
        std::vector<uint8_t> act(hearth::gguf::bytes_for(ref.vec_dot_type, n));
        std::mt19937 rng(5);
        if (ref.vec_dot_type == TensorType::Q8_0) {
            auto* blocks = reinterpret_cast<BlockQ8_0*>(act.data());
            for (int64_t b = 0; b < n / 32; ++b) {
                blocks[b].d = one;
                for (auto& q : blocks[b].qs)
                    q = static_cast<int8_t>(static_cast<int>(rng() % 7) - 3);
            }
        } else {
            auto* blocks = reinterpret_cast<BlockQ8_K*>(act.data());
            for (int64_t b = 0; b < n / 256; ++b) {
                blocks[b].d = 1.0f;
                for (auto& q : blocks[b].qs)
                    q = static_cast<int8_t>(static_cast<int>(rng() % 7) - 3);
                for (int g = 0; g < 16; ++g) {
                    int sum = 0;
                    for (int i = 0; i < 16; ++i) sum += blocks[b].qs[16 * g + i];
                    blocks[b].bsums[g] = static_cast<int16_t>(sum);
                }
            }
        }
        float expected = ref.vec_dot(n, w.data(), act.data());
        ASSERT_EQ(expected, std::nearbyint(expected)) << hearth::gguf::type_name(type);
        for (CpuLevel level : supported_cpu_levels()) {
            EXPECT_EQ(traits(type, level).vec_dot(n, w.data(), act.data()), expected)
                << hearth::gguf::type_name(type) << " " << cpu_level_name(level);
        }
    }
}

// Matrices repacked 16 rows at a time (kernels/repack.h) give what the scalar dot gives
// on the original rows, for decode (1 token) and the 4/2/1-token passes of prompt processing.
void expect_repacked_matches_scalar(TensorType type) {
    const int64_t rows = 64, cols = 512;  // rows 16..63: three 16-row groups
    auto wq = quantize(type, gaussian(rows * cols, 21));
    const TensorType act_type = traits(type).vec_dot_type;
    std::vector<float> wf(rows * cols);
    traits(type).to_float(wq.data(), wf.data(), rows * cols);
    WeightMatrix w;
    w.type = type;
    w.data = wq.data();
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = hearth::gguf::bytes_for(type, cols);
    ASSERT_TRUE(can_repack(w));
    std::vector<uint8_t> repacked(repacked_bytes(w));
    repack(w, repacked.data(), 0, rows / kRepackRows);
    w.repacked = repacked.data();
    using Kernel = void (*)(const WeightMatrix&, const uint8_t*, size_t, int64_t, float*, size_t,
                            int64_t, int64_t);
    std::vector<std::pair<std::string, Kernel>> kernels;
    // The packed kernels of the type's rows (kernels/type_traits.h).
    if (detected_cpu_level() == CpuLevel::Avx512) {
        ASSERT_NE(traits(type, CpuLevel::Avx512).packed_matmul, nullptr);
        kernels.push_back({"avx512", traits(type, CpuLevel::Avx512).packed_matmul});
    }
    if (amx_usable() && has_amx_kernels(type))
        kernels.push_back(
            {"amx", traits(type, CpuLevel::Avx512).packed_matmul_amx});  // 16-token groups
    if (has_repacked_kernels(type, CpuLevel::Avx2) && detected_cpu_level() >= CpuLevel::Avx2)
        kernels.push_back({"avx2", traits(type, CpuLevel::Avx2).packed_matmul});
    ASSERT_FALSE(kernels.empty());
    for (int64_t tokens : {1, 7, 16, 48}) {
        const size_t a_row = hearth::gguf::bytes_for(act_type, cols);
        auto xf = gaussian(cols * tokens, 22);
        std::vector<uint8_t> act(a_row * tokens);
        for (int64_t t = 0; t < tokens; ++t)
            traits(act_type).from_float(xf.data() + t * cols, act.data() + t * a_row, cols);
        for (const auto& [name, kernel] : kernels) {
            if (name == "amx" && tokens % 16 != 0) continue;
            std::vector<float> y(rows * tokens, -1.0f);
            // Rows 16..63 only: rows 0..15 must stay untouched.
            kernel(w, act.data(), a_row, tokens, y.data(), rows, 16, rows);
            for (int64_t t = 0; t < tokens; ++t) {
                for (int64_t r = 0; r < rows; ++r) {
                    if (r < 16) {
                        EXPECT_EQ(y[t * rows + r], -1.0f)
                            << name << ": row " << r << " was written";
                        continue;
                    }
                    float want = traits(type, CpuLevel::Scalar)
                                     .vec_dot(cols, w.row(r), act.data() + t * a_row);
                    double l1 = 0;  // float terms come in another order: error ~ sum |w x|
                    for (int64_t i = 0; i < cols; ++i)
                        l1 += std::fabs(double(wf[r * cols + i]) * xf[t * cols + i]);
                    EXPECT_NEAR(y[t * rows + r], want, 1e-6 * l1)
                        << name << ": row " << r << " token " << t;
                }
            }
        }
    }
    // Through matmul() at every level: the repacked copy is used where the level has kernels
    // for it (and AMX for whole groups of 16 tokens), the original rows elsewhere, and both
    // give what the unrepacked matrix gives.
    for (CpuLevel level : supported_cpu_levels()) {
        set_cpu_level(level);
        for (int64_t tokens : {3, 35}) {
            auto xf = gaussian(cols * tokens, 23);
            ThreadPool pool(2);
            MatmulScratch scratch;
            std::vector<float> plain(rows * tokens), fast(rows * tokens);
            WeightMatrix original = w;
            original.repacked = nullptr;
            matmul(original, xf.data(), tokens, plain.data(), pool, scratch);
            matmul(w, xf.data(), tokens, fast.data(), pool, scratch);
            for (size_t i = 0; i < plain.size(); ++i)
                EXPECT_NEAR(fast[i], plain[i], 1e-4 * (std::fabs(plain[i]) + 1))
                    << cpu_level_name(level) << " " << i;
        }
    }
    set_cpu_level(detected_cpu_level());
}

TEST(Repacked, Q4KMatmulMatchesScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() == CpuLevel::Scalar) GTEST_SKIP() << "no AVX2 on this CPU";
    expect_repacked_matches_scalar(TensorType::Q4_K);
}

TEST(Repacked, Q4_0MatmulMatchesScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() == CpuLevel::Scalar) GTEST_SKIP() << "no AVX2 on this CPU";
    expect_repacked_matches_scalar(TensorType::Q4_0);
}

TEST(Repacked, Q8_0MatmulMatchesScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() == CpuLevel::Scalar) GTEST_SKIP() << "no AVX2 on this CPU";
    expect_repacked_matches_scalar(TensorType::Q8_0);
}

TEST(Repacked, Q5KMatmulMatchesScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() == CpuLevel::Scalar) GTEST_SKIP() << "no AVX2 on this CPU";
    expect_repacked_matches_scalar(TensorType::Q5_K);
}

TEST(Repacked, OtherFormatsMatchScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() != CpuLevel::Avx512) GTEST_SKIP() << "no AVX-512 on this CPU";
    for (TensorType type : {TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                            TensorType::IQ4_NL, TensorType::IQ4_XS}) {
        SCOPED_TRACE(hearth::gguf::type_name(type));
        expect_repacked_matches_scalar(type);
    }
}

TEST(Repacked, MXFP4MatmulMatchesScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() == CpuLevel::Scalar) GTEST_SKIP() << "no AVX2 on this CPU";
    expect_repacked_matches_scalar(TensorType::MXFP4);
}

TEST(Repacked, Q2KMatmulMatchesScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() == CpuLevel::Scalar) GTEST_SKIP() << "no AVX2 on this CPU";
    expect_repacked_matches_scalar(TensorType::Q2_K);
}

TEST(Repacked, Q3KMatmulMatchesScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() == CpuLevel::Scalar) GTEST_SKIP() << "no AVX2 on this CPU";
    expect_repacked_matches_scalar(TensorType::Q3_K);
}

TEST(Repacked, Q6KMatmulMatchesScalarDotOfTheOriginalRows) {
    if (detected_cpu_level() == CpuLevel::Scalar) GTEST_SKIP() << "no AVX2 on this CPU";
    expect_repacked_matches_scalar(TensorType::Q6_K);
}

// Float weights (F32, F16, BF16) against F32 activations: every level's vec_dot and tile
// kernel against a double-precision dot of the widened weights. Only the float summation order
// differs between levels, so 1e-5 of sum |w_i x_i| bounds the gap. Lengths: a multiple of
// every vector step, and one that leaves a tail on each level.
TEST(FloatWeights, SimdDotsAndTilesMatchADoubleDot) {
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
        for (int64_t n : {2048, 1001}) {
            // 6 rows: register blocks of 4 (AVX-512) or 2 (AVX2) and single rows; 15 tokens: groups
            // of 4, 2 and 1.
            const int64_t rows = 6, tokens = 15;
            const size_t w_row = hearth::gguf::bytes_for(type, n);
            auto wf32 = gaussian(n * rows, 11);
            std::vector<uint8_t> w(w_row * rows);
            traits(type, CpuLevel::Scalar).from_float(wf32.data(), w.data(), n * rows);
            std::vector<float> wf(n * rows);
            traits(type, CpuLevel::Scalar).to_float(w.data(), wf.data(), n * rows);
            auto x = gaussian(n * tokens, 12);
            const auto* act = reinterpret_cast<const uint8_t*>(x.data());
            for (CpuLevel level : supported_cpu_levels()) {
                const TypeTraits& tt = traits(type, level);
                SCOPED_TRACE(std::string(hearth::gguf::type_name(type)) + " " +
                             std::string(cpu_level_name(level)) + " n " + std::to_string(n));
                std::vector<float> tiled(rows * tokens, NAN);
                if (tt.vec_dot_tile)
                    tt.vec_dot_tile(n, w.data(), w_row, rows, act, n * sizeof(float), tokens,
                                    tiled.data(), rows);
                for (int64_t t = 0; t < tokens; ++t) {
                    for (int64_t r = 0; r < rows; ++r) {
                        double want = 0, l1 = 0;
                        for (int64_t i = 0; i < n; ++i) {
                            want += double(wf[r * n + i]) * x[t * n + i];
                            l1 += std::fabs(double(wf[r * n + i]) * x[t * n + i]);
                        }
                        EXPECT_NEAR(tt.vec_dot(n, w.data() + r * w_row, x.data() + t * n), want,
                                    1e-5 * l1);
                        if (tt.vec_dot_tile) {
                            EXPECT_NEAR(tiled[t * rows + r], want, 1e-5 * l1) << "tile";
                        }
                    }
                }
            }
        }
    }
}

// The SIMD levels are not left to the scalar loop for float weights.
TEST(FloatWeights, SimdLevelsHaveTheirOwnKernels) {
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
        for (CpuLevel level : supported_cpu_levels()) {
            if (level == CpuLevel::Scalar) continue;
            EXPECT_NE(traits(type, level).vec_dot, traits(type, CpuLevel::Scalar).vec_dot);
            EXPECT_NE(traits(type, level).vec_dot_tile, nullptr);
        }
    }
}
