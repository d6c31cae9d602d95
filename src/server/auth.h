#pragma once
// API keys: where they come from and the constant-time check of "Authorization: Bearer KEY".
#include <optional>
#include <string>
#include <vector>

namespace hearth::server {

// Splits "k1, k2,k3" into keys, dropping blanks.
std::vector<std::string> parse_key_list(const std::string& list);
// The HEARTH_API_KEYS value of a .env file (KEY=VALUE lines, # comments, optional quotes), or
// nothing when the file or the line is missing.
std::optional<std::string> read_env_file_value(const std::string& path, const std::string& name);
// One key per line; blank lines and # comments are skipped. Throws hearth::Error if unreadable.
std::vector<std::string> read_key_file(const std::string& path);
// The same for any list file (peers); `what` names it in the error ("peers file").
std::vector<std::string> read_list_file(const std::string& path, const std::string& what);

// The keys a request offers, in the order they are tried: "Authorization: Bearer KEY", then
// "x-api-key: KEY" (Anthropic clients); blanks left out.
std::vector<std::string> offered_keys(const std::string& authorization_header,
                                      const std::string& x_api_key);

class ApiKeys {
  public:
    ApiKeys() = default;
    explicit ApiKeys(std::vector<std::string> keys) : keys_(std::move(keys)) {}

    bool enabled() const { return !keys_.empty(); }
    size_t size() const { return keys_.size(); }
    // True when the header value is "Bearer K" for one of the keys. Every key is compared in
    // full and in constant time, so timing reveals neither which key nor how much matched.
    bool accepts(const std::string& authorization_header) const;
    // The key alone (Anthropic clients send it as "x-api-key: KEY"), compared the same way.
    bool accepts_key(const std::string& key) const;
    // The id of the key a request came with ("Authorization: Bearer KEY" or "x-api-key: KEY"),
    // as key_id() gives it; nothing when neither header holds a known key.
    std::optional<std::string> identify(const std::string& authorization_header,
                                        const std::string& x_api_key) const;
    // What stands for a key where one is remembered (stored responses): hex of the first 16
    // bytes of its SHA-256, so the key itself is never written anywhere.
    static std::string key_id(const std::string& key);

  private:
    std::vector<std::string> keys_;
};

}  // namespace hearth::server
