#pragma once
// IEEE half and bfloat16 conversions (bit-exact, portable).
#include <cstdint>

namespace hearth::kernels {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t b);
uint16_t fp32_to_bf16(float f);  // round to nearest even, NaN kept quiet

}  // namespace hearth::kernels
