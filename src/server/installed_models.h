#pragma once
// The models of a models directory (registry/) as the entries the pool serves: read by
// `hearth serve` at start, and installed while serving by /api/pull and /admin/models/pull.
#include <cstdint>
#include <functional>
#include <string>

#include "registry/installer.h"
#include "registry/models_dir.h"
#include "server/model_pool.h"

namespace hearth::server {

// A model of the models directory, as its YAML config describes it.
ModelEntry entry_for_config(const registry::ModelsDir& dir, const registry::ModelConfig& config);

// The models directory a server pulls into: `models_dir`, or the default one when empty.
registry::ModelsDir pull_dir(const std::string& models_dir);

// How far one file of a pull is.
struct PullProgress {
    std::string file;    // its name
    std::string sha256;  // its digest on the hub ("" when the hub does not say)
    uint64_t total = 0;  // bytes (0: unknown)
    uint64_t done = 0;
    bool finished = false;
};

// Installs `reference` (as `hearth pull` takes it) from the hub into `dir`, then offers it in
// `pool` (a model of that name already served is reloaded from the new file on its next use).
// `planned` hears the plan before any download; `progress` each file's progress at most every
// 250 ms, and its end. The download goes on when the caller stops listening. Throws
// hearth::Error (unknown reference, hub unreachable, a model hearth cannot run, ...).
const ModelEntry& install_model(ModelPool& pool, const registry::ModelsDir& dir,
                                const std::string& reference,
                                const std::function<void(const registry::PullPlan&)>& planned,
                                const std::function<void(const PullProgress&)>& progress);

}  // namespace hearth::server
