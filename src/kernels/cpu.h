#pragma once
// Which SIMD level the kernels use. Chosen once from CPUID (the best the CPU has), overridable
// with HEARTH_CPU=scalar|avx2|avx512 or set_cpu_level() so tests can run every path on one CPU.
#include <optional>
#include <string_view>
#include <vector>

namespace hearth::kernels {

enum class CpuLevel { Scalar = 0, Avx2 = 1, Avx512 = 2 };

std::string_view cpu_level_name(CpuLevel level);
std::optional<CpuLevel> cpu_level_from_name(std::string_view name);

// The SIMD features hearth's kernels care about, read from CPUID.
struct CpuFeatures {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16;
    bool amx_int8;  // AMX-TILE + AMX-INT8, with the OS saving tile state
};
CpuFeatures cpu_features();

// The best level this CPU supports (AVX2 needs AVX2+FMA+F16C; AVX-512 needs F/BW/VL/VNNI).
CpuLevel detected_cpu_level();
// Every level this CPU can run, lowest first (what tests iterate over).
std::vector<CpuLevel> supported_cpu_levels();

// The level in use: HEARTH_CPU if set (capped at what the CPU has), else the detected level.
CpuLevel cpu_level();
// Forces a level (capped at what the CPU has); returns the level actually set.
CpuLevel set_cpu_level(CpuLevel level);

// Intel AMX tile multiplies for prompt processing, on top of the AVX-512 level: usable when the
// CPU has AMX-INT8 and Linux grants this process the tile data permission (arch_prctl, asked
// once). In use when usable, the level is AVX-512 and HEARTH_AMX is not 0.
bool amx_usable();
bool amx_enabled();

}  // namespace hearth::kernels
