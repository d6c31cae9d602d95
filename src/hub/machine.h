#pragma once
// What this machine can hold, and whether a model fits: the arithmetic behind `models catalog
// --fits`, `discover` and `update --auto`. Estimates, not promises: the rule is
//   file bytes + KV cache for the context + runtime overhead <= ram_share * available RAM.
#include <cstdint>
#include <string>

namespace hearth::hub {

struct MachineInfo {
    uint64_t ram_total = 0;
    uint64_t ram_available = 0;  // MemAvailable: free + reclaimable cache
    uint64_t disk_free = 0;      // on the models directory's filesystem
    unsigned cores = 1;
};

MachineInfo probe_machine(const std::string& models_dir);

struct FitPolicy {
    double ram_share = 0.8;            // of available RAM a model may use
    int context = 4096;                // tokens of KV cache to budget for
    uint64_t overhead = 300ull << 20;  // runtime buffers, tokenizer, server
};

// Bits per weight of common GGUF quants (block overhead included), 0 when unknown.
double bits_per_weight(const std::string& quant);

// KV-cache bytes for `context` tokens of a model whose GGUF file is `model_bytes` with `quant`:
// parameters are estimated from the size, and typical GQA models keep ~16 KiB of f16 K+V per
// token per billion parameters.
uint64_t estimate_kv_bytes(uint64_t model_bytes, const std::string& quant, int context);
uint64_t estimate_ram_needed(uint64_t model_bytes, const std::string& quant,
                             const FitPolicy& policy);

bool fits_in_ram(uint64_t ram_needed, const MachineInfo& machine, const FitPolicy& policy);
// A model still to download: it fits in RAM and its `download_bytes` fit on the disk.
bool fits_machine(uint64_t ram_needed, uint64_t download_bytes, const MachineInfo& machine,
                  const FitPolicy& policy);

}  // namespace hearth::hub
