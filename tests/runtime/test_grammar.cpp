// The GBNF parser (errors name the place), the recognizer against hand-made grammars, and the
// token mask against a brute-force check of every token of a real vocabulary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <chrono>
#include <random>

#include "gguf/reader.h"
#include "runtime/grammar.h"
#include "runtime/grammar_matcher.h"
#include "tokenizer/tokenizer.h"

using namespace hearth;
using namespace hearth::runtime;

namespace {

bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text) {
    GrammarMatcher m(g);
    return m.accept_bytes(text) && m.can_end();
}
bool matches(std::string_view gbnf, std::string_view text) {
    return matches(Grammar::parse_gbnf(gbnf), text);
}
// A prefix of some sentence (the matcher has not rejected it).
bool viable(std::string_view gbnf, std::string_view text) {
    GrammarMatcher m(Grammar::parse_gbnf(gbnf));
    return m.accept_bytes(text);
}

std::string error_of(std::string_view gbnf) {
    try {
        Grammar::parse_gbnf(gbnf);
    } catch (const GrammarError& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST(Gbnf, LiteralsAndAlternatives) {
    const char* g = R"(root ::= "yes" | "no" | "maybe")";
    EXPECT_TRUE(matches(g, "yes"));
    EXPECT_TRUE(matches(g, "maybe"));
    EXPECT_FALSE(matches(g, "ye"));
    EXPECT_TRUE(viable(g, "ye"));
    EXPECT_FALSE(viable(g, "yess"));
    EXPECT_FALSE(matches(g, ""));
}

TEST(Gbnf, RulesGroupsCommentsAndLines) {
    const char* g = R"(# a greeting
root ::= greeting ", " name   # trailing comment
greeting ::=
    "hello"
  | "hi"
name ::= ( [A-Z] [a-z]* ) | "you")";
    EXPECT_TRUE(matches(g, "hello, World"));
    EXPECT_TRUE(matches(g, "hi, you"));
    EXPECT_TRUE(matches(g, "hi, X"));
    EXPECT_FALSE(matches(g, "hi, world"));
    EXPECT_FALSE(matches(g, "hey, you"));
}

TEST(Gbnf, CharClassesAndNegation) {
    const char* g = R"(root ::= [a-cx] [^0-9\n] [\-\]] .)";
    EXPECT_TRUE(matches(g, "ax-!"));
    EXPECT_TRUE(matches(g, "c ]\xC3\xA9"));
    EXPECT_FALSE(matches(g, "d ]z"));
    EXPECT_FALSE(matches(g, "a5]z"));
    EXPECT_FALSE(matches(g, "a\n]z"));
}

TEST(Gbnf, EscapesInLiteralsAndClasses) {
    const char* g = R"(root ::= "\x41\u00e9\U0001F600\t\"\\" [\x30-\x39])";
    EXPECT_TRUE(matches(g, "A\xC3\xA9\xF0\x9F\x98\x80\t\"\\7"));
    EXPECT_FALSE(matches(g, "A\xC3\xA9\xF0\x9F\x98\x80\t\"\\x"));
}

TEST(Gbnf, Utf8ClassesAndSplitCharacters) {
    auto g = Grammar::parse_gbnf(R"(root ::= [一-龥]+ "!")");
    EXPECT_TRUE(matches(g, "\xE4\xBD\xA0\xE5\xA5\xBD!"));  // 你好!
    EXPECT_FALSE(matches(g, "a!"));
    // A character split across tokens.
    GrammarMatcher m(g);
    EXPECT_TRUE(m.accept_bytes("\xE4"));
    EXPECT_FALSE(m.can_end());
    EXPECT_TRUE(m.accept_bytes("\xBD"));
    EXPECT_TRUE(m.accept_bytes("\xA0!"));
    EXPECT_TRUE(m.can_end());
    // A lead byte no allowed character starts with is rejected at once.
    GrammarMatcher n(g);
    EXPECT_FALSE(n.accept_bytes("\xC3"));
    // Invalid UTF-8 never matches, even under "any character".
    EXPECT_FALSE(matches(R"(root ::= .+)", "\xC0\x80"));
    EXPECT_FALSE(matches(R"(root ::= .+)", "\xED\xA0\x80"));  // a surrogate
    EXPECT_FALSE(matches(R"(root ::= .+)", "\xFF"));
    EXPECT_TRUE(matches(R"(root ::= .+)", "\xF4\x8F\xBF\xBF"));
}

