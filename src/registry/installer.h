#pragma once
// Pull and update: turns a model reference into verified files in the models directory plus
// their YAML config. The hub layer moves bytes; this layer decides names and writes configs.
#include <optional>
#include <string>
#include <vector>

#include "hub/catalog.h"
#include "hub/download.h"
#include "hub/hub_client.h"
#include "hub/remote_header.h"
#include "registry/models_dir.h"

namespace hearth::registry {

struct PullPlan {
    std::string repo;
    std::string commit;    // files are fetched at this exact commit, so split parts match
    std::string endpoint;  // hub to fetch from
    std::vector<hub::HubFile> files;  // one file, or every part of a split model
    std::string name;                 // config name to write
    std::string quant;
    std::optional<hub::CatalogEntry> catalog_entry;

    uint64_t total_bytes() const;
};

struct PullOptions {
    std::string name;                  // overrides the derived name
    std::vector<std::string> aliases;  // added to the config
    bool force = false;                // download again even if installed and unchanged
    bool check_support = true;         // refuse a model hearth cannot run (its header says)
    hub::DownloadOptions download;
};

struct PullResult {
    ModelConfig config;
    bool already_installed = false;
    uint64_t bytes_downloaded = 0;
};

struct UpdateCheck {
    ModelConfig config;
    std::string latest_commit;
    std::string latest_sha256;
    bool file_changed = false;      // new bytes to download
    bool revision_changed = false;  // new commit (maybe only other files changed)
    std::string error;              // the check failed for this model (kept going for others)
};

class Installer {
  public:
    Installer(hub::HubSettings settings, ModelsDir models_dir,
              hub::Catalog catalog = hub::Catalog::builtin());

    // Resolves a reference (see hub/model_ref.h) against the hub: which files, at which commit.
    PullPlan plan(const std::string& reference) const;
    // Refuses, before any download, a model whose header shows hearth cannot run it (unless
    // options.check_support is off).
    PullResult pull(const PullPlan& plan, const PullOptions& options) const;
    // Why hearth cannot run what `plan` fetches, read from the files' headers on the hub ("" when
    // it can, or when the headers cannot be read: the download will say more then).
    std::string support_problem(const PullPlan& plan) const;

    // One hub request per model that has a `source`; models without one are skipped.
    std::vector<UpdateCheck> check_updates() const;
    // Downloads the new file(s) next to the old ones; the old bytes are replaced only once the
    // new ones are verified (same name: atomic rename; other names: deleted afterwards).
    PullResult apply_update(const UpdateCheck& check, const PullOptions& options) const;
    // The hub has a new commit but our file is unchanged: just note the new revision.
    void record_revision(const UpdateCheck& check) const;

    const ModelsDir& models_dir() const { return models_dir_; }
    const hub::Catalog& catalog() const { return catalog_; }

  private:
    hub::HubClient client_for(const std::string& endpoint) const;
    PullResult install(const PullPlan& plan, const PullOptions& options,
                       std::optional<ModelConfig> existing) const;

    hub::HubSettings settings_;
    ModelsDir models_dir_;
    hub::Catalog catalog_;
};

}  // namespace hearth::registry
