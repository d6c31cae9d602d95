#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/loaded_models.h"
#include "cli/pull.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "gguf/reader.h"
#include "hub/catalog.h"
#include "hub/discover.h"
#include "hub/download.h"
#include "hub/hub_client.h"
#include "hub/machine.h"
#include "registry/installer.h"
#include "registry/models_dir.h"
#include "runtime/model_support.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- shared plumbing

// Every model command takes --models-dir (env HEARTH_MODELS_DIR).
struct DirArgs {
    std::string models_dir;
    registry::ModelsDir open() const {
        return registry::ModelsDir(models_dir.empty() ? registry::ModelsDir::default_path()
                                                      : fs::path(models_dir));
    }
};

void add_dir_option(CLI::App* command, DirArgs& args) {
    command
        ->add_option("--models-dir", args.models_dir,
                     "Models directory (default ~/.local/share/hearth/models)")
        ->envname("HEARTH_MODELS_DIR");
}

// Runs a command body, turning a hearth::Error into "error: ..." and exit status 1.
void guarded(const std::function<void()>& body) {
    log::init();
    try {
        body();
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        throw CLI::RuntimeError(1);
    } catch (const std::filesystem::filesystem_error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        throw CLI::RuntimeError(1);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "error: out of memory\n");
        throw CLI::RuntimeError(1);
    }
}

// While downloading, the first Ctrl-C stops the transfer cleanly (the .partial stays for the
// next run); a second one kills the process the usual way.
class InterruptToCancel {
  public:
    InterruptToCancel() {
        hub::cancel_flag() = false;
        struct sigaction action {};
        action.sa_handler = [](int) { hub::cancel_flag() = true; };
        action.sa_flags = SA_RESETHAND;
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, &previous_);
    }
    ~InterruptToCancel() { sigaction(SIGINT, &previous_, nullptr); }
    InterruptToCancel(const InterruptToCancel&) = delete;
    InterruptToCancel& operator=(const InterruptToCancel&) = delete;

  private:
    struct sigaction previous_ {};
};

std::string join(const std::vector<std::string>& items, const std::string& separator) {
    std::string out;
    for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
}

std::string short_commit(const std::string& commit) {
    return commit.substr(0, 12);
}

std::string approx(uint64_t bytes) {
    return "~" + format_bytes(bytes);
}

struct FitArgs {
    int context = 4096;
    double ram_share = 0.8;
    hub::FitPolicy policy() const {
        hub::FitPolicy policy;
        policy.context = context;
        policy.ram_share = ram_share;
        return policy;
    }
};

void add_fit_options(CLI::App* command, FitArgs& args) {
    command->add_option("--context", args.context, "Context length to budget KV cache for")
        ->capture_default_str();
    command
        ->add_option("--ram-share", args.ram_share,
                     "Share of available RAM one model may use (0-1)")
        ->capture_default_str()
        ->check(CLI::Range(0.05, 1.0));
}

void print_machine(const hub::MachineInfo& machine, const hub::FitPolicy& policy,
                   const fs::path& dir) {
    std::printf("This machine: %u cores, %s RAM (%s available), %s free in %s.\n", machine.cores,
                format_bytes(machine.ram_total).c_str(),
                format_bytes(machine.ram_available).c_str(),
                format_bytes(machine.disk_free).c_str(), dir.string().c_str());
    std::printf(
        "A model fits when file + KV cache for %d tokens + overhead <= %.0f%% of "
        "available RAM (estimates).\n\n",
        policy.context, policy.ram_share * 100);
}

// ---------------------------------------------------------------- pull

struct PullArgs {
    DirArgs dir;
    std::vector<std::string> references;
    std::string name;
    std::vector<std::string> aliases;
    bool force = false;
    bool no_check = false;
};

registry::PullResult pull_one(const registry::Installer& installer, const std::string& reference,
                              const PullArgs& args) {
    registry::PullPlan plan = installer.plan(reference);
    std::vector<std::string> files;
    for (const hub::HubFile& file : plan.files) files.push_back(file.path);
    log::info("{}: {}@{} {} ({})", plan.name, plan.repo, short_commit(plan.commit),
              join(files, ", "), format_bytes(plan.total_bytes()));
    registry::PullOptions options;
    options.name = args.name;
    options.aliases = args.aliases;
    options.force = args.force;
    options.check_support = !args.no_check;
    return pull_with_progress(installer, plan, options);
}

