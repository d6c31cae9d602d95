#include "hub/machine.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <thread>

#include "hub/download.h"

namespace hearth::hub {
namespace {

// /proc/meminfo values are in kB.
std::map<std::string, uint64_t> read_meminfo() {
    std::map<std::string, uint64_t> values;
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kb = 0;
    std::string unit;
    while (in >> key >> kb) {
        std::getline(in, unit);
        if (!key.empty() && key.back() == ':') key.pop_back();
        values[key] = kb * 1024;
    }
    return values;
}

}  // namespace

MachineInfo probe_machine(const std::string& models_dir) {
    MachineInfo info;
    auto meminfo = read_meminfo();
    info.ram_total = meminfo["MemTotal"];
    info.ram_available =
        meminfo.count("MemAvailable") ? meminfo["MemAvailable"] : meminfo["MemFree"];
    if (info.ram_total == 0) {
        info.ram_total = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
        info.ram_available = info.ram_total / 2;
    }
    // The models dir may not exist yet; measure the nearest existing parent.
    std::string dir = models_dir;
    while (!dir.empty() && access(dir.c_str(), F_OK) != 0) {
        size_t slash = dir.find_last_of('/');
        dir = slash == std::string::npos || slash == 0 ? "/" : dir.substr(0, slash);
    }
    info.disk_free = free_disk_bytes(dir.empty() ? "." : dir);
    info.cores = std::max(1u, std::thread::hardware_concurrency());
    return info;
}

double bits_per_weight(const std::string& quant) {
    static const std::map<std::string, double> kBits = {
        {"F32", 32},     {"F16", 16},     {"BF16", 16},    {"Q8_0", 8.5},   {"Q6_K", 6.56},
        {"Q5_K_M", 5.7}, {"Q5_K_S", 5.5}, {"Q5_0", 5.5},   {"Q5_1", 6.0},   {"Q4_K_M", 4.85},
        {"Q4_K_S", 4.6}, {"Q4_0", 4.55},  {"Q4_1", 5.0},   {"IQ4_XS", 4.3}, {"IQ4_NL", 4.5},
        {"Q3_K_L", 4.3}, {"Q3_K_M", 3.9}, {"Q3_K_S", 3.5}, {"IQ3_M", 3.7},  {"IQ3_XS", 3.3},
        {"Q2_K", 3.35},  {"IQ2_M", 2.7},  {"IQ2_XS", 2.3},
    };
    auto it = kBits.find(quant);
    return it == kBits.end() ? 0 : it->second;
}

uint64_t estimate_kv_bytes(uint64_t model_bytes, const std::string& quant, int context) {
    double bits = bits_per_weight(quant);
    if (bits == 0) bits = 4.85;  // unknown quant: assume the common Q4_K_M
    double billions = model_bytes * 8.0 / bits / 1e9;
    double per_token = std::max(8.0 * 1024, 16.0 * 1024 * billions);
    return static_cast<uint64_t>(per_token * context);
}

uint64_t estimate_ram_needed(uint64_t model_bytes, const std::string& quant,
                             const FitPolicy& policy) {
    return model_bytes + estimate_kv_bytes(model_bytes, quant, policy.context) + policy.overhead;
}

bool fits_in_ram(uint64_t ram_needed, const MachineInfo& machine, const FitPolicy& policy) {
    return ram_needed <= static_cast<uint64_t>(policy.ram_share * machine.ram_available);
}

bool fits_machine(uint64_t ram_needed, uint64_t download_bytes, const MachineInfo& machine,
                  const FitPolicy& policy) {
    return fits_in_ram(ram_needed, machine, policy) && download_bytes < machine.disk_free;
}

}  // namespace hearth::hub
