#include "runtime/json_schema.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

namespace hearth::runtime {

namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kMaxInteger = 9999999999999999ull;  // 16 digits, as the number rule
constexpr int64_t kMaxCount = 1000;                      // GBNF's repetition limit

// A GBNF string literal matching exactly `text`.
std::string literal(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string json_literal(const Json& value) {
    return literal(value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// Same-length decimal range [lo, hi] as a GBNF expression.
std::string same_length_range(const std::string& lo, const std::string& hi) {
    if (lo.empty()) return "\"\"";
    if (lo == hi) return literal(lo);
    const size_t n = lo.size() - 1;
    if (lo[0] == hi[0])
        return literal(lo.substr(0, 1)) + " " + same_length_range(lo.substr(1), hi.substr(1));
    const bool lo_zeros = lo.find_first_not_of('0', 1) == std::string::npos;
    const bool hi_nines = hi.find_first_not_of('9', 1) == std::string::npos;
    std::vector<std::string> alts;
    if (!lo_zeros)
        alts.push_back(literal(lo.substr(0, 1)) + " (" +
                       same_length_range(lo.substr(1), std::string(n, '9')) + ")");
    const char first = static_cast<char>(lo[0] + (lo_zeros ? 0 : 1));
    const char last = static_cast<char>(hi[0] - (hi_nines ? 0 : 1));
    if (first <= last) {
        std::string a = std::string("[") + first + "-" + last + "]";
        if (n > 0) a += " [0-9]{" + std::to_string(n) + "}";
        alts.push_back(a);
    }
    if (!hi_nines)
        alts.push_back(literal(hi.substr(0, 1)) + " (" +
                       same_length_range(std::string(n, '0'), hi.substr(1)) + ")");
    std::string out;
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return alts.size() > 1 ? "(" + out + ")" : out;
}

// Decimal integers in [a, b], 0 <= a <= b, without leading zeros.
std::vector<std::string> nonnegative_range(uint64_t a, uint64_t b) {
    std::vector<std::string> alts;
    uint64_t power = 1;  // 10^(L-1)
    for (size_t len = 1; len <= 17; ++len, power *= 10) {  // b < 10^17
        const uint64_t top = power * 10 - 1;
        const uint64_t lo = std::max(a, len == 1 ? 0 : power), hi = std::min(b, top);
        if (lo <= hi) alts.push_back(same_length_range(std::to_string(lo), std::to_string(hi)));
        if (top >= b) break;
    }
    return alts;
}

// The JSON text of one code point inside a string (escaped where JSON requires it).
std::string json_char_literal(uint32_t cp) {
    std::string text;
    if (cp == '"' || cp == '\\') {
        text = std::string("\\") + static_cast<char>(cp);
    } else if (cp == '\n') {
        text = "\\n";
    } else if (cp == '\t') {
        text = "\\t";
    } else if (cp == '\r') {
        text = "\\r";
    } else if (cp < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
        text = buf;
    } else if (cp < 0x80) {
        text = std::string(1, static_cast<char>(cp));
    } else if (cp < 0x800) {
        text = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    } else if (cp < 0x10000) {
        text = {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                static_cast<char>(0x80 | (cp & 0x3F))};
    } else {
        text = {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    return literal(text);
}

// A subset of ECMA-262 regular expressions (JSON Schema's `pattern`) -> GBNF over the JSON
// text of a string's contents: literals, `.`, classes (negated ones and `.` produce only
// characters that need no escaping), \d \w \s \D \W \S, groups, `|`, * + ? {m} {m,} {m,n}
// (lazy forms match the same strings), `^` at the start and `$` at the end. Backreferences,
// lookarounds, word boundaries and the like are refused.
class PatternCompiler {
  public:
    PatternCompiler(std::string_view re, std::string path) : re_(re), path_(std::move(path)) {}

    std::string compile() {
        const bool start = !re_.empty() && re_[0] == '^';
        if (start) ++pos_;
        bool nullable = false;
        std::string body = alternation(0, nullable);
        bool end = false;
        if (pos_ < re_.size() && re_[pos_] == '$' && pos_ + 1 == re_.size()) {
            end = true;
            ++pos_;
        }
        if (pos_ != re_.size()) fail("unexpected '" + std::string(1, re_[pos_]) + "'");
        if ((start || end) && top_level_bar_)
            fail("'|' at the top level next to an anchor: write ^(a|b)$");
        return (start ? "" : "raw* ") + ("( " + body + " )") + (end ? "" : " raw*");
    }

  private:
    std::string_view re_;
    std::string path_;
    size_t pos_ = 0;
    bool top_level_bar_ = false;

    [[noreturn]] void fail(const std::string& what) const {
        throw GrammarError("json schema: at '" + path_ + "': pattern " + what + " (at offset " +
                           std::to_string(pos_) + "; supported: literals, ., classes, \\d \\w "
                           "\\s, groups, |, * + ? {m,n}, ^ at the start, $ at the end)");
    }
    bool at(char c) const { return pos_ < re_.size() && re_[pos_] == c; }

    uint32_t utf8() {
        const auto c = static_cast<unsigned char>(re_[pos_]);
        int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        uint32_t cp = n == 1 ? c : c & (0x7F >> n);
        if (pos_ + n > re_.size()) fail("has invalid UTF-8");
        for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(re_[pos_ + k]) & 0x3F);
        pos_ += n;
        return cp;
    }

    std::string alternation(int depth, bool& nullable) {
        if (depth > 32) fail("nests groups too deeply");
        std::vector<std::string> alts{sequence(depth, nullable)};
        while (at('|')) {
            if (depth == 0) top_level_bar_ = true;
            ++pos_;
            bool n = false;
            alts.push_back(sequence(depth, n));
            nullable = nullable || n;
        }
        std::string out;
        for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
        return out;
    }

    // Characters a class or escape stands for, as GBNF class ranges ("a-z0-9").
    static std::string shorthand(char c) {
        switch (c) {
            case 'd': case 'D': return "0-9";
            case 'w': case 'W': return "a-zA-Z0-9_";
            case 's': case 'S': return " ";
        }
        return "";
    }
    static std::string class_char(uint32_t cp) {
        if (cp == ']' || cp == '[' || cp == '-' || cp == '^' || cp == '\\') {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", cp);
            return buf;
        }
        std::string lit = json_char_literal(cp);  // "x" -> x for plain characters
        return lit.substr(1, lit.size() - 2);
    }
    // A character that may appear raw in a JSON string (no escape needed).
    static bool raw_ok(uint32_t cp) { return cp >= 0x20 && cp != '"' && cp != '\\'; }

    std::string escape_atom() {
        ++pos_;  // the backslash
        if (pos_ >= re_.size()) fail("ends with '\\'");
        const char c = re_[pos_++];
        if (c == 'd' || c == 'w') return "[" + shorthand(c) + "]";
        if (c == 's') return "( \" \" | \"\\\\t\" | \"\\\\n\" | \"\\\\r\" )";
        if (c == 'D' || c == 'W' || c == 'S')
            return "[^" + shorthand(c) + "\"\\\\\\x00-\\x1F]";
        if (c == 'n') return json_char_literal('\n');
        if (c == 't') return json_char_literal('\t');
        if (c == 'r') return json_char_literal('\r');
        if (std::string_view(".\\/^$|?*+()[]{}-\"").find(c) != std::string_view::npos)
            return json_char_literal(static_cast<unsigned char>(c));
        --pos_;
        fail("uses the unsupported escape '\\" + std::string(1, c) + "'");
    }

    std::string class_atom() {
        ++pos_;  // [
        bool negated = false;
        if (at('^')) negated = true, ++pos_;
        std::string ranges;
        bool any = false;
        while (true) {
            if (pos_ >= re_.size()) fail("has an unterminated '['");
            if (at(']')) {
                ++pos_;
                break;
            }
            uint32_t lo;
            if (at('\\')) {
                ++pos_;
                if (pos_ >= re_.size()) fail("ends with '\\'");
                const char c = re_[pos_++];
                if (c == 'd' || c == 'w' || (c == 's' && !negated)) {
                    ranges += shorthand(c);
                    any = true;
                    continue;
                }
                if (std::string_view(".\\/^$|?*+()[]{}-\"").find(c) == std::string_view::npos) {
                    --pos_;
                    fail("uses the unsupported class escape '\\" + std::string(1, c) + "'");
                }
                lo = static_cast<unsigned char>(c);
            } else {
                lo = utf8();
            }
            uint32_t hi = lo;
            if (at('-') && pos_ + 1 < re_.size() && re_[pos_ + 1] != ']') {
                ++pos_;
                if (at('\\')) {
                    ++pos_;
                    if (pos_ >= re_.size()) fail("ends with '\\'");
                    hi = static_cast<unsigned char>(re_[pos_++]);
                } else {
                    hi = utf8();
                }
                if (hi < lo) fail("has a reversed range");
            }
            if (negated) {
                ranges += class_char(lo) + (hi > lo ? "-" + class_char(hi) : "");
                any = true;
                continue;
            }
            // Members that need escaping in JSON are left out (never generated).
            for (uint32_t a = lo; a <= hi;) {
                while (a <= hi && !raw_ok(a)) ++a;
                if (a > hi) break;
                uint32_t b = a;
                while (b < hi && raw_ok(b + 1)) ++b;
                ranges += class_char(a) + (b > a ? "-" + class_char(b) : "");
                any = true;
                a = b + 1;
            }
        }
        if (!any && !negated) fail("has a class with no character that can be generated");
        if (negated) return "[^" + ranges + "\"\\\\\\x00-\\x1F]";
        return "[" + ranges + "]";
    }

    std::string sequence(int depth, bool& nullable) {
        std::string out;
        nullable = true;
        while (pos_ < re_.size() && !at('|') && !at(')')) {
            if (at('$') && pos_ + 1 == re_.size()) break;
            std::string atom;
            bool atom_nullable = false;
            const char c = re_[pos_];
            if (c == '(') {
                ++pos_;
                if (at('?')) {
                    if (pos_ + 1 < re_.size() && re_[pos_ + 1] == ':') {
                        pos_ += 2;
                    } else {
                        fail("uses a lookaround or named group '(?'");
                    }
                }
                atom = "( " + alternation(depth + 1, atom_nullable) + " )";
                if (!at(')')) fail("has an unbalanced '('");
                ++pos_;
            } else if (c == '[') {
                atom = class_atom();
            } else if (c == '.') {
                ++pos_;
                atom = "raw";
            } else if (c == '\\') {
                atom = escape_atom();
            } else if (c == '^' || c == '$') {
                fail("uses an anchor inside the pattern");
            } else if (c == '*' || c == '+' || c == '?' || c == '{') {
                fail("has a quantifier with nothing before it");
            } else {
                atom = json_char_literal(utf8());
            }
            // Quantifier.
            // An unbounded repetition of something that can be empty would be left-recursive
            // in GBNF: it is bounded to 64 more copies instead (a subset of the strings).
            if (at('*') || at('+') || at('?')) {
                const char q = re_[pos_++];
                if (q != '+') atom_nullable = true;
                atom = atom_nullable && q != '?' ? "( " + atom + " ){0,64}" : atom + q;
                if (at('?')) ++pos_;  // lazy: same strings
            } else if (at('{')) {
                const size_t close = re_.find('}', pos_);
                if (close == std::string_view::npos) fail("has an unterminated '{'");
                std::string inner(re_.substr(pos_ + 1, close - pos_ - 1));
                const size_t comma = inner.find(',');
                auto number = [&](const std::string& t) {
                    if (t.empty() || t.size() > 4 || t.find_first_not_of("0123456789") != std::string::npos)
                        fail("has a bad repetition '{" + inner + "}'");
                    return std::stoi(t);
                };
                const int m = number(comma == std::string::npos ? inner : inner.substr(0, comma));
                std::string bound = std::to_string(m);
                if (comma != std::string::npos) {
                    bound += ",";
                    std::string rest = inner.substr(comma + 1);
                    if (!rest.empty()) {
                        const int n = number(rest);
                        if (n < m) fail("has a repetition with max below min");
                        bound += std::to_string(n);
                    } else if (atom_nullable) {
                        bound += std::to_string(m + 64);
                    }
                }
                if (m == 0) atom_nullable = true;
                if (m > kMaxCount) fail("repeats more than 1000 times");
                atom = "( " + atom + " ){" + bound + "}";
                pos_ = close + 1;
                if (at('?')) ++pos_;
            }
            out += (out.empty() ? "" : " ") + atom;
            nullable = nullable && atom_nullable;
        }
        return out.empty() ? "\"\"" : out;
    }
};

class Compiler {
  public:
    explicit Compiler(const Json& root) : root_(root) {}

    std::string compile() {
        std::string body = visit(root_, "");
        std::string out = "root ::= " + body + "\n";
        for (const auto& [name, rule] : rules_) out += name + " ::= " + rule + "\n";
        out += Grammar::json_gbnf_rules();
        return out;
    }

  private:
    const Json& root_;
    std::map<std::string, std::string> rules_;
    std::map<std::string, std::string> ref_rules_;  // $ref -> rule name
    int next_ = 0;
    int depth_ = 0;

    [[noreturn]] static void fail(const std::string& path, const std::string& what) {
        throw GrammarError("json schema: at '" + (path.empty() ? std::string("/") : path) +
                           "': " + what);
    }

    std::string new_rule(const std::string& body) {
        std::string name = "s" + std::to_string(next_++);
        rules_[name] = body;
        return name;
    }

    const Json& resolve(const std::string& ref, const std::string& path) {
        if (ref.rfind("#", 0) != 0)
            fail(path, "$ref '" + ref + "' is not local (only '#/...' references are supported)");
        try {
            auto pointer = Json::json_pointer(ref.substr(1));
            if (!root_.contains(pointer)) fail(path, "$ref '" + ref + "' points to nothing");
            return root_.at(pointer);
        } catch (const nlohmann::json::exception&) {
            fail(path, "$ref '" + ref + "' is not a valid JSON pointer");
        }
    }

    static void check_keywords(const Json& s, const std::string& path) {
        static const std::set<std::string> known = {
            "type", "properties", "required", "additionalProperties", "enum", "const", "anyOf",
            "oneOf", "allOf", "$ref", "items", "prefixItems", "minItems", "maxItems",
            "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
            "exclusiveMaximum", "format", "pattern", "nullable", "title", "description", "default",
            "examples", "$schema", "$id", "$comment", "$defs", "definitions", "deprecated",
            "readOnly", "writeOnly", "strict", "additionalItems"};
        for (const auto& [key, value] : s.items()) {
            (void)value;
            if (!known.count(key))
                fail(path, "unsupported keyword '" + key + "'");
        }
    }

    static bool annotations_only(const Json& s) {
        for (const auto& [key, value] : s.items()) {
            (void)value;
            if (key != "title" && key != "description" && key != "$comment" && key != "default" &&
                key != "examples" && key != "$defs" && key != "definitions" && key != "$schema" &&
                key != "$id")
                return false;
        }
        return true;
    }

    static int64_t count(const Json& s, const char* key, int64_t fallback, const std::string& path) {
        if (!s.contains(key)) return fallback;
        const Json& v = s[key];
        if (!v.is_number_integer() || v.get<int64_t>() < 0)
            fail(path + "/" + key, std::string(key) + " must be a non-negative integer");
        return v.get<int64_t>();
    }

    std::string visit(const Json& s, const std::string& path) {
        if (++depth_ > 64) fail(path, "schema nested deeper than 64 levels");
        std::string out = visit_inner(s, path);
        --depth_;
        return out;
    }

    std::string visit_inner(const Json& s, const std::string& path) {
        if (s.is_boolean()) {
            if (!s.get<bool>()) fail(path, "the schema 'false' matches nothing");
            return "value";
        }
        if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
        check_keywords(s, path);
        if (s.contains("nullable") && s["nullable"] == true) {
            Json copy = s;
            copy.erase("nullable");
            return "(" + visit(copy, path) + " | \"null\")";
        }
        if (s.contains("$ref")) {
            if (!s["$ref"].is_string()) fail(path + "/$ref", "$ref must be a string");
            const std::string ref = s["$ref"].get<std::string>();
            auto it = ref_rules_.find(ref);
            if (it != ref_rules_.end()) return it->second;
            std::string name = "s" + std::to_string(next_++);
            ref_rules_[ref] = name;
            rules_[name] = "\"\"";  // placeholder while the target compiles (recursion)
            const Json& target = resolve(ref, path + "/$ref");
            rules_[name] = visit(target, ref.substr(1));
            return name;
        }
        if (s.contains("const")) return json_literal(s["const"]);
        if (s.contains("enum")) {
            const Json& e = s["enum"];
            if (!e.is_array() || e.empty()) fail(path + "/enum", "enum must be a non-empty array");
            std::string out;
            for (size_t i = 0; i < e.size(); ++i) out += (i ? " | " : "") + json_literal(e[i]);
            return "(" + out + ")";
        }
        for (const char* key : {"anyOf", "oneOf"}) {
            if (!s.contains(key)) continue;
            const Json& list = s[key];
            if (!list.is_array() || list.empty())
                fail(path + "/" + key, std::string(key) + " must be a non-empty array");
            // Keywords next to anyOf apply to every branch.
            Json base = s;
            base.erase(key);
            std::string out;
            for (size_t i = 0; i < list.size(); ++i) {
                std::string sub_path = path + "/" + key + "/" + std::to_string(i);
                std::string alt;
                if (annotations_only(base)) {
                    alt = visit(list[i], sub_path);
                } else {
                    Json merged = merge({base, list[i]}, sub_path);
                    alt = visit(merged, sub_path);
                }
                out += (i ? " | " : "") + alt;
            }
            return new_rule(out);
        }
        if (s.contains("allOf")) {
            const Json& list = s["allOf"];
            if (!list.is_array() || list.empty())
                fail(path + "/allOf", "allOf must be a non-empty array");
            Json base = s;
            base.erase("allOf");
            std::vector<Json> parts{base};
            for (size_t i = 0; i < list.size(); ++i) parts.push_back(list[i]);
            return visit(merge(parts, path + "/allOf"), path);
        }
        if (s.contains("type")) {
            const Json& t = s["type"];
            if (t.is_array()) {
                if (t.empty()) fail(path + "/type", "type must not be an empty list");
                std::string out;
                for (size_t i = 0; i < t.size(); ++i) {
                    Json one = s;
                    one["type"] = t[i];
                    out += (i ? " | " : "") + visit(one, path);
                }
                return "(" + out + ")";
            }
            if (!t.is_string()) fail(path + "/type", "type must be a string or a list of strings");
            const std::string type = t.get<std::string>();
            if (type == "object") return object(s, path);
            if (type == "array") return array(s, path);
            if (type == "string") return string(s, path);
            if (type == "integer") return integer(s, path);
            if (type == "number") return number(s, path);
            if (type == "boolean") return "(\"true\" | \"false\")";
            if (type == "null") return "\"null\"";
            fail(path + "/type", "unknown type '" + type + "'");
        }
        // No type: guess it from the keywords present.
        if (s.contains("properties") || s.contains("additionalProperties") ||
            s.contains("required"))
            return object(s, path);
        if (s.contains("items") || s.contains("prefixItems") || s.contains("minItems") ||
            s.contains("maxItems"))
            return array(s, path);
        if (s.contains("minLength") || s.contains("maxLength") || s.contains("format") ||
            s.contains("pattern"))
            return string(s, path);
        if (s.contains("minimum") || s.contains("maximum") || s.contains("exclusiveMinimum") ||
            s.contains("exclusiveMaximum"))
            return number(s, path);
        return "value";
    }

    // allOf (and keywords next to anyOf): object schemas merged key by key; other keywords
    // must agree.
    Json merge(const std::vector<Json>& parts, const std::string& path) {
        Json out = Json::object();
        std::vector<std::set<std::string>> closed;  // properties of parts with no extra keys
        for (size_t i = 0; i < parts.size(); ++i) {
            const Json* part = &parts[i];
            for (int hops = 0; part->is_object() && part->contains("$ref"); ++hops) {
                if (hops > 32) fail(path, "$ref chain too long");
                part = &resolve((*part)["$ref"].get<std::string>(), path);
            }
            if (part->is_boolean() && part->get<bool>()) continue;
            if (!part->is_object()) fail(path, "allOf parts must be object schemas");
            for (const auto& [key, value] : part->items()) {
                if (key == "additionalProperties" && value == false) {
                    std::set<std::string> names;
                    if (part->contains("properties") && (*part)["properties"].is_object())
                        for (const auto& [name, sub] : (*part)["properties"].items()) {
                            (void)sub;
                            names.insert(name);
                        }
                    closed.push_back(std::move(names));
                    continue;
                }
                if (key == "properties") {
                    if (!out.contains("properties")) out["properties"] = Json::object();
                    for (const auto& [name, sub] : value.items()) {
                        if (out["properties"].contains(name) && out["properties"][name] != sub)
                            fail(path, "allOf: property '" + name +
                                           "' has different schemas (only merging of "
                                           "disjoint object schemas is supported)");
                        out["properties"][name] = sub;
                    }
                } else if (key == "required") {
                    if (!out.contains("required")) out["required"] = Json::array();
                    for (const auto& name : value)
                        if (std::find(out["required"].begin(), out["required"].end(), name) ==
                            out["required"].end())
                            out["required"].push_back(name);
                } else if (key == "title" || key == "description" || key == "$comment" ||
                           key == "examples" || key == "default") {
                    out[key] = value;
                } else if (out.contains(key) && out[key] != value) {
                    fail(path, "allOf: keyword '" + key +
                                   "' differs between the parts (only object schemas are merged)");
                } else {
                    out[key] = value;
                }
            }
        }
        if (!closed.empty()) {
            // Every part with additionalProperties false must allow each key.
            out["additionalProperties"] = false;
            if (out.contains("properties")) {
                Json kept = Json::object();
                for (const auto& [name, sub] : out["properties"].items()) {
                    bool everywhere = true;
                    for (const auto& c : closed) everywhere = everywhere && c.count(name);
                    if (everywhere) kept[name] = sub;
                }
                out["properties"] = kept;
            }
            if (out.contains("required"))
                for (const auto& name : out["required"])
                    if (!out.contains("properties") || !out["properties"].contains(name))
                        fail(path, "allOf: required property " + name.dump() +
                                       " is excluded by another part's additionalProperties: "
                                       "false (no object satisfies the schema)");
        }
        return out;
    }

    std::string object(const Json& s, const std::string& path) {
        std::vector<std::pair<std::string, std::string>> props;  // key literal, kv expression
        std::set<std::string> required;
        if (s.contains("required")) {
            if (!s["required"].is_array()) fail(path + "/required", "required must be an array");
            for (const auto& r : s["required"]) {
                if (!r.is_string()) fail(path + "/required", "required names must be strings");
                required.insert(r.get<std::string>());
            }
        }
        std::vector<bool> is_required;
        if (s.contains("properties")) {
            if (!s["properties"].is_object())
                fail(path + "/properties", "properties must be an object");
            for (const auto& [name, sub] : s["properties"].items()) {
                std::string value = visit(sub, path + "/properties/" + name);
                props.push_back({name, new_rule(json_literal(Json(name)) + " ws \":\" ws " +
                                                value + " ws")});
                is_required.push_back(required.count(name) > 0);
            }
        }
        for (const std::string& r : required) {
            bool found = false;
            for (const auto& p : props) found = found || p.first == r;
            if (!found)
                fail(path + "/required",
                     "required property '" + r + "' is not in properties (its schema is unknown)");
        }
        // Extra keys: only when additionalProperties allows them explicitly, or when the
        // schema says nothing about properties at all ({"type": "object"}).
        std::string extra;
        const bool has_additional = s.contains("additionalProperties");
        if (has_additional && s["additionalProperties"].is_object()) {
            std::string value =
                visit(s["additionalProperties"], path + "/additionalProperties");
            extra = new_rule("string ws \":\" ws " + value + " ws");
        } else if ((has_additional && s["additionalProperties"] == true) ||
                   (!has_additional && props.empty())) {
            extra = new_rule("string ws \":\" ws value ws");
        } else if (has_additional && !s["additionalProperties"].is_boolean()) {
            fail(path + "/additionalProperties", "must be a boolean or a schema");
        }
        const size_t n = props.size();
        // rest[i]: properties i.. after at least one was written (each needs a comma).
        std::vector<std::string> rest(n + 1), first(n + 1);
        rest[n] = extra.empty() ? "\"\"" : "( \",\" ws " + extra + " )*";
        first[n] = extra.empty() ? "\"\"" : "( " + extra + " ( \",\" ws " + extra + " )* )?";
        for (size_t i = n; i-- > 0;) {
            const std::string kv = props[i].second;
            if (is_required[i]) {
                rest[i] = new_rule("\",\" ws " + kv + " " + rest[i + 1]);
                first[i] = new_rule(kv + " " + rest[i + 1]);
            } else {
                rest[i] = new_rule("( \",\" ws " + kv + " )? " + rest[i + 1]);
                first[i] = new_rule(kv + " " + rest[i + 1] + " | " + first[i + 1]);
            }
        }
        return new_rule("\"{\" ws " + first[0] + " \"}\"");
    }

    std::string array(const Json& s, const std::string& path) {
        std::vector<std::string> prefix;
        if (s.contains("prefixItems")) {
            const Json& p = s["prefixItems"];
            if (!p.is_array()) fail(path + "/prefixItems", "prefixItems must be an array");
            for (size_t i = 0; i < p.size(); ++i)
                prefix.push_back(visit(p[i], path + "/prefixItems/" + std::to_string(i)));
        }
        std::string item = "value";
        bool more = true;  // items beyond the prefix allowed
        if (s.contains("items")) {
            const Json& it = s["items"];
            if (it.is_array()) {  // draft 4-7 tuple form
                if (!prefix.empty()) fail(path + "/items", "items as a list next to prefixItems");
                for (size_t i = 0; i < it.size(); ++i)
                    prefix.push_back(visit(it[i], path + "/items/" + std::to_string(i)));
                more = !(s.contains("additionalItems") && s["additionalItems"] == false);
            } else if (it.is_boolean() && !it.get<bool>()) {
                more = false;
            } else {
                item = visit(it, path + "/items");
            }
        }
        const int64_t k = static_cast<int64_t>(prefix.size());
        const int64_t min = count(s, "minItems", 0, path);
        int64_t max = count(s, "maxItems", -1, path);
        if (!more) max = max < 0 ? k : std::min(max, k);
        if (max >= 0 && min > max) fail(path, "minItems is larger than maxItems");
        if (min > kMaxCount || max > kMaxCount)
            fail(path, "minItems/maxItems above " + std::to_string(kMaxCount) +
                           " are not supported");
        // Elements j.. once j were written ("first": none written yet, no comma).
        std::function<std::string(int64_t)> from = [&](int64_t j) -> std::string {
            const std::string sep = j == 0 ? "" : "\",\" ws ";
            if (max >= 0 && j >= max) return "\"\"";
            if (j >= k) {
                const int64_t r = std::max<int64_t>(0, min - j);
                const std::string bound =
                    max < 0 ? std::to_string(r) + "," : std::to_string(r) + "," +
                                                            std::to_string(max - j);
                if (j > 0) return "( \",\" ws " + item + " ws ){" + bound + "}";
                if (r == 0)
                    return "( " + item + " ws ( \",\" ws " + item + " ws ){0," +
                           (max < 0 ? "" : std::to_string(max - 1)) + "} )?";
                return item + " ws ( \",\" ws " + item + " ws ){" + std::to_string(r - 1) + "," +
                       (max < 0 ? "" : std::to_string(max - 1)) + "}";
            }
            std::string body = sep + prefix[static_cast<size_t>(j)] + " ws " + from(j + 1);
            return j < min ? new_rule(body) : new_rule("( " + body + " )?");
        };
        return new_rule("\"[\" ws " + from(0) + " \"]\"");
    }

    std::string string(const Json& s, const std::string& path) {
        if (s.contains("format")) {
            if (!s["format"].is_string()) fail(path + "/format", "format must be a string");
            const std::string f = s["format"].get<std::string>();
            const std::string date =
                "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | "
                "\"3\" [01] )";
            const std::string time =
                "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" "
                "[0-9]{1,9} )? ( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )";
            const std::string hex = "[0-9a-f]";
            if (f == "date") return new_rule("\"\\\"\" " + date + " \"\\\"\"");
            if (f == "time") return new_rule("\"\\\"\" " + time + " \"\\\"\"");
            if (f == "date-time") return new_rule("\"\\\"\" " + date + " \"T\" " + time + " \"\\\"\"");
            if (f == "uuid")
                return new_rule("\"\\\"\" " + hex + "{8} \"-\" " + hex + "{4} \"-\" " + hex +
                                "{4} \"-\" " + hex + "{4} \"-\" " + hex + "{12} \"\\\"\"");
            // Other formats are annotations: any string.
        }
        if (s.contains("pattern")) {
            if (!s["pattern"].is_string()) fail(path + "/pattern", "pattern must be a string");
            if (s.contains("minLength") || s.contains("maxLength") || s.contains("format"))
                fail(path, "pattern together with minLength, maxLength or format is not supported");
            std::string body =
                PatternCompiler(s["pattern"].get<std::string>(), path + "/pattern").compile();
            return new_rule("\"\\\"\" " + body + " \"\\\"\"");
        }
        const int64_t min = count(s, "minLength", 0, path);
        const int64_t max = count(s, "maxLength", -1, path);
        if (max >= 0 && min > max) fail(path, "minLength is larger than maxLength");
        if (min > kMaxCount || max > kMaxCount)
            fail(path, "minLength/maxLength above " + std::to_string(kMaxCount) +
                           " are not supported");
        if (min == 0 && max < 0) return "string";
        return new_rule("\"\\\"\" char{" + std::to_string(min) + "," +
                        (max < 0 ? "" : std::to_string(max)) + "} \"\\\"\"");
    }

    // The bound of an integer range from minimum / exclusiveMinimum (or the maximum pair).
    static bool bound(const Json& s, bool lower, int64_t& out, const std::string& path) {
        const char* inclusive = lower ? "minimum" : "maximum";
        const char* exclusive = lower ? "exclusiveMinimum" : "exclusiveMaximum";
        bool have = false;
        double best = 0;
        auto take = [&](double v) {
            if (!have || (lower ? v > best : v < best)) best = v;
            have = true;
        };
        if (s.contains(inclusive)) {
            if (!s[inclusive].is_number()) fail(path + "/" + inclusive, "must be a number");
            const double v = s[inclusive].get<double>();
            take(lower ? std::ceil(v) : std::floor(v));
        }
        if (s.contains(exclusive)) {
            const Json& e = s[exclusive];
            if (e.is_boolean()) {  // draft 4: modifies minimum / maximum
                if (e.get<bool>() && s.contains(inclusive)) {
                    const double v = s[inclusive].get<double>();
                    const double r = lower ? std::floor(v) + 1 : std::ceil(v) - 1;
                    have = false;
                    take(r);
                }
            } else if (e.is_number()) {
                const double v = e.get<double>();
                take(lower ? std::floor(v) + 1 : std::ceil(v) - 1);
            } else {
                fail(path + "/" + exclusive, "must be a number");
            }
        }
        if (!have) return false;
        const double limit = static_cast<double>(kMaxInteger);
        out = static_cast<int64_t>(std::clamp(best, -limit, limit));
        return true;
    }

    std::string integer(const Json& s, const std::string& path) {
        int64_t lo = -static_cast<int64_t>(kMaxInteger), hi = static_cast<int64_t>(kMaxInteger);
        const bool has_lo = bound(s, true, lo, path), has_hi = bound(s, false, hi, path);
        if (!has_lo && !has_hi) return "integer";
        if (lo > hi) fail(path, "the integer range is empty (minimum above maximum)");
        std::vector<std::string> alts;
        if (lo < 0) {
            const uint64_t a = hi < 0 ? static_cast<uint64_t>(-hi) : 1;
            for (const auto& alt : nonnegative_range(a, static_cast<uint64_t>(-lo)))
                alts.push_back("\"-\" " + alt);
        }
        if (hi >= 0)
            for (const auto& alt : nonnegative_range(static_cast<uint64_t>(std::max<int64_t>(lo, 0)),
                                                     static_cast<uint64_t>(hi)))
                alts.push_back(alt);
        std::string out;
        for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
        return new_rule(out);
    }

    std::string number(const Json& s, const std::string& path) {
        for (const char* key : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
            if (s.contains(key))
                fail(path + "/" + key, std::string("'") + key +
                                           "' is supported on integers only, not on numbers");
        return "number";
    }
};

}  // namespace

std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema) {
    return Compiler(schema).compile();
}

std::string json_schema_to_gbnf(const nlohmann::json& schema) {
    return json_schema_to_gbnf(nlohmann::ordered_json(schema));
}

std::shared_ptr<const Grammar> grammar_from_json_schema(const nlohmann::ordered_json& schema) {
    return Grammar::parse_gbnf(json_schema_to_gbnf(schema));
}

std::shared_ptr<const Grammar> grammar_from_json_schema(const nlohmann::json& schema) {
    return Grammar::parse_gbnf(json_schema_to_gbnf(schema));
}

}  // namespace hearth::runtime
