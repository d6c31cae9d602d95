#include "registry/models_dir.h"

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "model/repack_cache.h"

namespace hearth::registry {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool has_extension(const fs::path& path, const std::string& extension) {
    return lower(path.extension().string()) == extension;
}

const std::regex& split_pattern() {
    static const std::regex kSplit(R"((.*)-(\d{5})-of-(\d{5})\.gguf)", std::regex::icase);
    return kSplit;
}

// Later parts of a split model are not models of their own.
bool is_later_split_part(const std::string& file_name) {
    std::smatch match;
    return std::regex_match(file_name, match, split_pattern()) && std::stoi(match[2]) > 1;
}

bool same_file(const fs::path& a, const fs::path& b) {
    return a.lexically_normal() == b.lexically_normal();
}

}  // namespace

std::string model_name_from_file(const std::string& file) {
    std::string name = fs::path(file).filename().string();
    std::smatch match;
    if (std::regex_match(name, match, split_pattern())) name = match[1];
    if (has_extension(name, ".gguf")) name = name.substr(0, name.size() - 5);
    return lower(name);
}

ModelsDir::ModelsDir(fs::path root) : root_(std::move(root)) {}

fs::path ModelsDir::default_path() {
    if (const char* dir = std::getenv("HEARTH_MODELS_DIR"); dir && *dir) return dir;
    return data_home() / "models";
}

fs::path ModelsDir::data_home() {
    if (const char* data = std::getenv("XDG_DATA_HOME"); data && *data) return fs::path(data) / "hearth";
    const char* home = std::getenv("HOME");
    return fs::path(home && *home ? home : ".") / ".local" / "share" / "hearth";
}

fs::path ModelsDir::model_path(const ModelConfig& config) const {
    fs::path file(config.file);
    return file.is_absolute() ? file : root_ / file;
}

std::vector<fs::path> ModelsDir::model_files(const ModelConfig& config) const {
    fs::path first = model_path(config);
    std::smatch match;
    std::string name = first.filename().string();
    if (!std::regex_match(name, match, split_pattern())) return {first};
    std::vector<fs::path> parts;
    int count = std::stoi(match[3]);
    for (int i = 1; i <= count; ++i) {
        char suffix[32];
        std::snprintf(suffix, sizeof(suffix), "-%05d-of-%05d.gguf", i, count);
        parts.push_back(first.parent_path() / (std::string(match[1]) + suffix));
    }
    return parts;
}

fs::path ModelsDir::config_path_for(const std::string& name) const {
    return root_ / (name + ".yaml");
}

std::vector<ModelConfig> ModelsDir::list() const {
    std::vector<ModelConfig> configs;
    std::error_code error;
    if (!fs::is_directory(root_, error)) return configs;
    std::set<fs::path> configured_files;
    std::vector<fs::path> ggufs;
    for (const auto& entry : fs::directory_iterator(root_, error)) {
        const fs::path& path = entry.path();
        if (!entry.is_regular_file(error)) continue;
        if (has_extension(path, ".yaml") || has_extension(path, ".yml")) {
            try {
                ModelConfig config = load_model_config(path);
                configured_files.insert(model_path(config).lexically_normal());
                configs.push_back(std::move(config));
            } catch (const Error& e) {
                log::warn("skipping {}", e.what());
            }
        } else if (has_extension(path, ".gguf") && !is_later_split_part(path.filename().string())) {
            ggufs.push_back(path);
        }
    }
    for (const fs::path& gguf : ggufs) {
        if (configured_files.count(gguf.lexically_normal())) continue;
        ModelConfig bare;
        bare.name = model_name_from_file(gguf.filename().string());
        bare.file = gguf.filename().string();
        configs.push_back(std::move(bare));
    }
    std::sort(configs.begin(), configs.end(),
              [](const ModelConfig& a, const ModelConfig& b) { return a.name < b.name; });
    return configs;
}

std::optional<ModelConfig> ModelsDir::resolve(const std::string& name_or_alias) const {
    std::vector<ModelConfig> configs = list();
    std::string wanted = lower(name_or_alias);
    // Names win over aliases, and aliases over file names, so an alias can never shadow a
    // model's own name.
    for (const ModelConfig& config : configs) {
        if (lower(config.name) == wanted) return config;
    }
    for (const ModelConfig& config : configs) {
        for (const std::string& alias : config.aliases) {
            if (lower(alias) == wanted) return config;
        }
    }
    for (const ModelConfig& config : configs) {
        std::string file = lower(fs::path(config.file).filename().string());
        if (file == wanted || file == wanted + ".gguf") return config;
    }
    return std::nullopt;
}

void ModelsDir::save(const ModelConfig& config) const {
    if (config.name.empty() || config.name.find('/') != std::string::npos) {
        throw Error("invalid model name '" + config.name + "' (it becomes a file name)");
    }
    fs::create_directories(root_);
    save_model_config(config_path_for(config.name), config);
}

std::vector<fs::path> ModelsDir::remove(const std::string& name_or_alias) const {
    std::optional<ModelConfig> config = resolve(name_or_alias);
    if (!config) {
        throw Error("no model named '" + name_or_alias + "' in " + root_.string() +
                    " (hearth models list shows what is installed)");
    }
    bool shared = false;
    for (const ModelConfig& other : list()) {
        if (other.config_path != config->config_path &&
            same_file(model_path(other), model_path(*config))) {
            shared = true;
        }
    }
    std::vector<fs::path> removed;
    std::error_code error;
    if (!shared) {
        for (const fs::path& file : model_files(*config)) {
            if (fs::remove(file, error)) removed.push_back(file);
            fs::path partial = file;
            partial += ".partial";
            if (fs::remove(partial, error)) removed.push_back(partial);
        }
        for (const std::string& cache : model::repack_caches_beside(model_path(*config).string()))
            if (fs::remove(cache, error)) removed.emplace_back(cache);
    }
    if (!config->config_path.empty() && fs::remove(config->config_path, error)) {
        removed.push_back(config->config_path);
    }
    return removed;
}

}  // namespace hearth::registry
