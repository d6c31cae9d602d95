#include "kernels/cpu.h"

#include <cpuid.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "core/error.h"

namespace hearth::kernels {

// CPUID bits as Intel's SDM lists them (clang 14's __builtin_cpu_supports lacks some, e.g.
// "f16c"). The OS must also save the wide registers (XGETBV), or the features are unusable.
CpuFeatures cpu_features() {
    auto bit = [](unsigned reg, int n) { return (reg & (1u << n)) != 0; };
    unsigned a = 0, b = 0, c = 0, d = 0;
    CpuFeatures f{};
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = bit(c, 27);
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned lo = 0, hi = 0;
        __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
    }
    const bool ymm = (xcr0 & 0x6) == 0x6;    // SSE and AVX state
    const bool zmm = (xcr0 & 0xE6) == 0xE6;  // plus opmask and ZMM state
    f.fma = ymm && bit(c, 12);
    f.f16c = ymm && bit(c, 29);
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = ymm && bit(b, 5);
        f.avx512f = zmm && bit(b, 16);
        f.avx512bw = zmm && bit(b, 30);
        f.avx512vl = zmm && bit(b, 31);
        f.avx512vnni = zmm && bit(c, 11);
        const bool tiles = (xcr0 & 0x60000) == 0x60000;  // XTILECFG and XTILEDATA state
        f.amx_int8 = tiles && bit(d, 24) && bit(d, 25);
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512bf16 = zmm && bit(a, 5);
    return f;
}

namespace {

CpuLevel probe() {
    const CpuFeatures f = cpu_features();
    const bool avx2 = f.avx2 && f.fma && f.f16c;
    const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
    if (avx512) return CpuLevel::Avx512;
    return avx2 ? CpuLevel::Avx2 : CpuLevel::Scalar;
}

CpuLevel cap(CpuLevel wanted) {
    return static_cast<int>(wanted) <= static_cast<int>(detected_cpu_level())
               ? wanted
               : detected_cpu_level();
}

CpuLevel initial_level() {
    const char* env = std::getenv("HEARTH_CPU");
    if (!env || !*env) return detected_cpu_level();
    auto level = cpu_level_from_name(env);
    if (!level)
        throw Error(std::string("HEARTH_CPU=") + env + " is not one of scalar, avx2, avx512");
    return cap(*level);
}

// Linux hands out the 8 KB of tile state per process on request (since 5.16).
bool request_amx_permission() {
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

bool amx_wanted() {
    static const bool wanted = [] {
        const char* env = std::getenv("HEARTH_AMX");
        return amx_usable() && !(env && std::string_view(env) == "0");
    }();
    return wanted;
}

std::atomic<int>& current() {
    static std::atomic<int> level{static_cast<int>(initial_level())};
    return level;
}

}  // namespace

std::string_view cpu_level_name(CpuLevel level) {
    switch (level) {
        case CpuLevel::Scalar:
            return "scalar";
        case CpuLevel::Avx2:
            return "avx2";
        case CpuLevel::Avx512:
            return "avx512";
    }
    return "?";
}

std::optional<CpuLevel> cpu_level_from_name(std::string_view name) {
    for (CpuLevel level : {CpuLevel::Scalar, CpuLevel::Avx2, CpuLevel::Avx512}) {
        if (name == cpu_level_name(level)) return level;
    }
    return std::nullopt;
}

CpuLevel detected_cpu_level() {
    static const CpuLevel level = probe();
    return level;
}

std::vector<CpuLevel> supported_cpu_levels() {
    std::vector<CpuLevel> levels;
    for (int l = 0; l <= static_cast<int>(detected_cpu_level()); ++l)
        levels.push_back(static_cast<CpuLevel>(l));
    return levels;
}

CpuLevel cpu_level() {
    return static_cast<CpuLevel>(current().load(std::memory_order_relaxed));
}

bool amx_usable() {
    static const bool usable = cpu_features().amx_int8 && request_amx_permission();
    return usable;
}

bool amx_enabled() {
    return cpu_level() == CpuLevel::Avx512 && amx_wanted();
}

CpuLevel set_cpu_level(CpuLevel level) {
    CpuLevel capped = cap(level);
    current().store(static_cast<int>(capped), std::memory_order_relaxed);
    return capped;
}

// ---- how many threads fit the box ----------------------------------------------------------

namespace {

std::optional<std::string> read_small_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::string text;
    std::getline(in, text);
    return text;
}

std::optional<double> parse_cgroup1_quota(const std::optional<std::string>& quota_us,
                                          const std::optional<std::string>& period_us) {
    if (!quota_us || !period_us) return std::nullopt;
    char* end = nullptr;
    const double quota = std::strtod(quota_us->c_str(), &end);
    const double period = std::strtod(period_us->c_str(), nullptr);
    if (end == quota_us->c_str() || quota <= 0 || period <= 0) return std::nullopt;  // -1: none
    return quota / period;
}

// "/a/b" -> "/a/b", "/a", "" (the hierarchy's root): a quota may sit on any ancestor.
std::vector<std::string> cgroup_and_parents(std::string path) {
    std::vector<std::string> out;
    while (!path.empty() && path.back() == '/') path.pop_back();
    for (;;) {
        out.push_back(path);
        if (path.empty()) break;
        path.resize(path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
    }
    return out;
}

void lower_to(std::optional<double>& limit, std::optional<double> found) {
    if (found && (!limit || *found < *limit)) limit = found;
}

// The smallest CPU quota on this process's cgroup and its parents, v2 and v1 alike.
std::optional<double> cgroup_cpu_quota(const std::string& root) {
    std::ifstream in(root + "/proc/self/cgroup");
    std::optional<double> limit;
    for (std::string line; std::getline(in, line);) {
        const size_t a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        std::string controllers = ",";
        controllers.append(line, a + 1, b - a - 1).append(",");
        const std::string path = line.substr(b + 1);
        if (controllers == ",,") {  // cgroup v2
            for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
                for (const std::string& dir : cgroup_and_parents(path)) {
                    if (auto text = read_small_file(root + mount + dir + "/cpu.max"))
                        lower_to(limit, parse_cgroup2_cpu_max(*text));
                }
            }
        } else if (controllers.find(",cpu,") != std::string::npos) {  // cgroup v1
            for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
                for (const std::string& dir : cgroup_and_parents(path)) {
                    const std::string base = root + mount + dir;
                    lower_to(limit, parse_cgroup1_quota(read_small_file(base + "/cpu.cfs_quota_us"),
                                                        read_small_file(base + "/cpu.cfs_period_us")));
                }
            }
        }
    }
    return limit;
}

