#include "tokenizer/byte_level.h"

#include "core/utf8.h"

namespace hearth::tokenizer::byte_level {

namespace {

bool maps_to_itself(int b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
}

std::string to_utf8(unsigned cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else {  // the map only reaches U+0143, so two bytes always suffice
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

struct Tables {
    std::array<std::string, 256> byte_to_text;
    std::array<int, 512> codepoint_to_byte;  // -1 where no byte maps to the code point
    Tables() {
        codepoint_to_byte.fill(-1);
        unsigned next_free = 256;
        for (int b = 0; b < 256; ++b) {
            unsigned cp = maps_to_itself(b) ? static_cast<unsigned>(b) : next_free++;
            byte_to_text[b] = to_utf8(cp);
            codepoint_to_byte[cp] = b;
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

const std::string& encode_byte(unsigned char b) {
    return tables().byte_to_text[b];
}

void encode(std::string_view bytes, std::string& out) {
    const Tables& t = tables();
    for (unsigned char b : bytes) out += t.byte_to_text[b];
}

std::string decode(std::string_view token) {
    const Tables& t = tables();
    std::string out;
    out.reserve(token.size());
    for (size_t i = 0; i < token.size();) {
        unsigned char lead = static_cast<unsigned char>(token[i]);
        size_t len = std::min(utf8::sequence_length(lead), token.size() - i);
        unsigned cp = lead;
        if (len == 2) cp = ((lead & 0x1F) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3F);
        if (len <= 2 && cp < t.codepoint_to_byte.size() && t.codepoint_to_byte[cp] >= 0) {
            out += static_cast<char>(t.codepoint_to_byte[cp]);
        } else {
            out.append(token, i, len);
        }
        i += len;
    }
    return out;
}

}  // namespace hearth::tokenizer::byte_level
