#include "server/tool_grammar.h"

#include "runtime/json_schema.h"
#include "server/api_error.h"

namespace hearth::server {

namespace {

using ordered_json = nlohmann::ordered_json;

// {"name": NAME, "arguments" (Llama 3: "parameters"): PARAMS} for each tool wanted.
ordered_json call_schema(const ordered_json& tools, const std::string& only, const char* args_key) {
    ordered_json alternatives = ordered_json::array();
    for (const ordered_json& tool : tools) {
        const ordered_json& function = tool["function"];
        const std::string name = function["name"];
        if (!only.empty() && name != only) continue;
        ordered_json params = function.contains("parameters") && !function["parameters"].is_null()
                                  ? function["parameters"]
                                  : ordered_json{{"type", "object"}};
        ordered_json call = {{"type", "object"},
                             {"properties", {{"name", {{"const", name}}}, {args_key, params}}},
                             {"required", {"name", args_key}},
                             {"additionalProperties", false}};
        alternatives.push_back(std::move(call));
    }
    if (alternatives.size() == 1) return alternatives[0];
    return {{"anyOf", alternatives}};
}

// A compiled schema's rules with its start rule renamed, to be used inside a larger grammar.
std::string as_rule(const std::string& gbnf, const std::string& name) {
    const std::string start = "root ::= ";
    if (gbnf.rfind(start, 0) != 0) throw runtime::GrammarError("unexpected schema grammar");
    return name + " ::= " + gbnf.substr(start.size());
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

// Calls written as OPENING name AFTER_NAME {arguments}, one rule set per tool:
// Mistral's newer [TOOL_CALLS]name[ARGS]{...} and harmony's
// <|channel|>commentary to=functions.name <|constrain|>json<|message|>{...}.
std::string named_calls_gbnf(const ordered_json& tools, const std::string& only, bool parallel,
                             const std::string& opening, const std::string& after_name) {
    std::string alternatives, rules;
    int i = 0;
    for (const ordered_json& tool : tools) {
        const ordered_json& function = tool["function"];
        const std::string name = function["name"];
        if (!only.empty() && name != only) continue;
        const ordered_json params = function.contains("parameters") && !function["parameters"].is_null()
                                        ? function["parameters"]
                                        : ordered_json{{"type", "object"}};
        const std::string prefix = "t" + std::to_string(i++) + "-";
        // Tool names are [A-Za-z0-9_-] (checked with the request), safe inside a literal.
        alternatives += (alternatives.empty() ? "" : " | ") + std::string("\"") + name +
                        after_name + "\" " + prefix + "root";
        rules += prefix_rule_names(runtime::json_schema_to_gbnf(params), prefix);
    }
    return std::string("root ::= tool-call") + (parallel ? " tool-call*" : "") +
           "\ntool-call ::= \"" + opening + "\" ( " + alternatives + " )\n" + rules;
}

// The messages a harmony reply may open with before `body`: analysis (free text that cannot
// contain "<|", so it ends only at <|end|>), each followed by the next message's start.
std::string after_analysis(const std::string& body_gbnf) {
    return "root ::= ( \"<|channel|>analysis<|message|>\" harmony-analysis "
           "\"<|end|><|start|>assistant\" )* harmony-body\n"
           "harmony-analysis ::= ( [^<] | \"<\" [^|<] )*\n" +
           as_rule(body_gbnf, "harmony-body");
}

}  // namespace

std::string prefix_rule_names(const std::string& gbnf, const std::string& prefix) {
    std::string out;
    out.reserve(gbnf.size() + 64);
    size_t i = 0;
    auto copy_until = [&](char close) {  // a literal or class, escapes included
        out += gbnf[i++];
        while (i < gbnf.size() && gbnf[i] != close) {
            if (gbnf[i] == '\\' && i + 1 < gbnf.size()) out += gbnf[i++];
            out += gbnf[i++];
        }
        if (i < gbnf.size()) out += gbnf[i++];
    };
    while (i < gbnf.size()) {
        const char c = gbnf[i];
        if (c == '"') {
            copy_until('"');
        } else if (c == '[') {
            copy_until(']');
        } else if (c == '{') {
            copy_until('}');  // repetition bounds: numbers, not names
        } else if (c == '#') {
            while (i < gbnf.size() && gbnf[i] != '\n') out += gbnf[i++];
        } else if (is_name_char(c)) {
            out += prefix;
            while (i < gbnf.size() && is_name_char(gbnf[i])) out += gbnf[i++];
        } else {
            out += gbnf[i++];
        }
    }
    return out;
}

std::string forced_tool_call_gbnf(chat::ToolCallSyntax syntax, const ordered_json& tools,
                                  const std::string& only, bool parallel, bool mistral_args) {
    using chat::ToolCallSyntax;
    if (syntax == ToolCallSyntax::Mistral && mistral_args)
        return named_calls_gbnf(tools, only, parallel, "[TOOL_CALLS]", "[ARGS]");
    // <|call|> ends a harmony reply: one call per reply, whatever parallel says.
    if (syntax == ToolCallSyntax::Harmony)
        return after_analysis(named_calls_gbnf(tools, only, false, "<|channel|>commentary to=functions.",
                                               " <|constrain|>json<|message|>"));
    const char* args_key = syntax == ToolCallSyntax::Llama3Json ? "parameters" : "arguments";
    const ordered_json call = call_schema(tools, only, args_key);
    switch (syntax) {
        case ToolCallSyntax::Hermes:
            return std::string("root ::= tool-block") + (parallel ? " (\"\\n\" tool-block)*" : "") +
                   "\ntool-block ::= \"<tool_call>\\n\" tool-call \"\\n</tool_call>\"\n" +
                   as_rule(runtime::json_schema_to_gbnf(call), "tool-call");
        case ToolCallSyntax::Mistral: {
            ordered_json list = {{"type", "array"}, {"items", call}, {"minItems", 1}};
            if (!parallel) list["maxItems"] = 1;
            return "root ::= \"[TOOL_CALLS]\" tool-calls\n" +
                   as_rule(runtime::json_schema_to_gbnf(list), "tool-calls");
        }
        case ToolCallSyntax::Harmony:  // handled above
        case ToolCallSyntax::Llama3Json:
        case ToolCallSyntax::None:
            return std::string("root ::= tool-call") + (parallel ? " (\"; \" tool-call)*" : "") + "\n" +
                   as_rule(runtime::json_schema_to_gbnf(call), "tool-call");
    }
    return {};
}

std::string after_thinking(const std::string& answer_gbnf, bool opened) {
    const char* think_text =
        "think-text ::= ( [^<] | \"<\" [^/<] | \"</\" [^t<] | \"</t\" [^h<] | \"</th\" [^i<] | "
        "\"</thi\" [^n<] | \"</thin\" [^k<] | \"</think\" [^><] )*\n"
        "think-gap ::= [ \\n]{0,4}\n";
    const std::string root = opened ? "root ::= think-text \"</think>\" think-gap answer\n"
                                    : "root ::= ( \"<think>\" think-text \"</think>\" think-gap )? answer\n";
    return root + think_text + as_rule(answer_gbnf, "answer");
}

std::string harmony_final(const std::string& answer_gbnf) {
    return after_analysis("root ::= \"<|channel|>final\" ( \" <|constrain|>json\" )? \"<|message|>\" harmony-answer\n" +
                          as_rule(answer_gbnf, "harmony-answer"));
}

std::shared_ptr<const runtime::Grammar> grammar_for(const GenerationRequest& r,
                                                    chat::ToolCallSyntax syntax, bool thinks,
                                                    bool opened, bool mistral_args, bool harmony) {
    const bool forced =
        r.tool_choice == ToolChoice::Required || r.tool_choice == ToolChoice::Function;
    const int sources = !r.grammar.empty() + r.json_object + r.has_json_schema + forced;
    if (sources > 1)
        throw ApiError::bad_request(
            "a forced tool call, a response_format JSON mode and 'grammar' exclude each other",
            forced ? "tool_choice" : "response_format");
    try {
        if (!r.grammar.empty()) return runtime::Grammar::parse_gbnf(r.grammar);
        if (!thinks && !harmony) {
            if (r.json_object) return runtime::Grammar::any_json_object();
            if (r.has_json_schema) return runtime::grammar_from_json_schema(r.json_schema);
        }
        std::string answer;
        if (r.json_object)
            answer = std::string("root ::= object\n") + runtime::Grammar::json_gbnf_rules();
        else if (r.has_json_schema)
            answer = runtime::json_schema_to_gbnf(r.json_schema);
        else if (forced)
            answer = forced_tool_call_gbnf(syntax, r.ordered_tools, r.forced_tool,
                                           r.parallel_tool_calls, mistral_args);
        if (answer.empty()) return nullptr;
        // A harmony call grammar already has its analysis; a JSON answer goes on the final channel.
        if (harmony && !forced) answer = harmony_final(answer);
        return runtime::Grammar::parse_gbnf(thinks ? after_thinking(answer, opened) : answer);
    } catch (const runtime::GrammarError& e) {
        const char* param = !r.grammar.empty() ? "grammar" : forced ? "tools" : "response_format";
        throw ApiError::bad_request(std::string("cannot use this ") +
                                        (!r.grammar.empty() ? "grammar" : forced ? "tool schema" : "JSON schema") +
                                        ": " + e.what(),
                                    param);
    }
    return nullptr;
}

}  // namespace hearth::server
