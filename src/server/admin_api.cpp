#include "server/admin_api.h"


#include "core/error.h"
#include "http/request_reader.h"
#include "server/generation.h"
#include "server/openai_request.h"

namespace hearth::server {

namespace {

using nlohmann::json;

json time_or_null(int64_t t) {
    return t > 0 ? json(t) : json();
}

int64_t non_negative(const json& body, const char* field) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return 0;
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
        throw ApiError::bad_request(std::string("'") + field + "' must be a whole number >= 0", field);
    return it->get<int64_t>();
}

NewKey read_new_key(const json& body) {
    NewKey k;
    auto name = body.find("name");
    if (name == body.end() || !name->is_string())
        throw ApiError::bad_request("'name' (the key's name) must be a string", "name");
    k.name = name->get<std::string>();
    if (auto scope = body.find("scope"); scope != body.end() && !scope->is_null()) {
        if (*scope == "admin") k.scope = Scope::Admin;
        else if (*scope != "inference")
            throw ApiError::bad_request("'scope' must be \"inference\" or \"admin\"", "scope");
    }
    if (auto models = body.find("models"); models != body.end() && !models->is_null()) {
        if (!models->is_array())
            throw ApiError::bad_request("'models' must be an array of model names", "models");
        for (const json& m : *models) {
            if (!m.is_string() || m.get<std::string>().empty())
                throw ApiError::bad_request("'models' must hold model names", "models");
            k.models.push_back(m.get<std::string>());
        }
    }
    k.limits = {non_negative(body, "rpm"), non_negative(body, "tpm"),
                non_negative(body, "daily_tokens"), non_negative(body, "concurrency")};
    if (auto expires = body.find("expires"); expires != body.end() && !expires->is_null()) {
        if (!expires->is_string())
            throw ApiError::bad_request("'expires' must be a duration such as \"30d\"", "expires");
        try {
            const int64_t seconds = parse_duration_seconds(expires->get<std::string>());
            k.expires = seconds > 0 ? unix_time() + seconds : 0;
        } catch (const Error& e) {
            throw ApiError::bad_request(e.what(), "expires");
        }
    }
    return k;
}

// "limit=N" from a query string (default 100).
size_t limit_of(const std::string& query) {
    const std::optional<std::string> digits = http::query_value(query, "limit");
    if (!digits) return 100;
    if (digits->empty() || digits->size() > 6 ||
        digits->find_first_not_of("0123456789") != std::string::npos)
        throw ApiError::bad_request("'limit' must be a whole number", "limit");
    return std::stoul(*digits);
}

}  // namespace

json key_json(const KeyRecord& k, int64_t now) {
    return {{"id", k.id},
            {"name", k.name},
            {"scope", scope_name(k.scope)},
            {"models", k.models},
            {"rpm", k.limits.rpm},
            {"tpm", k.limits.tpm},
            {"daily_tokens", k.limits.daily_tokens},
            {"concurrency", k.limits.concurrency},
            {"created", k.created},
            {"expires", time_or_null(k.expires)},
            {"revoked_at", time_or_null(k.revoked_at)},
            {"last_used", time_or_null(k.last_used)},
            {"status", k.status(now)}};
}

void AdminApi::record(const Exchange& ex, const std::string& action, const std::string& target,
                      const std::string& result) {
    audit_.record({ex.identity.name, action, target, ex.request.remote_addr, result});
}

void AdminApi::create_key(Exchange& ex) {
    const json body = parse_json_object_body(ex.request.body);
    const std::string target = body.contains("name") && body["name"].is_string()
                                   ? body["name"].get<std::string>()
                                   : std::string();
    try {
        const NewKey wanted = read_new_key(body);
        IssuedKey issued = keys_.create(wanted);
        record(ex, "keys.create", issued.record.name, "ok");
        json out = key_json(issued.record, unix_time());
        out["key"] = issued.secret;  // the only time it is shown
        ex.send_json(201, out);
    } catch (const ApiError& e) {
        record(ex, "keys.create", target, e.what());
        throw;
    } catch (const Error& e) {
        record(ex, "keys.create", target, e.what());
        throw ApiError::bad_request(e.what(), "name");
    }
}

void AdminApi::list_keys(Exchange& ex) {
    const int64_t now = unix_time();
    json data = json::array();
    for (const KeyRecord& k : keys_.list()) data.push_back(key_json(k, now));
    ex.send_json(200, {{"object", "list"}, {"data", data}});
}

void AdminApi::revoke_key(Exchange& ex, const std::string& name) {
    if (!keys_.revoke(name)) {
        record(ex, "keys.revoke", name, "no such key");
        throw ApiError(404, "no unrevoked key named '" + name + "'", "invalid_request_error", "",
                       "key_not_found");
    }
    record(ex, "keys.revoke", name, "ok");
    ex.send_json(200, {{"name", name}, {"revoked", true}});
}

void AdminApi::audit(Exchange& ex) {
    json data = json::array();
    for (json& line : audit_.last(limit_of(ex.request.query))) data.push_back(std::move(line));
    ex.send_json(200, {{"object", "list"}, {"data", data}});
}

void AdminApi::usage(Exchange& ex) {
    UsageQuery query;
    query.key_name = http::query_value(ex.request.query, "key").value_or("");
    if (const auto since = http::query_value(ex.request.query, "since")) {
        try {
            query.since_day = parse_since(*since, unix_time());
        } catch (const Error& e) {
            throw ApiError::bad_request(e.what(), "since");
        }
    }
    json data = json::array();
    for (const UsageRow& row : usage_.rows(query)) data.push_back(usage_row_json(row));
    ex.send_json(200, {{"object", "list"}, {"data", data}});
}

}  // namespace hearth::server
