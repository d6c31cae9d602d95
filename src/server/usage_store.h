#pragma once
// Usage accounting: per caller (key), model and UTC day, the requests, prompt, cached and
// completion tokens and errors, kept in the key store's SQLite file (table `usage`, schema 2 of
// key_store.cpp) and shown by `hearth usage`, GET /admin/usage and the per-key counters of
// /metrics.
//
// A request counts once it names a model its caller may use (Exchange::model is set): what the
// gate or the request reader refuses before that (bad key, unknown model, malformed body) is in
// the access and audit logs, not here. An error is an answer with status >= 400 (a client that
// hung up mid-answer is 499); its tokens, when it had any, count too.
//
// Requests only add to a map in memory; a thread writes the map to the file every second (one
// transaction of UPSERTs) and on shutdown, so no request waits for the disk.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "server/exchange.h"
#include "server/key_store.h"

namespace hearth::server {

struct UsageCounts {
    int64_t requests = 0;
    int64_t prompt_tokens = 0;
    int64_t cached_tokens = 0;  // of prompt_tokens, reused from the prompt cache
    int64_t completion_tokens = 0;
    int64_t errors = 0;

    void add(const UsageCounts& other);
    bool operator==(const UsageCounts&) const = default;
};

// One finished request.
struct UsageEvent {
    std::string key_id;    // Identity::key_id
    std::string key_name;  // Identity::name
    std::string model;
    int64_t time = 0;  // unix seconds; its UTC day is the row's
    UsageCounts counts;
};

// A row of a report: one caller (by name), model and day.
struct UsageRow {
    std::string key_name;
    std::string model;
    std::string day;  // YYYY-MM-DD (UTC)
    UsageCounts counts;
};

struct UsageQuery {
    std::string key_name;   // "": every key
    std::string since_day;  // "": from the start; else YYYY-MM-DD, included
};

// The UTC day of a unix time, as YYYY-MM-DD.
std::string utc_day(int64_t unix_seconds);
// A --since / ?since= value: a day (YYYY-MM-DD) or a duration back from `now` ("7d", "12h", as
// parse_duration_seconds reads it), as the first day to include. Throws hearth::Error.
std::string parse_since(const std::string& text, int64_t now);

// The rows matching `query` in the store's file, ordered by day, key name and model.
std::vector<UsageRow> read_usage(KeyStore& store, const UsageQuery& query);
// A row as /admin/usage and `hearth usage --json` show it.
nlohmann::json usage_row_json(const UsageRow& row);

class UsageStore {
  public:
    // /metrics labels the first this-many key names seen by this process; the rest are "other".
    static constexpr size_t kMetricKeys = 16;

    explicit UsageStore(KeyStore& store,
                        std::chrono::milliseconds flush_every = std::chrono::seconds(1));
    ~UsageStore();  // writes what is left
    UsageStore(const UsageStore&) = delete;
    UsageStore& operator=(const UsageStore&) = delete;

    // The end of a request (the access-log point): counted when it named a model.
    void record(const Exchange& ex);
    void add(const UsageEvent& event);
    // Writes what was added since the last flush. A failed write (a busy or full disk) keeps
    // the counts for the next try.
    void flush();
    // read_usage after a flush, so the report includes the last requests.
    std::vector<UsageRow> rows(const UsageQuery& query);
    // The per-key counters in Prometheus' text format (since this process started).
    std::string render_metrics() const;

  private:
    using Key = std::tuple<std::string, std::string, std::string>;  // key_id, model, day
    struct Pending {
        std::string key_name;
        UsageCounts counts;
    };

    KeyStore& store_;
    mutable std::mutex mutex_;
    std::map<Key, Pending> pending_;
    std::vector<std::pair<std::string, UsageCounts>> by_key_;  // metrics: name -> totals
    UsageCounts other_keys_;
    std::mutex flush_mutex_;  // one flush at a time
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread flusher_;
};

}  // namespace hearth::server
