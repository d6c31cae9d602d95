// Scalar reference kernels for every quantized format: round-to-nearest quantization with each
// format's scale rules (plus a small least-squares scale search for the k-quants, which costs
// little and lowers the error), bit-exact dequantization, and integer dot products.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/quants.h"

namespace hearth::kernels {

void unpack_scales_q3_k(const uint8_t* packed, int8_t out[16]) {
    for (int j = 0; j < 16; ++j) {
        int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
        int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = static_cast<int8_t>((low | (high << 4)) - 32);
    }
}

namespace scalar {
namespace {

int round_to_int(float x) {
    return static_cast<int>(std::nearbyint(x));
}
int clamp_int(int v, int lo, int hi) {
    return std::min(hi, std::max(lo, v));
}
float half(uint16_t h) {
    return fp16_to_fp32(h);
}
uint16_t to_half(float f) {
    return fp32_to_fp16(f);
}

// The element with the largest magnitude, sign kept (symmetric formats scale by it so that the
// most negative level lands exactly on it).
float signed_absmax(const float* x, int n) {
    float best = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > std::fabs(best)) best = x[i];
    }
    return best;
}

// Symmetric sub-block scale for levels in [-n_neg, n_pos]: try a few scales around
// absmax / n_neg, refit each by least squares, keep the one with the least squared error.
float fit_symmetric_scale(const float* x, int n, int n_neg, int n_pos) {
    float max = signed_absmax(x, n);
    if (max == 0) return 0;
    float best_scale = max / -n_neg, best_err = INFINITY;
    for (int step = -4; step <= 4; ++step) {
        float scale = max / (-n_neg + 0.1f * step);
        float sum_xq = 0, sum_qq = 0;
        for (int i = 0; i < n; ++i) {
            int q = clamp_int(round_to_int(x[i] / scale), -n_neg, n_pos);
            sum_xq += x[i] * q;
            sum_qq += static_cast<float>(q) * q;
        }
        if (sum_qq == 0) continue;
        float refit = sum_xq / sum_qq;
        float err = 0;
        for (int i = 0; i < n; ++i) {
            int q = clamp_int(round_to_int(x[i] / refit), -n_neg, n_pos);
            float e = x[i] - refit * q;
            err += e * e;
        }
        if (err < best_err) best_err = err, best_scale = refit;
    }
    return best_scale;
}

// Asymmetric sub-block fit x ~ scale * q - min_offset with q in [0, n_max], min_offset >= 0:
// tries a few scales around the range / n_max and refits (scale, offset) by least squares.
void fit_scale_min(const float* x, int n, int n_max, float* scale_out, float* min_out) {
    float lo = *std::min_element(x, x + n), hi = *std::max_element(x, x + n);
    lo = std::min(lo, 0.0f);  // the format stores a subtracted, non-negative offset
    if (hi <= lo) {
        *scale_out = 0, *min_out = -lo;
        return;
    }
    float best_scale = (hi - lo) / n_max, best_lo = lo, best_err = INFINITY;
    for (int step = -3; step <= 6; ++step) {
        float scale = (hi - lo) / (n_max + 0.1f * step);
        float sx = 0, sq = 0, sxq = 0, sqq = 0;
        for (int i = 0; i < n; ++i) {
            int q = clamp_int(round_to_int((x[i] - lo) / scale), 0, n_max);
            sx += x[i], sq += q, sxq += x[i] * q, sqq += static_cast<float>(q) * q;
        }
        float det = n * sqq - sq * sq;
        float fit_scale = scale, fit_lo = lo;
        if (det > 0) {
            fit_scale = (n * sxq - sx * sq) / det;
            fit_lo = (sx - fit_scale * sq) / n;
        }
        if (fit_lo > 0 || fit_scale <= 0) fit_scale = scale, fit_lo = lo;
        float err = 0;
        for (int i = 0; i < n; ++i) {
            int q = clamp_int(round_to_int((x[i] - fit_lo) / fit_scale), 0, n_max);
            float e = x[i] - (fit_scale * q + fit_lo);
            err += e * e;
        }
        if (err < best_err) best_err = err, best_scale = fit_scale, best_lo = fit_lo;
    }
    *scale_out = best_scale, *min_out = -best_lo;
}

// Quantizes super-block level scales (all >= 0) to n_max levels of a shared fp16 step.
// Returns the step actually stored (fp16-rounded) so callers requantize against it.
float quantize_scales(const float* scales, int count, int n_max, uint8_t* levels) {
    float max = *std::max_element(scales, scales + count);
    float step = fp16_to_fp32(to_half(max / n_max));
    for (int j = 0; j < count; ++j) {
        levels[j] = step > 0 ? clamp_int(round_to_int(scales[j] / step), 0, n_max) : 0;
    }
    return step;
}

int nearest_iq4_level(float v) {
    int best = 0;
    for (int k = 1; k < 16; ++k) {
        if (std::fabs(kIQ4Values[k] - v) < std::fabs(kIQ4Values[best] - v)) best = k;
    }
    return best;
}

// IQ4 sub-block scale: levels are the non-uniform kIQ4Values; search scales around
// absmax / -127 and refit by least squares.
float fit_iq4_scale(const float* x, int n) {
    float max = signed_absmax(x, n);
    if (max == 0) return 0;
    float best_scale = max / kIQ4Values[0], best_err = INFINITY;
    for (int step = -7; step <= 7; ++step) {
        float scale = max / (kIQ4Values[0] + step);
        float sxq = 0, sqq = 0;
        for (int i = 0; i < n; ++i) {
            int q = kIQ4Values[nearest_iq4_level(x[i] / scale)];
            sxq += x[i] * q, sqq += static_cast<float>(q) * q;
        }
        float refit = sqq > 0 ? sxq / sqq : scale;
        float err = 0;
        for (int i = 0; i < n; ++i) {
            float e = x[i] - refit * kIQ4Values[nearest_iq4_level(x[i] / refit)];
            err += e * e;
        }
        if (err < best_err) best_err = err, best_scale = refit;
    }
    return best_scale;
}

void pack_iq4_nibbles(const float* x, float scale, uint8_t* qs) {
    float inv = scale != 0 ? 1 / scale : 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = nearest_iq4_level(x[j] * inv) | (nearest_iq4_level(x[j + 16] * inv) << 4);
    }
}

