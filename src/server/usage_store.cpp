#include "server/usage_store.h"

#include <algorithm>
#include <ctime>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "server/generation.h"
#include "server/metrics.h"
#include "server/sqlite_db.h"

namespace hearth::server {

namespace {

using nlohmann::json;

bool is_day(const std::string& s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
    for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
        if (s[i] < '0' || s[i] > '9') return false;
    }
    std::tm t{};
    t.tm_year = std::stoi(s.substr(0, 4)) - 1900;
    t.tm_mon = std::stoi(s.substr(5, 2)) - 1;
    t.tm_mday = std::stoi(s.substr(8, 2));
    // A real date: timegm normalizes 2026-02-30 to March, which then reads back differently.
    const std::time_t seconds = timegm(&t);
    return utc_day(static_cast<int64_t>(seconds)) == s;
}

}  // namespace

void UsageCounts::add(const UsageCounts& o) {
    requests += o.requests;
    prompt_tokens += o.prompt_tokens;
    cached_tokens += o.cached_tokens;
    completion_tokens += o.completion_tokens;
    errors += o.errors;
}

std::string utc_day(int64_t unix_seconds) {
    const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[16];
    std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
    return text;
}

std::string parse_since(const std::string& text, int64_t now) {
    if (is_day(text)) return text;
    int64_t back = 0;
    try {
        back = parse_duration_seconds(text);
    } catch (const Error&) {
    }
    if (back <= 0)
        throw Error("'" + text + "' is neither a day (YYYY-MM-DD) nor a duration back from now "
                    "(7d, 12h, 2w)");
    return utc_day(now - back);
}

std::vector<UsageRow> read_usage(KeyStore& store, const UsageQuery& query) {
    std::vector<UsageRow> rows;
    store.with_database([&](sqlite3* db) {
        // Grouped by name: a key revoked and created again under its name reads as one caller.
        Statement select(db,
                         "SELECT key_name, model, day, sum(requests), sum(prompt_tokens), "
                         "sum(cached_tokens), sum(completion_tokens), sum(errors) FROM usage "
                         "WHERE (?1 = '' OR key_name = ?1) AND day >= ?2 "
                         "GROUP BY key_name, model, day ORDER BY day, key_name, model");
        select.bind(1, query.key_name).bind(2, query.since_day);
        while (select.step()) {
            UsageRow r;
            r.key_name = select.text(0);
            r.model = select.text(1);
            r.day = select.text(2);
            r.counts = {select.integer(3), select.integer(4), select.integer(5),
                        select.integer(6), select.integer(7)};
            rows.push_back(std::move(r));
        }
    });
    return rows;
}

json usage_row_json(const UsageRow& r) {
    return {{"key", r.key_name},
            {"model", r.model},
            {"day", r.day},
            {"requests", r.counts.requests},
            {"prompt_tokens", r.counts.prompt_tokens},
            {"cached_tokens", r.counts.cached_tokens},
            {"completion_tokens", r.counts.completion_tokens},
            {"errors", r.counts.errors}};
}

UsageStore::UsageStore(KeyStore& store, std::chrono::milliseconds flush_every) : store_(store) {
    flusher_ = std::thread([this, flush_every] {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            wake_.wait_for(lock, flush_every, [&] { return stopping_; });
            lock.unlock();
            flush();
            lock.lock();
        }
    });
}

UsageStore::~UsageStore() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    flusher_.join();
    flush();  // what came after the thread's last flush
}

void UsageStore::record(const Exchange& ex) {
    if (ex.model.empty()) return;
    UsageEvent e;
    e.key_id = ex.identity.key_id;
    e.key_name = ex.identity.name;
    e.model = ex.model;
    e.time = unix_time();
    e.counts.requests = 1;
    e.counts.prompt_tokens = std::max<int64_t>(0, ex.prompt_tokens);
    e.counts.cached_tokens = ex.cached_tokens;
    e.counts.completion_tokens = ex.completion_tokens;
    e.counts.errors = ex.responder.status() >= 400 ? 1 : 0;
    add(e);
}

