#pragma once
// The models of a models directory (registry/) as the entries the pool serves: read by
// `hearth serve` at start, and by /api/pull for a model it just installed.
#include "registry/models_dir.h"
#include "server/model_pool.h"

namespace hearth::server {

// A model of the models directory, as its YAML config describes it.
ModelEntry entry_for_config(const registry::ModelsDir& dir, const registry::ModelConfig& config);

}  // namespace hearth::server
