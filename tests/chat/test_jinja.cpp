// Unit tests of the Jinja interpreter: each case's expected text was computed by jinja2 in
// Hugging Face's configuration (scripts/jinja_unit_cases.py writes jinja_cases.inc).
#include <gtest/gtest.h>

#include <cstdlib>

#include "chat/chat_template.h"
#include "chat/errors.h"
#include "chat/lexer.h"
#include "chat/value.h"

namespace {

using hearth::chat::ChatRenderOptions;
using hearth::chat::ChatTemplate;

struct JinjaCase {
    const char* name;
    const char* source;
    const char* variables;  // JSON object
    const char* expected;
};

struct JinjaErrorCase {
    const char* name;
    const char* source;
    const char* variables;
    const char* jinja2_message;  // what jinja2 raised, for the reader
};

#include "jinja_cases.inc"

void PrintTo(const JinjaCase& c, std::ostream* os) {
    *os << c.name;
}
void PrintTo(const JinjaErrorCase& c, std::ostream* os) {
    *os << c.name;
}

// Renders with the variables as extra_vars, no messages: the cases are about the language.
std::string render(const std::string& source, const std::string& variables_json) {
    setenv("SOURCE_DATE_EPOCH", "1721000000", 1);
    ChatTemplate tmpl(source);
    return tmpl.render_ordered(nlohmann::ordered_json::array(), nullptr, ChatRenderOptions{},
                               nlohmann::ordered_json::parse(variables_json));
}

class JinjaCaseTest : public testing::TestWithParam<JinjaCase> {};

TEST_P(JinjaCaseTest, MatchesJinja2) {
    const JinjaCase& c = GetParam();
    EXPECT_EQ(render(c.source, c.variables), c.expected) << "template: " << c.source;
}

INSTANTIATE_TEST_SUITE_P(Jinja, JinjaCaseTest, testing::ValuesIn(kJinjaCases),
                         [](const testing::TestParamInfo<JinjaCase>& info) {
                             return std::string(info.param.name);
                         });

class JinjaErrorTest : public testing::TestWithParam<JinjaErrorCase> {};

TEST_P(JinjaErrorTest, RaisesLikeJinja2) {
    const JinjaErrorCase& c = GetParam();
    EXPECT_THROW(render(c.source, c.variables), hearth::Error)
        << "template: " << c.source << "\njinja2 raised: " << c.jinja2_message;
}

INSTANTIATE_TEST_SUITE_P(Jinja, JinjaErrorTest, testing::ValuesIn(kJinjaErrorCases),
                         [](const testing::TestParamInfo<JinjaErrorCase>& info) {
                             return std::string(info.param.name);
                         });

// ---- pieces tested directly (expected values computed by hand) ----

TEST(JinjaLexer, TokenizesTagsAndStripsWhitespace) {
    auto tokens = hearth::chat::tokenize("a {{- x.y -}} b\n{% if z %}");
    ASSERT_GE(tokens.size(), 6u);
    EXPECT_EQ(tokens[0].type, hearth::chat::TokenType::Data);
    EXPECT_EQ(tokens[0].text, "a");  // "{{-" ate the space
    EXPECT_EQ(tokens[1].type, hearth::chat::TokenType::VarBegin);
    EXPECT_EQ(tokens[2].text, "x");
    EXPECT_EQ(tokens[3].text, ".");
    EXPECT_EQ(tokens[4].text, "y");
    EXPECT_EQ(tokens[5].type, hearth::chat::TokenType::VarEnd);
    EXPECT_EQ(tokens[6].text, "b\n");  // "-}}" ate the space; lstrip keeps the newline
    EXPECT_EQ(tokens[7].pos.line, 2);
    EXPECT_EQ(tokens[7].pos.column, 1);
}

TEST(JinjaValue, PythonFloatRepr) {
    using hearth::chat::format_python_float;
    EXPECT_EQ(format_python_float(1.0), "1.0");
    EXPECT_EQ(format_python_float(0.1), "0.1");
    EXPECT_EQ(format_python_float(1e16), "1e+16");
    EXPECT_EQ(format_python_float(123456789.5), "123456789.5");
    EXPECT_EQ(format_python_float(0.0001), "0.0001");
    EXPECT_EQ(format_python_float(0.00001), "1e-05");
    EXPECT_EQ(format_python_float(-2.5), "-2.5");
}

TEST(JinjaValue, PythonStringRepr) {
    using hearth::chat::python_string_repr;
    EXPECT_EQ(python_string_repr("a"), "'a'");
    EXPECT_EQ(python_string_repr("it's"), "\"it's\"");
    EXPECT_EQ(python_string_repr("both ' \""), "'both \\' \"'");
    EXPECT_EQ(python_string_repr("nl\n"), "'nl\\n'");
}

TEST(JinjaValue, JsonMatchesPythonJsonDumps) {
    auto v = hearth::chat::Value::from_json(
        nlohmann::ordered_json::parse(R"({"b": [1, 2.0, "é\u0001"], "a": {}})"));
    EXPECT_EQ(v.to_json(), R"({"b": [1, 2.0, "é\u0001"], "a": {}})");
    hearth::chat::JsonStyle ascii;
    ascii.ensure_ascii = true;
    EXPECT_EQ(hearth::chat::Value("é🙂").to_json(ascii), R"("\u00e9\ud83d\ude42")");
}

TEST(JinjaErrors, SyntaxErrorNamesLineAndColumn) {
    try {
        ChatTemplate tmpl("line one\n{{ 1 + }}");
        FAIL() << "expected a syntax error";
    } catch (const hearth::chat::JinjaError& e) {
        EXPECT_EQ(e.pos().line, 2);
        EXPECT_EQ(e.pos().column, 8);
        EXPECT_NE(std::string(e.what()).find("line 2, column 8"), std::string::npos) << e.what();
    }
}

TEST(JinjaErrors, RuntimeErrorNamesLineAndColumn) {
    ChatTemplate tmpl("ok\n  {{ 'a' + 1 }}");
    try {
        tmpl.render(nlohmann::json::array(), {});
        FAIL() << "expected a runtime error";
    } catch (const hearth::chat::JinjaError& e) {
        EXPECT_EQ(e.pos().line, 2);
        EXPECT_NE(std::string(e.what()).find("can only concatenate str"), std::string::npos)
            << e.what();
    }
}

TEST(JinjaErrors, RaiseExceptionMessageIsKept) {
    ChatTemplate tmpl("{{ raise_exception('Only user and assistant roles are supported!') }}");
    try {
        tmpl.render(nlohmann::json::array(), {});
        FAIL();
    } catch (const hearth::Error& e) {
        EXPECT_NE(std::string(e.what()).find("Only user and assistant roles are supported!"),
                  std::string::npos);
        EXPECT_NE(std::string(e.what()).find("line 1, column"), std::string::npos);
    }
}

TEST(JinjaErrors, IncludeIsRefusedAtParseTime) {
    EXPECT_THROW(ChatTemplate("{% include '/etc/passwd' %}"), hearth::Error);
    EXPECT_THROW(ChatTemplate("{% extends 'base.html' %}"), hearth::Error);
}

TEST(ChatTemplateApi, ChatMlDefault) {
    auto tmpl = ChatTemplate::chatml_default();
    auto messages = nlohmann::json::parse(R"([{"role": "system", "content": "S"},
                                              {"role": "user", "content": "U"},
                                              {"role": "assistant", "content": null}])");
    ChatRenderOptions opts;
    EXPECT_EQ(tmpl.render(messages, opts),
              "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
              "<|im_start|>assistant\n<|im_end|>\n<|im_start|>assistant\n");
    opts.add_generation_prompt = false;
    EXPECT_EQ(tmpl.render(nlohmann::json::array(), opts), "");
}

TEST(ChatTemplateApi, ToolsAndExtraVariablesReachTheTemplate) {
    ChatTemplate tmpl(
        // transformers passes tools (and documents) as None when there are none.
        "{{ bos_token }}{% if tools is not none %}{{ tools | length }} tools{% endif %}"
        "{{ ' think' if enable_thinking else ' fast' }}{{ eos_token }}");
    ChatRenderOptions opts;
    opts.bos_token = "<s>";
    opts.eos_token = "</s>";
    EXPECT_EQ(tmpl.render(nlohmann::json::array(), opts), "<s> fast</s>");
    opts.tools = nlohmann::json::parse(R"([{"type": "function"}])");
    opts.extra_vars = {{"enable_thinking", true}};
    EXPECT_EQ(tmpl.render(nlohmann::json::array(), opts), "<s>1 tools think</s>");
}

TEST(ChatTemplateApi, CopiesShareTheParsedTemplate) {
    ChatTemplate a("{{ messages | length }}");
    ChatTemplate b = a;
    EXPECT_EQ(b.source(), a.source());
    EXPECT_EQ(b.render(nlohmann::json::array({1, 2}), {}), "2");
}

}  // namespace
