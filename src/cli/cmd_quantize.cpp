// `hearth quantize IN OUT TYPE`: rewrite a GGUF model with a quantization recipe.
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "kernels/thread_pool.h"
#include "tools/quantize_model.h"

namespace hearth::cli {

// A one-line progress bar on stderr, redrawn in place: [#####.....] 12/48 tensors. When stderr
// is a file or pipe (CI logs), one line per tenth instead of a redraw per tensor.
void draw_progress_bar(size_t done, size_t total) {
    const int width = 40;
    int filled = total ? static_cast<int>(width * done / total) : width;
    static const bool terminal = isatty(fileno(stderr));
    if (!terminal && done != total && (10 * done / total) == (10 * (done - 1) / total)) return;
    std::fprintf(stderr, "%s[%s%s] %zu/%zu tensors%s", terminal ? "\r" : "",
                 std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), done,
                 total, terminal && done != total ? "" : "\n");
    std::fflush(stderr);
}

namespace {

struct QuantizeOptions {
    std::string input, output, type;
    int threads = 0;
};

std::string recipe_table() {
    std::string text = "Types (recipes):\n";
    for (const auto& r : tools::quant_recipes()) {
        text += "  " + std::string(r.name) +
                std::string(11 - std::min<size_t>(10, r.name.size()), ' ') + std::string(r.summary) +
                "\n";
    }
    return text;
}

void quantize(const QuantizeOptions& o) {
    auto recipe = tools::find_quant_recipe(o.type);
    if (!recipe) throw Error("unknown quantization type '" + o.type + "'.\n" + recipe_table());
    int threads = o.threads > 0 ? o.threads : kernels::ThreadPool::default_thread_count();
    std::fprintf(stderr, "quantizing %s -> %s as %s (general.file_type %u) with %d threads\n",
                 o.input.c_str(), o.output.c_str(), std::string(recipe->name).c_str(),
                 recipe->file_type, threads);
    auto report = tools::quantize_model(o.input, o.output, *recipe, threads, draw_progress_bar);
    for (const auto& note : report.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    std::fprintf(stderr, "%.1f MiB -> %.1f MiB of tensor data\n", report.bytes_in / 1048576.0,
                 report.bytes_out / 1048576.0);
}

}  // namespace

void add_quantize_command(CLI::App& app) {
    auto opts = std::make_shared<QuantizeOptions>();
    CLI::App* cmd = app.add_subcommand(
        "quantize", "Convert a GGUF model's weights to a smaller type (a llama.cpp-style recipe).");
    cmd->add_option("input", opts->input, "The model to read (.gguf, any type hearth can read)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("output", opts->output,
                    "The .gguf file to write (written to OUTPUT.partial, then renamed)")
        ->required();
    cmd->add_option("type", opts->type, "Recipe or type name, e.g. Q4_K_M (see below)")->required();
    cmd->add_option("-t,--threads", opts->threads, "Threads to quantize with (0 = what the CPU affinity mask and cgroup CPU quota allow)")
        ->capture_default_str();
    cmd->footer(
        recipe_table() +
        "\nNorm weights (1-D) and mixture-of-experts routers stay F32. A tensor whose row length "
        "is not a multiple of the type's block falls back to Q8_0 or F16, with a note.\n"
        "MXFP4 (OCP Microscaling FP4: 32 4-bit E2M1 values and one power-of-two scale) is the "
        "type gpt-oss ships its experts in; its shared exponent is the OCP spec's, "
        "floor(log2(max |x|)) - 2, and values round to the nearest level. Quantizing MXFP4 "
        "weights to MXFP4 again gives the same values.\n"
        "Examples:\n"
        "  hearth quantize model-f16.gguf model-q4_k_m.gguf Q4_K_M\n"
        "  hearth quantize gpt-oss-20b-bf16.gguf gpt-oss-20b-mxfp4.gguf MXFP4_MOE\n"
        "  hearth quantize tests/data/models/stories260K.gguf /tmp/stories-q8.gguf Q8_0 -t 2");
    cmd->callback([opts] { quantize(*opts); });
}

}  // namespace hearth::cli
