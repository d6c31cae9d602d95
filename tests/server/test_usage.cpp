// Usage accounting (per key, model and day) and the admin model routes, against a real server.
// The oracle for usage is what the server told the client: the sum of the responses' own usage
// fields (OpenAI, Anthropic, Responses, Ollama shapes) must equal what /admin/usage, `hearth
// usage` and /metrics report.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "fake_hub.h"
#include "hub/catalog.h"
#include "live_server.h"
#include "server/generation.h"
#include "server/key_store.h"
#include "server/sqlite_db.h"
#include "server/usage_store.h"

namespace hearth::cli {
void add_usage_command(CLI::App& app);
}

namespace hearth::server {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
    const fs::path dir =
        fs::temp_directory_path() / ("hearth-usage-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    return dir.string();
}

httplib::Headers bearer(const std::string& key) {
    return {{"Authorization", "Bearer " + key}};
}

NewKey key_named(const std::string& name, Scope scope = Scope::Inference) {
    NewKey k;
    k.name = name;
    k.scope = scope;
    return k;
}

// `hearth usage ARGS...` as the binary runs it; returns what it printed.
std::string run_usage(std::vector<std::string> args) {
    CLI::App app{"hearth"};
    app.require_subcommand(1);
    cli::add_usage_command(app);
    args.insert(args.begin(), "usage");
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
    ::testing::internal::CaptureStdout();
    try {
        app.parse(args);
    } catch (...) {
        ::testing::internal::GetCapturedStdout();
        throw;
    }
    return ::testing::internal::GetCapturedStdout();
}

std::vector<json> ndjson_lines(const std::string& body) {
    std::vector<json> out;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) out.push_back(json::parse(line));
    }
    return out;
}

// What the responses said, summed.
struct Expected {
    int64_t requests = 0, prompt = 0, cached = 0, completion = 0, errors = 0;
};

// A prompt longer than one 32-token KV block, so asking it again reuses cached tokens.
const std::string kLongPrompt =
    "Once upon a time there was a little girl named Lily who loved to play in the park with her "
    "big red ball and her small brown dog, and every day";

// The usage row sums of one key (every model and day) in /admin/usage's data.
UsageCounts totals_of(const json& data, const std::string& key) {
    UsageCounts t;
    for (const json& row : data) {
        if (row["key"] != key) continue;
        t.add({row["requests"].get<int64_t>(), row["prompt_tokens"].get<int64_t>(),
               row["cached_tokens"].get<int64_t>(), row["completion_tokens"].get<int64_t>(),
               row["errors"].get<int64_t>()});
    }
    return t;
}

// ---- the store ----

TEST(UsageStore, DaysAndSince) {
    EXPECT_EQ(utc_day(0), "1970-01-01");
    EXPECT_EQ(utc_day(1796601600), "2026-12-07");  // date -u -d @1796601600
    EXPECT_EQ(parse_since("2026-02-28", 0), "2026-02-28");
    EXPECT_EQ(parse_since("7d", 1796601600), "2026-11-30");
    for (const char* bad : {"2026-02-30", "2026-13-01", "26-01-01", "yesterday", "", "7"})
        EXPECT_THROW(parse_since(bad, 1796601600), Error) << bad;
}

TEST(UsageStore, AddsUpPerKeyModelAndDayAndSurvivesReopening) {
    const std::string dir = fresh_dir("store");
    const int64_t day1 = 1796601600, day2 = day1 + 86400;
    {
        KeyStore keys(dir + "/keys.db");
        UsageStore usage(keys);
        usage.add({"hk_a", "a", "m1", day1, {1, 10, 2, 5, 0}});
        usage.add({"hk_a", "a", "m1", day1 + 60, {1, 20, 0, 7, 1}});
        usage.add({"hk_a", "a", "m2", day1, {1, 3, 0, 1, 0}});
        usage.add({"hk_b", "b", "m1", day2, {1, 4, 0, 4, 0}});
        std::vector<UsageRow> rows = usage.rows({});
        ASSERT_EQ(rows.size(), 3u);
        EXPECT_EQ(rows[0].key_name, "a");
        EXPECT_EQ(rows[0].model, "m1");
        EXPECT_EQ(rows[0].day, "2026-12-07");
        EXPECT_EQ(rows[0].counts, (UsageCounts{2, 30, 2, 12, 1}));
        EXPECT_EQ(rows[2].day, "2026-12-08");
        EXPECT_EQ(usage.rows({"b", ""}).size(), 1u);
        EXPECT_EQ(usage.rows({"", "2026-12-08"}).size(), 1u);
        // Counted after the last flush: the destructor writes it.
        usage.add({"hk_b", "b", "m1", day2, {1, 1, 0, 1, 0}});
    }
    KeyStore keys(dir + "/keys.db");
    std::vector<UsageRow> rows = read_usage(keys, {"b", ""});
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].counts, (UsageCounts{2, 5, 0, 5, 0}));
    fs::remove_all(dir);
}

