#include "server/installed_models.h"

#include <chrono>
#include <filesystem>

#include "hub/hub_client.h"

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

registry::ModelsDir pull_dir(const std::string& models_dir) {
    return registry::ModelsDir(models_dir.empty() ? registry::ModelsDir::default_path()
                                                  : std::filesystem::path(models_dir));
}

const ModelEntry& install_model(ModelPool& pool, const registry::ModelsDir& dir,
                                const std::string& reference,
                                const std::function<void(const registry::PullPlan&)>& planned,
                                const std::function<void(const PullProgress&)>& progress) {
    using Clock = std::chrono::steady_clock;
    registry::Installer installer(hub::HubSettings::from_environment(), dir);
    const registry::PullPlan plan = installer.plan(reference);
    if (planned) planned(plan);
    registry::PullOptions options;
    Clock::time_point last{};
    options.download.on_progress = [&](const hub::DownloadProgress& p) {
        if (!progress) return;
        if (!p.finished && Clock::now() - last < std::chrono::milliseconds(250)) return;
        last = Clock::now();
        PullProgress out{p.label, "", p.total, p.done, p.finished};
        for (const hub::HubFile& f : plan.files) {
            if (std::filesystem::path(f.path).filename() == p.label) out.sha256 = f.sha256;
        }
        progress(out);
    };
    const registry::PullResult result = installer.pull(plan, options);
    return pool.add(entry_for_config(dir, result.config));
}

}  // namespace hearth::server
