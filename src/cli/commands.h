#pragma once
// Each subcommand registers itself on the app; main() only lists them.
#include <CLI/CLI.hpp>
#include <string>

#include "gguf/types.h"

namespace hearth::cli {

void add_run_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_doctor_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_model_commands(CLI::App& app);  // pull, models, discover, update
void add_embed_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_chat_template_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_keys_command(CLI::App& app);  // keys create, list, show, revoke, rotate
void add_usage_command(CLI::App& app);  // usage per key, model and day
void add_ps_commands(CLI::App& app);   // ps, stop (a running server's loaded models)

// --kv-type (serve, run, bench): f32|f16|q8_0|q4_0 into `kv_type`, whose value is the default.
CLI::Option* add_kv_type_option(CLI::App* cmd, gguf::TensorType& kv_type);

// --state-dir (serve, keys, usage): the folder of keys.db and audit.jsonl, or its default,
// $XDG_DATA_HOME/hearth/state (else ~/.local/share/hearth/state): beside the default models
// folder, in the user's data folder whatever --models-dir is (a models folder may be read-only).
std::string state_dir_or_default(const std::string& state_dir);

}  // namespace hearth::cli
