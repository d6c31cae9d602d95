// `hearth usage`: what each key used, per model and UTC day, from the key store a running
// `hearth serve` writes (<state-dir>/keys.db; the server writes its counts every second).
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "server/key_store.h"
#include "server/usage_store.h"

namespace hearth::cli {

namespace {

struct UsageOptions {
    std::string state_dir;
    std::string key;
    std::string since;
    bool json = false;
};

void print_row(const std::string& day, const std::string& key, const std::string& model,
               const server::UsageCounts& c) {
    std::printf("%-10s  %-24s %-28s %9lld %12lld %12lld %12lld %7lld\n", day.c_str(), key.c_str(),
                model.c_str(), static_cast<long long>(c.requests),
                static_cast<long long>(c.prompt_tokens), static_cast<long long>(c.cached_tokens),
                static_cast<long long>(c.completion_tokens), static_cast<long long>(c.errors));
}

void show_usage(const UsageOptions& o) {
    server::UsageQuery query;
    query.key_name = o.key;
    if (!o.since.empty())
        query.since_day = server::parse_since(o.since, static_cast<int64_t>(std::time(nullptr)));
    server::KeyStore store(state_dir_or_default(o.state_dir) + "/keys.db");
    const std::vector<server::UsageRow> rows = server::read_usage(store, query);
    if (o.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const server::UsageRow& r : rows) out.push_back(server::usage_row_json(r));
        std::printf("%s\n", out.dump(2).c_str());
        return;
    }
    if (rows.empty()) {
        std::printf("No usage recorded%s%s.\n", o.key.empty() ? "" : " for key ",
                    o.key.c_str());
        return;
    }
    std::printf("%-10s  %-24s %-28s %9s %12s %12s %12s %7s\n", "DAY", "KEY", "MODEL", "REQUESTS",
                "PROMPT", "CACHED", "COMPLETION", "ERRORS");
    server::UsageCounts total;
    for (const server::UsageRow& r : rows) {
        print_row(r.day, r.key_name, r.model, r.counts);
        total.add(r.counts);
    }
    if (rows.size() > 1) print_row("total", "", "", total);
}

}  // namespace

void add_usage_command(CLI::App& app) {
    auto o = std::make_shared<UsageOptions>();
    CLI::App* cmd = app.add_subcommand(
        "usage",
        "Show what each API key used, per model and UTC day: requests, prompt, cached and "
        "completion tokens, errors (read from the key store a running `hearth serve` writes)");
    cmd->add_option("--key", o->key, "Only this key (its name; env-key, anonymous for those)");
    cmd->add_option("--since", o->since,
                    "From this UTC day (YYYY-MM-DD) or this long ago (7d, 12h, 2w)");
    cmd->add_flag("--json", o->json, "As JSON rows");
    cmd->add_option("--state-dir", o->state_dir,
                    "Folder of keys.db (default: $XDG_DATA_HOME/hearth/state, else "
                    "~/.local/share/hearth/state)")
        ->envname("HEARTH_STATE_DIR");
    cmd->callback([o] { show_usage(*o); });
    cmd->footer(
        "Examples:\n"
        "  hearth usage --since 7d\n"
        "  hearth usage --key ci --since 2026-12-01 --json\n"
        "The same rows: GET /admin/usage?key=NAME&since=DAY with an admin key.\n");
}

}  // namespace hearth::cli
