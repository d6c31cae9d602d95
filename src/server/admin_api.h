#pragma once
// The admin API (admin scope; the gate checks it): keys (POST / GET /admin/keys,
// DELETE /admin/keys/{name}) and the audit log (GET /admin/audit?limit=N). Every action is
// written to the audit log.
#include <nlohmann/json.hpp>

#include "server/audit_log.h"
#include "server/exchange.h"
#include "server/key_store.h"

namespace hearth::server {

// A key as the API and `hearth keys list --json` show it: never its secret or hash.
nlohmann::json key_json(const KeyRecord& key, int64_t now);

class AdminApi {
  public:
    AdminApi(KeyStore& keys, AuditLog& audit) : keys_(keys), audit_(audit) {}

    void create_key(Exchange& ex);
    void list_keys(Exchange& ex);
    void revoke_key(Exchange& ex, const std::string& name);
    void audit(Exchange& ex);

  private:
    void record(const Exchange& ex, const std::string& action, const std::string& target,
                const std::string& result);

    KeyStore& keys_;
    AuditLog& audit_;
};

}  // namespace hearth::server