void run_pull(const PullArgs& args) {
    if (!args.name.empty() && args.references.size() > 1) {
        throw Error("--name applies to one model; pull the others separately");
    }
    registry::ModelsDir dir = args.dir.open();
    registry::Installer installer = make_installer(dir);
    for (const std::string& reference : args.references) {
        registry::PullResult result = pull_one(installer, reference, args);
        std::printf("%s %s -> %s\n", result.already_installed ? "up to date:" : "installed:",
                    result.config.name.c_str(), dir.model_path(result.config).string().c_str());
    }
}

void add_pull(CLI::App& app) {
    auto args = std::make_shared<PullArgs>();
    CLI::App* cmd = app.add_subcommand("pull", "Download a model from Hugging Face");
    cmd->add_option("model", args->references,
                    "Catalog name, owner/repo[:QUANT], owner/repo/file.gguf or a URL")
        ->required();
    cmd->add_option("--name", args->name, "Name for the installed model (default from the file)");
    cmd->add_option("--alias", args->aliases, "Extra name clients may use (repeatable)")
        ->allow_extra_args(false);
    cmd->add_flag("--force", args->force, "Download again even if already installed");
    cmd->add_flag("--no-check", args->no_check,
                  "Download even when the file's header says hearth cannot run it");
    add_dir_option(cmd, args->dir);
    cmd->footer(R"(Examples:
  hearth pull llama-3.2-1b                                  curated catalog name
  hearth pull bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M   a quant from a repo
  hearth pull Qwen/Qwen3-4B-GGUF/Qwen3-4B-Q4_K_M.gguf       an exact file
  hearth pull https://huggingface.co/OWNER/REPO/resolve/main/FILE.gguf
  hearth pull qwen3-4b --alias gpt-4o-mini                  answer to another model name

First the file's header (a few MB) is read from the hub: a model whose architecture, weight
types or tokenizer hearth cannot run is refused before the download, with the reason.
Downloads go to FILE.partial, resume after an interruption (Ctrl-C keeps the part), are
checked against the hub's sha256 and parsed as GGUF, and only then appear in the models
directory with a YAML config. Split models (-00001-of-0000N) are fetched whole.
Environment: HF_TOKEN (private/gated repos), HF_ENDPOINT (mirror), HTTPS_PROXY, HEARTH_MODELS_DIR.)");
    cmd->callback([args] { guarded([&] { run_pull(*args); }); });
}

// ---------------------------------------------------------------- models list | show | rm

uint64_t installed_size(const registry::ModelsDir& dir, const registry::ModelConfig& config,
                        bool& complete) {
    uint64_t total = 0;
    complete = true;
    for (const fs::path& file : dir.model_files(config)) {
        std::error_code error;
        uint64_t size = fs::file_size(file, error);
        complete = complete && !error;
        total += error ? 0 : size;
    }
    return total;
}

// The names a server running at `address` has loaded; none when no server runs.
std::set<std::string> loaded_on_server(const ServerAddress& address) {
    std::set<std::string> names;
    std::unique_ptr<ApiClient> api = connect_to_server(address);
    if (!api) return names;
    try {
        for (const LoadedModelRow& row : loaded_models(*api)) names.insert(row.name);
    } catch (const Error& e) {
        log::warn("the server at {} did not say which models are loaded: {}", api->where(), e.what());
    }
    return names;
}

void run_list(const DirArgs& args, const ServerAddress& address) {
    registry::ModelsDir dir = args.open();
    std::vector<registry::ModelConfig> models = dir.list();
    if (models.empty()) {
        std::printf("No models in %s. Try: hearth pull llama-3.2-1b (or hearth models catalog)\n",
                    dir.root().string().c_str());
        return;
    }
    const std::set<std::string> loaded = loaded_on_server(address);
    std::vector<std::vector<std::string>> rows = {{"NAME", "SIZE", "FILE", "ALIASES", "SOURCE", "LOADED"}};
    for (const registry::ModelConfig& config : models) {
        bool complete = true;
        uint64_t size = installed_size(dir, config, complete);
        std::string source =
            config.source ? config.source->repo + "@" + short_commit(config.source->revision) : "-";
        rows.push_back({config.name, complete ? format_bytes(size) : "MISSING", config.file,
                        config.aliases.empty() ? "-" : join(config.aliases, ","), source,
                        loaded.count(config.name) ? "yes" : "-"});
    }
    print_columns(rows);
}

