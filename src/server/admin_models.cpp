// The admin API's model routes: GET /admin/models (what is offered, what is loaded and its
// memory, and whether it fits this machine), GET /admin/models/catalog (the curated catalog,
// each entry's size and fit), POST /admin/models/{name}/load and /unload, DELETE /admin/models/{name} (deletes
// the model's files from the models directory) and POST /admin/models/pull (installs from the
// hub, streaming progress as JSON lines). Each action is written to the audit log.
#include <chrono>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "hub/catalog.h"
#include "hub/machine.h"
#include "hub/model_ref.h"
#include "server/admin_api.h"
#include "server/generation.h"
#include "server/installed_models.h"
#include "server/openai_request.h"

namespace hearth::server {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// What `models catalog --fits` reports about this machine, and the policy it judges by.
json machine_json(const hub::MachineInfo& machine, const hub::FitPolicy& policy) {
    return {{"ram_total_bytes", machine.ram_total},
            {"ram_available_bytes", machine.ram_available},
            {"disk_free_bytes", machine.disk_free},
            {"cores", machine.cores},
            {"ram_share", policy.ram_share},
            {"fit_context", policy.context}};
}

json model_status_json(const ModelEntry& e, const LoadedModelInfo* loaded,
                       const hub::MachineInfo& machine) {
    std::error_code ec;
    const uintmax_t size = fs::file_size(e.path, ec);
    const hub::FitPolicy policy;
    const uint64_t ram = ec ? 0 : hub::estimate_ram_needed(size, hub::quant_of(e.path), policy);
    json m = {{"name", e.name},
              {"aliases", e.aliases},
              {"path", e.path},
              {"file_bytes", ec ? json() : json(size)},
              {"ram_estimate_bytes", ec ? json() : json(ram)},
              {"fits", ec ? json() : json(hub::fits_in_ram(ram, machine, policy))},
              {"loaded", loaded != nullptr},
              {"memory_bytes", loaded ? json(loaded->memory_bytes) : json()},
              {"expires_at", json()},
              {"active", loaded ? loaded->stats.active : 0},
              {"queued", loaded ? loaded->stats.queued : 0}};
    if (loaded && loaded->expires_at) {
        m["expires_at"] = std::chrono::duration_cast<std::chrono::seconds>(
                              loaded->expires_at->time_since_epoch())
                              .count();
    }
    return m;
}

// True when `path` is the file the models directory holds for `config`.
bool same_file(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    return fs::equivalent(a, b, ec);
}

}  // namespace

const ModelEntry& AdminApi::model_named(const Exchange& ex, const std::string& action,
                                        const std::string& name) {
    const ModelEntry* e = pool_.find(name);
    if (!e) {
        record(ex, action, name, "no such model");
        throw ApiError::model_not_found(name);
    }
    return *e;
}

void AdminApi::list_models(Exchange& ex) {
    const std::vector<LoadedModelInfo> loaded = pool_.loaded();
    const hub::MachineInfo machine = hub::probe_machine(pull_dir(models_dir_).root().string());
    json data = json::array();
    for (const ModelEntry& e : pool_.entries()) {
        const LoadedModelInfo* info = nullptr;
        for (const LoadedModelInfo& l : loaded) {
            if (l.name == e.name) info = &l;
        }
        data.push_back(model_status_json(e, info, machine));
    }
    ex.send_json(200, {{"object", "list"}, {"data", data}});
}

// The same entries and fit as `hearth models catalog`, for the web UI's Models page.
void AdminApi::catalog(Exchange& ex) {
    const registry::ModelsDir dir = pull_dir(models_dir_);
    const hub::MachineInfo machine = hub::probe_machine(dir.root().string());
    const hub::FitPolicy policy;
    std::set<std::string> installed;
    for (const registry::ModelConfig& config : dir.list()) installed.insert(config.name);
    const hub::Catalog catalog = hub::Catalog::builtin();
    json data = json::array();
    for (const hub::CatalogEntry& entry : catalog.entries()) {
        data.push_back({{"name", entry.name},
                        {"kind", entry.kind},
                        {"repo", entry.repo},
                        {"file", entry.file},
                        {"quant", entry.quant},
                        {"size_bytes", entry.size_bytes},
                        {"ram_bytes", entry.ram_bytes},
                        {"context", entry.context},
                        {"license", entry.license},
                        {"description", entry.description},
                        {"installed", installed.count(entry.name) > 0},
                        {"fits", hub::fits_machine(entry.ram_bytes, entry.size_bytes, machine,
                                                   policy)}});
    }
    ex.send_json(200, {{"object", "list"},
                       {"machine", machine_json(machine, policy)},
                       {"note", catalog.note()},
                       {"data", data}});
}

