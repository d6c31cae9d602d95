// `hearth ps` and `hearth stop`: the models a running server has loaded, and unloading one,
// through its Ollama routes (/api/ps; /api/generate with keep_alive 0, as `ollama stop` does).
#include <cstdio>
#include <memory>
#include <string>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/loaded_models.h"
#include "core/error.h"
#include "core/format.h"

namespace hearth::cli {

namespace {

std::string idle_text(double seconds) {
    if (seconds <= 0) return "in use";
    const auto s = static_cast<int64_t>(seconds);
    if (s < 60) return std::to_string(s) + "s";
    if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
    return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
}

void print_ps(const ServerAddress& address) {
    std::unique_ptr<ApiClient> api = require_server(address);
    const std::vector<LoadedModelRow> rows = loaded_models(*api);
    if (rows.empty()) {
        std::printf("No models loaded on %s.\n", api->where().c_str());
        return;
    }
    std::vector<std::vector<std::string>> table = {{"NAME", "SIZE", "CONTEXT", "IDLE", "UNTIL"}};
    for (const LoadedModelRow& r : rows) {
        table.push_back({r.name, format_bytes(r.memory_bytes), std::to_string(r.context_length),
                         idle_text(r.idle_seconds), r.expires});
    }
    print_columns(table);
}

void stop_model(const ServerAddress& address, const std::string& name) {
    std::unique_ptr<ApiClient> api = require_server(address);
    const size_t before = loaded_models(*api).size();
    // The server resolves the name (aliases, any case) as it does for a chat.
    const ApiReply reply = api->post("/api/generate", {{"model", name}, {"keep_alive", 0}});
    if (!reply.ok()) throw_api_error("cannot stop '" + name + "'", reply);
    const bool unloaded = loaded_models(*api).size() < before;
    std::printf(unloaded ? "Unloaded %s.\n" : "%s was not loaded.\n", name.c_str());
}

}  // namespace

void add_ps_commands(CLI::App& app) {
    auto address = std::make_shared<ServerAddress>();
    CLI::App* ps = app.add_subcommand("ps", "Models a running server has loaded");
    add_server_options(ps, *address);
    ps->footer(R"(Examples:
  hearth ps                       the server at 127.0.0.1:8080 (HEARTH_HOST, HEARTH_PORT)
  hearth ps --port 9000 --api-key KEY

SIZE is the memory a model holds (weights and KV cache), CONTEXT its tokens per sequence, IDLE
the time since a request used it, UNTIL when it will be unloaded if none comes
(--idle-unload, or a request's keep_alive).)");
    ps->callback([address] { print_ps(*address); });

    auto stop_address = std::make_shared<ServerAddress>();
    auto name = std::make_shared<std::string>();
    CLI::App* stop = app.add_subcommand("stop", "Unload a model from a running server");
    stop->add_option("model", *name, "Model name or alias")->required();
    add_server_options(stop, *stop_address);
    stop->footer(R"(Examples:
  hearth stop llama-3.2-1b        frees its memory; the next request loads it again)");
    stop->callback([stop_address, name] { stop_model(*stop_address, *name); });
}

}  // namespace hearth::cli