void print_gguf_summary(const fs::path& path) {
    try {
        gguf::File file = gguf::File::open(path.string());
        std::string arch = file.get_string("general.architecture", "?");
        std::printf("\n# GGUF %s\n", path.filename().string().c_str());
        std::printf("architecture: %s\n", arch.c_str());
        std::printf("model name:   %s\n", file.get_string("general.name", "?").c_str());
        std::printf("context:      %llu (trained)\n",
                    static_cast<unsigned long long>(file.get_u64(arch + ".context_length", 0)));
        std::printf("tensors:      %zu, metadata keys: %zu\n", file.tensors().size(),
                    file.metadata().size());
    } catch (const Error& e) {
        std::printf("\n# GGUF: cannot read (%s)\n", e.what());
    }
}

void run_show(const DirArgs& args, const std::string& name) {
    registry::ModelsDir dir = args.open();
    std::optional<registry::ModelConfig> config = dir.resolve(name);
    if (!config) throw Error("no model '" + name + "' in " + dir.root().string());
    std::printf("# %s\n", config->config_path.empty() ? "(no config file: defaults)"
                                                      : config->config_path.string().c_str());
    std::printf("%s", registry::to_yaml(*config).c_str());
    print_gguf_summary(dir.model_path(*config));
}

void run_rm(const DirArgs& args, const std::vector<std::string>& names) {
    registry::ModelsDir dir = args.open();
    for (const std::string& name : names) {
        for (const fs::path& path : dir.remove(name)) {
            std::printf("deleted %s\n", path.string().c_str());
        }
    }
}

// ---------------------------------------------------------------- models catalog

struct CatalogArgs {
    DirArgs dir;
    FitArgs fit;
    bool fits = false;
};

void run_catalog(const CatalogArgs& args) {
    registry::ModelsDir dir = args.dir.open();
    hub::Catalog catalog = hub::Catalog::builtin();
    hub::MachineInfo machine = hub::probe_machine(dir.root().string());
    hub::FitPolicy policy = args.fit.policy();
    if (args.fits) print_machine(machine, policy, dir.root());
    std::set<std::string> installed;
    for (const auto& config : dir.list()) installed.insert(config.name);

    std::vector<std::vector<std::string>> rows = {
        {"NAME", "KIND", "SIZE", "RAM", "CONTEXT", "LICENSE", "REPO / FILE"}};
    for (const hub::CatalogEntry& entry : catalog.entries()) {
        const bool fits = hub::fits_machine(entry.ram_bytes, entry.size_bytes, machine, policy);
        if (args.fits && !fits) continue;
        rows.push_back({entry.name + (installed.count(entry.name) ? " *" : ""), entry.kind,
                        approx(entry.size_bytes), approx(entry.ram_bytes),
                        std::to_string(entry.context), entry.license,
                        entry.repo + "/" + entry.file});
    }
    print_columns(rows);
    std::printf("\nSizes are approximate. * = installed. Install with: hearth pull NAME\n");
    if (args.fits && rows.size() == 1) std::printf("Nothing in the catalog fits this machine.\n");
}

void add_models(CLI::App& app) {
    CLI::App* models = app.add_subcommand("models", "List, inspect and remove installed models");
    models->require_subcommand(1);

    auto list_args = std::make_shared<DirArgs>();
    auto list_server = std::make_shared<ServerAddress>();
    CLI::App* list = models->add_subcommand(
        "list", "Installed models with sizes and aliases, and which a running server has loaded");
    add_dir_option(list, *list_args);
    add_server_options(list, *list_server);
    list->callback([list_args, list_server] {
        guarded([&] { run_list(*list_args, *list_server); });
    });

    auto show_args = std::make_shared<DirArgs>();
    auto show_name = std::make_shared<std::string>();
    CLI::App* show = models->add_subcommand("show", "A model's config and GGUF metadata");
    show->add_option("name", *show_name, "Model name, alias or file")->required();
    add_dir_option(show, *show_args);
    show->callback([show_args, show_name] { guarded([&] { run_show(*show_args, *show_name); }); });

    auto rm_args = std::make_shared<DirArgs>();
    auto rm_names = std::make_shared<std::vector<std::string>>();
    CLI::App* rm = models->add_subcommand("rm", "Delete models (config and GGUF files)");
    rm->add_option("name", *rm_names, "Model names or aliases")->required();
    add_dir_option(rm, *rm_args);
    rm->callback([rm_args, rm_names] { guarded([&] { run_rm(*rm_args, *rm_names); }); });

    auto catalog_args = std::make_shared<CatalogArgs>();
    CLI::App* catalog = models->add_subcommand("catalog", "Curated models that run well on CPUs");
    catalog->add_flag("--fits", catalog_args->fits, "Only models that fit this machine");
    add_fit_options(catalog, catalog_args->fit);
    add_dir_option(catalog, catalog_args->dir);
    catalog->callback([catalog_args] { guarded([&] { run_catalog(*catalog_args); }); });

    models->footer(R"(Examples:
  hearth models list
  hearth models show llama-3.2-1b          config, source and GGUF metadata
  hearth models rm llama-3.2-1b
  hearth models catalog --fits             curated models this machine can run

Each model is a GGUF file plus NAME.yaml in the models directory (docs/CONFIG.md); edit the
YAML to set aliases, context_size, threads, sampling defaults or a template override.)");
}

