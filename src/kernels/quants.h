#pragma once
// Quantized block layouts exactly as GGUF files store them (ggml's published block structs),
// and the scalar reference kernels for each: quantize, dequantize, and the dot product against
// 8-bit activations. The scalar kernels are the oracle the SIMD kernels are tested against.
#include <cstddef>
#include <cstdint>

namespace hearth::kernels {

constexpr int kBlock32 = 32;      // elements per block of the 32-block formats
constexpr int kSuperBlock = 256;  // elements per k-quant super-block (QK_K)

#pragma pack(push, 1)
struct BlockQ4_0 {  // x = d * (q - 8), q in the low nibbles for elements 0..15, high for 16..31
    uint16_t d;
    uint8_t qs[16];
};
struct BlockQ4_1 {  // x = d * q + m
    uint16_t d;
    uint16_t m;
    uint8_t qs[16];
};
struct BlockQ5_0 {  // x = d * (q - 16), the fifth bit of element j in bit j of qh
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct BlockQ5_1 {  // x = d * q + m
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct BlockQ8_0 {  // x = d * q
    uint16_t d;
    int8_t qs[32];
};
struct BlockIQ4_NL {  // x = d * kIQ4Values[q]
    uint16_t d;
    uint8_t qs[16];
};
struct BlockMXFP4 {  // x = 2^(e - 127) * E2M1(q) = mxfp4_scale(e) * kMXFP4Values[q]
    uint8_t e;        // E8M0: a bare biased exponent, no sign or mantissa
    uint8_t qs[16];   // as IQ4_NL: low nibbles elements 0..15, high nibbles 16..31
};
struct BlockQ2_K {  // 16 sub-blocks of 16: x = d * (sc & 15) * q - dmin * (sc >> 4)
    uint8_t scales[16];
    uint8_t qs[64];
    uint16_t d;
    uint16_t dmin;
};
struct BlockQ3_K {  // 16 sub-blocks of 16: x = d * (sc - 32) * (q - 4), 6-bit scales in 12 bytes
    uint8_t hmask[32];
    uint8_t qs[64];
    uint8_t scales[12];
    uint16_t d;
};
struct BlockQ4_K {  // 8 sub-blocks of 32: x = d * sc * q - dmin * m, 6-bit sc/m in 12 bytes
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[128];
};
struct BlockQ5_K {  // as Q4_K with a fifth bit in qh
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
};
struct BlockQ6_K {  // 16 sub-blocks of 16: x = d * sc * (q - 32)
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
};
struct BlockIQ4_XS {  // 8 sub-blocks of 32: x = d * (ls - 32) * kIQ4Values[q], ls 6 bits
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[4];
    uint8_t qs[128];
};
struct BlockQ8_K {  // activations for the k-quants: x = d * q; bsums = sums of 16 q's
    float d;
    int8_t qs[256];
    int16_t bsums[16];
};
#pragma pack(pop)

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockQ8_K) == 292 && sizeof(BlockMXFP4) == 17);

// The 16 non-uniform levels of IQ4_NL and IQ4_XS.
inline constexpr int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

// The 16 E2M1 values of MXFP4 (OCP Microscaling spec v1.0: sign bit, 2 exponent bits, 1
// mantissa bit: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives), doubled so that they are
// integers for the 8-bit dot products; mxfp4_scale() halves the block scale to match.
// Code 8 is -0, stored as 0.
inline constexpr int8_t kMXFP4Values[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                            0, -1, -2, -3, -4, -6, -8, -12};

// The helpers below are `static` on purpose: the SIMD .cpp files include this header with
// AVX2/AVX-512 flags, and an inline function with external linkage could have its AVX-512
// copy chosen by the linker for the scalar and AVX2 paths too.

// Q4_K / Q5_K: the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
static inline void unpack_scale_min_k4(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        *scale = packed[j] & 63;
        *min = packed[j + 4] & 63;
    } else {
        *scale = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
        *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
}

// Q4_K / Q5_K: all 8 scales (out[0..7]) and 8 mins (out[8..15]) at once, with 32-bit word
// operations on the packed bytes (four fields per word) instead of 16 bit-field extractions.
static inline void unpack_scales_mins_k4(const uint8_t* packed, uint8_t out[16]) {
    uint32_t w[3];
    __builtin_memcpy(w, packed, 12);
    const uint32_t low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, low2 = 0x03030303;
    const uint32_t words[4] = {w[0] & low6, (w[2] & low4) | (((w[0] >> 6) & low2) << 4),
                               w[1] & low6, ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4)};
    __builtin_memcpy(out, words, 16);
}

