#pragma once
// The models a running server has loaded, as its /api/ps lists them (hearth ps, models list).
#include <cstdint>
#include <string>
#include <vector>

#include "cli/api_client.h"

namespace hearth::cli {

struct LoadedModelRow {
    std::string name;
    uint64_t memory_bytes = 0;
    int64_t context_length = 0;
    double idle_seconds = 0;
    std::string expires;  // "never", or the local time it will be unloaded
};

// Throws hearth::Error when the server refuses (a key is needed, ...).
std::vector<LoadedModelRow> loaded_models(ApiClient& api);
// Left-aligned columns sized to their widest cell.
void print_columns(const std::vector<std::vector<std::string>>& rows);

}  // namespace hearth::cli
