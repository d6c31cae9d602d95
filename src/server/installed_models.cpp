#include "server/installed_models.h"

#include <filesystem>

namespace hearth::server {

ModelEntry entry_for_config(const registry::ModelsDir& dir, const registry::ModelConfig& c) {
    ModelEntry e;
    e.name = c.name;
    e.path = dir.model_path(c).string();
    e.aliases = c.aliases;
    e.ctx_size = c.context_size.value_or(0);
    e.threads = c.threads.value_or(0);
    e.kv_type = c.kv_type;
    e.mlock = c.mlock;
    e.chat_template = c.template_override;
    e.sampling = c.parameters.sampling;
    e.max_tokens = c.parameters.max_tokens;
    e.context_shift = c.context_shift;
    e.kv_budget = c.kv_budget;
    // A file next to the models (else a model name, resolved by the pool).
    if (!c.draft_model.empty()) {
        const std::filesystem::path file = dir.root() / c.draft_model;
        std::error_code ec;
        e.draft_model = std::filesystem::is_regular_file(file, ec) ? file.string() : c.draft_model;
    }
    return e;
}

}  // namespace hearth::server
