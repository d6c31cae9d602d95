#pragma once
// Stored responses of the Responses API (`store`, `previous_response_id`, GET and DELETE
// /v1/responses/{id}) in one SQLite file, bounded in age and count. Each row belongs to the
// API key that made it (by the key's id, never the key): another key's row is as good as
// absent. Rows past the age or beyond the count are deleted on every write.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

struct sqlite3;

namespace hearth::server {

struct ResponseStoreLimits {
    int64_t max_age_seconds = 30 * 24 * 3600;  // as OpenAI keeps responses: 30 days
    int64_t max_count = 100000;
};

struct StoredResponse {
    std::string id;
    std::string key_id;      // ApiKeys::key_id of the key that made it ("" without keys)
    int64_t created_at = 0;  // unix seconds
    // JSON arrays of Responses API items: the whole conversation this response answered (its
    // own input after the stored conversation of its previous_response_id), and its output.
    std::string input_items;
    std::string output_items;
    std::string response;  // the response object, as GET returns it
};

class ResponseStore {
  public:
    // Opens (creating it and its folder if needed) the SQLite file at `path`; "" keeps the
    // store in memory. Throws hearth::Error saying what to do when the file is not a
    // database or cannot be written.
    ResponseStore(const std::string& path, ResponseStoreLimits limits);
    ~ResponseStore();
    ResponseStore(const ResponseStore&) = delete;
    ResponseStore& operator=(const ResponseStore&) = delete;

    // Saves (or replaces) a response, then drops expired rows and the oldest beyond the count.
    void put(const StoredResponse& response);
    // The response `id` of `key_id`, unless it is unknown, another key's or expired.
    std::optional<StoredResponse> get(const std::string& id, const std::string& key_id);
    // Deletes it; false when get() would not have found it.
    bool remove(const std::string& id, const std::string& key_id);
    int64_t count();
    const std::string& path() const { return path_; }

  private:
    void exec(const char* sql);
    int64_t oldest_allowed() const;

    std::string path_;
    ResponseStoreLimits limits_;
    sqlite3* db_ = nullptr;
    std::mutex mutex_;
};

}  // namespace hearth::server
