#pragma once
// What a user types after `hearth pull`, and how it picks files from a repo listing.
//   owner/repo:Q4_K_M                      the file(s) of that quant
//   owner/repo                             the default quant (Q4_K_M if present)
//   owner/repo/path/file.gguf              that file
//   owner/repo@revision:Q8_0               any of the above at a branch, tag or commit
//   hf.co/owner/repo:Q4_K_M                Ollama-style prefix, same as owner/repo:Q4_K_M
//   https://host/owner/repo/resolve/main/file.gguf   a full URL (its host becomes the endpoint)
//   llama-3.2-1b                           a name from the curated catalog
// Split GGUF files (name-00001-of-00003.gguf) always come as the whole set.
#include <string>
#include <vector>

#include "gguf/split.h"
#include "hub/hub_client.h"

namespace hearth::hub {

struct ModelRef {
    enum class Kind { Repo, RepoQuant, RepoFile, Url, Catalog };
    Kind kind = Kind::Repo;
    std::string repo;
    std::string revision = "main";
    std::string quant;     // RepoQuant
    std::string file;      // RepoFile, Url
    std::string endpoint;  // Url: scheme://host[:port] of the URL; empty otherwise
    std::string catalog_name;
};

// Throws hearth::Error for text that is none of the forms above.
ModelRef parse_model_ref(const std::string& text);

// Split-file naming (gguf/split.h).
using gguf::parse_split_name;
using gguf::SplitName;

// Quant label found in a GGUF file name ("Q4_K_M", "IQ4_XS", "F16", ...), upper-case; "" if none.
std::string quant_of(const std::string& path);

// The files to fetch for `quant` (case-insensitive) among a repo's GGUF files: one file, or
// every part of a split set. Throws an Error listing the available quants when none matches
// and naming the candidates when several different models match.
std::vector<HubFile> select_quant(const RepoInfo& repo, const std::string& quant);
// The files for an explicitly named file; a split part brings the whole set.
std::vector<HubFile> select_file(const RepoInfo& repo, const std::string& path);
// The quant to pull when only the repo was named: a CPU-friendly default that exists.
std::string default_quant(const RepoInfo& repo);
// Distinct quants offered by the repo's model GGUFs (projectors excluded), in listing order.
std::vector<std::string> available_quants(const RepoInfo& repo);

}  // namespace hearth::hub