// Scale and min levels of Q4_K / Q5_K, 6 bits each, 8 + 8 packed into 12 bytes.
void pack_scale_min_k4(const uint8_t* sc, const uint8_t* mn, uint8_t* packed) {
    for (int j = 0; j < 4; ++j) {
        packed[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
        packed[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
        packed[j + 8] = (sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4);
    }
}

// Shared by Q4_K and Q5_K: fits 8 sub-blocks of 32, stores d/dmin/scales, and returns the
// 256 integer levels in [0, n_max] for the caller to pack.
void quantize_k4_levels(const float* x, int n_max, uint16_t* d, uint16_t* dmin,
                        uint8_t* packed_scales, uint8_t* levels) {
    float scales[8], mins[8];
    for (int j = 0; j < 8; ++j) fit_scale_min(x + 32 * j, 32, n_max, &scales[j], &mins[j]);
    uint8_t sc[8], mn[8];
    float d_step = quantize_scales(scales, 8, 63, sc);
    float m_step = quantize_scales(mins, 8, 63, mn);
    *d = to_half(d_step), *dmin = to_half(m_step);
    pack_scale_min_k4(sc, mn, packed_scales);
    for (int j = 0; j < 8; ++j) {
        float scale = d_step * sc[j], offset = m_step * mn[j];
        for (int i = 0; i < 32; ++i) {
            int q = scale > 0 ? round_to_int((x[32 * j + i] + offset) / scale) : 0;
            levels[32 * j + i] = clamp_int(q, 0, n_max);
        }
    }
}

const BlockQ8_0* as_q8_0(const void* p) {
    return static_cast<const BlockQ8_0*>(p);
}
const BlockQ8_K* as_q8_k(const void* p) {
    return static_cast<const BlockQ8_K*>(p);
}

int sum_q8(const int8_t* q, int n) {
    int s = 0;
    for (int i = 0; i < n; ++i) s += q[i];
    return s;
}

}  // namespace

// ---------------------------------------------------------------- Q8_0

void quantize_q8_0(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_0*>(dst);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float* x = src + b * kBlock32;
        float amax = 0;
        for (int i = 0; i < kBlock32; ++i) amax = std::max(amax, std::fabs(x[i]));
        float d = amax / 127, inv = d > 0 ? 1 / d : 0;
        blocks[b].d = to_half(d);
        for (int i = 0; i < kBlock32; ++i) blocks[b].qs[i] = round_to_int(x[i] * inv);
    }
}

