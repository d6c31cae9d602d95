#pragma once
// Each subcommand registers itself on the app; main() only lists them.
#include <CLI/CLI.hpp>

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

// --kv-type (serve, run, bench): f32|f16|q8_0|q4_0 into `kv_type`, whose value is the default.
CLI::Option* add_kv_type_option(CLI::App* cmd, gguf::TensorType& kv_type);

}  // namespace hearth::cli
