#include "registry/model_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/format.h"
#include "model/kv_cache.h"

namespace hearth::registry {
namespace {

const char* const kKnownKeys[] = {"name",     "file",    "aliases",    "context_size",
                                  "threads",  "kv_type", "template",   "parameters",
                                  "mmap",     "mlock",   "embeddings", "source",
                                  "context_shift", "kv_budget", "draft_model"};

template <typename T>
std::optional<T> optional_value(const YAML::Node& node, const char* key) {
    if (!node[key] || node[key].IsNull()) return std::nullopt;
    return node[key].as<T>();
}

std::string string_value(const YAML::Node& node, const char* key) {
    if (!node[key] || node[key].IsNull()) return "";
    return node[key].as<std::string>();
}

ModelParameters parse_parameters(const YAML::Node& node) {
    ModelParameters p;
    if (!node) return p;
    if (!node.IsMap()) throw Error("'parameters' must be a mapping");
    runtime::SamplingOverrides& s = p.sampling;
    s.temperature = optional_value<float>(node, "temperature");
    s.top_p = optional_value<float>(node, "top_p");
    s.top_k = optional_value<int32_t>(node, "top_k");
    s.min_p = optional_value<float>(node, "min_p");
    s.repeat_penalty = optional_value<float>(node, "repeat_penalty");
    s.frequency_penalty = optional_value<float>(node, "frequency_penalty");
    s.presence_penalty = optional_value<float>(node, "presence_penalty");
    if (auto seed = optional_value<int64_t>(node, "seed"); seed && *seed >= 0)
        s.seed = static_cast<uint64_t>(*seed);
    p.max_tokens = optional_value<int32_t>(node, "max_tokens");
    return p;
}

std::optional<ModelSource> parse_source(const YAML::Node& node) {
    if (!node || node.IsNull()) return std::nullopt;
    if (!node.IsMap()) throw Error("'source' must be a mapping");
    ModelSource source;
    source.repo = string_value(node, "repo");
    source.revision = string_value(node, "revision");
    source.file = string_value(node, "file");
    source.sha256 = string_value(node, "sha256");
    source.endpoint = string_value(node, "endpoint");
    return source;
}

ModelConfig from_node(const YAML::Node& root) {
    if (!root.IsMap()) throw Error("a model config must be a YAML mapping");
    ModelConfig config;
    config.name = string_value(root, "name");
    config.file = string_value(root, "file");
    // LocalAI keeps the model file under parameters.model; accept its configs as they are.
    if (config.file.empty() && root["parameters"] && root["parameters"].IsMap()) {
        config.file = string_value(root["parameters"], "model");
    }
    if (root["aliases"]) {
        if (root["aliases"].IsScalar()) {
            config.aliases.push_back(root["aliases"].as<std::string>());
        } else if (root["aliases"].IsSequence()) {
            config.aliases = root["aliases"].as<std::vector<std::string>>();
        } else if (!root["aliases"].IsNull()) {
            throw Error("'aliases' must be a list of names");
        }
    }
    config.context_size = optional_value<int>(root, "context_size");
    config.threads = optional_value<int>(root, "threads");
    if (auto kv_type = optional_value<std::string>(root, "kv_type"))
        config.kv_type = model::kv_type_from_name(*kv_type);
    if (root["template"] && root["template"].IsScalar()) {
        config.template_override = root["template"].as<std::string>();
    }
    config.parameters = parse_parameters(root["parameters"]);
    // The weights are always mapped (and the repacked ones copied); LocalAI's `mmap: true`
    // says so, `mmap: false` asks for what hearth does not do.
    if (root["mmap"] && !root["mmap"].as<bool>()) {
        throw Error("'mmap: false' is not supported: hearth always maps the weights (shared "
                    "between processes through the page cache); remove the line, or use "
                    "`mlock: true` to keep them in RAM");
    }
    config.mlock = root["mlock"] ? root["mlock"].as<bool>() : false;
    config.embeddings = root["embeddings"] ? root["embeddings"].as<bool>() : false;
    config.source = parse_source(root["source"]);
    config.context_shift = optional_value<bool>(root, "context_shift");
    if (auto budget = optional_value<std::string>(root, "kv_budget")) {
        config.kv_budget = parse_bytes(*budget);
        if (*config.kv_budget == 0) throw Error("'kv_budget' must be more than 0 bytes");
    }
    config.draft_model = string_value(root, "draft_model");

    YAML::Node extra(YAML::NodeType::Map);
    for (const auto& item : root) {
        std::string key = item.first.as<std::string>();
        bool known = false;
        for (const char* k : kKnownKeys) known = known || key == k;
        // A LocalAI-style `template:` mapping is not ours to interpret, but must survive.
        if (!known || (key == "template" && !item.second.IsScalar())) extra[key] = item.second;
    }
    if (extra.size() > 0) {
        YAML::Emitter out;
        out << extra;
        config.extra_yaml = out.c_str();
    }
    return config;
}

void emit_parameters(YAML::Emitter& out, const ModelParameters& p) {
    const runtime::SamplingOverrides& s = p.sampling;
    if (s.empty() && !p.max_tokens) return;
    out << YAML::Key << "parameters" << YAML::Value << YAML::BeginMap;
    out.SetFloatPrecision(7);  // 0.7, not the float's 0.699999988
    auto emit = [&](const char* key, const auto& value) {
        if (value) out << YAML::Key << key << YAML::Value << *value;
    };
    emit("temperature", s.temperature);
    emit("top_p", s.top_p);
    emit("top_k", s.top_k);
    emit("min_p", s.min_p);
    emit("repeat_penalty", s.repeat_penalty);
    emit("frequency_penalty", s.frequency_penalty);
    emit("presence_penalty", s.presence_penalty);
    emit("max_tokens", p.max_tokens);
    emit("seed", s.seed);
    out << YAML::EndMap;
}

void emit_source(YAML::Emitter& out, const ModelSource& s) {
    out << YAML::Key << "source" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "repo" << YAML::Value << s.repo;
    out << YAML::Key << "revision" << YAML::Value << s.revision;
    out << YAML::Key << "file" << YAML::Value << s.file;
    out << YAML::Key << "sha256" << YAML::Value << s.sha256;
    if (!s.endpoint.empty()) out << YAML::Key << "endpoint" << YAML::Value << s.endpoint;
    out << YAML::EndMap;
}

}  // namespace

ModelConfig parse_model_config(const std::string& yaml_text, const std::string& source_name) {
    try {
        return from_node(YAML::Load(yaml_text));
    } catch (const YAML::Exception& e) {
        throw Error("model config " + source_name + " is not valid: " + e.what());
    } catch (const Error& e) {
        throw Error("model config " + source_name + ": " + e.what());
    }
}

ModelConfig load_model_config(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw Error("cannot read model config " + path.string());
    std::stringstream text;
    text << in.rdbuf();
    ModelConfig config = parse_model_config(text.str(), path.string());
    config.config_path = path;
    if (config.name.empty()) config.name = path.stem().string();
    return config;
}

// A block scalar (|) reads best for multi-line templates but only keeps the text exactly when
// it ends in one newline and has no whitespace that YAML folds; anything else is quoted.
bool fits_literal_block(const std::string& text) {
    if (text.size() < 2 || text.back() != '\n' || text[text.size() - 2] == '\n') return false;
    if (text.front() == ' ' || text.find_first_of("\r\t") != std::string::npos) return false;
    return text.find(" \n") == std::string::npos;
}

std::string to_yaml(const ModelConfig& c) {
    YAML::Emitter out;
    out.SetDoublePrecision(15);  // 0.7, not 0.69999999999999996
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << c.name;
    out << YAML::Key << "file" << YAML::Value << c.file;
    if (!c.aliases.empty()) {
        out << YAML::Key << "aliases" << YAML::Value << YAML::Flow << c.aliases;
    }
    if (c.context_size) out << YAML::Key << "context_size" << YAML::Value << *c.context_size;
    if (c.threads) out << YAML::Key << "threads" << YAML::Value << *c.threads;
    if (c.kv_type) {
        out << YAML::Key << "kv_type" << YAML::Value << std::string(model::kv_type_name(*c.kv_type));
    }
    if (!c.template_override.empty()) {
        out << YAML::Key << "template" << YAML::Value
            << (fits_literal_block(c.template_override) ? YAML::Literal : YAML::DoubleQuoted)
            << c.template_override;
    }
    emit_parameters(out, c.parameters);
    out << YAML::Key << "mlock" << YAML::Value << c.mlock;
    if (c.embeddings) out << YAML::Key << "embeddings" << YAML::Value << true;
    if (c.source) emit_source(out, *c.source);
    if (c.context_shift) out << YAML::Key << "context_shift" << YAML::Value << *c.context_shift;
    if (c.kv_budget) out << YAML::Key << "kv_budget" << YAML::Value << *c.kv_budget;
    if (!c.draft_model.empty()) out << YAML::Key << "draft_model" << YAML::Value << c.draft_model;
    if (!c.extra_yaml.empty()) {
        YAML::Node extra = YAML::Load(c.extra_yaml);
        for (const auto& item : extra) out << YAML::Key << item.first << YAML::Value << item.second;
    }
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

void save_model_config(const std::filesystem::path& path, const ModelConfig& config) {
    std::filesystem::path temp = path;
    temp += ".tmp";
    {
        std::ofstream out(temp);
        out << to_yaml(config);
        if (!out.flush()) throw Error("cannot write model config " + temp.string());
    }
    std::error_code error;
    std::filesystem::rename(temp, path, error);
    if (error) throw Error("cannot write model config " + path.string() + ": " + error.message());
}

}  // namespace hearth::registry
