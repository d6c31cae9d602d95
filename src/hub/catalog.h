#pragma once
// The curated CPU catalog (data/catalog.json, compiled into the binary so a fresh clone and an
// installed binary both have it). Sizes in it are approximate, and labelled so.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::hub {

struct CatalogEntry {
    std::string name;  // what users type: hearth pull llama-3.2-1b
    std::string kind;  // "chat" or "embedding"
    std::string repo;
    std::string file;
    std::string quant;
    std::string architecture;  // general.architecture of the file ("" when not stated)
    uint64_t size_bytes = 0;  // approximate
    uint64_t ram_bytes = 0;   // approximate, at `context`
    int context = 0;
    std::string license;
    std::string description;
};

class Catalog {
  public:
    static Catalog builtin();
    // Throws hearth::Error naming the problem when `json_text` is not a valid catalog.
    static Catalog parse(const std::string& json_text, const std::string& source);
    static Catalog load_file(const std::string& path);

    const std::vector<CatalogEntry>& entries() const { return entries_; }
    std::optional<CatalogEntry> find(const std::string& name) const;  // case-insensitive
    const std::string& note() const { return note_; }

  private:
    std::vector<CatalogEntry> entries_;
    std::string note_;
};

}  // namespace hearth::hub