void dequantize_q8_0(const void* src, float* dst, int64_t n) {
    const auto* blocks = as_q8_0(src);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        float d = half(blocks[b].d);
        for (int i = 0; i < kBlock32; ++i) dst[b * kBlock32 + i] = d * blocks[b].qs[i];
    }
}

float vec_dot_q8_0(int64_t n, const void* weights, const void* activations) {
    const auto* w = as_q8_0(weights);
    const auto* a = as_q8_0(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        int isum = 0;
        for (int i = 0; i < kBlock32; ++i) isum += w[b].qs[i] * a[b].qs[i];
        sum += half(w[b].d) * half(a[b].d) * isum;
    }
    return sum;
}

// ---------------------------------------------------------------- Q4_0 / Q4_1

void quantize_q4_0(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ4_0*>(dst);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float* x = src + b * kBlock32;
        float d = signed_absmax(x, kBlock32) / -8, inv = d != 0 ? 1 / d : 0;
        blocks[b].d = to_half(d);
        for (int j = 0; j < 16; ++j) {
            int lo = clamp_int(round_to_int(x[j] * inv) + 8, 0, 15);
            int hi = clamp_int(round_to_int(x[j + 16] * inv) + 8, 0, 15);
            blocks[b].qs[j] = lo | (hi << 4);
        }
    }
}

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ4_0*>(src);
    for (int64_t b = 0; b < n / kBlock32; ++b, dst += kBlock32) {
        float d = half(blocks[b].d);
        for (int j = 0; j < 16; ++j) {
            dst[j] = d * ((blocks[b].qs[j] & 0xF) - 8);
            dst[j + 16] = d * ((blocks[b].qs[j] >> 4) - 8);
        }
    }
}

float vec_dot_q4_0(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ4_0*>(weights);
    const auto* a = as_q8_0(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j];
            isum += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        }
        sum += half(w[b].d) * half(a[b].d) * isum;
    }
    return sum;
}

void quantize_q4_1(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ4_1*>(dst);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float* x = src + b * kBlock32;
        float lo = *std::min_element(x, x + kBlock32), hi = *std::max_element(x, x + kBlock32);
        float d = (hi - lo) / 15, inv = d > 0 ? 1 / d : 0;
        blocks[b].d = to_half(d), blocks[b].m = to_half(lo);
        for (int j = 0; j < 16; ++j) {
            int q0 = clamp_int(round_to_int((x[j] - lo) * inv), 0, 15);
            int q1 = clamp_int(round_to_int((x[j + 16] - lo) * inv), 0, 15);
            blocks[b].qs[j] = q0 | (q1 << 4);
        }
    }
}

void dequantize_q4_1(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ4_1*>(src);
    for (int64_t b = 0; b < n / kBlock32; ++b, dst += kBlock32) {
        float d = half(blocks[b].d), m = half(blocks[b].m);
        for (int j = 0; j < 16; ++j) {
            dst[j] = d * (blocks[b].qs[j] & 0xF) + m;
            dst[j + 16] = d * (blocks[b].qs[j] >> 4) + m;
        }
    }
}

float vec_dot_q4_1(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ4_1*>(weights);
    const auto* a = as_q8_0(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += (w[b].qs[j] & 0xF) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
        }
        float da = half(a[b].d);
        sum += half(w[b].d) * da * isum + half(w[b].m) * da * sum_q8(a[b].qs, kBlock32);
    }
    return sum;
}

// ---------------------------------------------------------------- Q5_0 / Q5_1

namespace {
// The 5-bit level of element j (0..31) of a Q5 block.
int q5_level(const uint8_t* qs, const uint8_t* qh, int j) {
    uint32_t high_bits;
    std::memcpy(&high_bits, qh, 4);
    int low = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return low | (((high_bits >> j) & 1) << 4);
}
void pack_q5(const int* levels, uint8_t* qs, uint8_t* qh) {
    uint32_t high_bits = 0;
    for (int j = 0; j < 16; ++j) qs[j] = (levels[j] & 0xF) | ((levels[j + 16] & 0xF) << 4);
    for (int j = 0; j < 32; ++j) high_bits |= static_cast<uint32_t>(levels[j] >> 4) << j;
    std::memcpy(qh, &high_bits, 4);
}
}  // namespace

