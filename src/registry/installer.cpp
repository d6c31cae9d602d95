#include "registry/installer.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "hub/model_ref.h"
#include "runtime/model_support.h"

namespace hearth::registry {
namespace {

namespace fs = std::filesystem;

std::string base_name(const std::string& path) {
    return fs::path(path).filename().string();
}

// An installed model is up to date when its file(s) exist with the expected size and the
// config records the same hash the hub has now.
bool already_installed(const ModelsDir& dir, const std::optional<ModelConfig>& existing,
                       const PullPlan& plan, const fs::path& subdir) {
    if (!existing || !existing->source) return false;
    const hub::HubFile& first = plan.files.front();
    if (existing->source->sha256 != first.sha256 || existing->source->file != first.path) {
        return false;
    }
    for (const hub::HubFile& file : plan.files) {
        std::error_code error;
        uint64_t size = fs::file_size(dir.root() / subdir / base_name(file.path), error);
        if (error || (file.size != 0 && size != file.size)) return false;
    }
    return true;
}

std::string repo_owner(const std::string& repo) {
    return repo.substr(0, repo.find('/'));
}

// Files normally sit flat in the models directory. Repos often share file names (a quantizer
// re-uploading Qwen3-4B-Q4_K_M.gguf), so when another model already owns that name the new one
// goes under a folder named after the repo owner instead of overwriting it.
fs::path choose_subdir(const ModelsDir& dir, const std::optional<ModelConfig>& existing,
                       const PullPlan& plan) {
    if (existing && existing->source && existing->source->repo == plan.repo) {
        return fs::path(existing->file).parent_path();  // an update stays where it was
    }
    std::string file = base_name(plan.files.front().path);
    bool taken = false;
    for (const ModelConfig& other : dir.list()) {
        bool same_model = existing && other.config_path == existing->config_path;
        if (!same_model && fs::path(other.file) == fs::path(file)) taken = true;
    }
    return taken ? fs::path(repo_owner(plan.repo)) : fs::path();
}

void add_aliases(ModelConfig& config, const std::vector<std::string>& aliases) {
    for (const std::string& alias : aliases) {
        if (std::find(config.aliases.begin(), config.aliases.end(), alias) ==
            config.aliases.end()) {
            config.aliases.push_back(alias);
        }
    }
}

}  // namespace

uint64_t PullPlan::total_bytes() const {
    uint64_t total = 0;
    for (const hub::HubFile& file : files) total += file.size;
    return total;
}

Installer::Installer(hub::HubSettings settings, ModelsDir models_dir, hub::Catalog catalog)
    : settings_(std::move(settings)),
      models_dir_(std::move(models_dir)),
      catalog_(std::move(catalog)) {}

hub::HubClient Installer::client_for(const std::string& endpoint) const {
    hub::HubSettings settings = settings_;
    if (!endpoint.empty() && endpoint != settings.endpoint) {
        settings.endpoint = endpoint;
        // The token is for the configured hub; never hand it to another host from a URL.
        settings.http.bearer_token.clear();
    }
    return hub::HubClient(settings);
}

PullPlan Installer::plan(const std::string& reference) const {
    hub::ModelRef ref = hub::parse_model_ref(reference);
    PullPlan plan;
    if (ref.kind == hub::ModelRef::Kind::Catalog) {
        auto entry = catalog_.find(ref.catalog_name);
        if (!entry) {
            throw Error("'" + reference +
                        "' is not in the catalog (hearth models catalog lists "
                        "it) and is not owner/repo[:QUANT], owner/repo/file.gguf or a URL");
        }
        plan.catalog_entry = entry;
        ref.kind = hub::ModelRef::Kind::RepoFile;
        ref.repo = entry->repo;
        ref.file = entry->file;
    }
    plan.endpoint = ref.endpoint.empty() ? settings_.endpoint : ref.endpoint;
    hub::HubClient client = client_for(plan.endpoint);
    hub::RepoInfo info = client.model_info(ref.repo, ref.revision);
    plan.repo = info.id;
    plan.commit = info.commit.empty() ? ref.revision : info.commit;
    switch (ref.kind) {
        case hub::ModelRef::Kind::Repo:
            plan.quant = hub::default_quant(info);
            plan.files = hub::select_quant(info, plan.quant);
            break;
        case hub::ModelRef::Kind::RepoQuant:
            plan.quant = ref.quant;
            plan.files = hub::select_quant(info, ref.quant);
            break;
        default:
            plan.files = hub::select_file(info, ref.file);
            plan.quant = hub::quant_of(ref.file);
            break;
    }
    plan.name = plan.catalog_entry ? plan.catalog_entry->name
                                   : model_name_from_file(plan.files.front().path);
    return plan;
}

std::string Installer::support_problem(const PullPlan& plan) const {
    hub::RemoteModel model;
    try {
        model = hub::fetch_model_header(client_for(plan.endpoint), plan.repo, plan.commit,
                                        plan.files);
    } catch (const Error& e) {
        log::warn("could not read the header of {} to check that hearth runs it: {}", plan.repo,
                  e.what());
        return "";
    }
    return runtime::why_unsupported(model.first, model.tensors);
}

PullResult Installer::pull(const PullPlan& plan, const PullOptions& options) const {
    PullOptions named = options;
    named.name = options.name.empty() ? plan.name : options.name;
    std::optional<ModelConfig> existing;
    if (fs::exists(models_dir_.config_path_for(named.name))) {
        existing = load_model_config(models_dir_.config_path_for(named.name));
        // Same derived name from another repo: keep both, the newcomer prefixed by its owner.
        bool other_repo = existing->source && existing->source->repo != plan.repo;
        if (options.name.empty() && other_repo) {
            std::string owner = repo_owner(plan.repo);
            std::transform(owner.begin(), owner.end(), owner.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            named.name = owner + "-" + plan.name;
            existing.reset();
            if (fs::exists(models_dir_.config_path_for(named.name))) {
                existing = load_model_config(models_dir_.config_path_for(named.name));
            }
        }
    }
    return install(plan, named, existing);
}

PullResult Installer::install(const PullPlan& plan, const PullOptions& options,
                              std::optional<ModelConfig> existing) const {
    PullResult result;
    // Re-pulling keeps what the user edited (aliases, parameters, template).
    ModelConfig config = existing ? *existing : ModelConfig{};
    config.name = options.name.empty() ? (existing ? existing->name : plan.name) : options.name;
    if (!existing && plan.catalog_entry) {
        config.context_size = plan.catalog_entry->context;
        config.embeddings = plan.catalog_entry->kind == "embedding";
    }
    add_aliases(config, options.aliases);

    fs::path subdir = choose_subdir(models_dir_, existing, plan);
    if (!options.force && already_installed(models_dir_, existing, plan, subdir)) {
        log::info("{} is already installed and matches {}@{}", config.name, plan.repo,
                  plan.commit.substr(0, 12));
        result.config = config;
        result.already_installed = true;
        return result;
    }
    fs::create_directories(models_dir_.root() / subdir);
    uint64_t remaining = 0;
    for (const hub::HubFile& file : plan.files) {
        std::error_code error;
        fs::path part = models_dir_.root() / subdir / (base_name(file.path) + ".partial");
        uint64_t have = fs::file_size(part, error);
        remaining += error || have > file.size ? file.size : file.size - have;
    }
    hub::require_free_space((models_dir_.root() / subdir).string(), remaining, options.download);
    // Checked after the cheap local refusals: it reads the file's header from the hub.
    if (options.check_support) {
        const std::string problem = support_problem(plan);
        if (!problem.empty())
            throw Error(plan.repo + " (" + plan.files.front().path + ") is not a model hearth runs: " +
                        problem + ". Nothing was downloaded; pick another model (hearth discover), " +
                        "or pass --no-check to fetch it anyway");
    }

    hub::HubClient client = client_for(plan.endpoint);
    for (const hub::HubFile& file : plan.files) {
        hub::DownloadRequest request;
        request.url = client.resolve_url(plan.repo, plan.commit, file.path);
        request.destination = (models_dir_.root() / subdir / base_name(file.path)).string();
        request.expected_size = file.size;
        request.expected_sha256 = file.sha256;
        hub::DownloadResult downloaded =
            hub::download_file(client.http(), request, options.download);
        result.bytes_downloaded += downloaded.size - downloaded.resumed_from;
    }
    std::vector<fs::path> old_files;
    if (existing) old_files = models_dir_.model_files(*existing);

    const hub::HubFile& first = plan.files.front();
    config.file = (subdir / base_name(first.path)).string();
    ModelSource source;
    source.repo = plan.repo;
    source.revision = plan.commit;
    source.file = first.path;
    source.sha256 = first.sha256;
    if (plan.endpoint != settings_.endpoint) source.endpoint = plan.endpoint;
    config.source = source;
    models_dir_.save(config);
    config.config_path = models_dir_.config_path_for(config.name);

    // Files of the previous version that the new one no longer uses (e.g. a different split).
    for (const fs::path& old : old_files) {
        bool still_used = false;
        for (const fs::path& now : models_dir_.model_files(config)) still_used |= now == old;
        if (!still_used) fs::remove(old);
    }
    result.config = config;
    return result;
}

std::vector<UpdateCheck> Installer::check_updates() const {
    std::vector<UpdateCheck> checks;
    for (const ModelConfig& config : models_dir_.list()) {
        if (!config.source || config.source->repo.empty()) continue;
        UpdateCheck check;
        check.config = config;
        try {
            hub::HubClient client = client_for(config.source->endpoint);
            hub::RepoInfo info = client.model_info(config.source->repo, "main");
            check.latest_commit = info.commit;
            check.revision_changed = info.commit != config.source->revision;
            const hub::HubFile* file = info.find_file(config.source->file);
            if (!file) {
                check.error = config.source->file + " is no longer in " + config.source->repo;
            } else {
                check.latest_sha256 = file->sha256;
                check.file_changed = file->sha256 != config.source->sha256;
            }
        } catch (const Error& e) {
            check.error = e.what();
        }
        checks.push_back(std::move(check));
    }
    return checks;
}

PullResult Installer::apply_update(const UpdateCheck& check, const PullOptions& options) const {
    const ModelSource& source = *check.config.source;
    hub::HubClient client = client_for(source.endpoint);
    hub::RepoInfo info = client.model_info(source.repo, "main");
    PullPlan plan;
    plan.repo = source.repo;
    plan.commit = info.commit;
    plan.endpoint = source.endpoint.empty() ? settings_.endpoint : source.endpoint;
    plan.files = hub::select_file(info, source.file);
    plan.name = check.config.name;
    PullOptions update_options = options;
    update_options.name = check.config.name;
    return install(plan, update_options, check.config);
}

void Installer::record_revision(const UpdateCheck& check) const {
    ModelConfig config = check.config;
    if (!config.source || check.latest_commit.empty()) return;
    config.source->revision = check.latest_commit;
    models_dir_.save(config);
}

}  // namespace hearth::registry
