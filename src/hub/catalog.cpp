#include "hub/catalog.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace hearth::hub {

extern const char* const kBuiltinCatalogJson;  // generated from data/catalog.json

namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

uint64_t gigabytes(const nlohmann::json& entry, const char* key) {
    return static_cast<uint64_t>(entry.value(key, 0.0) * 1e9);
}

CatalogEntry parse_entry(const nlohmann::json& item) {
    CatalogEntry entry;
    entry.name = item.at("name").get<std::string>();
    entry.kind = item.value("kind", "chat");
    entry.repo = item.at("repo").get<std::string>();
    entry.file = item.at("file").get<std::string>();
    entry.quant = item.value("quant", "");
    entry.architecture = item.value("architecture", "");
    entry.size_bytes = gigabytes(item, "size_gb");
    entry.ram_bytes = gigabytes(item, "ram_gb");
    entry.context = item.value("context", 0);
    entry.license = item.value("license", "");
    entry.description = item.value("description", "");
    return entry;
}

}  // namespace

Catalog Catalog::parse(const std::string& json_text, const std::string& source) {
    Catalog catalog;
    try {
        nlohmann::json root = nlohmann::json::parse(json_text);
        catalog.note_ = root.value("note", "");
        for (const auto& item : root.at("models")) catalog.entries_.push_back(parse_entry(item));
    } catch (const nlohmann::json::exception& e) {
        throw Error("the model catalog " + source + " is malformed: " + e.what());
    }
    return catalog;
}

Catalog Catalog::builtin() {
    static const Catalog catalog = parse(kBuiltinCatalogJson, "built into hearth");
    return catalog;
}

Catalog Catalog::load_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error("cannot read the model catalog " + path);
    std::stringstream text;
    text << in.rdbuf();
    return parse(text.str(), path);
}

std::optional<CatalogEntry> Catalog::find(const std::string& name) const {
    for (const CatalogEntry& entry : entries_) {
        if (lower(entry.name) == lower(name)) return entry;
    }
    return std::nullopt;
}

}  // namespace hearth::hub
