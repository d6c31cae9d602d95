#pragma once
// Each subcommand registers itself on the app; main() only lists them.
#include <CLI/CLI.hpp>

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

}  // namespace hearth::cli
