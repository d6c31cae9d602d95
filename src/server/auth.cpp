#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <strings.h>

#include <array>
#include <fstream>

#include "core/error.h"

namespace hearth::server {

namespace {

std::string trim(const std::string& s) {
    const char* space = " \t\r\n";
    size_t begin = s.find_first_not_of(space);
    if (begin == std::string::npos) return {};
    size_t end = s.find_last_not_of(space);
    return s.substr(begin, end - begin + 1);
}

// Hashing first gives equal-length inputs, so the compare's time does not depend on key length.
std::array<unsigned char, SHA256_DIGEST_LENGTH> digest(const std::string& s) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
    return out;
}

}  // namespace

std::vector<std::string> parse_key_list(const std::string& list) {
    std::vector<std::string> keys;
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        std::string key = trim(list.substr(start, comma - start));
        if (!key.empty()) keys.push_back(key);
        start = comma + 1;
    }
    return keys;
}

std::optional<std::string> read_env_file_value(const std::string& path, const std::string& name) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::string line;
    while (std::getline(in, line)) {
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
        size_t eq = line.find('=');
        if (eq == std::string::npos || trim(line.substr(0, eq)) != name) continue;
        std::string value = trim(line.substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
            value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        }
        return value;
    }
    return std::nullopt;
}

std::vector<std::string> read_key_file(const std::string& path) {
    return read_list_file(path, "API key file");
}

std::vector<std::string> read_list_file(const std::string& path, const std::string& what) {
    std::ifstream in(path);
    if (!in) throw Error("cannot read the " + what + " '" + path + "'");
    std::vector<std::string> keys;
    std::string line;
    while (std::getline(in, line)) {
        line = trim(line);
        if (!line.empty() && line[0] != '#') keys.push_back(line);
    }
    return keys;
}

// The key of "Bearer KEY"; "" for any other header. The scheme name is case-insensitive
// (RFC 9110, 11.1): "bearer KEY" is as good.
static std::string bearer_key(const std::string& authorization_header) {
    const std::string header = trim(authorization_header);
    const size_t space = header.find_first_of(" \t");
    if (space != 6 || strncasecmp(header.c_str(), "Bearer", 6) != 0) return {};
    return trim(header.substr(space));
}

std::vector<std::string> offered_keys(const std::string& authorization_header,
                                      const std::string& x_api_key) {
    std::vector<std::string> keys;
    for (std::string key : {bearer_key(authorization_header), trim(x_api_key)}) {
        if (!key.empty()) keys.push_back(std::move(key));
    }
    return keys;
}

bool ApiKeys::accepts(const std::string& authorization_header) const {
    return accepts_key(bearer_key(authorization_header));
}

std::optional<std::string> ApiKeys::identify(const std::string& authorization_header,
                                             const std::string& x_api_key) const {
    if (accepts(authorization_header)) return key_id(bearer_key(authorization_header));
    if (accepts_key(x_api_key)) return key_id(trim(x_api_key));
    return std::nullopt;
}

std::string ApiKeys::key_id(const std::string& key) {
    static const char* hex = "0123456789abcdef";
    const auto d = digest(key);
    std::string id;
    for (size_t i = 0; i < 16; ++i) {
        id += hex[d[i] >> 4];
        id += hex[d[i] & 15];
    }
    return id;
}

bool ApiKeys::accepts_key(const std::string& raw_key) const {
    const std::string key = trim(raw_key);
    if (key.empty()) return false;
    const auto offered = digest(key);
    bool match = false;
    for (const std::string& known : keys_) {
        const auto expected = digest(known);
        match |= CRYPTO_memcmp(offered.data(), expected.data(), expected.size()) == 0;
    }
    return match;
}

}  // namespace hearth::server
