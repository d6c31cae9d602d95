#pragma once
// JSON Schema -> GBNF, for structured output (OpenAI's response_format json_schema and forced
// tool calls). docs/GRAMMARS.md lists the keywords; anything else is refused with a
// GrammarError naming the keyword and where it is (a JSON pointer into the schema).
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/grammar.h"

namespace hearth::runtime {

// GBNF text whose `root` matches exactly the JSON texts the schema accepts (with bounded
// whitespace between tokens). Throws GrammarError.
// Properties are generated in the schema's order: pass an ordered_json to keep the order the
// client wrote (nlohmann::json sorts keys).
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema);
std::string json_schema_to_gbnf(const nlohmann::json& schema);

// json_schema_to_gbnf, parsed.
std::shared_ptr<const Grammar> grammar_from_json_schema(const nlohmann::ordered_json& schema);
std::shared_ptr<const Grammar> grammar_from_json_schema(const nlohmann::json& schema);

}  // namespace hearth::runtime