void quantize_q5_0(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ5_0*>(dst);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float* x = src + b * kBlock32;
        float d = signed_absmax(x, kBlock32) / -16, inv = d != 0 ? 1 / d : 0;
        int levels[32];
        for (int j = 0; j < 32; ++j) levels[j] = clamp_int(round_to_int(x[j] * inv) + 16, 0, 31);
        blocks[b].d = to_half(d);
        pack_q5(levels, blocks[b].qs, blocks[b].qh);
    }
}

void dequantize_q5_0(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ5_0*>(src);
    for (int64_t b = 0; b < n / kBlock32; ++b, dst += kBlock32) {
        float d = half(blocks[b].d);
        for (int j = 0; j < 32; ++j) dst[j] = d * (q5_level(blocks[b].qs, blocks[b].qh, j) - 16);
    }
}

float vec_dot_q5_0(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ5_0*>(weights);
    const auto* a = as_q8_0(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        int isum = 0;
        for (int j = 0; j < 32; ++j) isum += (q5_level(w[b].qs, w[b].qh, j) - 16) * a[b].qs[j];
        sum += half(w[b].d) * half(a[b].d) * isum;
    }
    return sum;
}

void quantize_q5_1(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ5_1*>(dst);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float* x = src + b * kBlock32;
        float lo = *std::min_element(x, x + kBlock32), hi = *std::max_element(x, x + kBlock32);
        float d = (hi - lo) / 31, inv = d > 0 ? 1 / d : 0;
        int levels[32];
        for (int j = 0; j < 32; ++j) levels[j] = clamp_int(round_to_int((x[j] - lo) * inv), 0, 31);
        blocks[b].d = to_half(d), blocks[b].m = to_half(lo);
        pack_q5(levels, blocks[b].qs, blocks[b].qh);
    }
}

void dequantize_q5_1(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ5_1*>(src);
    for (int64_t b = 0; b < n / kBlock32; ++b, dst += kBlock32) {
        float d = half(blocks[b].d), m = half(blocks[b].m);
        for (int j = 0; j < 32; ++j) dst[j] = d * q5_level(blocks[b].qs, blocks[b].qh, j) + m;
    }
}

float vec_dot_q5_1(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ5_1*>(weights);
    const auto* a = as_q8_0(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        int isum = 0;
        for (int j = 0; j < 32; ++j) isum += q5_level(w[b].qs, w[b].qh, j) * a[b].qs[j];
        float da = half(a[b].d);
        sum += half(w[b].d) * da * isum + half(w[b].m) * da * sum_q8(a[b].qs, kBlock32);
    }
    return sum;
}

// ---------------------------------------------------------------- IQ4_NL

void quantize_iq4_nl(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockIQ4_NL*>(dst);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float* x = src + b * kBlock32;
        float scale = fp16_to_fp32(to_half(fit_iq4_scale(x, kBlock32)));
        blocks[b].d = to_half(scale);
        pack_iq4_nibbles(x, scale, blocks[b].qs);
    }
}

void dequantize_iq4_nl(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockIQ4_NL*>(src);
    for (int64_t b = 0; b < n / kBlock32; ++b, dst += kBlock32) {
        float d = half(blocks[b].d);
        for (int j = 0; j < 16; ++j) {
            dst[j] = d * kIQ4Values[blocks[b].qs[j] & 0xF];
            dst[j + 16] = d * kIQ4Values[blocks[b].qs[j] >> 4];
        }
    }
}

float vec_dot_iq4_nl(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockIQ4_NL*>(weights);
    const auto* a = as_q8_0(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += kIQ4Values[w[b].qs[j] & 0xF] * a[b].qs[j];
            isum += kIQ4Values[w[b].qs[j] >> 4] * a[b].qs[j + 16];
        }
        sum += half(w[b].d) * half(a[b].d) * isum;
    }
    return sum;
}

// ---------------------------------------------------------------- Q8_K (activations)

void quantize_q8_k(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_K*>(dst);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const float* x = src + b * kSuperBlock;
        float amax = 0;
        for (int i = 0; i < kSuperBlock; ++i) amax = std::max(amax, std::fabs(x[i]));
        float d = amax / 127, inv = d > 0 ? 1 / d : 0;
        blocks[b].d = d;
        for (int i = 0; i < kSuperBlock; ++i) blocks[b].qs[i] = round_to_int(x[i] * inv);
        for (int g = 0; g < 16; ++g) blocks[b].bsums[g] = sum_q8(blocks[b].qs + 16 * g, 16);
    }
}