int affinity_cpu_count() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
}

std::string format_cpus(double cpus) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", cpus);
    return text;
}

}  // namespace

std::optional<double> parse_cgroup2_cpu_max(std::string_view text) {
    const std::string line(text);
    char* end = nullptr;
    const double quota = std::strtod(line.c_str(), &end);
    if (end == line.c_str() || quota <= 0) return std::nullopt;  // "max": no quota
    const double period = std::strtod(end, nullptr);
    if (period <= 0) return std::nullopt;
    return quota / period;
}

CpuBudget cpu_budget_at(const std::string& root, int affinity_cpus) {
    CpuBudget b;
    b.affinity_cpus = affinity_cpus;
    const unsigned hardware = std::thread::hardware_concurrency();
    int threads = affinity_cpus > 0 ? affinity_cpus : static_cast<int>(hardware);
    b.reason = affinity_cpus > 0 ? std::to_string(affinity_cpus) +
                                       (affinity_cpus == 1 ? " CPU" : " CPUs") +
                                       " in this process's affinity mask"
                                 : std::to_string(hardware) + " logical cores";
    b.quota_cpus = cgroup_cpu_quota(root);
    if (b.quota_cpus) {
        const int by_quota = std::max(1, static_cast<int>(std::ceil(*b.quota_cpus - 1e-9)));
        if (by_quota < threads) {
            threads = by_quota;
            b.reason = "the cgroup's CPU quota of " + format_cpus(*b.quota_cpus) + " CPUs";
        }
    }
    b.threads = std::max(1, threads);
    return b;
}

const CpuBudget& cpu_budget() {
    static const CpuBudget budget = cpu_budget_at("", affinity_cpu_count());
    return budget;
}

}  // namespace hearth::kernels