void UsageStore::add(const UsageEvent& e) {
    std::lock_guard lock(mutex_);
    Pending& p = pending_[{e.key_id, e.model, utc_day(e.time)}];
    p.key_name = e.key_name;
    p.counts.add(e.counts);
    for (auto& [name, counts] : by_key_) {
        if (name != e.key_name) continue;
        counts.add(e.counts);
        return;
    }
    if (by_key_.size() < kMetricKeys) by_key_.emplace_back(e.key_name, e.counts);
    else other_keys_.add(e.counts);
}

void UsageStore::flush() {
    std::lock_guard one(flush_mutex_);
    std::map<Key, Pending> batch;
    {
        std::lock_guard lock(mutex_);
        batch.swap(pending_);
    }
    if (batch.empty()) return;
    try {
        store_.with_database([&](sqlite3* db) {
            Transaction tx(db);
            Statement upsert(db,
                             "INSERT INTO usage (key_id, key_name, model, day, requests, "
                             "prompt_tokens, cached_tokens, completion_tokens, errors) VALUES "
                             "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                             "ON CONFLICT (key_id, model, day) DO UPDATE SET "
                             "key_name = excluded.key_name, "
                             "requests = requests + excluded.requests, "
                             "prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
                             "cached_tokens = cached_tokens + excluded.cached_tokens, "
                             "completion_tokens = completion_tokens + excluded.completion_tokens, "
                             "errors = errors + excluded.errors");
            for (const auto& [key, p] : batch) {
                const auto& [key_id, model, day] = key;
                upsert.bind(1, key_id).bind(2, p.key_name).bind(3, model).bind(4, day);
                upsert.bind(5, p.counts.requests).bind(6, p.counts.prompt_tokens);
                upsert.bind(7, p.counts.cached_tokens).bind(8, p.counts.completion_tokens);
                upsert.bind(9, p.counts.errors);
                upsert.step();
                upsert.reset();
            }
            tx.commit();
        });
    } catch (const Error& e) {
        log::warn("cannot write usage to the key store (kept for the next try): {}", e.what());
        std::lock_guard lock(mutex_);
        for (auto& [key, p] : batch) {
            Pending& into = pending_[key];
            into.key_name = p.key_name;
            into.counts.add(p.counts);
        }
    }
}

std::vector<UsageRow> UsageStore::rows(const UsageQuery& query) {
    flush();
    return read_usage(store_, query);
}

std::string UsageStore::render_metrics() const {
    std::vector<std::pair<std::string, UsageCounts>> keys;
    {
        std::lock_guard lock(mutex_);
        keys = by_key_;
        if (other_keys_.requests > 0) {
            // A key named "other" shares the label rather than writing it twice.
            auto named_other = std::find_if(keys.begin(), keys.end(),
                                            [](const auto& k) { return k.first == "other"; });
            if (named_other != keys.end()) named_other->second.add(other_keys_);
            else keys.emplace_back("other", other_keys_);
        }
    }
    struct Counter {
        const char* name;
        const char* help;
        int64_t UsageCounts::*field;
    };
    static const Counter counters[] = {
        {"hearth_key_requests_total", "Inference requests per API key", &UsageCounts::requests},
        {"hearth_key_prompt_tokens_total", "Prompt tokens per API key", &UsageCounts::prompt_tokens},
        {"hearth_key_cached_tokens_total", "Prompt tokens reused from the prompt cache per API key",
         &UsageCounts::cached_tokens},
        {"hearth_key_completion_tokens_total", "Completion tokens per API key",
         &UsageCounts::completion_tokens},
        {"hearth_key_errors_total", "Inference requests answered with an error per API key",
         &UsageCounts::errors},
    };
    std::ostringstream out;
    for (const Counter& c : counters) {
        out << "# HELP " << c.name << ' ' << c.help << " (the first " << kMetricKeys
            << " key names seen; the rest as \"other\")\n";
        out << "# TYPE " << c.name << " counter\n";
        for (const auto& [name, counts] : keys)
            out << c.name << "{key=\"" << prometheus_label_value(name) << "\"} " << counts.*c.field << '\n';
    }
    return out.str();
}

}  // namespace hearth::server