void AdminApi::load_model(Exchange& ex, const std::string& name) {
    const ModelEntry& e = model_named(ex, "models.load", name);
    try {
        pool_.acquire(e);  // stays loaded under the pool's keep-alive
    } catch (const Error& err) {
        record(ex, "models.load", e.name, err.what());
        throw ApiError(500, "cannot load '" + e.name + "': " + err.what(), "server_error");
    }
    record(ex, "models.load", e.name, "ok");
    const std::vector<LoadedModelInfo> loaded = pool_.loaded();
    const LoadedModelInfo* info = nullptr;
    for (const LoadedModelInfo& l : loaded) {
        if (l.name == e.name) info = &l;
    }
    ex.send_json(200, model_status_json(
                          e, info, hub::probe_machine(pull_dir(models_dir_).root().string())));
}

void AdminApi::unload_model(Exchange& ex, const std::string& name) {
    const ModelEntry& e = model_named(ex, "models.unload", name);
    const bool was_loaded = pool_.release(e.name);
    record(ex, "models.unload", e.name, was_loaded ? "ok" : "not loaded");
    ex.send_json(200, {{"name", e.name}, {"unloaded", was_loaded}});
}

void AdminApi::delete_model(Exchange& ex, const std::string& name) {
    const ModelEntry& e = model_named(ex, "models.delete", name);
    const std::string model = e.name;  // `e` is hidden once withdrawn
    const registry::ModelsDir dir = pull_dir(models_dir_);
    const std::optional<registry::ModelConfig> config = dir.resolve(model);
    if (!config || !same_file(dir.model_path(*config), e.path)) {
        record(ex, "models.delete", model, "not in the models directory");
        throw ApiError(409,
                       "'" + model + "' is served from " + e.path + ", not from the models "
                       "directory " + dir.root().string() + ": hearth deletes only models it "
                       "installed there",
                       "invalid_request_error", "", "model_not_deletable");
    }
    pool_.withdraw(model);
    std::vector<std::string> deleted;
    try {
        for (const fs::path& p : dir.remove(config->name)) deleted.push_back(p.string());
    } catch (const Error& err) {
        record(ex, "models.delete", model, err.what());
        throw ApiError(500, "cannot delete '" + model + "': " + err.what(), "server_error");
    }
    record(ex, "models.delete", model, "ok");
    ex.send_json(200, {{"name", model}, {"deleted", true}, {"files", deleted}});
}

void AdminApi::pull_model(Exchange& ex) {
    const json body = parse_json_object_body(ex.request.body);
    auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get<std::string>().empty())
        throw ApiError::bad_request("'model' must be a model reference, as `hearth pull` takes",
                                    "model");
    const std::string reference = model->get<std::string>();
    bool client_here = ex.begin_line_stream();
    auto line = [&](const json& object) {
        if (client_here) client_here = ex.send_line(object);
    };
    try {
        const ModelEntry& e = install_model(
            pool_, pull_dir(models_dir_), reference,
            [&](const registry::PullPlan& plan) {
                json files = json::array();
                for (const hub::HubFile& f : plan.files)
                    files.push_back({{"file", fs::path(f.path).filename().string()},
                                     {"bytes", f.size},
                                     {"sha256", f.sha256}});
                line({{"status", "downloading"}, {"name", plan.name}, {"repo", plan.repo},
                      {"files", files}});
            },
            [&](const PullProgress& p) {
                line({{"status", "progress"}, {"file", p.file}, {"total", p.total},
                      {"completed", p.done}, {"finished", p.finished}});
            });
        record(ex, "models.pull", reference, "ok");
        line({{"status", "success"}, {"name", e.name}, {"path", e.path}});
    } catch (const Error& err) {
        record(ex, "models.pull", reference, err.what());
        line({{"status", "error"}, {"error", err.what()}});
    }
    ex.end_stream();
}

}  // namespace hearth::server
