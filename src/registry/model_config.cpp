#include "registry/model_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace hearth::registry {
namespace {

const char* const kKnownKeys[] = {"name",    "file",       "aliases",    "context_size",
                                  "threads", "template",   "parameters", "mmap",
                                  "mlock",   "embeddings", "source"};

template <typename T>
std::optional<T> optional_value(const YAML::Node& node, const char* key) {
    if (!node[key] || node[key].IsNull()) return std::nullopt;
    return node[key].as<T>();
}

std::string string_value(const YAML::Node& node, const char* key) {
    if (!node[key] || node[key].IsNull()) return "";
    return node[key].as<std::string>();
}

SamplingDefaults parse_parameters(const YAML::Node& node) {
    SamplingDefaults p;
    if (!node) return p;
    if (!node.IsMap()) throw Error("'parameters' must be a mapping");
    p.temperature = optional_value<double>(node, "temperature");
    p.top_p = optional_value<double>(node, "top_p");
    p.top_k = optional_value<int>(node, "top_k");
    p.min_p = optional_value<double>(node, "min_p");
    p.max_tokens = optional_value<int>(node, "max_tokens");
    p.seed = optional_value<int64_t>(node, "seed");
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
    if (root["template"] && root["template"].IsScalar()) {
        config.template_override = root["template"].as<std::string>();
    }
    config.parameters = parse_parameters(root["parameters"]);
    config.mmap = root["mmap"] ? root["mmap"].as<bool>() : true;
    config.mlock = root["mlock"] ? root["mlock"].as<bool>() : false;
    config.embeddings = root["embeddings"] ? root["embeddings"].as<bool>() : false;
    config.source = parse_source(root["source"]);

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

void emit_parameters(YAML::Emitter& out, const SamplingDefaults& p) {
    bool any = p.temperature || p.top_p || p.top_k || p.min_p || p.max_tokens || p.seed;
    if (!any) return;
    out << YAML::Key << "parameters" << YAML::Value << YAML::BeginMap;
    if (p.temperature) out << YAML::Key << "temperature" << YAML::Value << *p.temperature;
    if (p.top_p) out << YAML::Key << "top_p" << YAML::Value << *p.top_p;
    if (p.top_k) out << YAML::Key << "top_k" << YAML::Value << *p.top_k;
    if (p.min_p) out << YAML::Key << "min_p" << YAML::Value << *p.min_p;
    if (p.max_tokens) out << YAML::Key << "max_tokens" << YAML::Value << *p.max_tokens;
    if (p.seed) out << YAML::Key << "seed" << YAML::Value << *p.seed;
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
    if (!c.template_override.empty()) {
        out << YAML::Key << "template" << YAML::Value
            << (fits_literal_block(c.template_override) ? YAML::Literal : YAML::DoubleQuoted)
            << c.template_override;
    }
    emit_parameters(out, c.parameters);
    out << YAML::Key << "mmap" << YAML::Value << c.mmap;
    out << YAML::Key << "mlock" << YAML::Value << c.mlock;
    if (c.embeddings) out << YAML::Key << "embeddings" << YAML::Value << true;
    if (c.source) emit_source(out, *c.source);
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