TEST(UsageStore, MigratesAVersionOneKeyStore) {
    const std::string dir = fresh_dir("migrate");
    const std::string path = dir + "/keys.db";
    std::string secret;
    {
        KeyStore keys(path);
        secret = keys.create(key_named("old")).secret;
        // Back to what hearth wrote before usage existed: schema 1, no usage table.
        keys.with_database([](sqlite3* db) {
            exec_sql(db, "DROP TABLE usage; DELETE FROM schema_version WHERE version > 1");
        });
    }
    KeyStore keys(path);
    EXPECT_EQ(keys.verify(secret).check, KeyCheck::Ok) << "keys survive the migration";
    UsageStore usage(keys);
    usage.add({"hk_x", "old", "m", 1796601600, {1, 2, 0, 3, 0}});
    EXPECT_EQ(usage.rows({}).size(), 1u);
    fs::remove_all(dir);
}

TEST(UsageStore, MetricsLabelABoundedNumberOfKeys) {
    KeyStore keys("");
    UsageStore usage(keys);
    for (size_t i = 0; i < UsageStore::kMetricKeys + 5; ++i)
        usage.add({"id" + std::to_string(i), "key" + std::to_string(i), "m", 1796601600,
                   {1, 1, 0, 1, 0}});
    usage.add({"q", "with \"quote\"", "m", 1796601600, {1, 1, 0, 1, 0}});
    const std::string text = usage.render_metrics();
    EXPECT_NE(text.find("hearth_key_requests_total{key=\"key0\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("hearth_key_requests_total{key=\"other\"} 6\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("key20"), std::string::npos) << text;
    size_t lines = 0;
    for (size_t at = 0; (at = text.find("hearth_key_requests_total{", at)) != std::string::npos; ++at)
        ++lines;
    EXPECT_EQ(lines, UsageStore::kMetricKeys + 1);
}

// ---- the server ----

TEST(ServerUsage, TotalsEqualTheResponsesUsage) {
    const std::string dir = fresh_dir("server");
    std::string a, b, ollama_key, admin;
    {
        KeyStore store(dir + "/keys.db");
        a = store.create(key_named("a")).secret;
        b = store.create(key_named("b")).secret;
        ollama_key = store.create(key_named("c")).secret;
        admin = store.create(key_named("ops", Scope::Admin)).secret;
    }
    ServerOptions o = default_options();
    o.state_dir = dir;
    Expected ea, eb, ec;
    json admin_rows;
    std::string metrics;
    {
        LiveServer live(o);
        auto c = live.client();
        auto post = [&](const std::string& key, const std::string& path, const json& body) {
            auto res = c.Post(path, bearer(key), body.dump(), "application/json");
            EXPECT_TRUE(res) << path;
            return res;
        };
        auto add_openai = [](Expected& e, const json& usage) {
            e.requests++;
            e.prompt += usage["prompt_tokens"].get<int64_t>();
            e.completion += usage["completion_tokens"].get<int64_t>();
            if (usage.contains("prompt_tokens_details"))
                e.cached += usage["prompt_tokens_details"]["cached_tokens"].get<int64_t>();
        };
        // Key a: chat and completions, whole and streamed (twice the same long prompt: cached
        // tokens), Anthropic, Responses, and one error.
        const json chat = {{"model", "stories260K"},
                           {"messages", {{{"role", "user"}, {"content", kLongPrompt}}}},
                           {"max_tokens", 6}};
        for (int i = 0; i < 2; ++i) add_openai(ea, ok_json(post(a, "/v1/chat/completions", chat))["usage"]);
        add_openai(ea, ok_json(post(a, "/v1/completions",
                                    {{"model", "stories"}, {"prompt", kLongPrompt}, {"max_tokens", 5}}))["usage"]);
        for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
            json body = std::string(path) == "/v1/completions"
                            ? json{{"model", "stories260K"}, {"prompt", "Once"}, {"max_tokens", 4}}
                            : chat;
            body["stream"] = true;
            body["stream_options"] = {{"include_usage", true}};
            auto res = post(a, path, body);
            ASSERT_EQ(res->status, 200);
            json usage;
            for (const std::string& p : sse_payloads(res->body)) {
                if (p == "[DONE]") continue;
                json chunk = json::parse(p);
                if (chunk.contains("usage") && chunk["usage"].is_object()) usage = chunk["usage"];
            }
            ASSERT_TRUE(usage.is_object()) << res->body;
            add_openai(ea, usage);
        }
        json msg = ok_json(post(a, "/v1/messages",
                                {{"model", "stories260K"}, {"max_tokens", 3},
                                 {"messages", {{{"role", "user"}, {"content", "hi"}}}}}))["usage"];
        ea.requests++;
        ea.prompt += msg["input_tokens"].get<int64_t>() + msg["cache_read_input_tokens"].get<int64_t>();
        ea.cached += msg["cache_read_input_tokens"].get<int64_t>();
        ea.completion += msg["output_tokens"].get<int64_t>();
        json resp = ok_json(post(a, "/v1/responses",
                                 {{"model", "stories260K"}, {"input", "Once"}, {"max_output_tokens", 3}}))["usage"];
        ea.requests++;
        ea.prompt += resp["input_tokens"].get<int64_t>();
        ea.cached += resp["input_tokens_details"]["cached_tokens"].get<int64_t>();
        ea.completion += resp["output_tokens"].get<int64_t>();
        // An error after the model was named: a prompt longer than the context (no usage).
        std::string huge;
        for (int i = 0; i < 200; ++i) huge += "Once upon a time ";
        auto too_long = post(a, "/v1/completions", {{"model", "stories260K"}, {"prompt", huge}});
        EXPECT_EQ(too_long->status, 400);
        ea.requests++;
        ea.errors++;
        // Refused before naming a served model: not usage (the access and audit logs have it).
        EXPECT_EQ(post(a, "/v1/completions", {{"model", "absent"}, {"prompt", "x"}})->status, 404);
        EXPECT_EQ(c.Post("/v1/completions", bearer("hk_000000000000_" + std::string(64, '0')),
                         R"({"prompt":"x"})", "application/json")->status, 401);

        // Key b: one completion. Key c: Ollama's API.
        add_openai(eb, ok_json(post(b, "/v1/completions",
                                    {{"model", "stories260K"}, {"prompt", "Once"}, {"max_tokens", 3}}))["usage"]);
        json ol = ok_json(post(ollama_key, "/api/generate",
                               {{"model", "stories260K"}, {"prompt", "Once"}, {"stream", false},
                                {"options", {{"num_predict", 4}}}}));
        ec.requests++;
        ec.prompt += ol["prompt_eval_count"].get<int64_t>();
        ec.completion += ol["eval_count"].get<int64_t>();

        EXPECT_GT(ea.cached, 0) << "the repeated long prompt reuses cached tokens";
        EXPECT_EQ(c.Get("/admin/usage", bearer(a))->status, 403) << "an inference key";
        // A request is counted just after its answer went out: the client may ask before the
        // last one is. Wait (briefly) until every request is in.
        const int64_t sent = ea.requests + eb.requests + ec.requests;
        for (int tries = 0; tries < 50; ++tries) {
            admin_rows = ok_json(c.Get("/admin/usage", bearer(admin)))["data"];
            int64_t counted = 0;
            for (const char* key : {"a", "b", "c"}) counted += totals_of(admin_rows, key).requests;
            if (counted >= sent) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        auto filtered = ok_json(c.Get("/admin/usage?key=b&since=2000-01-01", bearer(admin)))["data"];
        ASSERT_EQ(filtered.size(), 1u) << filtered;
        EXPECT_EQ(filtered[0]["key"], "b");
        EXPECT_EQ(filtered[0]["model"], "stories260K");
        EXPECT_EQ(ok_json(c.Get("/admin/usage?since=2999-01-01", bearer(admin)))["data"].size(), 0u);
        EXPECT_EQ(c.Get("/admin/usage?since=soon", bearer(admin))->status, 400);
        auto m = c.Get("/metrics", bearer(admin));
        ASSERT_EQ(m->status, 200);
        metrics = m->body;
    }
    auto check = [&](const std::string& key, const Expected& e, bool with_cached) {
        const UsageCounts got = totals_of(admin_rows, key);
        EXPECT_EQ(got.requests, e.requests) << key;
        EXPECT_EQ(got.prompt_tokens, e.prompt) << key;
        if (with_cached) EXPECT_EQ(got.cached_tokens, e.cached) << key;
        EXPECT_EQ(got.completion_tokens, e.completion) << key;
        EXPECT_EQ(got.errors, e.errors) << key;
        EXPECT_NE(metrics.find("hearth_key_requests_total{key=\"" + key + "\"} " +
                               std::to_string(e.requests) + "\n"),
                  std::string::npos)
            << metrics;
        EXPECT_NE(metrics.find("hearth_key_completion_tokens_total{key=\"" + key + "\"} " +
                               std::to_string(e.completion) + "\n"),
                  std::string::npos)
            << metrics;
    };
    check("a", ea, true);
    check("b", eb, true);
    check("c", ec, false);  // Ollama's answer does not say what was cached
    EXPECT_EQ(totals_of(admin_rows, "ops").requests, 0) << "admin calls are not inference";

    // `hearth usage` reads the same rows from the state folder (the server wrote them on stop).
    const json cli_rows = json::parse(run_usage({"--state-dir", dir, "--json"}));
    EXPECT_EQ(cli_rows, admin_rows);
    const std::string table = run_usage({"--state-dir", dir, "--key", "b"});
    EXPECT_NE(table.find(utc_day(unix_time())), std::string::npos) << table;
    EXPECT_NE(table.find(" b "), std::string::npos) << table;
    EXPECT_EQ(table.find(" a "), std::string::npos) << "--key filters: " << table;
    // The row says what b's one response said: 1 request, its tokens, no error.
    const std::regex row_b("\\sb\\s+stories260K\\s+1\\s+" + std::to_string(eb.prompt) + "\\s+" +
                           std::to_string(eb.cached) + "\\s+" + std::to_string(eb.completion) +
                           "\\s+0\\n");
    EXPECT_TRUE(std::regex_search(table, row_b)) << table;
    EXPECT_NE(run_usage({"--state-dir", dir, "--since", "2999-01-01"}).find("No usage"),
              std::string::npos);
    EXPECT_THROW(run_usage({"--state-dir", dir, "--since", "someday"}), Error);
    fs::remove_all(dir);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

TEST(AdminModels, ListLoadUnloadPullDeleteAndAudit) {
    fake::FakeHub hub;
    fake::FakeRepo repo;
    const std::string bytes = read_file(testing::stories_path());
    repo.files["tiny-Q8_0.gguf"] = {bytes, ""};
    hub.add_repo("someone/tiny-GGUF", repo);
    setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
    const std::string dir = fresh_dir("models");
    const std::string models = dir + "/models";
    fs::create_directories(models);
    std::string inference;
    {
        KeyStore store(dir + "/keys.db");
        inference = store.create(key_named("app")).secret;
    }
    ServerOptions o = default_options();
    o.state_dir = dir;
    o.models_dir = models;
    o.api_keys = {"sk-admin"};
    LiveServer live(o);
    auto c = live.client();
    const auto admin = bearer("sk-admin");
    auto status_json = [&](const std::string& name) {
        json list = ok_json(c.Get("/admin/models", admin));
        for (const json& m : list["data"])
            if (m["name"] == name) return m;
        return json();
    };

    for (const char* path : {"/admin/models", "/admin/usage"})
        EXPECT_EQ(c.Get(path, bearer(inference))->status, 403) << path;
    EXPECT_EQ(c.Post("/admin/models/stories260K/load", bearer(inference), "", "application/json")->status, 403);

    json m = status_json("stories260K");
    ASSERT_TRUE(m.is_object());
    EXPECT_EQ(m["loaded"], false);
    EXPECT_EQ(m["file_bytes"], bytes.size());
    json loaded = ok_json(c.Post("/admin/models/stories/load", admin, "", "application/json"));
    EXPECT_EQ(loaded["name"], "stories260K") << "by alias";
    EXPECT_EQ(loaded["loaded"], true);
    EXPECT_GT(loaded["memory_bytes"].get<uint64_t>(), bytes.size() / 2);
    EXPECT_EQ(status_json("stories260K")["loaded"], true);
    // The pool's own view agrees.
    ASSERT_EQ(live.server().pool().loaded().size(), 1u);
    EXPECT_EQ(live.server().pool().loaded()[0].memory_bytes, loaded["memory_bytes"]);
    EXPECT_EQ(ok_json(c.Post("/admin/models/stories260K/unload", admin, "", "application/json"))["unloaded"], true);
    EXPECT_TRUE(live.server().pool().loaded().empty());
    EXPECT_EQ(ok_json(c.Post("/admin/models/stories260K/unload", admin, "", "application/json"))["unloaded"], false);
    EXPECT_EQ(c.Post("/admin/models/absent/load", admin, "", "application/json")->status, 404);

    // Pull from the (fake) hub, with progress as JSON lines.
    auto pulled = c.Post("/admin/models/pull", admin,
                         json({{"model", "someone/tiny-GGUF/tiny-Q8_0.gguf"}}).dump(), "application/json");
    ASSERT_EQ(pulled->status, 200);
    auto lines = ndjson_lines(pulled->body);
    ASSERT_GE(lines.size(), 3u) << pulled->body;
    EXPECT_EQ(lines.front()["status"], "downloading");
    EXPECT_EQ(lines.front()["files"][0]["sha256"], fake::sha256_hex(bytes));
    EXPECT_EQ(lines.back()["status"], "success") << pulled->body;
    bool complete = false;
    for (const json& l : lines) {
        if (l["status"] != "progress") continue;
        EXPECT_EQ(l["total"], bytes.size());
        complete |= l["completed"] == bytes.size() && l["finished"] == true;
    }
    EXPECT_TRUE(complete) << pulled->body;
    const std::string name = lines.back()["name"];
    const std::string path = lines.back()["path"];
    EXPECT_EQ(read_file(path), bytes) << "the file on disk is the hub's";
    EXPECT_TRUE(status_json(name).is_object());
    EXPECT_EQ(live.post("/v1/completions", {{"model", name}, {"prompt", "Once"}, {"max_tokens", 2}})->status, 401)
        << "keys are required";
    EXPECT_EQ(c.Post("/v1/completions", admin,
                     json({{"model", name}, {"prompt", "Once"}, {"max_tokens", 2}}).dump(),
                     "application/json")->status,
              200);
    auto bad_pull = c.Post("/admin/models/pull", admin, R"({"model":"someone/absent-GGUF"})", "application/json");
    EXPECT_EQ(ndjson_lines(bad_pull->body).back()["status"], "error") << bad_pull->body;
    EXPECT_EQ(c.Post("/admin/models/pull", admin, R"({"model":7})", "application/json")->status, 400);

    // Delete: the pulled model's file goes; a --model file outside the models folder stays.
    json deleted = ok_json(c.Delete("/admin/models/" + name, admin));
    EXPECT_EQ(deleted["deleted"], true);
    EXPECT_FALSE(fs::exists(path));
    EXPECT_TRUE(status_json(name).is_null());
    EXPECT_EQ(c.Post("/v1/completions", admin,
                     json({{"model", name}, {"prompt", "Once"}, {"max_tokens", 2}}).dump(),
                     "application/json")->status,
              404);
    EXPECT_EQ(c.Delete("/admin/models/stories260K", admin)->status, 409);
    EXPECT_TRUE(fs::exists(testing::stories_path()));

    // Every action is in the audit log, with who did it.
    json audit = ok_json(c.Get("/admin/audit?limit=50", admin))["data"];
    std::vector<std::string> actions;
    for (const json& line : audit) {
        const std::string action = line["action"];
        if (action.rfind("models.", 0) != 0) continue;
        EXPECT_EQ(line["who"], "env-key");
        actions.push_back(action + " " + line["target"].get<std::string>() + " " +
                          line["result"].get<std::string>());
    }
    const std::vector<std::string> want = {
        "models.load stories260K ok",
        "models.unload stories260K ok",
        "models.unload stories260K not loaded",
        "models.load absent no such model",
        "models.pull someone/tiny-GGUF/tiny-Q8_0.gguf ok",
        "models.delete " + name + " ok",
        "models.delete stories260K not in the models directory"};
    ASSERT_EQ(actions.size(), want.size() + 1) << audit;  // + the failed pull
    for (const std::string& w : want)
        EXPECT_NE(std::find(actions.begin(), actions.end(), w), actions.end()) << w << "\n" << audit;
    unsetenv("HF_ENDPOINT");
    fs::remove_all(dir);
}

// The catalog as the Models page reads it: the built-in entries, the one pulled marked
// installed, each judged against this machine's available RAM (80% of it, hand rule); and the
// served models' RAM estimate, hand-computed for the bundled model.
TEST(AdminModels, CatalogWithFitAndInstalledEntries) {
    const hub::Catalog catalog = hub::Catalog::builtin();
    ASSERT_FALSE(catalog.entries().empty());
    const hub::CatalogEntry& first = catalog.entries().front();
    fake::FakeHub hub;
    fake::FakeRepo repo;
    const std::string bytes = read_file(testing::stories_path());
    repo.files[first.file] = {bytes, ""};
    hub.add_repo(first.repo, repo);
    setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
    const std::string dir = fresh_dir("catalog");
    const std::string models = dir + "/models";
    fs::create_directories(models);
    ServerOptions o = default_options();
    o.state_dir = dir;
    o.models_dir = models;
    o.api_keys = {"sk-admin"};
    LiveServer live(o);
    auto c = live.client();
    const auto admin = bearer("sk-admin");

    auto pulled = c.Post("/admin/models/pull", admin, json({{"model", first.name}}).dump(),
                         "application/json");
    ASSERT_EQ(ndjson_lines(pulled->body).back()["status"], "success") << pulled->body;

    const json answer = ok_json(c.Get("/admin/models/catalog", admin));
    const json& machine = answer["machine"];
    const double available = machine["ram_available_bytes"].get<double>();
    EXPECT_GT(available, 0);
    EXPECT_GE(machine["ram_total_bytes"].get<double>(), available);
    EXPECT_EQ(machine["ram_share"], 0.8);
    const json& data = answer["data"];
    ASSERT_EQ(data.size(), catalog.entries().size());
    for (size_t i = 0; i < data.size(); ++i) {
        const hub::CatalogEntry& e = catalog.entries()[i];
        EXPECT_EQ(data[i]["name"], e.name);
        EXPECT_EQ(data[i]["repo"], e.repo);
        EXPECT_EQ(data[i]["size_bytes"], e.size_bytes);
        EXPECT_EQ(data[i]["ram_bytes"], e.ram_bytes);
        EXPECT_EQ(data[i]["installed"], i == 0) << e.name;
        // Clear cases only: RAM available moves a little between the server's look and ours.
        if (e.ram_bytes < 0.7 * available &&
            e.size_bytes * 2 < machine["disk_free_bytes"].get<double>()) {
            EXPECT_EQ(data[i]["fits"], true) << e.name;
        }
        if (e.ram_bytes > 0.9 * available) {
            EXPECT_EQ(data[i]["fits"], false) << e.name;
        }
    }
    // The bundled model: file + 8 KiB of KV per token for 4096 tokens (its size is far below
    // the 16 KiB per billion parameters rule's floor) + 300 MiB of overhead.
    const json listed = ok_json(c.Get("/admin/models", admin));  // outlives the loop below
    for (const json& m : listed["data"]) {
        if (m["name"] != "stories260K") continue;
        EXPECT_EQ(m["ram_estimate_bytes"], bytes.size() + 8192ull * 4096 + (300ull << 20));
        EXPECT_EQ(m["fits"], bytes.size() + 8192.0 * 4096 + (300ull << 20) <= 0.8 * available);
    }
    EXPECT_EQ(c.Get("/admin/models/catalog")->status, 401);
    unsetenv("HF_ENDPOINT");
    fs::remove_all(dir);
}

}  // namespace
}  // namespace hearth::server
