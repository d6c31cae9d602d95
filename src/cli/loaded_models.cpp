#include "cli/loaded_models.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace hearth::cli {

namespace {

// Ollama's "2026-12-07T22:31:34.123456789Z" as local time, or "never" past a century ahead.
std::string expiry_text(const std::string& iso) {
    std::tm utc{};
    if (iso.size() < 19 || !strptime(iso.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &utc))
        return iso;
    const std::time_t t = timegm(&utc);
    if (t - std::time(nullptr) > 100LL * 365 * 86400) return "never";
    std::tm local{};
    localtime_r(&t, &local);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
    return text;
}

}  // namespace

std::vector<LoadedModelRow> loaded_models(ApiClient& api) {
    const ApiReply reply = api.get("/api/ps");
    if (!reply.ok()) throw_api_error("cannot list the loaded models", reply);
    const nlohmann::json body = reply.json();
    std::vector<LoadedModelRow> rows;
    for (const nlohmann::json& m : body.value("models", nlohmann::json::array())) {
        LoadedModelRow r;
        r.name = m.value("name", "");
        r.memory_bytes = m.value("size", uint64_t{0});
        r.context_length = m.value("context_length", int64_t{0});
        r.idle_seconds = m.value("idle_seconds", 0.0);
        r.expires = expiry_text(m.value("expires_at", ""));
        rows.push_back(std::move(r));
    }
    return rows;
}

void print_columns(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
        }
        std::printf("%s\n", line.c_str());
    }
}

}  // namespace hearth::cli
