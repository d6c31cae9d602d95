#pragma once
// Grammars for constrained decoding: the GBNF text format (rules `name ::= alternatives`,
// literals, character classes, groups, repetition) parsed into a flat table of rules over
// Unicode code points. A Grammar is immutable and shared by every request that uses it; the
// GrammarMatcher (grammar_matcher.h) walks it. docs/GRAMMARS.md describes the format and limits.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace hearth::runtime {

// A grammar (or a JSON schema) that cannot be used; the message names the place (line:column
// in GBNF text, the JSON pointer in a schema) and what is wrong.
class GrammarError : public Error {
  public:
    using Error::Error;
};

struct GrammarLimits {
    size_t max_text_bytes = 256 * 1024;  // GBNF text
    size_t max_rules = 100000;           // after repetitions are expanded into rules
    size_t max_elements = 1u << 21;      // symbols in all alternatives
    uint32_t max_repetition = 1000;      // m and n of {m,n}
};

class Grammar {
  public:
    enum class Op : uint8_t {
        End,   // end of an alternative
        Char,  // one code point of a character class (arg: class index)
        Rule,  // a reference (arg: rule index)
    };
    struct Element {
        Op op;
        uint32_t arg;
    };
    struct CharClass {
        std::vector<std::pair<uint32_t, uint32_t>> ranges;  // sorted, merged, inclusive
        bool negated = false;
        uint64_t ascii[2] = {0, 0};  // the class's answer for code points below 128

        bool matches(uint32_t cp) const;
        // Whether some code point in [lo, hi] matches.
        bool matches_any(uint32_t lo, uint32_t hi) const;
    };
    struct Rule {
        std::string name;
        std::vector<uint32_t> alternatives;  // index of each alternative's first element
    };

    // Parses GBNF text; the start rule is `root`. Throws GrammarError.
    static std::shared_ptr<const Grammar> parse_gbnf(std::string_view text,
                                                     const GrammarLimits& limits = {});
    // Any JSON object (OpenAI's response_format json_object), with bounded whitespace.
    static std::shared_ptr<const Grammar> any_json_object();
    // Any JSON value.
    static std::shared_ptr<const Grammar> any_json();
    // GBNF text of any JSON value (rules `value`, `object`, `array`, `string`, `number`, `ws`),
    // shared with the JSON-Schema compiler.
    static const char* json_gbnf_rules();

    // Token masks shared by every GrammarMatcher of this grammar (so a second request with the
    // same Grammar object starts warm), keyed by the token table's id and the contents of a
    // matcher state. Thread-safe; at most kMaxSharedMaskBytes are kept.
    using Mask = std::vector<uint64_t>;
    static constexpr size_t kMaxSharedMaskBytes = size_t{64} << 20;
    std::shared_ptr<const Mask> find_mask(const std::string& key) const;
    void store_mask(const std::string& key, std::shared_ptr<const Mask> mask) const;

    const std::vector<Element>& elements() const { return elements_; }
    const std::vector<CharClass>& classes() const { return classes_; }
    const std::vector<Rule>& rules() const { return rules_; }
    uint32_t root() const { return root_; }

  private:
    friend class GbnfParser;
    std::vector<Element> elements_;
    std::vector<CharClass> classes_;
    std::vector<Rule> rules_;
    uint32_t root_ = 0;

    mutable std::mutex mask_mutex_;
    mutable std::unordered_map<std::string, std::shared_ptr<const Mask>> masks_;
    mutable size_t mask_bytes_ = 0;
};

}  // namespace hearth::runtime
