#pragma once
// `hearth discover`: trending GGUF repos from the hub, kept to text generation, each with the
// quant this machine should run (or the reason none fits).
#include <cstdint>
#include <string>
#include <vector>

#include "hub/hub_client.h"
#include "hub/machine.h"
#include "hub/remote_header.h"

namespace hearth::hub {

struct QuantOption {
    std::string quant;
    uint64_t size = 0;        // all parts of a split model
    uint64_t ram_needed = 0;  // estimate: file + KV cache + overhead
};

struct Suggestion {
    RepoSummary repo;
    std::vector<QuantOption> quants;  // what the repo offers, in listing order
    std::string recommended;          // empty when nothing fits
    uint64_t size = 0;                // of the recommended quant
    uint64_t ram_needed = 0;
    std::string note;  // why nothing fits, or why it was skipped
    bool runnable = true;  // false: hearth cannot run it (note says why), whatever fits
};

// Quants in the order we recommend them on CPUs: Q4_K_M first (the usual sweet spot), then
// bigger ones that are still quick, then smaller ones for tight machines.
const std::vector<std::string>& quant_preference();

// Picks the first preferred quant whose RAM estimate fits and whose size fits on disk.
void recommend(Suggestion& suggestion, const MachineInfo& machine, const FitPolicy& policy);

// One listing request plus one repo request per candidate. Repos that are not text generation
// or have no GGUF files are dropped; a repo whose details fail to load is kept with a note.
// With a `check`, the recommended quant's header is read (hub/remote_header.h) and a model
// hearth cannot run loses its recommendation, with the reason in its note.
std::vector<Suggestion> discover(const HubClient& client, const ModelQuery& query,
                                 const MachineInfo& machine, const FitPolicy& policy,
                                 const SupportCheck& check = {});

bool is_text_generation(const RepoSummary& repo);

}  // namespace hearth::hub