TEST(Gbnf, RepetitionBounds) {
    const char* g = R"(root ::= "a"{2,4} "b"{3} ("c" "d"){0,2} "e"{1,} "f"?)";
    EXPECT_TRUE(matches(g, "aabbbe"));
    EXPECT_TRUE(matches(g, "aaaabbbcdcdeeef"));
    EXPECT_FALSE(matches(g, "abbbe"));
    EXPECT_FALSE(matches(g, "aaaaabbbe"));
    EXPECT_FALSE(matches(g, "aabbe"));
    EXPECT_FALSE(matches(g, "aabbbcdcdcde"));
    EXPECT_FALSE(matches(g, "aabbb"));
    EXPECT_FALSE(matches(g, "aabbbeff"));
    std::string many(1000, 'x');
    EXPECT_TRUE(matches(R"(root ::= "x"{1000})", many));
    EXPECT_FALSE(matches(R"(root ::= "x"{1000})", many + "x"));
    EXPECT_TRUE(matches(R"(root ::= "x"{0,1000})", many));
}

TEST(Gbnf, RecursionAndEmptyAlternatives) {
    const char* g = R"g(root ::= item
item ::= "(" item ")" | "")g";
    std::string deep = std::string(500, '(') + std::string(500, ')');
    EXPECT_TRUE(matches(g, deep));
    EXPECT_TRUE(matches(g, ""));
    EXPECT_FALSE(matches(g, "(()"));
    // Right recursion runs in constant stack depth.
    const char* list = R"(root ::= "[" items "]"
items ::= [0-9] ("," items)?)";
    std::string text = "[";
    for (int i = 0; i < 3000; ++i) text += i ? ",7" : "7";
    text += "]";
    GrammarMatcher m(Grammar::parse_gbnf(list));
    EXPECT_TRUE(m.accept_bytes(text));
    EXPECT_TRUE(m.can_end());
    EXPECT_TRUE(m.finished());
}