// ---------------------------------------------------------------- discover

struct DiscoverArgs {
    DirArgs dir;
    FitArgs fit;
    int limit = 20;
    std::string sort = "trending";
    std::string search;
    bool all = false;
};

std::string hub_sort_key(const std::string& sort) {
    if (sort == "trending") return "trendingScore";
    return sort;  // downloads, likes
}

std::vector<hub::Suggestion> find_suggestions(const DiscoverArgs& args,
                                              const hub::MachineInfo& machine) {
    hub::HubClient client;
    hub::ModelQuery query;
    query.sort = hub_sort_key(args.sort);
    query.limit = args.limit;
    query.search = args.search;
    query.pipeline_tag = "text-generation";
    return hub::discover(client, query, machine, args.fit.policy(), runtime::why_unsupported);
}

void run_discover(const DiscoverArgs& args) {
    registry::ModelsDir dir = args.dir.open();
    hub::MachineInfo machine = hub::probe_machine(dir.root().string());
    print_machine(machine, args.fit.policy(), dir.root());
    std::vector<std::vector<std::string>> rows = {
        {"MODEL", "QUANT", "SIZE", "RAM", "DOWNLOADS", "LIKES", "PULL WITH"}};
    int hidden = 0, skipped = 0;
    for (const hub::Suggestion& s : find_suggestions(args, machine)) {
        if (s.recommended.empty() && !args.all) {
            ++(s.runnable ? hidden : skipped);
            continue;
        }
        bool fits = !s.recommended.empty();
        rows.push_back({s.repo.id, fits ? s.recommended : "-", fits ? format_bytes(s.size) : "-",
                        fits ? approx(s.ram_needed) : s.note, std::to_string(s.repo.downloads),
                        std::to_string(s.repo.likes),
                        fits ? "hearth pull " + s.repo.id + ":" + s.recommended : "-"});
    }
    print_columns(rows);
    if (hidden > 0) std::printf("\n%d more did not fit (--all shows them).\n", hidden);
    if (skipped > 0)
        std::printf("%d more are models hearth cannot run yet (--all shows why).\n", skipped);
}

void add_discover(CLI::App& app) {
    auto args = std::make_shared<DiscoverArgs>();
    CLI::App* cmd = app.add_subcommand(
        "discover", "Trending GGUF models on Hugging Face that fit this machine");
    cmd->add_option("--limit", args->limit, "How many hub models to consider")
        ->capture_default_str();
    cmd->add_option("--sort", args->sort, "trending, downloads or likes")
        ->capture_default_str()
        ->check(CLI::IsMember({"trending", "downloads", "likes"}));
    cmd->add_option("--search", args->search, "Only repos whose name contains this");
    cmd->add_flag("--all", args->all, "Also list models that do not fit");
    add_fit_options(cmd, args->fit);
    add_dir_option(cmd, args->dir);
    cmd->footer(R"(Examples:
  hearth discover                          trending text-generation GGUFs that fit
  hearth discover --sort downloads --limit 50
  hearth discover --search qwen --context 8192
  hearth discover --all                    show the ones that do not fit or run, and why

Before recommending a model, hearth reads its file's header from the hub (a few MB) and skips
architectures, weight types and tokenizers it cannot run. The recommended quant is the first of Q4_K_M, Q5_K_M, Q4_K_S, Q4_0, IQ4_XS, Q6_K, Q8_0, then
smaller ones, whose file + KV cache fits the RAM budget. Sizes come from the hub; RAM is an
estimate. Environment: HF_TOKEN, HF_ENDPOINT, HTTPS_PROXY.)");
    cmd->callback([args] { guarded([&] { run_discover(*args); }); });
}

// ---------------------------------------------------------------- update

struct UpdateArgs {
    DirArgs dir;
    FitArgs fit;
    bool dry_run = false;
    bool auto_add = false;
    int top = 3;
};

