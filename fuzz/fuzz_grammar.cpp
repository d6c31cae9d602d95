// libFuzzer target: arbitrary text through the GBNF parser and, when it parses as JSON,
// through the JSON-Schema compiler; every grammar that compiles is then run over the input's
// own bytes in pieces. Findings: crashes, hangs, sanitizer reports, any exception other than
// GrammarError, a compiled schema whose GBNF the parser refuses, and a matcher whose answer
// depends on how the bytes are split.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/grammar.h"
#include "runtime/grammar_matcher.h"
#include "runtime/json_schema.h"

using namespace hearth::runtime;

namespace {

void run(const std::shared_ptr<const Grammar>& g, const std::string& text) {
    GrammarMatcher whole(g);
    const bool ok = whole.accept_bytes(text);
    GrammarMatcher pieces(g);
    bool ok2 = true;
    for (size_t i = 0; i < text.size() && ok2; i += 3) ok2 = pieces.accept_bytes(text.substr(i, 3));
    if (ok != ok2) __builtin_trap();
    if (ok && whole.can_end() != pieces.can_end()) __builtin_trap();
    // A small vocabulary of the input's bytes: the mask must agree with accept_bytes.
    std::vector<std::string> tokens;
    for (size_t i = 0; i + 2 <= text.size() && tokens.size() < 64; i += 2)
        tokens.push_back(text.substr(i, 1 + (static_cast<unsigned char>(text[i]) % 3)));
    tokens.push_back("");
    TokenTable table(tokens, {static_cast<int32_t>(tokens.size() - 1)});
    GrammarMatcher m(g);
    const auto mask = m.allowed_tokens(table);
    for (int32_t id = 0; id + 1 < table.n_vocab(); ++id) {
        GrammarMatcher one(g);
        const bool allowed = one.accept_bytes(table.bytes(id));
        if (allowed != (((mask[id >> 6] >> (id & 63)) & 1) != 0)) __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        run(Grammar::parse_gbnf(text), text);
    } catch (const GrammarError&) {
    }
    auto schema = nlohmann::ordered_json::parse(text, nullptr, false);
    if (!schema.is_discarded()) {
        std::string gbnf;
        try {
            gbnf = json_schema_to_gbnf(schema);
        } catch (const GrammarError&) {
            return 0;
        }
        std::shared_ptr<const Grammar> g;
        try {
            g = Grammar::parse_gbnf(gbnf);
        } catch (const GrammarError& e) {
            // Only a schema that cannot be satisfied may fail here (recursion without a base).
            if (std::string(e.what()).find("without a base case") == std::string::npos)
                __builtin_trap();
            return 0;
        }
        run(g, schema.dump());
    }
    return 0;
}
