#pragma once
// The admin API (admin scope; the gate checks it): keys (POST / GET /admin/keys,
// DELETE /admin/keys/{name}), the audit log (GET /admin/audit?limit=N), usage
// (GET /admin/usage?key=NAME&since=DAY) and the models (admin_models.cpp: GET /admin/models,
// GET /admin/models/catalog, POST /admin/models/{name}/load and /unload, DELETE /admin/models/{name},
// POST /admin/models/pull). Every action that changes something is written to the audit log.
#include <nlohmann/json.hpp>
#include <string>

#include "server/audit_log.h"
#include "server/exchange.h"
#include "server/key_store.h"
#include "server/model_pool.h"
#include "server/usage_store.h"

namespace hearth::server {

// A key as the API and `hearth keys list --json` show it: never its secret or hash.
nlohmann::json key_json(const KeyRecord& key, int64_t now);

class AdminApi {
  public:
    AdminApi(KeyStore& keys, AuditLog& audit, UsageStore& usage, ModelPool& pool,
             std::string models_dir)
        : keys_(keys), audit_(audit), usage_(usage), pool_(pool), models_dir_(std::move(models_dir)) {}

    void create_key(Exchange& ex);
    void list_keys(Exchange& ex);
    void revoke_key(Exchange& ex, const std::string& name);
    void audit(Exchange& ex);
    void usage(Exchange& ex);

    // admin_models.cpp
    void list_models(Exchange& ex);
    void catalog(Exchange& ex);
    void load_model(Exchange& ex, const std::string& name);
    void unload_model(Exchange& ex, const std::string& name);
    void delete_model(Exchange& ex, const std::string& name);
    void pull_model(Exchange& ex);

  private:
    void record(const Exchange& ex, const std::string& action, const std::string& target,
                const std::string& result);

    // The served model of that name or alias; a 404 (audited as `action`) when there is none.
    const ModelEntry& model_named(const Exchange& ex, const std::string& action,
                                  const std::string& name);

    KeyStore& keys_;
    AuditLog& audit_;
    UsageStore& usage_;
    ModelPool& pool_;
    std::string models_dir_;  // where pulls go ("": the default models directory)
};

}  // namespace hearth::server