TEST(Gbnf, AmbiguityIsBounded) {
    // Every split of the a's is a parse; the matcher keeps the stacks deduplicated.
    GrammarMatcher m(Grammar::parse_gbnf(R"(root ::= ("a" | "aa" | "aaa")*)"));
    EXPECT_TRUE(m.accept_bytes(std::string(200, 'a')));
    EXPECT_TRUE(m.can_end());
    EXPECT_LE(m.n_stacks(), GrammarMatcher::kMaxStacks);
    // Nested quantifiers (a fuzzer find: 20 s per input before expansion was bounded).
    const auto t0 = std::chrono::steady_clock::now();
    GrammarMatcher nested(Grammar::parse_gbnf("root ::= [a-z]" + std::string(30, '+') + "{3,5}"));
    EXPECT_TRUE(nested.accept_bytes(std::string(40, 'q')));
    EXPECT_TRUE(nested.can_end());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(Gbnf, JsonGrammar) {
    auto g = Grammar::any_json_object();
    EXPECT_TRUE(matches(g, R"({"a": [1, 2.5, -3e10, true, null, "x\n\u00e9"], "b": {}})"));
    EXPECT_TRUE(matches(g, "{\n  \"k\": \"v\"\n}"));
    EXPECT_FALSE(matches(g, R"({"a": 01})"));
    EXPECT_FALSE(matches(g, R"({"a" 1})"));
    EXPECT_FALSE(matches(g, R"([1])"));
    EXPECT_FALSE(matches(g, "{\"a\":\"\x01\"}"));
    EXPECT_FALSE(matches(g, "{       }"));  // whitespace is bounded
    EXPECT_FALSE(matches(g, R"({"a": 12345678901234567890})"));
}

TEST(GbnfErrors, NameThePlace) {
    struct Case {
        const char* text;
        const char* expect;
    };
    const Case cases[] = {
        {"root ::= foo", "line 1, column 10: undefined rule 'foo'"},
        {"a ::= \"x\"", "no rule named 'root'"},
        {"root ::= (\"a\" | \"b\"\nb ::= \"c\"", "line 1, column 10: unbalanced '('"},
        {"root ::= \"a\" )", "line 1, column 14: unbalanced ')'"},
        {"root ::= \"a\\q\"", "line 1, column 12: bad escape '\\q'"},
        {"root ::= \"\\x4\"", "bad escape: expected 2 hex digits"},
        {"root ::= \"\\uD800\"", "not a Unicode scalar value"},
        {"root ::= \"a\"\nempty ::=\n", "line 2, column 1: rule 'empty' is empty"},
        {"root ::= \"abc", "line 1, column 10: unterminated string literal"},
        {"root ::= [abc", "unterminated character class"},
        {"root ::= []", "empty character class"},
        {"root ::= [z-a]", "character range is reversed"},
        {"root ::= root \"a\" | \"b\"", "left recursion (root -> root)"},
        {"root ::= x\nx ::= y? x \"a\" | \"c\"\ny ::= \"b\"", "left recursion (x -> x)"},
        {"root ::= \"a\" root", "'root' is recursive without a base case"},
        {"root ::= \"a\"{1001}", "repetition bound larger than 1000"},
        {"root ::= \"a\"{3,2}", "n smaller than m"},
        {"root ::= \"a\"{2", "expected '}'"},
        {"root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice"},
        {"root ::= \"a\" @", "line 1, column 14: unexpected '@'"},
        {"root := \"a\"", "expected '::=' after the rule name 'root'"},
        {"", "the grammar is empty"},
        {"root ::= \"\xFF\"", "invalid UTF-8"},
    };
    for (const Case& c : cases) {
        std::string err = error_of(c.text);
        EXPECT_NE(err.find(c.expect), std::string::npos)
            << "grammar: " << c.text << "\nerror: " << err << "\nexpected: " << c.expect;
    }
}

TEST(GbnfErrors, Limits) {
    std::string big = "root ::= \"" + std::string(300 * 1024, 'a') + "\"";
    EXPECT_NE(error_of(big).find("more than the limit"), std::string::npos);
    std::string deep = "root ::= " + std::string(300, '(') + "\"a\"" + std::string(300, ')');
    EXPECT_NE(error_of(deep).find("nested deeper"), std::string::npos);
    // Nested repetitions stay small: each level is one rule reference per copy.
    EXPECT_EQ(error_of(R"(root ::= (("a"{1000}){1000}){1000})"), "(no error)");
    try {
        Grammar::parse_gbnf(R"(root ::= "a"{0,500})", GrammarLimits{.max_rules = 100});
        FAIL();
    } catch (const GrammarError& e) {
        EXPECT_NE(std::string(e.what()).find("more than 100 rules"), std::string::npos);
    }
}

// The mask against the oracle: for every token, does a fresh matcher accept its bytes?
TEST(GrammarMask, EqualsBruteForceOnLlamaSpmVocab) {
    auto file = gguf::File::open(std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-llama-spm.gguf");
    auto tok = tokenizer::Tokenizer::from_gguf(file);
    auto table = TokenTable::from_tokenizer(*tok);
    ASSERT_EQ(table->n_vocab(), 32000);
    struct Case {
        std::string gbnf;
        std::vector<std::string> prefixes;
    };
    const std::string json = std::string("root ::= object\n") + Grammar::json_gbnf_rules();
    const Case cases[] = {
        {json, {"", "{", "{\"", "{\"ab", "{\"a\": ", "{\"a\": 1", "{\"a\": 0", "{\"a\": [",
                "{\"a\": \"\xE4", "{\"a\": \"\\", "{\"a\": \"\\u00", "{\"a\": tr",
                "{\"a\": {\"b\": []}", "{\"a\": 1}"}},
        {R"(root ::= [一-龥]+ "。" | "ok " [a-z]{2,3})", {"", "\xE4", "\xE4\xBD\xA0", "ok ", "ok ab"}},
        {R"(root ::= "The " ("cat" | "dog" | "bird") [ \n]+ "sat." )", {"", "The ", "The dog", "The dog  "}},
    };
    GrammarMatcher oracle(Grammar::parse_gbnf(cases[0].gbnf));
    for (const Case& c : cases) {
        auto g = Grammar::parse_gbnf(c.gbnf);
        GrammarMatcher oracle_m(g);
        for (const std::string& prefix : c.prefixes) {
            GrammarMatcher m(g);
            ASSERT_TRUE(m.accept_bytes(prefix)) << prefix;
            const std::vector<uint64_t> mask = m.allowed_tokens(*table);
            size_t allowed = 0;
            for (int32_t id = 0; id < table->n_vocab(); ++id) {
                bool expect;
                const std::string& bytes = table->bytes(id);
                if (bytes.empty()) {
                    bool is_end = false;
                    for (int32_t e : table->end_ids()) is_end = is_end || e == id;
                    expect = is_end && m.can_end();
                } else {
                    oracle_m.reset();
                    expect = oracle_m.accept_bytes(prefix);
                    for (char ch : bytes) expect = expect && oracle_m.accept_bytes({&ch, 1});
                }
                const bool got = (mask[id >> 6] >> (id & 63)) & 1;
                allowed += got;
                ASSERT_EQ(got, expect) << "prefix '" << prefix << "' token " << id << " '"
                                       << bytes << "'";
            }
            EXPECT_GT(allowed, 0u) << prefix;
            // Cached: the same state gives the same mask.
            EXPECT_EQ(m.allowed_tokens(*table), mask);
        }
    }
}

// Random walks through the JSON grammar (random allowed token each step) give text that a
// JSON parser accepts.
TEST(GrammarMask, RandomTokenWalksGiveValidJson) {
    auto file = gguf::File::open(std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-llama-spm.gguf");
    auto tok = tokenizer::Tokenizer::from_gguf(file);
    auto table = TokenTable::from_tokenizer(*tok);
    auto g = Grammar::any_json_object();
    std::mt19937 rng(7);
    int completed = 0;
    for (int walk = 0; walk < 40; ++walk) {
        GrammarMatcher m(g);
        std::string text;
        for (int step = 0; step < 400; ++step) {
            const auto& mask = m.allowed_tokens(*table);
            std::vector<int32_t> ids;
            for (int32_t id = 0; id < table->n_vocab(); ++id)
                if ((mask[id >> 6] >> (id & 63)) & 1) ids.push_back(id);
            ASSERT_FALSE(ids.empty()) << text;
            // Prefer closing brackets as the walk gets long, so walks finish.
            int32_t pick = ids[rng() % ids.size()];
            if (step > 40 && (rng() % 2)) {
                for (int32_t id : ids)
                    if (table->bytes(id) == "}" || table->bytes(id) == "]" ||
                        table->bytes(id) == "\"" || table->bytes(id).empty())
                        pick = id;
            }
            if (table->bytes(pick).empty()) break;  // end of generation
            ASSERT_TRUE(m.accept_bytes(table->bytes(pick)));
            text += table->bytes(pick);
            if (m.finished()) break;
        }
        if (m.can_end()) {
            ++completed;
            EXPECT_TRUE(nlohmann::json::accept(text)) << text;
            EXPECT_TRUE(nlohmann::json::parse(text).is_object()) << text;
        }
    }
    EXPECT_GT(completed, 10);
}

// Rebuilding the caches from the current state (memory bound) changes no answer.
TEST(GrammarMask, CompactingTheCachesKeepsTheState) {
    auto g = Grammar::parse_gbnf(std::string("root ::= \"[\" ( obj ( \",\" obj )* )? \"]\"\n") +
                                 "obj ::= \"{\\\"k\\\": \\\"\" char{0,40} \"\\\"}\"\n" +
                                 Grammar::json_gbnf_rules());
    std::vector<std::string> pieces = {"a", "b", "\"", "}", ",", "{", "[", "]", " ", "\"k\": ", "xy\\n", "\xC3", "\xA9"};
    pieces.push_back("");
    TokenTable table(pieces, {static_cast<int32_t>(pieces.size() - 1)});
    GrammarMatcher small(g), big(g);
    small.set_max_states(20);
    const std::string text = "[{\"k\": \"abc\xC3\xA9\"},{\"k\": \"\"},{\"k\": \"xyxyxyxyxyxyxyxyxyxyxy\"}]";
    for (size_t i = 0; i < text.size(); i += 2) {
        const std::string piece = text.substr(i, 2);
        ASSERT_EQ(small.allowed_tokens(table), big.allowed_tokens(table)) << i;
        ASSERT_TRUE(big.accept_bytes(piece)) << i;
        ASSERT_TRUE(small.accept_bytes(piece)) << i;
        ASSERT_EQ(small.can_end(), big.can_end());
        ASSERT_LE(small.n_states(), 200u);
    }
    EXPECT_TRUE(small.can_end());
}

// Matchers of one Grammar share masks: a second matcher walking the same text computes none.
TEST(GrammarMask, SharedAcrossMatchersOfOneGrammar) {
    auto file = gguf::File::open(std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-llama-spm.gguf");
    auto tok = tokenizer::Tokenizer::from_gguf(file);
    auto table = TokenTable::from_tokenizer(*tok);
    auto g = Grammar::parse_gbnf(std::string("root ::= object\n") + Grammar::json_gbnf_rules());
    const std::string text = R"({"a": [1, {"b": "x\u00e9"}], "c": null})";
    GrammarMatcher first(g);
    std::vector<std::vector<uint64_t>> masks;
    for (char c : text) {
        masks.push_back(first.allowed_tokens(*table));
        ASSERT_TRUE(first.accept_bytes({&c, 1}));
    }
    EXPECT_GT(first.masks_computed(), 5u);
    GrammarMatcher second(g);
    for (size_t i = 0; i < text.size(); ++i) {
        EXPECT_EQ(second.allowed_tokens(*table), masks[i]) << i;
        ASSERT_TRUE(second.accept_bytes({&text[i], 1}));
    }
    EXPECT_EQ(second.masks_computed(), 0u);
    // Another table (even with the same bytes) does not see those masks.
    auto other = TokenTable::from_tokenizer(*tok);
    GrammarMatcher third(g);
    EXPECT_EQ(third.allowed_tokens(*other), masks[0]);
    EXPECT_EQ(third.masks_computed(), 1u);
}
