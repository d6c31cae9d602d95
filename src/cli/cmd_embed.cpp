#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {

namespace {

struct EmbedOptions {
    std::string model;
    std::vector<std::string> texts;
    std::string tokens;  // comma-separated ids instead of text
    std::string pooling = "model";
    bool no_normalize = false;
    int threads = 0;
};

model::Pooling parse_pooling(const std::string& name) {
    if (name == "model") return model::Pooling::Default;
    if (name == "mean") return model::Pooling::Mean;
    if (name == "cls") return model::Pooling::Cls;
    if (name == "last") return model::Pooling::Last;
    throw Error("unknown pooling '" + name + "' (model, mean, cls, last)");
}

std::vector<int32_t> parse_token_ids(const std::string& list) {
    std::vector<int32_t> ids;
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            ids.push_back(static_cast<int32_t>(std::stol(item)));
        } catch (const std::exception&) {
            throw Error("--tokens: '" + item + "' is not a token id (expected e.g. 101,7592,102)");
        }
    }
    return ids;
}

// One input per line of output: a JSON array of floats.
void embed(const EmbedOptions& o) {
    auto m = model::Model::load(o.model);
    if (!m->is_embedding_model()) {
        std::fprintf(stderr,
                     "note: '%s' is a %s text-generation model; its embeddings (the last "
                     "token's state) were not trained for similarity search\n",
                     o.model.c_str(), m->hparams().architecture.c_str());
    }
    std::vector<std::vector<int32_t>> inputs;
    if (!o.tokens.empty()) inputs.push_back(parse_token_ids(o.tokens));
    if (!o.texts.empty()) {
        auto tok = tokenizer::Tokenizer::from_gguf(m->file());
        for (const std::string& text : o.texts)
            inputs.push_back(tok->encode(text, /*add_special=*/true, false));
    }
    if (inputs.empty()) throw Error("nothing to embed: give TEXT or --tokens");
    kernels::ThreadPool pool(o.threads > 0 ? o.threads
                                           : kernels::ThreadPool::default_thread_count());
    const model::Pooling pooling = parse_pooling(o.pooling);
    for (const auto& ids : inputs) {
        const nlohmann::json vector = m->embed(ids, pooling, !o.no_normalize, pool);
        std::puts(vector.dump().c_str());
    }
}

}  // namespace

void add_embed_command(CLI::App& app) {
    auto opts = std::make_shared<EmbedOptions>();
    CLI::App* cmd = app.add_subcommand("embed",
                                       "Turn text into embedding vectors with a GGUF embedding "
                                       "model (bert, nomic-bert, decoders with a pooling type).");
    cmd->add_option("model", opts->model,
                    "Path to a .gguf model (an embedding model for useful vectors)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("text", opts->texts,
                    "Texts to embed; each gives one line of output (a JSON array)");
    cmd->add_option("--tokens", opts->tokens,
                    "Embed these comma-separated token ids instead of text");
    cmd->add_option("--pooling", opts->pooling,
                    "How token states become one vector: model (its own choice), mean, cls, last")
        ->capture_default_str();
    cmd->add_flag("--no-normalize", opts->no_normalize,
                  "Keep the raw vector instead of scaling it to length 1");
    cmd->add_option("-t,--threads", opts->threads, "Threads to compute with (0 = what the CPU affinity mask and cgroup CPU quota allow)")
        ->capture_default_str()
        ->envname("HEARTH_THREADS");
    cmd->footer(
        "Example:\n  hearth embed bge-small-en-v1.5-f16.gguf \"The quick brown fox\" \"A fast "
        "auburn fox\"");
    cmd->callback([opts] { embed(*opts); });
}

}  // namespace hearth::cli
