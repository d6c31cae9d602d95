#pragma once
// Which SIMD level the kernels use. Chosen once from CPUID (the best the CPU has), overridable
// with HEARTH_CPU=scalar|avx2|avx512 or set_cpu_level() so tests can run every path on one CPU.
#include <optional>
#include <string>
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

// How many compute threads fit the box hearth runs in: the CPUs of this process's affinity mask
// (taskset, cpusets, Kubernetes static CPU pinning), lowered to the cgroup's CPU quota (cgroup v2
// cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us, on this process's cgroup or any parent:
// `docker run --cpus 1.5`, Kubernetes CPU limits) rounded up. More threads than that would only
// be throttled, and a throttled thread stalls every step that waits for it.
struct CpuBudget {
    int threads = 1;          // at least 1
    int affinity_cpus = 0;    // CPUs in the affinity mask (0: unknown)
    std::optional<double> quota_cpus;  // the cgroup quota in CPUs, when one is set
    std::string reason;       // for logs and `hearth doctor`, e.g. "cgroup CPU quota 1.5 (cpu.max)"
};
// Read once and cached (the budget of the process as it started).
const CpuBudget& cpu_budget();
// The same, from a file-system root other than "/" (tests build a fake /proc and /sys) and a
// given affinity count.
CpuBudget cpu_budget_at(const std::string& root, int affinity_cpus);
// A cgroup v2 cpu.max line ("150000 100000" -> 1.5; "max 100000" -> none).
std::optional<double> parse_cgroup2_cpu_max(std::string_view text);

}  // namespace hearth::kernels
