#pragma once
// The models directory: GGUF files with one YAML config each (see model_config.h).
// Default: $HEARTH_MODELS_DIR, else $XDG_DATA_HOME/hearth/models, else
// ~/.local/share/hearth/models. A GGUF dropped in without a config still shows up, under its
// file name, so "copy a file in" works as users expect.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "registry/model_config.h"

namespace hearth::registry {

class ModelsDir {
  public:
    explicit ModelsDir(std::filesystem::path root);

    // $HEARTH_MODELS_DIR, $XDG_DATA_HOME/hearth/models or ~/.local/share/hearth/models.
    static std::filesystem::path default_path();
    // hearth's data folder, whatever HEARTH_MODELS_DIR says: $XDG_DATA_HOME/hearth, else
    // ~/.local/share/hearth (the server's stored responses live there).
    static std::filesystem::path data_home();

    const std::filesystem::path& root() const { return root_; }

    // Every model, sorted by name: configured ones, then bare GGUFs without a config. A broken
    // config is logged and skipped so one bad file cannot hide the others.
    std::vector<ModelConfig> list() const;

    // By name, then alias, then file name (with or without .gguf); case-insensitive.
    std::optional<ModelConfig> resolve(const std::string& name_or_alias) const;

    // Absolute path of a config's GGUF (the first part of a split model).
    std::filesystem::path model_path(const ModelConfig& config) const;
    // All files of a model: the GGUF, or every part of a split GGUF.
    std::vector<std::filesystem::path> model_files(const ModelConfig& config) const;
    // Where the config for `name` lives: <root>/<name>.yaml.
    std::filesystem::path config_path_for(const std::string& name) const;

    // Writes <root>/<name>.yaml (creating the directory).
    void save(const ModelConfig& config) const;

    // Deletes the model's config and its GGUF file(s), unless another config still uses the
    // file. Returns the paths deleted. Throws hearth::Error when the model is unknown.
    std::vector<std::filesystem::path> remove(const std::string& name_or_alias) const;

  private:
    std::filesystem::path root_;
};

// "Llama-3.2-1B-Instruct-Q4_K_M.gguf" -> "llama-3.2-1b-instruct-q4_k_m"; split suffixes dropped.
std::string model_name_from_file(const std::string& file);

}  // namespace hearth::registry