void dequantize_q8_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = as_q8_k(src);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        for (int i = 0; i < kSuperBlock; ++i)
            dst[b * kSuperBlock + i] = blocks[b].d * blocks[b].qs[i];
    }
}

// ---------------------------------------------------------------- Q2_K

namespace {
// Q2_K / Q3_K / Q6_K share one element order: element e of a super-block lives in the 128-half
// h = e / 128, 32-group g = (e % 128) / 32 (bit shift 2g), lane l = e % 32; scale index e / 16.
int q2_level(const uint8_t* qs, int e) {
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}
int q3_level(const BlockQ3_K& b, int e) {
    int high = (b.hmask[e % 32] >> (4 * (e / 128) + (e % 128) / 32)) & 1;
    return q2_level(b.qs, e) - (high ? 0 : 4);
}
void pack_2bit(const uint8_t* levels, uint8_t* qs) {
    std::memset(qs, 0, 64);
    for (int e = 0; e < kSuperBlock; ++e)
        qs[32 * (e / 128) + e % 32] |= (levels[e] & 3) << (2 * ((e % 128) / 32));
}
}  // namespace

void quantize_q2_k(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ2_K*>(dst);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const float* x = src + b * kSuperBlock;
        float scales[16], mins[16];
        for (int j = 0; j < 16; ++j) fit_scale_min(x + 16 * j, 16, 3, &scales[j], &mins[j]);
        uint8_t sc[16], mn[16], levels[kSuperBlock];
        float d_step = quantize_scales(scales, 16, 15, sc);
        float m_step = quantize_scales(mins, 16, 15, mn);
        BlockQ2_K& out = blocks[b];
        out.d = to_half(d_step), out.dmin = to_half(m_step);
        for (int j = 0; j < 16; ++j) {
            out.scales[j] = sc[j] | (mn[j] << 4);
            float scale = d_step * sc[j], offset = m_step * mn[j];
            for (int i = 0; i < 16; ++i) {
                int q = scale > 0 ? round_to_int((x[16 * j + i] + offset) / scale) : 0;
                levels[16 * j + i] = clamp_int(q, 0, 3);
            }
        }
        pack_2bit(levels, out.qs);
    }
}

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ2_K*>(src);
    for (int64_t b = 0; b < n / kSuperBlock; ++b, dst += kSuperBlock) {
        float d = half(blocks[b].d), dmin = half(blocks[b].dmin);
        for (int e = 0; e < kSuperBlock; ++e) {
            uint8_t sc = blocks[b].scales[e / 16];
            dst[e] = d * (sc & 0xF) * q2_level(blocks[b].qs, e) - dmin * (sc >> 4);
        }
    }
}

float vec_dot_q2_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ2_K*>(weights);
    const auto* a = as_q8_k(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        int scaled = 0, offsets = 0;
        for (int j = 0; j < 16; ++j) {
            int isum = 0;
            for (int i = 0; i < 16; ++i)
                isum += q2_level(w[b].qs, 16 * j + i) * a[b].qs[16 * j + i];
            scaled += (w[b].scales[j] & 0xF) * isum;
            offsets += (w[b].scales[j] >> 4) * a[b].bsums[j];
        }
        sum += a[b].d * (half(w[b].d) * scaled - half(w[b].dmin) * offsets);
    }
    return sum;
}

// ---------------------------------------------------------------- Q3_K

void quantize_q3_k(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ3_K*>(dst);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const float* x = src + b * kSuperBlock;
        float scales[16];
        for (int j = 0; j < 16; ++j) scales[j] = fit_symmetric_scale(x + 16 * j, 16, 4, 3);
        float max = signed_absmax(scales, 16);
        float step = fp16_to_fp32(to_half(max / -32));
        BlockQ3_K& out = blocks[b];
        std::memset(&out, 0, sizeof(out));
        out.d = to_half(step);
        uint8_t levels[kSuperBlock];
        for (int j = 0; j < 16; ++j) {
            int ls = step != 0 ? clamp_int(round_to_int(scales[j] / step), -32, 31) : 0;
            int biased = ls + 32;
            if (j < 8)
                out.scales[j] |= biased & 0xF;
            else
                out.scales[j - 8] |= (biased & 0xF) << 4;
            out.scales[8 + j % 4] |= (biased >> 4) << (2 * (j / 4));
            float scale = step * ls;
            for (int i = 0; i < 16; ++i) {
                int q = scale != 0 ? round_to_int(x[16 * j + i] / scale) : 0;
                levels[16 * j + i] = clamp_int(q, -4, 3) + 4;
            }
        }
        pack_2bit(levels, out.qs);
        for (int e = 0; e < kSuperBlock; ++e) {
            out.hmask[e % 32] |= (levels[e] >> 2) << (4 * (e / 128) + (e % 128) / 32);
        }
    }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ3_K*>(src);
    for (int64_t b = 0; b < n / kSuperBlock; ++b, dst += kSuperBlock) {
        int8_t scales[16];
        unpack_scales_q3_k(blocks[b].scales, scales);
        float d = half(blocks[b].d);
        for (int e = 0; e < kSuperBlock; ++e) dst[e] = d * scales[e / 16] * q3_level(blocks[b], e);
    }
}

