#include "runtime/grammar.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace hearth::runtime {

bool Grammar::CharClass::matches(uint32_t cp) const {
    if (cp < 128) return (ascii[cp >> 6] >> (cp & 63)) & 1;
    auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                               [](uint32_t v, const auto& r) { return v < r.first; });
    bool in = it != ranges.begin() && cp <= std::prev(it)->second;
    return in != negated;
}

bool Grammar::CharClass::matches_any(uint32_t lo, uint32_t hi) const {
    if (!negated) {
        for (const auto& r : ranges)
            if (r.first <= hi && lo <= r.second) return true;
        return false;
    }
    for (const auto& r : ranges)
        if (r.first <= lo && hi <= r.second) return false;  // ranges are merged
    return true;
}

namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr int kMaxNesting = 256;

// Decodes one UTF-8 code point at s[i]; returns its length, 0 if invalid.
size_t decode_utf8(std::string_view s, size_t i, uint32_t& cp) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    unsigned char c = b(0);
    size_t n;
    uint32_t min;
    if (c < 0x80) {
        cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((b(k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(k) & 0x3F);
    }
    if (cp < min || cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

}  // namespace

// Recursive descent over the GBNF text. Rules are collected as alternatives of elements and
// flattened into the Grammar's tables at the end, after the checks.
class GbnfParser {
  public:
    GbnfParser(std::string_view text, const GrammarLimits& limits) : text_(text), limits_(limits) {}

    std::shared_ptr<const Grammar> parse() {
        if (text_.size() > limits_.max_text_bytes)
            throw GrammarError("grammar: the text is " + std::to_string(text_.size()) +
                               " bytes, more than the limit of " +
                               std::to_string(limits_.max_text_bytes));
        for (size_t i = 0; i < text_.size();) {
            uint32_t cp;
            size_t n = decode_utf8(text_, i, cp);
            if (n == 0) fail(i, "invalid UTF-8");
            i += n;
        }
        skip_space();
        if (eof()) fail(pos_, "the grammar is empty (it needs a rule named 'root')");
        while (!eof()) {
            if (peek() == ')') fail(pos_, "unbalanced ')': no '(' opened this group");
            if (peek() == '|') fail(pos_, "'|' outside of a rule body");
            const size_t name_at = pos_;
            std::string name = parse_name();
            if (name.empty()) fail(pos_, std::string("expected a rule name, found ") + describe());
            skip_space();
            if (text_.compare(pos_, 3, "::=") != 0)
                fail(pos_, "expected '::=' after the rule name '" + name + "'");
            pos_ += 3;
            uint32_t id = rule_id(name, name_at);
            if (rules_[id].defined)
                fail(name_at, "rule '" + name + "' is defined twice (first at " +
                                  where(rules_[id].defined_at) + ")");
            rules_[id].defined = true;
            rules_[id].defined_at = name_at;
            skip_space();
            const size_t body_at = pos_;
            auto alts = parse_alternates(name, 0);
            if (alts.size() == 1 && alts[0].empty() && pos_ == body_at)
                fail(name_at, "rule '" + name + "' is empty (write \"\" for the empty string)");
            rules_[id].alts = std::move(alts);
            skip_space();
        }
        return finish();
    }

  private:
    struct PRule {
        std::string name;
        std::vector<std::vector<Grammar::Element>> alts;
        bool defined = false;
        size_t defined_at = 0;
        size_t first_use = 0;
    };
    using Seq = std::vector<Grammar::Element>;

    std::string_view text_;
    const GrammarLimits& limits_;
    size_t pos_ = 0;
    std::vector<PRule> rules_;
    std::unordered_map<std::string, uint32_t> by_name_;
    std::vector<Grammar::CharClass> classes_;
    std::unordered_map<uint32_t, uint32_t> single_char_class_;
    size_t n_elements_ = 0;

    bool eof() const { return pos_ >= text_.size(); }
    char peek(size_t k = 0) const { return pos_ + k < text_.size() ? text_[pos_ + k] : '\0'; }

    std::string where(size_t at) const {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at && i < text_.size(); ++i) {
            if (text_[i] == '\n') {
                ++line;
                col = 1;
            } else if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
                ++col;
            }
        }
        return "line " + std::to_string(line) + ", column " + std::to_string(col);
    }
    [[noreturn]] void fail(size_t at, const std::string& what) const {
        throw GrammarError("grammar: " + where(at) + ": " + what);
    }
    std::string describe() const {
        if (eof()) return "the end of the text";
        unsigned char c = static_cast<unsigned char>(peek());
        if (c < 0x20 || c >= 0x7F) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
            return buf;
        }
        return std::string("'") + static_cast<char>(c) + "'";
    }

    void skip_space() {
        while (!eof()) {
            char c = peek();
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                ++pos_;
            } else if (c == '#') {
                while (!eof() && peek() != '\n') ++pos_;
            } else {
                break;
            }
        }
    }

    static bool is_name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    }
    std::string parse_name() {
        size_t start = pos_;
        while (!eof() && is_name_char(peek())) ++pos_;
        return std::string(text_.substr(start, pos_ - start));
    }
    // At a name: is it the start of the next rule (`name ::=`)?
    bool at_rule_start() const {
        size_t p = pos_;
        while (p < text_.size() && is_name_char(text_[p])) ++p;
        while (p < text_.size()) {
            char c = text_[p];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                ++p;
            } else if (c == '#') {
                while (p < text_.size() && text_[p] != '\n') ++p;
            } else {
                break;
            }
        }
        return text_.compare(p, 3, "::=") == 0;
    }

    uint32_t rule_id(const std::string& name, size_t at) {
        auto it = by_name_.find(name);
        if (it != by_name_.end()) return it->second;
        return new_rule(name, at);
    }
    uint32_t new_rule(const std::string& name, size_t at) {
        if (rules_.size() >= limits_.max_rules)
            fail(at, "more than " + std::to_string(limits_.max_rules) +
                         " rules (repetitions count one rule per optional copy)");
        uint32_t id = static_cast<uint32_t>(rules_.size());
        rules_.push_back({name, {}, false, 0, at});
        by_name_.emplace(name, id);
        return id;
    }
    uint32_t aux_rule(const std::string& base, size_t at,
                      std::vector<std::vector<Grammar::Element>> alts) {
        std::string name;
        for (size_t k = rules_.size();; ++k) {
            name = base + "-" + std::to_string(k);
            if (!by_name_.count(name)) break;
        }
        uint32_t id = new_rule(name, at);
        rules_[id].defined = true;
        rules_[id].defined_at = at;
        for (const auto& a : alts) count_elements(a.size() + 1, at);
        rules_[id].alts = std::move(alts);
        return id;
    }
    void count_elements(size_t n, size_t at) {
        n_elements_ += n;
        if (n_elements_ > limits_.max_elements)
            fail(at, "the grammar is too large (more than " +
                         std::to_string(limits_.max_elements) + " symbols after expansion)");
    }

    uint32_t add_class(Grammar::CharClass cls) {
        std::sort(cls.ranges.begin(), cls.ranges.end());
        std::vector<std::pair<uint32_t, uint32_t>> merged;
        for (const auto& r : cls.ranges) {
            if (!merged.empty() && r.first <= merged.back().second + 1)
                merged.back().second = std::max(merged.back().second, r.second);
            else
                merged.push_back(r);
        }
        cls.ranges = std::move(merged);
        for (uint32_t c = 0; c < 128; ++c) {
            bool in = false;
            for (const auto& r : cls.ranges) in = in || (r.first <= c && c <= r.second);
            if (in != cls.negated) cls.ascii[c >> 6] |= uint64_t{1} << (c & 63);
        }
        classes_.push_back(std::move(cls));
        return static_cast<uint32_t>(classes_.size() - 1);
    }
    uint32_t char_class(uint32_t cp) {
        auto it = single_char_class_.find(cp);
        if (it != single_char_class_.end()) return it->second;
        Grammar::CharClass cls;
        cls.ranges.push_back({cp, cp});
        uint32_t id = add_class(std::move(cls));
        single_char_class_.emplace(cp, id);
        return id;
    }

    uint32_t parse_hex(size_t digits, size_t esc_at) {
        uint32_t v = 0;
        for (size_t k = 0; k < digits; ++k) {
            char c = peek();
            int d = (c >= '0' && c <= '9')   ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
            if (d < 0)
                fail(esc_at, "bad escape: expected " + std::to_string(digits) +
                                 " hex digits, found " + describe());
            v = v * 16 + static_cast<uint32_t>(d);
            ++pos_;
        }
        if (v > kMaxCodePoint || (v >= 0xD800 && v <= 0xDFFF))
            fail(esc_at, "bad escape: U+" + std::to_string(v) + " is not a Unicode scalar value");
        return v;
    }
    // One character of a literal or class: an escape or a UTF-8 code point.
    uint32_t parse_char() {
        if (peek() == '\\') {
            const size_t at = pos_;
            ++pos_;
            if (eof()) fail(at, "bad escape: '\\' at the end of the text");
            char c = peek();
            ++pos_;
            switch (c) {
                case 'n': return '\n';
                case 't': return '\t';
                case 'r': return '\r';
                case '0': return 0;
                case '\\': case '"': case '\'': case '[': case ']': case '-': case '/':
                case '^': case '.': case '(': case ')': case '|': case '*': case '+': case '?':
                case '{': case '}': case ' ':
                    return static_cast<unsigned char>(c);
                case 'x': return parse_hex(2, at);
                case 'u': return parse_hex(4, at);
                case 'U': return parse_hex(8, at);
                default:
                    --pos_;
                    fail(at, "bad escape '\\" + std::string(1, c) +
                                 "' (known: \\n \\t \\r \\\\ \\\" \\[ \\] \\xHH \\uHHHH "
                                 "\\UHHHHHHHH)");
            }
        }
        uint32_t cp = 0;
        size_t n = decode_utf8(text_, pos_, cp);
        pos_ += n;  // the text was validated up front
        return cp;
    }

    Seq parse_literal() {
        const size_t open = pos_;
        ++pos_;
        Seq seq;
        while (true) {
            if (eof()) fail(open, "unterminated string literal");
            if (peek() == '"') {
                ++pos_;
                break;
            }
            seq.push_back({Grammar::Op::Char, char_class(parse_char())});
        }
        return seq;
    }

    Seq parse_class() {
        const size_t open = pos_;
        ++pos_;
        Grammar::CharClass cls;
        if (peek() == '^') {
            cls.negated = true;
            ++pos_;
        }
        while (true) {
            if (eof()) fail(open, "unterminated character class (no ']')");
            if (peek() == ']') {
                ++pos_;
                break;
            }
            uint32_t lo = parse_char();
            uint32_t hi = lo;
            if (peek() == '-' && peek(1) != ']' && pos_ + 1 < text_.size()) {
                const size_t dash = pos_;
                ++pos_;
                hi = parse_char();
                if (hi < lo) fail(dash, "character range is reversed (end before start)");
            }
            cls.ranges.push_back({lo, hi});
        }
        if (cls.ranges.empty() && !cls.negated) fail(open, "empty character class '[]'");
        return {{Grammar::Op::Char, add_class(std::move(cls))}};
    }

    uint32_t parse_count(size_t brace) {
        skip_space();
        if (!(peek() >= '0' && peek() <= '9'))
            fail(brace, std::string("bad repetition: expected a number, found ") + describe());
        uint64_t v = 0;
        while (peek() >= '0' && peek() <= '9') {
            v = v * 10 + static_cast<uint64_t>(peek() - '0');
            if (v > limits_.max_repetition)
                fail(brace, "repetition bound larger than " +
                                std::to_string(limits_.max_repetition));
            ++pos_;
        }
        skip_space();
        return static_cast<uint32_t>(v);
    }

    // `atom` repeated between min and max times (max < 0: unbounded).
    Seq repeat(const std::string& rule, Seq atom, uint32_t min, int64_t max, size_t at) {
        if (atom.empty()) return {};
        if (atom.size() > 1) {
            uint32_t id = aux_rule(rule, at, {atom});
            atom = {{Grammar::Op::Rule, id}};
        }
        Seq out;
        for (uint32_t k = 0; k < min; ++k) out.push_back(atom[0]);
        if (max < 0) {
            // star ::= atom star | ""
            uint32_t id = aux_rule(rule, at, {});
            rules_[id].alts = {{atom[0], {Grammar::Op::Rule, id}}, {}};
            count_elements(4, at);
            out.push_back({Grammar::Op::Rule, id});
        } else if (max > static_cast<int64_t>(min)) {
            // opt_k ::= atom opt_(k-1) | ""
            uint32_t prev = 0;
            bool have = false;
            for (int64_t k = 0; k < max - static_cast<int64_t>(min); ++k) {
                Seq first{atom[0]};
                if (have) first.push_back({Grammar::Op::Rule, prev});
                prev = aux_rule(rule, at, {first, {}});
                have = true;
            }
            out.push_back({Grammar::Op::Rule, prev});
        }
        count_elements(out.size(), at);
        return out;
    }

    std::vector<Seq> parse_alternates(const std::string& rule, int depth) {
        std::vector<Seq> alts;
        alts.push_back(parse_sequence(rule, depth));
        while (peek() == '|') {
            ++pos_;
            skip_space();
            alts.push_back(parse_sequence(rule, depth));
        }
        return alts;
    }

    Seq parse_sequence(const std::string& rule, int depth) {
        Seq seq;
        while (true) {
            skip_space();
            if (eof() || peek() == '|' || peek() == ')') break;
            if (is_name_char(peek()) && at_rule_start()) break;
            const size_t at = pos_;
            Seq atom;
            char c = peek();
            if (c == '"') {
                atom = parse_literal();
            } else if (c == '[') {
                atom = parse_class();
            } else if (c == '.') {
                ++pos_;
                Grammar::CharClass any;
                any.negated = true;
                atom = {{Grammar::Op::Char, add_class(std::move(any))}};
            } else if (c == '(') {
                if (depth + 1 > kMaxNesting)
                    fail(at, "groups nested deeper than " + std::to_string(kMaxNesting));
                ++pos_;
                skip_space();
                auto alts = parse_alternates(rule, depth + 1);
                if (peek() != ')')
                    fail(at, "unbalanced '(': no ')' closes this group (found " + describe() +
                                 ")");
                ++pos_;
                if (alts.size() == 1) {
                    atom = std::move(alts[0]);
                    if (atom.size() > 1) {
                        // Keep the group one unit so a repetition repeats all of it.
                        atom = {{Grammar::Op::Rule, aux_rule(rule, at, {atom})}};
                    }
                } else {
                    atom = {{Grammar::Op::Rule, aux_rule(rule, at, std::move(alts))}};
                }
            } else if (is_name_char(c)) {
                std::string name = parse_name();
                atom = {{Grammar::Op::Rule, rule_id(name, at)}};
            } else {
                fail(at, "unexpected " + describe() + " in the body of rule '" + rule + "'");
            }
            // Postfix repetition operators.
            while (true) {
                char p = peek();
                if (p == '*') {
                    ++pos_;
                    atom = repeat(rule, std::move(atom), 0, -1, at);
                } else if (p == '+') {
                    ++pos_;
                    atom = repeat(rule, std::move(atom), 1, -1, at);
                } else if (p == '?') {
                    ++pos_;
                    atom = repeat(rule, std::move(atom), 0, 1, at);
                } else if (p == '{') {
                    const size_t brace = pos_;
                    ++pos_;
                    uint32_t min = parse_count(brace);
                    int64_t max = min;
                    if (peek() == ',') {
                        ++pos_;
                        skip_space();
                        max = peek() == '}' ? int64_t{-1} : int64_t{parse_count(brace)};
                    }
                    if (peek() != '}')
                        fail(brace, "bad repetition: expected '}', found " + describe());
                    ++pos_;
                    if (max >= 0 && max < static_cast<int64_t>(min))
                        fail(brace, "bad repetition: {m,n} with n smaller than m");
                    atom = repeat(rule, std::move(atom), min, max, at);
                } else {
                    break;
                }
            }
            count_elements(atom.size(), at);
            seq.insert(seq.end(), atom.begin(), atom.end());
        }
        return seq;
    }

    std::shared_ptr<const Grammar> finish() {
        for (const PRule& r : rules_)
            if (!r.defined) fail(r.first_use, "undefined rule '" + r.name + "'");
        auto root = by_name_.find("root");
        if (root == by_name_.end())
            throw GrammarError("grammar: no rule named 'root' (the start rule)");
        const size_t n = rules_.size();

        // Productive rules derive some finite string; nullable ones derive the empty string.
        std::vector<char> productive(n, 0), nullable(n, 0);
        for (bool changed = true; changed;) {
            changed = false;
            for (size_t r = 0; r < n; ++r) {
                for (const Seq& alt : rules_[r].alts) {
                    bool prod = true, null = true;
                    for (const auto& e : alt) {
                        if (e.op == Grammar::Op::Rule) {
                            prod = prod && productive[e.arg];
                            null = null && nullable[e.arg];
                        } else {
                            null = false;
                        }
                    }
                    if (prod && !productive[r]) productive[r] = 1, changed = true;
                    if (null && !nullable[r]) nullable[r] = 1, changed = true;
                }
            }
        }
        for (size_t r = 0; r < n; ++r)
            if (!productive[r])
                fail(rules_[r].defined_at, "rule '" + rules_[r].name +
                                               "' is recursive without a base case (it never "
                                               "derives a finite string)");

        // Left recursion: a rule reachable from itself without consuming a character.
        std::vector<std::vector<uint32_t>> left(n);
        for (size_t r = 0; r < n; ++r)
            for (const Seq& alt : rules_[r].alts)
                for (const auto& e : alt) {
                    if (e.op != Grammar::Op::Rule) break;
                    left[r].push_back(e.arg);
                    if (!nullable[e.arg]) break;
                }
        // Iterative depth-first search (rule chains can be long).
        std::vector<char> color(n, 0);
        std::vector<std::pair<uint32_t, size_t>> path;  // rule, next edge
        for (uint32_t start = 0; start < n; ++start) {
            if (color[start]) continue;
            color[start] = 1;
            path.push_back({start, 0});
            while (!path.empty()) {
                auto& [r, edge] = path.back();
                if (edge == left[r].size()) {
                    color[r] = 2;
                    path.pop_back();
                    continue;
                }
                uint32_t next = left[r][edge++];
                if (color[next] == 1) {
                    std::string cycle;
                    size_t k = 0;
                    while (path[k].first != next) ++k;
                    for (; k < path.size(); ++k) cycle += rules_[path[k].first].name + " -> ";
                    cycle += rules_[next].name;
                    fail(rules_[next].defined_at,
                         "left recursion (" + cycle +
                             "): a rule may not reach itself before matching a character");
                }
                if (color[next] == 0) {
                    color[next] = 1;
                    path.push_back({next, 0});
                }
            }
        }

        auto g = std::make_shared<Grammar>();
        g->classes_ = std::move(classes_);
        g->root_ = root->second;
        g->rules_.resize(n);
        for (size_t r = 0; r < n; ++r) {
            g->rules_[r].name = rules_[r].name;
            for (const Seq& alt : rules_[r].alts) {
                g->rules_[r].alternatives.push_back(static_cast<uint32_t>(g->elements_.size()));
                g->elements_.insert(g->elements_.end(), alt.begin(), alt.end());
                g->elements_.push_back({Grammar::Op::End, 0});
            }
        }
        return g;
    }
};

