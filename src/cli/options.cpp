// Options several subcommands share.
#include <string>

#include "cli/commands.h"
#include "model/kv_cache.h"

namespace hearth::cli {

CLI::Option* add_kv_type_option(CLI::App* cmd, gguf::TensorType& kv_type) {
    return cmd
        ->add_option_function<std::string>(
            "--kv-type",
            [&kv_type](const std::string& name) { kv_type = model::kv_type_from_name(name); },
            "What the KV cache stores: f32, f16 (half the memory of f32, the default), q8_0 "
            "(about a quarter) or q4_0 (about an eighth; more drift); docs/PERFORMANCE.md "
            "measures the drift")
        ->check(CLI::IsMember({"f32", "f16", "q8_0", "q4_0"}))
        ->default_str(std::string(model::kv_type_name(kv_type)));
}

}  // namespace hearth::cli
