#include "kernels/fp16.h"

#include <cstring>

namespace hearth::kernels {

namespace {
inline uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float float_of(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
}  // namespace

float fp16_to_fp32(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    if (exp == 0) {
        if (mant == 0) return float_of(sign);
        // Subnormal half: value = mant * 2^-24.
        float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return float_of(sign | 0x7F800000 | (mant << 13));
    return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
    uint32_t x = bits_of(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t abs = x & 0x7FFFFFFF;
    if (abs >= 0x7F800000) {  // inf or nan
        return static_cast<uint16_t>(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));
    }
    if (abs >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds to inf
    if (abs < 0x38800000) {
        // Result is subnormal (or zero): scale so the integer part is the half mantissa.
        float v = float_of(abs) * 16777216.0f;  // 2^24
        // Round half to even via the FPU's default rounding.
        float r = __builtin_nearbyintf(v);
        return static_cast<uint16_t>(sign | static_cast<uint32_t>(r));
    }
    uint32_t exp = (abs >> 23) - 112;
    uint32_t mant = abs & 0x7FFFFF;
    uint32_t half = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;  // may carry into exponent: fine
    return static_cast<uint16_t>(sign | half);
}

float bf16_to_fp32(uint16_t b) {
    return float_of(static_cast<uint32_t>(b) << 16);
}

uint16_t fp32_to_bf16(float f) {
    uint32_t x = bits_of(f);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);
    uint32_t rounding = 0x7FFF + ((x >> 16) & 1);
    return static_cast<uint16_t>((x + rounding) >> 16);
}

}  // namespace hearth::kernels