float vec_dot_q3_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ3_K*>(weights);
    const auto* a = as_q8_k(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        int8_t scales[16];
        unpack_scales_q3_k(w[b].scales, scales);
        int scaled = 0;
        for (int j = 0; j < 16; ++j) {
            int isum = 0;
            for (int i = 0; i < 16; ++i) isum += q3_level(w[b], 16 * j + i) * a[b].qs[16 * j + i];
            scaled += scales[j] * isum;
        }
        sum += a[b].d * half(w[b].d) * scaled;
    }
    return sum;
}

// ---------------------------------------------------------------- Q4_K / Q5_K

namespace {
// Element e of a Q4_K/Q5_K super-block: 64-chunk c = e / 64 uses bytes qs[32c ..]; the first
// 32 elements of the chunk are the low nibbles, the next 32 the high nibbles.
int q4k_low4(const uint8_t* qs, int e) {
    uint8_t byte = qs[32 * (e / 64) + e % 32];
    return (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
}
int q5k_level(const BlockQ5_K& b, int e) {
    int bit = 2 * (e / 64) + ((e % 64) < 32 ? 0 : 1);
    return q4k_low4(b.qs, e) | (((b.qh[e % 32] >> bit) & 1) << 4);
}
void pack_4bit_k(const uint8_t* levels, uint8_t* qs) {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l)
            qs[32 * c + l] = (levels[64 * c + l] & 0xF) | ((levels[64 * c + 32 + l] & 0xF) << 4);
    }
}
}  // namespace

void quantize_q4_k(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ4_K*>(dst);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        uint8_t levels[kSuperBlock];
        quantize_k4_levels(src + b * kSuperBlock, 15, &blocks[b].d, &blocks[b].dmin,
                           blocks[b].scales, levels);
        pack_4bit_k(levels, blocks[b].qs);
    }
}

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ4_K*>(src);
    for (int64_t b = 0; b < n / kSuperBlock; ++b, dst += kSuperBlock) {
        float d = half(blocks[b].d), dmin = half(blocks[b].dmin);
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, blocks[b].scales, &sc, &m);
            for (int i = 0; i < 32; ++i)
                dst[32 * j + i] = d * sc * q4k_low4(blocks[b].qs, 32 * j + i) - dmin * m;
        }
    }
}

float vec_dot_q4_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ4_K*>(weights);
    const auto* a = as_q8_k(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        int scaled = 0, offsets = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, w[b].scales, &sc, &m);
            int isum = 0;
            for (int i = 0; i < 32; ++i)
                isum += q4k_low4(w[b].qs, 32 * j + i) * a[b].qs[32 * j + i];
            scaled += sc * isum;
            offsets += m * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        sum += a[b].d * (half(w[b].d) * scaled - half(w[b].dmin) * offsets);
    }
    return sum;
}

void quantize_q5_k(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ5_K*>(dst);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        uint8_t levels[kSuperBlock];
        BlockQ5_K& out = blocks[b];
        quantize_k4_levels(src + b * kSuperBlock, 31, &out.d, &out.dmin, out.scales, levels);
        pack_4bit_k(levels, out.qs);
        std::memset(out.qh, 0, sizeof(out.qh));
        for (int e = 0; e < kSuperBlock; ++e) {
            int bit = 2 * (e / 64) + ((e % 64) < 32 ? 0 : 1);
            out.qh[e % 32] |= (levels[e] >> 4) << bit;
        }
    }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ5_K*>(src);
    for (int64_t b = 0; b < n / kSuperBlock; ++b, dst += kSuperBlock) {
        float d = half(blocks[b].d), dmin = half(blocks[b].dmin);
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, blocks[b].scales, &sc, &m);
            for (int i = 0; i < 32; ++i)
                dst[32 * j + i] = d * sc * q5k_level(blocks[b], 32 * j + i) - dmin * m;
        }
    }
}

