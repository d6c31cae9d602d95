#pragma once
// Jinja parser: tokens to syntax tree, with jinja2's operator precedence. Unknown tags, filters
// and tests are refused here, as jinja2 refuses them when it compiles the template.
#include <string_view>

#include "chat/ast.h"

namespace hearth::chat {

// Throws JinjaError with the line and column of the offending token.
Template parse_template(std::string_view source);

// Names the interpreter implements (the parser checks templates against them).
bool is_known_filter(std::string_view name);
bool is_known_test(std::string_view name);

}  // namespace hearth::chat