std::string describe(const registry::UpdateCheck& check) {
    if (!check.error.empty()) return "error: " + check.error;
    if (check.file_changed) {
        return "update available (" + short_commit(check.config.source->revision) + " -> " +
               short_commit(check.latest_commit) + ")";
    }
    if (check.revision_changed) return "up to date (new commit, same file)";
    return "up to date";
}

// Returns the number of models that failed to update.
int update_installed(const registry::Installer& installer, const UpdateArgs& args) {
    int failures = 0;
    std::vector<registry::UpdateCheck> checks = installer.check_updates();
    if (checks.empty()) std::printf("No pulled models to check (models need a source: entry).\n");
    for (const registry::UpdateCheck& check : checks) {
        std::printf("%-32s %s\n", check.config.name.c_str(), describe(check).c_str());
        if (!check.error.empty()) ++failures;
        if (args.dry_run || !check.error.empty()) continue;
        if (check.file_changed) {
            registry::PullOptions options;
            options.download.on_progress = hub::console_progress();
            InterruptToCancel interrupt;
            try {
                installer.apply_update(check, options);
                std::printf("%-32s updated\n", check.config.name.c_str());
            } catch (const Error& e) {
                std::fprintf(stderr, "error: %s: %s (the old version is kept)\n",
                             check.config.name.c_str(), e.what());
                ++failures;
            }
        } else if (check.revision_changed) {
            installer.record_revision(check);
        }
    }
    return failures;
}

void add_trending(const registry::Installer& installer, const UpdateArgs& args) {
    const registry::ModelsDir& dir = installer.models_dir();
    std::set<std::string> installed_repos;
    for (const auto& config : dir.list()) {
        if (config.source) installed_repos.insert(config.source->repo);
    }
    DiscoverArgs discover_args;
    discover_args.fit = args.fit;
    hub::MachineInfo machine = hub::probe_machine(dir.root().string());
    int added = 0;
    for (const hub::Suggestion& s : find_suggestions(discover_args, machine)) {
        if (added >= args.top) break;
        if (s.recommended.empty() || installed_repos.count(s.repo.id)) continue;
        std::string reference = s.repo.id + ":" + s.recommended;
        ++added;
        if (args.dry_run) {
            std::printf("would add %s (%s)\n", reference.c_str(), format_bytes(s.size).c_str());
            continue;
        }
        PullArgs pull_args;
        registry::PullResult result = pull_one(installer, reference, pull_args);
        std::printf("added %s\n", result.config.name.c_str());
    }
    if (added == 0) std::printf("No new trending models that fit.\n");
}

void run_update(const UpdateArgs& args) {
    registry::ModelsDir dir = args.dir.open();
    registry::Installer installer = make_installer(dir);
    int failures = update_installed(installer, args);
    if (args.auto_add) add_trending(installer, args);
    if (failures > 0) throw Error(std::to_string(failures) + " model(s) could not be updated");
}

void add_update(CLI::App& app) {
    auto args = std::make_shared<UpdateArgs>();
    CLI::App* cmd =
        app.add_subcommand("update", "Re-pull installed models that changed on the hub");
    cmd->add_flag("--dry-run", args->dry_run, "Only report what would change");
    cmd->add_flag("--auto", args->auto_add, "Also add the top trending models that fit");
    cmd->add_option("--top", args->top, "How many trending models --auto adds")
        ->capture_default_str();
    add_fit_options(cmd, args->fit);
    add_dir_option(cmd, args->dir);
    cmd->footer(R"(Examples:
  hearth update --dry-run        which installed models have a newer file on the hub
  hearth update                  download those; each replaces the old file only once verified
  hearth update --auto --top 2   also install the 2 top trending models that fit this machine

Models pulled by hearth record their source (repo, commit, sha256) in their YAML; update
compares that with the repo's main branch. Run it from cron for unattended updates.)");
    cmd->callback([args] { guarded([&] { run_update(*args); }); });
}

}  // namespace

registry::Installer make_installer(const registry::ModelsDir& dir) {
    return registry::Installer(hub::HubSettings::from_environment(), dir);
}

registry::PullResult pull_with_progress(const registry::Installer& installer,
                                        const registry::PullPlan& plan,
                                        registry::PullOptions options) {
    options.download.on_progress = hub::console_progress();
    InterruptToCancel interrupt;
    return installer.pull(plan, options);
}

void add_model_commands(CLI::App& app) {
    add_pull(app);
    add_models(app);
    add_discover(app);
    add_update(app);
}

}  // namespace hearth::cli