// Q4_K: the level (0..15) of element e (0..255). Chunk c = e / 64 keeps elements 64c ..
// 64c+31 in the low nibbles of qs[32c ..] and 64c+32 .. 64c+63 in the high nibbles.
static inline int q4_k_level(const BlockQ4_K& b, int e) {
    const int c = e / 64, l = e % 64;
    return l < 32 ? b.qs[32 * c + l] & 0x0F : b.qs[32 * c + l - 32] >> 4;
}

// Q6_K: the level (0..63; the value is level - 32) of element e. 128-half h, 32-group g,
// lane l: low 4 bits in ql[64h + l + 32 (g & 1)], nibble g >> 1; high 2 bits in qh[32h + l]
// at bit 2g.
static inline int q6_k_level(const BlockQ6_K& b, int e) {
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const uint8_t low_byte = b.ql[64 * h + l + 32 * (g & 1)];
    const int low = (g >> 1) ? (low_byte >> 4) : (low_byte & 0xF);
    const int high = (b.qh[32 * h + l] >> (2 * g)) & 3;
    return low | (high << 4);
}

// MXFP4: the factor of a block's doubled levels, half the E8M0 scale 2^(e - 127), i.e.
// 2^(e - 128), built from its bits: exponent field e - 1 for e >= 2, and the subnormals 2^-127
// and 2^-128 below. e = 255 (NaN in the spec) is read as 2^127 like the reference engine does.
static inline float mxfp4_scale(uint8_t e) {
    const uint32_t bits = e >= 2 ? static_cast<uint32_t>(e - 1) << 23 : 0x00200000u << e;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}

// Q3_K: the 16 signed 6-bit scales (already minus 32) from the 12 packed bytes.
void unpack_scales_q3_k(const uint8_t* packed, int8_t out[16]);

namespace scalar {

// Each format: quantize / dequantize n elements (a multiple of its block size) and the
// dot product of n elements with activations in its vec_dot type (Q8_0 or Q8_K).
#define HEARTH_DECLARE_QUANT(name)                                  \
    void quantize_##name(const float* src, void* dst, int64_t n);   \
    void dequantize_##name(const void* src, float* dst, int64_t n); \
    float vec_dot_##name(int64_t n, const void* weights, const void* activations);
HEARTH_DECLARE_QUANT(q4_0)
HEARTH_DECLARE_QUANT(q4_1)
HEARTH_DECLARE_QUANT(q5_0)
HEARTH_DECLARE_QUANT(q5_1)
HEARTH_DECLARE_QUANT(q8_0)
HEARTH_DECLARE_QUANT(iq4_nl)
HEARTH_DECLARE_QUANT(q2_k)
HEARTH_DECLARE_QUANT(q3_k)
HEARTH_DECLARE_QUANT(q4_k)
HEARTH_DECLARE_QUANT(q5_k)
HEARTH_DECLARE_QUANT(q6_k)
HEARTH_DECLARE_QUANT(iq4_xs)
HEARTH_DECLARE_QUANT(mxfp4)
#undef HEARTH_DECLARE_QUANT
void quantize_q8_k(const float* src, void* dst, int64_t n);
void dequantize_q8_k(const void* src, float* dst, int64_t n);

}  // namespace scalar

}  // namespace hearth::kernels
