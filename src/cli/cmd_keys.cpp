// `hearth keys`: create, list, show, revoke and rotate the API keys of the key store that a
// running `hearth serve` reads (the same <state-dir>/keys.db; changes apply to its next request).
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "registry/models_dir.h"
#include "server/admin_api.h"
#include "server/auth.h"
#include "server/key_store.h"

namespace hearth::cli {

namespace {

struct KeysOptions {
    std::string state_dir;
    std::string name;
    std::string scope = "inference";
    std::vector<std::string> models;
    server::KeyLimits limits;
    std::string expires = "never";
    bool json = false;
};

int64_t now_seconds() {
    return static_cast<int64_t>(std::time(nullptr));
}

std::string date_text(int64_t t) {
    if (t <= 0) return "-";
    const std::time_t seconds = static_cast<std::time_t>(t);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &utc);
    return text;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
    return out.empty() ? "*" : out;
}

server::KeyStore open_store(const KeysOptions& o) {
    return server::KeyStore(state_dir_or_default(o.state_dir) + "/keys.db");
}

void print_issued(const server::IssuedKey& issued, const char* what) {
    std::printf("%s key '%s' (%s, models %s, expires %s):\n\n  %s\n\n", what,
                issued.record.name.c_str(), server::scope_name(issued.record.scope),
                joined(issued.record.models).c_str(), date_text(issued.record.expires).c_str(),
                issued.secret.c_str());
    std::printf("This is the only time the key is shown: hearth keeps only its hash.\n");
}

void create(const KeysOptions& o) {
    server::NewKey k;
    k.name = o.name;
    if (o.scope == "admin") k.scope = server::Scope::Admin;
    else if (o.scope != "inference") throw Error("--scope is inference or admin");
    for (const std::string& list : o.models) {
        for (std::string& m : server::parse_key_list(list)) k.models.push_back(std::move(m));
    }
    k.limits = o.limits;
    const int64_t seconds = server::parse_duration_seconds(o.expires);
    k.expires = seconds > 0 ? now_seconds() + seconds : 0;
    print_issued(open_store(o).create(k), "Created");
}

void list(const KeysOptions& o) {
    const std::vector<server::KeyRecord> keys = open_store(o).list();
    const int64_t now = now_seconds();
    if (o.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const server::KeyRecord& k : keys) out.push_back(server::key_json(k, now));
        std::printf("%s\n", out.dump(2).c_str());
        return;
    }
    if (keys.empty()) {
        std::printf("No keys yet; create one with `hearth keys create --name NAME`.\n");
        return;
    }
    std::printf("%-24s %-14s %-9s %-8s %-16s %-16s %-16s %s\n", "NAME", "ID", "SCOPE", "STATUS",
                "CREATED", "EXPIRES", "LAST USED", "MODELS");
    for (const server::KeyRecord& k : keys) {
        std::printf("%-24s %-14s %-9s %-8s %-16s %-16s %-16s %s\n", k.name.c_str(), k.id.c_str(),
                    server::scope_name(k.scope), k.status(now).c_str(), date_text(k.created).c_str(),
                    date_text(k.expires).c_str(), date_text(k.last_used).c_str(),
                    joined(k.models).c_str());
    }
}

void show(const KeysOptions& o) {
    std::optional<server::KeyRecord> k = open_store(o).find(o.name);
    if (!k) throw Error("no key named '" + o.name + "' (see `hearth keys list`)");
    std::printf("%s\n", server::key_json(*k, now_seconds()).dump(2).c_str());
}

void revoke(const KeysOptions& o) {
    if (!open_store(o).revoke(o.name))
        throw Error("no unrevoked key named '" + o.name + "' (see `hearth keys list`)");
    std::printf("Revoked key '%s': a running server refuses it from its next request.\n",
                o.name.c_str());
}

void rotate(const KeysOptions& o) {
    print_issued(open_store(o).rotate(o.name), "New secret for");
    std::printf("The old secret no longer works.\n");
}

void add_state_dir(CLI::App* cmd, KeysOptions& o) {
    cmd->add_option("--state-dir", o.state_dir,
                    "Folder of keys.db and audit.jsonl (default: $XDG_DATA_HOME/hearth/state, "
                    "else ~/.local/share/hearth/state)")
        ->envname("HEARTH_STATE_DIR");
}

void add_name(CLI::App* cmd, KeysOptions& o) {
    cmd->add_option("name,--name", o.name, "The key's name")->required();
}

}  // namespace

std::string state_dir_or_default(const std::string& state_dir) {
    if (!state_dir.empty()) return state_dir;
    return (registry::ModelsDir::data_home() / "state").string();
}

void add_keys_command(CLI::App& app) {
    auto o = std::make_shared<KeysOptions>();
    CLI::App* keys = app.add_subcommand(
        "keys",
        "Manage API keys: each app or person gets its own, with a scope (inference or admin), "
        "the models it may use and limits. A running `hearth serve` with the same --state-dir "
        "sees every change on its next request.");
    keys->require_subcommand(1);

    CLI::App* c = keys->add_subcommand("create", "Create a key and print it (only this once)");
    add_name(c, *o);
    c->add_option("--scope", o->scope,
                  "inference: the model APIs; admin: also /admin/* and /metrics")
        ->check(CLI::IsMember({"inference", "admin"}))
        ->capture_default_str();
    c->add_option("--models", o->models,
                  "Models (names or aliases) the key may use, comma-separated (default: all); "
                  "others answer 404 as if absent");
    c->add_option("--rpm", o->limits.rpm, "Requests per minute (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--tpm", o->limits.tpm, "Tokens per minute, prompt + completion (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--daily-tokens", o->limits.daily_tokens, "Tokens per UTC day (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--concurrency", o->limits.concurrency, "Requests at once (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--expires", o->expires, "Lifetime: 90s, 45m, 12h, 30d, 2w or never")
        ->capture_default_str();
    add_state_dir(c, *o);
    c->callback([o] { create(*o); });

    CLI::App* l = keys->add_subcommand("list", "List the keys (never their secrets)");
    l->add_flag("--json", o->json, "As JSON");
    add_state_dir(l, *o);
    l->callback([o] { list(*o); });

    CLI::App* s = keys->add_subcommand("show", "Show one key's settings as JSON");
    add_name(s, *o);
    add_state_dir(s, *o);
    s->callback([o] { show(*o); });

    CLI::App* r = keys->add_subcommand("revoke", "Revoke a key: it stops working at once");
    add_name(r, *o);
    add_state_dir(r, *o);
    r->callback([o] { revoke(*o); });

    CLI::App* t = keys->add_subcommand(
        "rotate", "Give a key a new secret (same name, settings and id); the old one stops working");
    add_name(t, *o);
    add_state_dir(t, *o);
    t->callback([o] { rotate(*o); });

    keys->footer(
        "Examples:\n"
        "  hearth keys create --name ci --models qwen2.5-0.5b --rpm 60 --expires 30d\n"
        "  hearth keys create --name ops --scope admin\n"
        "  hearth keys list\n"
        "  hearth keys revoke ci\n"
        "Keys look like hk_<id>_<secret>; send them as 'Authorization: Bearer KEY'. Keys in\n"
        "HEARTH_API_KEYS or --api-key-file keep working, as admin keys.\n");
}

}  // namespace hearth::cli