float vec_dot_q5_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ5_K*>(weights);
    const auto* a = as_q8_k(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        int scaled = 0, offsets = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, w[b].scales, &sc, &m);
            int isum = 0;
            for (int i = 0; i < 32; ++i) isum += q5k_level(w[b], 32 * j + i) * a[b].qs[32 * j + i];
            scaled += sc * isum;
            offsets += m * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        sum += a[b].d * (half(w[b].d) * scaled - half(w[b].dmin) * offsets);
    }
    return sum;
}

// ---------------------------------------------------------------- Q6_K

void quantize_q6_k(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ6_K*>(dst);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const float* x = src + b * kSuperBlock;
        float scales[16];
        for (int j = 0; j < 16; ++j) scales[j] = fit_symmetric_scale(x + 16 * j, 16, 32, 31);
        float max = signed_absmax(scales, 16);
        float step = fp16_to_fp32(to_half(max / -128));
        BlockQ6_K& out = blocks[b];
        std::memset(&out, 0, sizeof(out));
        out.d = to_half(step);
        for (int j = 0; j < 16; ++j) {
            int ls = step != 0 ? clamp_int(round_to_int(scales[j] / step), -128, 127) : 0;
            out.scales[j] = static_cast<int8_t>(ls);
            float scale = step * ls;
            for (int i = 0; i < 16; ++i) {
                int e = 16 * j + i;
                int q = scale != 0 ? round_to_int(x[e] / scale) : 0;
                int level = clamp_int(q, -32, 31) + 32;
                int h = e / 128, g = (e % 128) / 32, l = e % 32;
                out.ql[64 * h + l + 32 * (g & 1)] |= (level & 0xF) << (4 * (g >> 1));
                out.qh[32 * h + l] |= (level >> 4) << (2 * g);
            }
        }
    }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ6_K*>(src);
    for (int64_t b = 0; b < n / kSuperBlock; ++b, dst += kSuperBlock) {
        float d = half(blocks[b].d);
        for (int e = 0; e < kSuperBlock; ++e)
            dst[e] = d * blocks[b].scales[e / 16] * (q6_k_level(blocks[b], e) - 32);
    }
}

float vec_dot_q6_k(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockQ6_K*>(weights);
    const auto* a = as_q8_k(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        int scaled = 0;
        for (int j = 0; j < 16; ++j) {
            int isum = 0;
            for (int i = 0; i < 16; ++i)
                isum += (q6_k_level(w[b], 16 * j + i) - 32) * a[b].qs[16 * j + i];
            scaled += w[b].scales[j] * isum;
        }
        sum += a[b].d * half(w[b].d) * scaled;
    }
    return sum;
}

// ---------------------------------------------------------------- IQ4_XS

namespace {
int iq4xs_scale(const BlockIQ4_XS& b, int j) {
    int low = (b.scales_l[j / 2] >> (4 * (j % 2))) & 0xF;
    int high = (b.scales_h >> (2 * j)) & 3;
    return (low | (high << 4)) - 32;
}
}  // namespace

void quantize_iq4_xs(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockIQ4_XS*>(dst);
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        const float* x = src + b * kSuperBlock;
        float scales[8];
        for (int j = 0; j < 8; ++j) scales[j] = fit_iq4_scale(x + 32 * j, 32);
        float max = signed_absmax(scales, 8);
        float step = fp16_to_fp32(to_half(max / -32));
        BlockIQ4_XS& out = blocks[b];
        std::memset(&out, 0, sizeof(out));
        out.d = to_half(step);
        for (int j = 0; j < 8; ++j) {
            int ls = step != 0 ? clamp_int(round_to_int(scales[j] / step), -32, 31) : 0;
            int biased = ls + 32;
            out.scales_l[j / 2] |= (biased & 0xF) << (4 * (j % 2));
            out.scales_h |= (biased >> 4) << (2 * j);
            pack_iq4_nibbles(x + 32 * j, step * ls, out.qs + 16 * j);
        }
    }
}

void dequantize_iq4_xs(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockIQ4_XS*>(src);
    for (int64_t b = 0; b < n / kSuperBlock; ++b, dst += kSuperBlock) {
        float d = half(blocks[b].d);
        for (int j = 0; j < 8; ++j) {
            float scale = d * iq4xs_scale(blocks[b], j);
            const uint8_t* qs = blocks[b].qs + 16 * j;
            for (int i = 0; i < 16; ++i) {
                dst[32 * j + i] = scale * kIQ4Values[qs[i] & 0xF];
                dst[32 * j + i + 16] = scale * kIQ4Values[qs[i] >> 4];
            }
        }
    }
}