std::shared_ptr<const Grammar> Grammar::parse_gbnf(std::string_view text,
                                                   const GrammarLimits& limits) {
    return GbnfParser(text, limits).parse();
}

const char* Grammar::json_gbnf_rules() {
    return R"(value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( string ":" ws value ws ( "," ws string ":" ws value ws )* )? "}"
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" ( [0-9a-cA-CefEF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) )
number ::= integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
raw ::= [^"\\\x00-\x1F]
ws ::= ( " " | "\n" [ \t]{0,40} )?
)";
}

std::shared_ptr<const Grammar> Grammar::any_json_object() {
    static const std::shared_ptr<const Grammar> g =
        parse_gbnf(std::string("root ::= object\n") + json_gbnf_rules());
    return g;
}

std::shared_ptr<const Grammar::Mask> Grammar::find_mask(const std::string& key) const {
    std::lock_guard lock(mask_mutex_);
    auto it = masks_.find(key);
    return it == masks_.end() ? nullptr : it->second;
}

void Grammar::store_mask(const std::string& key, std::shared_ptr<const Mask> mask) const {
    std::lock_guard lock(mask_mutex_);
    const size_t bytes = mask->size() * sizeof(uint64_t) + key.size();
    if (mask_bytes_ + bytes > kMaxSharedMaskBytes) return;  // full: keep the earlier ones
    if (masks_.emplace(key, std::move(mask)).second) mask_bytes_ += bytes;
}

std::shared_ptr<const Grammar> Grammar::any_json() {
    static const std::shared_ptr<const Grammar> g =
        parse_gbnf(std::string("root ::= value\n") + json_gbnf_rules());
    return g;
}

}  // namespace hearth::runtime
