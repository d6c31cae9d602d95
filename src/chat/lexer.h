#pragma once
// Jinja lexer with the whitespace rules Hugging Face uses: trim_blocks (drop the newline after a
// block or comment tag), lstrip_blocks (drop spaces/tabs before a block or comment tag that
// starts its line), `-` markers that strip all whitespace on one side, `+` markers that turn the
// two options off for one tag, and no keep_trailing_newline (one final newline is dropped).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/errors.h"

namespace hearth::chat {

enum class TokenType {
    Data,        // raw template text
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,        // identifiers and keywords
    String,      // literal with escapes already decoded
    Integer,
    Float,
    Operator,  // + - * / // % ** ~ == != < > <= >= = ( ) [ ] { } , . : |
    End,
};

struct Token {
    TokenType type = TokenType::End;
    std::string text;  // Data text, name, decoded string, operator spelling
    int64_t int_value = 0;
    double float_value = 0;
    SourcePos pos;
};

// Splits `source` into tokens. Throws JinjaError (with line and column) on malformed input
// such as an unterminated tag or string.
std::vector<Token> tokenize(std::string_view source);

}  // namespace hearth::chat
