#include "tokenizer/spm.h"

#include <cstdio>
#include <queue>

#include "core/utf8.h"

namespace hearth::tokenizer {

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space

std::string escape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 8);
    for (char c : text) {
        if (c == ' ')
            out += kSpace;
        else
            out += c;
    }
    return out;
}

std::string unescape_spaces(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (text.compare(i, kSpace.size(), kSpace) == 0) {
            out += ' ';
            i += kSpace.size();
        } else {
            out += text[i++];
        }
    }
    return out;
}

struct Symbol {
    int prev, next;
    size_t start, len;
};

struct Bigram {
    int left, right;
    float score;
    size_t size;
    // Highest score first; on equal scores the leftmost pair first.
    bool operator<(const Bigram& o) const {
        return score < o.score || (score == o.score && left > o.left);
    }
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        byte_tokens_[b] = vocab_.find(name);
    }
}

void SpmTokenizer::byte_fallback(std::string_view bytes, std::vector<int32_t>& out) const {
    for (unsigned char b : bytes) {
        int32_t id = byte_tokens_[b];
        if (id == kNoToken) id = vocab_.unk;
        if (id != kNoToken) out.push_back(id);
    }
}

void SpmTokenizer::encode_text(std::string_view raw, bool at_start,
                               std::vector<int32_t>& out) const {
    if (raw.empty()) return;
    std::string text;
    if (vocab_.add_space_prefix && at_start) text = kSpace;
    text += escape_spaces(raw);
    if (text.empty()) return;

    std::vector<Symbol> symbols;
    for (size_t at = 0; at < text.size();) {
        size_t len =
            std::min(utf8::sequence_length(static_cast<unsigned char>(text[at])), text.size() - at);
        int index = static_cast<int>(symbols.size());
        symbols.push_back({index - 1, index + 1, at, len});
        at += len;
    }
    symbols.back().next = -1;

    std::priority_queue<Bigram> queue;
    auto try_pair = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        size_t size = symbols[left].len + symbols[right].len;
        int32_t id = vocab_.find(std::string_view(text).substr(symbols[left].start, size));
        if (id == kNoToken) return;
        queue.push({left, right, vocab_.scores[id], size});
    };
    for (size_t i = 1; i < symbols.size(); ++i)
        try_pair(static_cast<int>(i) - 1, static_cast<int>(i));

    while (!queue.empty()) {
        Bigram top = queue.top();
        queue.pop();
        Symbol& left = symbols[top.left];
        Symbol& right = symbols[top.right];
        // Stale entry: one side was merged away since this pair was queued.
        if (left.len == 0 || right.len == 0 || left.len + right.len != top.size) continue;
        left.len += right.len;
        right.len = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = top.left;
        try_pair(left.prev, top.left);
        try_pair(top.left, left.next);
    }

    for (int i = 0; i >= 0; i = symbols[i].next) {
        std::string_view piece(text.data() + symbols[i].start, symbols[i].len);
        int32_t id = vocab_.find(piece);
        if (id != kNoToken)
            out.push_back(id);
        else
            byte_fallback(piece, out);
    }
}

std::string SpmTokenizer::token_to_piece(int32_t id, bool special) const {
    if (id < 0 || id >= vocab_.size()) return "";
    const std::string& text = vocab_.tokens[id];
    switch (vocab_.types[id]) {
        case TokenType::Normal:
        case TokenType::Undefined:
        case TokenType::Unused:
            return unescape_spaces(text);
        case TokenType::UserDefined:
            return text;
        case TokenType::Byte: {
            unsigned value = 0;
            if (std::sscanf(text.c_str(), "<0x%02X>", &value) == 1)
                return std::string(1, static_cast<char>(value));
            return "";
        }
        case TokenType::Unknown:
            return special ? text : "\xE2\x96\x85";
        case TokenType::Control:
            return special || vocab_.is_shown_control(id) ? text : "";
    }
    return "";
}

std::string SpmTokenizer::decode(const std::vector<int32_t>& ids, bool special) const {
    std::string out;
    bool first_text = true;
    for (int32_t id : ids) {
        std::string piece = token_to_piece(id, special);
        if (piece.empty()) continue;
        // The space prefix the encoder added to the start of the text is not part of it.
        if (first_text && vocab_.add_space_prefix && piece[0] == ' ') piece.erase(0, 1);
        first_text = false;
        out += piece;
    }
    return out;
}

}  // namespace hearth::tokenizer