float vec_dot_iq4_xs(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockIQ4_XS*>(weights);
    const auto* a = as_q8_k(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kSuperBlock; ++b) {
        int scaled = 0;
        for (int j = 0; j < 8; ++j) {
            const uint8_t* qs = w[b].qs + 16 * j;
            const int8_t* y = a[b].qs + 32 * j;
            int isum = 0;
            for (int i = 0; i < 16; ++i)
                isum += kIQ4Values[qs[i] & 0xF] * y[i] + kIQ4Values[qs[i] >> 4] * y[i + 16];
            scaled += iq4xs_scale(w[b], j) * isum;
        }
        sum += a[b].d * half(w[b].d) * scaled;
    }
    return sum;
}

// ---------------------------------------------------------------- MXFP4

namespace {

// The E8M0 exponent of a block whose largest magnitude is amax: the OCP MX spec's choice,
// floor(log2(amax)) less the largest E2M1 exponent (2), so that amax / scale lies in [4, 8)
// (values above 6 clip to 6). Computed with log2f as the reference engine does, so blocks whose
// amax sits just below a power of two (where log2f rounds up) get the same exponent. Clamped
// to the finite E8M0 range (all-zero and tiny blocks get 0).
uint8_t mxfp4_exponent(float amax) {
    if (!(amax > 0)) return 0;
    const float e = std::floor(std::log2(amax)) - 2 + 127;
    return static_cast<uint8_t>(std::clamp(e, 0.0f, 254.0f));
}

// The code of the E2M1 value nearest to x / scale (t = |x| / scale in doubled units, exact for
// a power-of-two scale): the midpoints of 0, 1, 2, 3, 4, 6, 8, 12, ties to the smaller
// magnitude, the sign in bit 3 and zero always +0. Neighbouring levels are at most a factor of
// 2 apart, so the reference's float errors |level * scale - x| are exact where they decide
// and this picks the same code as its first-minimum search.
uint8_t nearest_mxfp4_code(float x, float scale) {
    const float t = std::fabs(x) / scale;
    static constexpr float kMidpoints[7] = {0.5f, 1.5f, 2.5f, 3.5f, 5.0f, 7.0f, 10.0f};
    uint8_t code = 0;
    while (code < 7 && t > kMidpoints[code]) ++code;
    return code != 0 && x < 0 ? code | 8 : code;
}

}  // namespace

void quantize_mxfp4(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockMXFP4*>(dst);
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float* x = src + b * kBlock32;
        float amax = 0;
        for (int i = 0; i < kBlock32; ++i) amax = std::max(amax, std::fabs(x[i]));
        blocks[b].e = mxfp4_exponent(amax);
        const float scale = mxfp4_scale(blocks[b].e);
        for (int j = 0; j < 16; ++j)
            blocks[b].qs[j] = nearest_mxfp4_code(x[j], scale) |
                              static_cast<uint8_t>(nearest_mxfp4_code(x[j + 16], scale) << 4);
    }
}

void dequantize_mxfp4(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockMXFP4*>(src);
    for (int64_t b = 0; b < n / kBlock32; ++b, dst += kBlock32) {
        const float d = mxfp4_scale(blocks[b].e);
        for (int j = 0; j < 16; ++j) {
            dst[j] = d * kMXFP4Values[blocks[b].qs[j] & 0xF];
            dst[j + 16] = d * kMXFP4Values[blocks[b].qs[j] >> 4];
        }
    }
}

float vec_dot_mxfp4(int64_t n, const void* weights, const void* activations) {
    const auto* w = static_cast<const BlockMXFP4*>(weights);
    const auto* a = as_q8_0(activations);
    float sum = 0;
    for (int64_t b = 0; b < n / kBlock32; ++b) {
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += kMXFP4Values[w[b].qs[j] & 0xF] * a[b].qs[j];
            isum += kMXFP4Values[w[b].qs[j] >> 4] * a[b].qs[j + 16];
        }
        sum += mxfp4_scale(w[b].e) * half(a[b].d) * isum;
    }
    return sum;
}

}  // namespace scalar
}  // namespace hearth::kernels
