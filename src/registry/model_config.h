#pragma once
// One YAML file per model, next to its GGUF in the models directory. Field names follow
// LocalAI so existing configs read naturally; docs/CONFIG.md describes each one.
//
//   name: llama-3.2-1b
//   file: Llama-3.2-1B-Instruct-Q4_K_M.gguf      # relative to the models directory
//   aliases: [gpt-3.5-turbo]
//   context_size: 8192
//   threads: 4
//   kv_type: q8_0                                 # what the KV cache stores (f32|f16|q8_0|q4_0)
//   kv_budget: 2G                                 # the KV pool's size (as hearth serve --kv-budget)
//   template: "..."                               # overrides the GGUF's chat template
//   parameters: {temperature: 0.7, top_p: 0.9, top_k: 40, min_p: 0.05, max_tokens: 512, seed: 1}
//   mlock: false                                  # lock the weights in RAM
//   embeddings: false                             # written by pull; the architecture decides
//   source: {repo: owner/repo, revision: <commit>, file: path/in/repo.gguf, sha256: <hex>}
//   context_shift: true                           # overrides `hearth serve --context-shift`
//   draft_model: llama-3.2-1b-draft.gguf            # speculative decoding: a model name or file
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gguf/types.h"
#include "runtime/sampler.h"

namespace hearth::registry {

// A model's own defaults for requests (YAML `parameters:`); a request's fields win.
struct ModelParameters {
    runtime::SamplingOverrides sampling;  // a negative YAML seed leaves it random
    std::optional<int32_t> max_tokens;
};

// Where a pulled model came from, so `hearth update` can look for a newer revision.
struct ModelSource {
    std::string repo;
    std::string revision;  // the commit the file was downloaded at
    std::string file;      // path in the repo (first part of a split model)
    std::string sha256;    // of `file`
    std::string endpoint;  // only when not the default hub (a mirror or a URL pull)
};

struct ModelConfig {
    std::string name;
    std::string file;  // relative to the models directory (absolute paths are allowed too)
    std::vector<std::string> aliases;
    std::optional<int> context_size;
    std::optional<int> threads;
    std::optional<gguf::TensorType> kv_type;  // YAML "kv_type": f32, f16, q8_0, q4_0
    std::string template_override;  // YAML key "template"; empty = use the GGUF's template
    ModelParameters parameters;
    bool mlock = false;
    // From the catalog (pull writes it): for people reading the file. Whether a model makes
    // embeddings or text is decided by its architecture, not by this.
    bool embeddings = false;
    std::optional<ModelSource> source;
    std::optional<bool> context_shift;  // none: the server's --context-shift
    std::optional<uint64_t> kv_budget;  // YAML "kv_budget": bytes, or a size such as 2G

    // The YAML file this config was read from; empty for configs built in memory.
    std::filesystem::path config_path;
    // Keys hearth does not know (other LocalAI settings), kept verbatim on save.
    std::string extra_yaml;
    // Speculative decoding: a model of the same vocabulary that drafts tokens for this one, by
    // name (another model offered) or file (relative to the models directory). Empty: the
    // server's --draft-model.
    std::string draft_model;
};

// Throws hearth::Error naming the file and the problem.
ModelConfig load_model_config(const std::filesystem::path& path);
ModelConfig parse_model_config(const std::string& yaml_text, const std::string& source_name);
// Writes atomically (temp file + rename), so a reader never sees half a config.
void save_model_config(const std::filesystem::path& path, const ModelConfig& config);
std::string to_yaml(const ModelConfig& config);

}  // namespace hearth::registry
