#include "tokenizer/wpm.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>

namespace hearth::tokenizer {

namespace {

const std::string kWordStart = "\xE2\x96\x81";  // U+2581, the converter's word-start mark
// BERT gives up on a word longer than this and emits [UNK] for it.
constexpr size_t kMaxCharsPerWord = 100;

void append_utf8(utf8proc_int32_t cp, std::string& out) {
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

bool is_whitespace(utf8proc_int32_t cp) {
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_ZS:
        case UTF8PROC_CATEGORY_ZL:
        case UTF8PROC_CATEGORY_ZP:
            return true;
        default:
            return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85;
    }
}

bool is_control(utf8proc_int32_t cp) {
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_CC:
        case UTF8PROC_CATEGORY_CF:
        case UTF8PROC_CATEGORY_CN:
        case UTF8PROC_CATEGORY_CO:
        case UTF8PROC_CATEGORY_CS:
            return true;
        default:
            return false;
    }
}

bool is_punctuation(utf8proc_int32_t cp) {
    // BERT counts all ASCII symbols ($, +, <, ^, ...) as punctuation, plus Unicode P*.
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126)) {
        return true;
    }
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool is_cjk_ideograph(utf8proc_int32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// Decomposes (NFD) so accents become separate combining marks the splitter can drop. Invalid
// UTF-8 bytes are dropped first, as BERT's cleaner drops U+FFFD.
std::string decompose(std::string_view text) {
    std::string valid;
    valid.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(&text[i]),
                                              static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
        if (n <= 0) {
            ++i;
            continue;
        }
        valid.append(text, i, static_cast<size_t>(n));
        i += static_cast<size_t>(n);
    }
    utf8proc_uint8_t* mapped = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                                      static_cast<utf8proc_ssize_t>(valid.size()), &mapped,
                                      static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE));
    if (n < 0) return valid;
    std::string out(reinterpret_cast<char*>(mapped), static_cast<size_t>(n));
    std::free(mapped);
    return out;
}

// The normalized words of `text`, each punctuation mark a word of its own.
std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words;
    std::string word;
    auto finish_word = [&] {
        if (!word.empty()) words.push_back(std::move(word));
        word.clear();
    };
    std::string nfd = decompose(text);
    for (size_t i = 0; i < nfd.size();) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(&nfd[i]),
                                              static_cast<utf8proc_ssize_t>(nfd.size() - i), &cp);
        i += static_cast<size_t>(n > 0 ? n : 1);
        if (n <= 0 || cp == 0 || cp == 0xFFFD) continue;
        if (is_whitespace(cp)) {
            finish_word();
        } else if (is_control(cp) || utf8proc_category(cp) == UTF8PROC_CATEGORY_MN) {
            continue;  // control characters and (stripped) accents
        } else if (is_punctuation(cp) || is_cjk_ideograph(cp)) {
            finish_word();
            append_utf8(cp, word);
            finish_word();
        } else {
            append_utf8(utf8proc_tolower(cp), word);
        }
    }
    finish_word();
    return words;
}

}  // namespace

WpmTokenizer::WpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    for (const std::string& token : vocab_.tokens)
        longest_token_ = std::max(longest_token_, token.size());
}

int32_t WpmTokenizer::prefix_token() const {
    return vocab_.cls != kNoToken ? vocab_.cls : vocab_.bos;
}

int32_t WpmTokenizer::suffix_token() const {
    return vocab_.sep != kNoToken ? vocab_.sep : vocab_.eos;
}

void WpmTokenizer::encode_text(std::string_view text, bool, std::vector<int32_t>& out) const {
    for (const std::string& word : split_words(text)) encode_word(word, out);
}

void WpmTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    size_t chars = 0;
    for (unsigned char c : word) chars += (c & 0xC0) != 0x80;
    if (chars > kMaxCharsPerWord) {
        if (vocab_.unk != kNoToken) out.push_back(vocab_.unk);
        return;
    }
    std::vector<int32_t> pieces;
    std::string candidate;
    for (size_t start = 0; start < word.size();) {
        int32_t found = kNoToken;
        size_t end = std::min(word.size(), start + longest_token_);
        for (; end > start; --end) {
            if (end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) {
                continue;  // never cut inside a character
            }
            candidate = start == 0 ? kWordStart : std::string();
            candidate.append(word, start, end - start);
            found = vocab_.find(candidate);
            if (found != kNoToken) break;
        }
        if (found == kNoToken) {  // one unmatchable remainder makes the whole word unknown
            if (vocab_.unk != kNoToken) out.push_back(vocab_.unk);
            return;
        }
        pieces.push_back(found);
        start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
}

std::string WpmTokenizer::token_to_piece(int32_t id, bool special) const {
    if (id < 0 || id >= vocab_.size()) return "";
    const std::string& text = vocab_.tokens[id];
    TokenType type = vocab_.types[id];
    if (type == TokenType::Control || type == TokenType::Unknown) return special ? text : "";
    if (text.compare(0, kWordStart.size(), kWordStart) == 0) {
        std::string piece(1, ' ');
        piece.append(text, kWordStart.size());
        return piece;
    }
    return text;  // a continuation piece joins the previous one
}

std::string WpmTokenizer::decode(const std::vector<int32_t>& ids, bool special) const {
    std::string out = Tokenizer::decode(ids, special);
    if (!out.empty() && out[0] == ' ') out.erase(0, 1);  // the first word has no space before it
    return out;
}

}  // namespace hearth::tokenizer
