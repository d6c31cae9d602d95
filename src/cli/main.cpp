// hearth: a self-hosted, OpenAI-compatible LLM server for CPUs.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/version.h"

int main(int argc, char** argv) {
    hearth::log::init();
    CLI::App app{
        "hearth: run GGUF language models on your CPU and serve them with an OpenAI-compatible "
        "API."};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("hearth ") + hearth::kVersion);
    app.footer(
        "Examples:\n"
        "  hearth serve --model tests/data/models/stories260K.gguf      # OpenAI API on "
        "127.0.0.1:8080\n"
        "  hearth pull bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M && hearth serve\n"
        "  hearth run llama-3.2-1b                # chat in the terminal (pulls it first)\n"
        "  hearth ps                              # models the running server has loaded\n"
        "Run `hearth COMMAND --help` for the options of a command.");
    hearth::cli::add_serve_command(app);
    hearth::cli::add_run_command(app);
    hearth::cli::add_model_commands(app);
    hearth::cli::add_chat_template_command(app);
    hearth::cli::add_tokenize_command(app);
    hearth::cli::add_embed_command(app);
    hearth::cli::add_info_command(app);
    hearth::cli::add_quantize_command(app);
    hearth::cli::add_synth_command(app);
    hearth::cli::add_bench_command(app);
    hearth::cli::add_doctor_command(app);
    hearth::cli::add_keys_command(app);
    hearth::cli::add_usage_command(app);
    hearth::cli::add_ps_commands(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const hearth::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "internal error: %s\n", e.what());
        return 2;
    }
    return 0;
}
