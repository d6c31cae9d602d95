#pragma once
// Who a request comes from, as the gate established it: a key of the key store, a key from
// HEARTH_API_KEYS / the key file, or nobody on a server without keys. What a caller may do
// (scope, models), what it may spend (limits) and, later, what it used hang off this.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace hearth::server {

enum class Scope {
    Inference,  // the model APIs (/v1, /api, /tokenize ...) for the allowed models
    Admin,      // those, every model, and /admin/*, /metrics
};

inline const char* scope_name(Scope s) {
    return s == Scope::Admin ? "admin" : "inference";
}

// Per-key limits, stored with the key (0: none); enforced by server/rate_limits.h.
struct KeyLimits {
    int64_t rpm = 0;           // requests per minute
    int64_t tpm = 0;           // tokens (prompt + completion) per minute
    int64_t daily_tokens = 0;  // tokens per UTC day
    int64_t concurrency = 0;   // requests at once
};

struct Identity {
    // Stable over the caller's life (key rotations included): what per-caller data is kept
    // under (stored responses). "" on a server without keys.
    std::string key_id;
    // For people: the key's name, "env-key" for keys from the environment, "anonymous" without
    // keys. Audit lines and, later, usage rows carry it.
    std::string name = "anonymous";
    Scope scope = Scope::Admin;
    std::vector<std::string> models;  // allowed model names or aliases; empty: every model
    KeyLimits limits;

    bool is_admin() const { return scope == Scope::Admin; }
    // Whether `name` (a model's name or one of its aliases) is on the allow-list; ignoring
    // ASCII case, as model names are matched (docs/CONFIG.md).
    bool allows_model_name(const std::string& model) const {
        auto same = [&](const std::string& allowed) {
            return allowed.size() == model.size() &&
                   std::equal(allowed.begin(), allowed.end(), model.begin(),
                              [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
        };
        return models.empty() || std::any_of(models.begin(), models.end(), same);
    }
};

}  // namespace hearth::server
