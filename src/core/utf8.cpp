#include "core/utf8.h"

namespace hearth::utf8 {

size_t sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) return 2;
    if ((lead & 0xF0) == 0xE0) return 3;
    if ((lead & 0xF8) == 0xF0) return 4;
    return 1;
}

size_t incomplete_tail(std::string_view s) {
    // A sequence is at most 4 bytes, so only the last 3 bytes can start an unfinished one.
    size_t n = s.size();
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        unsigned char c = static_cast<unsigned char>(s[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        size_t need = sequence_length(c);
        return need > back ? back : 0;
    }
    return 0;
}

size_t valid_prefix_length(std::string_view s) {
    if (s.empty()) return 0;
    unsigned char c = static_cast<unsigned char>(s[0]);
    size_t len = sequence_length(c);
    if (len == 1) return c >= 0x80 ? 0 : 1;
    if (len > s.size()) return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
        unsigned char cc = static_cast<unsigned char>(s[k]);
        if ((cc & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr unsigned kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool is_valid(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        size_t len = valid_prefix_length(s.substr(i));
        if (len == 0) return false;
        i += len;
    }
    return true;
}

std::string escape_for_log(std::string_view s) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const size_t len = valid_prefix_length(s.substr(i));
        if (len > 1 || (len == 1 && c >= 0x20 && c != 0x7F && c != '\\' && c != '"')) {
            out.append(s.substr(i, len));
            i += len;
            continue;
        }
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c == '\\' || c == '"') { out += '\\'; out += static_cast<char>(c); }
        else { out += "\\x"; out += hex[c >> 4]; out += hex[c & 15]; }
        ++i;
    }
    return out;
}

}  // namespace hearth::utf8
