#include "chat/lexer.h"

#include <cerrno>
#include <cstdlib>

namespace hearth::chat {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}

// jinja2 turns every \r\n and \r into \n, then drops one trailing newline.
std::string normalize_newlines(std::string_view source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

class Lexer {
  public:
    explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {}

    std::vector<Token> run() {
        while (pos_ < src_.size()) lex_data_and_tag();
        flush_data(src_.size());
        tokens_.push_back(Token{TokenType::End, "", 0, 0, position_of(src_.size())});
        return std::move(tokens_);
    }

  private:
    std::string src_;
    size_t pos_ = 0;
    std::vector<Token> tokens_;
    size_t data_start_ = 0;
    bool strip_next_data_ = false;  // the previous tag ended with '-'
    bool line_starting_ = true;     // the previous tag consumed up to a newline
    std::vector<size_t> line_starts_{0};
    size_t lines_indexed_to_ = 0;

    SourcePos position_of(size_t offset) {
        for (; lines_indexed_to_ < src_.size(); ++lines_indexed_to_) {
            if (src_[lines_indexed_to_] == '\n') line_starts_.push_back(lines_indexed_to_ + 1);
        }
        size_t lo = 0, hi = line_starts_.size();
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (line_starts_[mid] <= offset)
                lo = mid;
            else
                hi = mid;
        }
        return SourcePos{static_cast<int>(lo + 1), static_cast<int>(offset - line_starts_[lo] + 1)};
    }

    [[noreturn]] void fail(size_t offset, const std::string& message) {
        throw JinjaError("syntax error", position_of(offset), message);
    }

    // Emits the text from data_start_ to `end`, applying the whitespace rules that the tags on
    // either side ask for. `tag_begin` is the opening tag that follows ("{%", "{{", "{#"),
    // `modifier` its '-'/'+' or 0.
    void flush_data(size_t end, char tag_kind = 0, char modifier = 0) {
        std::string text = src_.substr(data_start_, end - data_start_);
        if (strip_next_data_) {
            size_t first = 0;
            while (first < text.size() && is_space(text[first])) ++first;
            text.erase(0, first);
        }
        if (modifier == '-') {
            while (!text.empty() && is_space(text.back())) text.pop_back();
        } else if (modifier != '+' && (tag_kind == '%' || tag_kind == '#')) {
            size_t line_pos = text.rfind('\n');
            line_pos = line_pos == std::string::npos ? 0 : line_pos + 1;
            if (line_pos > 0 || line_starting_) {
                bool only_blanks = true;
                for (size_t i = line_pos; i < text.size(); ++i) {
                    if (text[i] != ' ' && text[i] != '\t') only_blanks = false;
                }
                if (only_blanks) text.resize(line_pos);
            }
        }
        if (!text.empty()) {
            tokens_.push_back(
                Token{TokenType::Data, std::move(text), 0, 0, position_of(data_start_)});
        }
        strip_next_data_ = false;
    }

    // Finds the next tag opening at or after pos_, emits the data before it and lexes the tag.
    void lex_data_and_tag() {
        size_t open = pos_;
        while (true) {
            open = src_.find('{', open);
            if (open == std::string::npos || open + 1 >= src_.size()) {
                pos_ = src_.size();
                return;
            }
            char kind = src_[open + 1];
            if (kind == '{' || kind == '%' || kind == '#') break;
            ++open;
        }
        char kind = src_[open + 1];
        size_t after = open + 2;
        char modifier = 0;
        if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) {
            modifier = src_[after];
            ++after;
        }
        if (kind == '{' && modifier == '+') {  // `{{+` is not a marker, just a unary plus
            modifier = 0;
            --after;
        }
        flush_data(open, kind, modifier);
        pos_ = after;
        if (kind == '#') {
            lex_comment(open);
        } else if (kind == '{') {
            tokens_.push_back(Token{TokenType::VarBegin, "{{", 0, 0, position_of(open)});
            lex_tag_body("}}", open);
        } else {
            if (is_raw_block()) return;
            tokens_.push_back(Token{TokenType::BlockBegin, "{%", 0, 0, position_of(open)});
            lex_tag_body("%}", open);
        }
        data_start_ = pos_;
    }

    // Handles what follows a tag's closing marker at `close` (length 2 after an optional '-'/'+').
    void finish_tag(size_t close_marker_end, char modifier, bool is_block_or_comment) {
        pos_ = close_marker_end;
        if (modifier == '-') {
            strip_next_data_ = true;
            line_starting_ = false;
            return;
        }
        line_starting_ = false;
        if (is_block_or_comment && modifier != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;  // trim_blocks
            line_starting_ = true;
        }
    }

    void lex_comment(size_t open) {
        size_t close = src_.find("#}", pos_);
        if (close == std::string::npos) fail(open, "unterminated comment (missing '#}')");
        char modifier = 0;
        if (close > pos_ && (src_[close - 1] == '-' || src_[close - 1] == '+')) {
            modifier = src_[close - 1];
        }
        finish_tag(close + 2, modifier, true);
    }

    // `{% raw %}...{% endraw %}` emits its content as data, untouched.
    bool is_raw_block() {
        size_t p = pos_;
        while (p < src_.size() && is_space(src_[p])) ++p;
        if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && is_name_char(src_[p + 3]))) {
            return false;
        }
        p += 3;
        while (p < src_.size() && is_space(src_[p])) ++p;
        char open_modifier = 0;
        if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) open_modifier = src_[p++];
        if (src_.compare(p, 2, "%}") != 0) fail(p, "expected '%}' after 'raw'");
        finish_tag(p + 2, open_modifier, true);
        size_t body_start = pos_;
        size_t search = pos_;
        while (true) {
            size_t open = src_.find("{%", search);
            if (open == std::string::npos) fail(body_start, "missing '{% endraw %}'");
            size_t q = open + 2;
            char end_modifier = 0;
            if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) end_modifier = src_[q++];
            while (q < src_.size() && is_space(src_[q])) ++q;
            if (src_.compare(q, 6, "endraw") != 0) {
                search = open + 2;
                continue;
            }
            q += 6;
            while (q < src_.size() && is_space(src_[q])) ++q;
            char close_modifier = 0;
            if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) close_modifier = src_[q++];
            if (src_.compare(q, 2, "%}") != 0) fail(q, "expected '%}' after 'endraw'");
            data_start_ = body_start;
            strip_next_data_ = strip_next_data_ || open_modifier == '-';
            flush_data(open, '%', end_modifier);
            finish_tag(q + 2, close_modifier, true);
            data_start_ = pos_;
            return true;
        }
    }

    void lex_tag_body(const char* close, size_t open) {
        int depth = 0;  // brackets: "}}" inside {...} is two braces, not the tag end
        while (true) {
            while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
            if (pos_ >= src_.size()) {
                fail(open, std::string("unexpected end of template, expected '") + close + "'");
            }
            if (depth == 0) {
                char modifier = 0;
                size_t p = pos_;
                if (src_[p] == '-' || src_[p] == '+') {
                    modifier = src_[p];
                    ++p;
                }
                if (src_.compare(p, 2, close) == 0) {
                    bool is_block = close[0] == '%';
                    tokens_.push_back(Token{is_block ? TokenType::BlockEnd : TokenType::VarEnd,
                                            close, 0, 0, position_of(pos_)});
                    finish_tag(p + 2, modifier, is_block);
                    return;
                }
            }
            lex_expression_token(depth);
        }
    }

    void lex_expression_token(int& depth) {
        size_t start = pos_;
        char c = src_[pos_];
        if (is_name_start(c)) {
            while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
            tokens_.push_back(
                Token{TokenType::Name, src_.substr(start, pos_ - start), 0, 0, position_of(start)});
            return;
        }
        if (is_digit(c)) {
            lex_number();
            return;
        }
        if (c == '\'' || c == '"') {
            lex_string();
            return;
        }
        static const char* const kOperators[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                                 "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                                 "]",  "{",  "}",  ",",  ".",  ":",  "|"};
        for (const char* op : kOperators) {
            size_t n = std::char_traits<char>::length(op);
            if (src_.compare(pos_, n, op) == 0) {
                if (n == 1 && (op[0] == '(' || op[0] == '[' || op[0] == '{')) ++depth;
                if (n == 1 && (op[0] == ')' || op[0] == ']' || op[0] == '}')) {
                    if (depth == 0) fail(start, std::string("unexpected '") + op + "'");
                    --depth;
                }
                pos_ += n;
                tokens_.push_back(Token{TokenType::Operator, op, 0, 0, position_of(start)});
                return;
            }
        }
        fail(start, std::string("unexpected character '") + c + "'");
    }

    void lex_number() {
        size_t start = pos_;
        std::string digits;
        bool is_float = false;
        auto take_digits = [&] {
            while (pos_ < src_.size() && (is_digit(src_[pos_]) || src_[pos_] == '_')) {
                if (src_[pos_] != '_') digits += src_[pos_];
                ++pos_;
            }
        };
        take_digits();
        if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
            is_float = true;
            digits += src_[pos_++];
            take_digits();
        }
        if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
            size_t p = pos_ + 1;
            if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
            if (p < src_.size() && is_digit(src_[p])) {
                is_float = true;
                digits += src_.substr(pos_, p - pos_);
                pos_ = p;
                take_digits();
            }
        }
        Token token{is_float ? TokenType::Float : TokenType::Integer, digits, 0, 0,
                    position_of(start)};
        errno = 0;
        if (is_float) {
            token.float_value = std::strtod(digits.c_str(), nullptr);
        } else {
            token.int_value = std::strtoll(digits.c_str(), nullptr, 10);
            if (errno == ERANGE) fail(start, "integer literal too large");
        }
        tokens_.push_back(std::move(token));
    }

    void lex_string() {
        size_t start = pos_;
        char quote = src_[pos_++];
        std::string value;
        while (true) {
            if (pos_ >= src_.size()) fail(start, "unterminated string literal");
            char c = src_[pos_++];
            if (c == quote) break;
            if (c != '\\') {
                value += c;
                continue;
            }
            if (pos_ >= src_.size()) fail(start, "unterminated string literal");
            value += decode_escape(start);
        }
        tokens_.push_back(Token{TokenType::String, std::move(value), 0, 0, position_of(start)});
    }

    // Python string-literal escapes (the ones templates use); unknown escapes stay as written.
    std::string decode_escape(size_t string_start) {
        char e = src_[pos_++];
        switch (e) {
            case 'n':
                return "\n";
            case 't':
                return "\t";
            case 'r':
                return "\r";
            case '0':
                return std::string(1, '\0');
            case 'a':
                return "\a";
            case 'b':
                return "\b";
            case 'f':
                return "\f";
            case 'v':
                return "\v";
            case '\\':
                return "\\";
            case '\'':
                return "'";
            case '"':
                return "\"";
            case '\n':
                return "";
            case 'x':
            case 'u':
            case 'U': {
                int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                if (pos_ + n > src_.size())
                    fail(string_start, "truncated escape in string literal");
                uint32_t cp = 0;
                for (int i = 0; i < n; ++i) {
                    char h = src_[pos_++];
                    int digit = is_digit(h)              ? h - '0'
                                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                         : -1;
                    if (digit < 0) fail(string_start, "bad escape in string literal");
                    cp = cp * 16 + static_cast<uint32_t>(digit);
                }
                if (cp > 0x10FFFF) fail(string_start, "bad escape in string literal");
                std::string out;
                append_utf8(out, cp);
                return out;
            }
            default:
                return std::string("\\") + e;
        }
    }
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
    return Lexer(source).run();
}

}  // namespace hearth::chat
