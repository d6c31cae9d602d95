// Every template in tests/data/templates, on every conversation of the golden set, must render
// byte for byte what jinja2 rendered (scripts/gen_template_goldens.py), or fail where it failed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"

namespace fs = std::filesystem;
using hearth::chat::ChatRenderOptions;
using hearth::chat::ChatTemplate;

namespace {

const fs::path kData = HEARTH_TEST_DATA;

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

std::vector<std::string> template_names() {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(kData / "templates")) {
        if (entry.path().extension() == ".jinja") names.push_back(entry.path().stem().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

class TemplateGolden : public testing::TestWithParam<std::string> {};

TEST_P(TemplateGolden, MatchesJinja2) {
    // The goldens were rendered with this fixed clock (2024-07-14 23:33:20 UTC).
    setenv("SOURCE_DATE_EPOCH", "1721000000", 1);
    const std::string name = GetParam();
    const auto conversations =
        nlohmann::ordered_json::parse(read_file(kData / "chat_goldens" / "conversations.json"));
    const auto tokens = nlohmann::json::parse(read_file(kData / "chat_goldens" / "tokens.json"));
    std::string source = read_file(kData / "templates" / (name + ".jinja"));
    std::unique_ptr<ChatTemplate> tmpl;
    std::string parse_error;
    try {
        tmpl = std::make_unique<ChatTemplate>(source);
    } catch (const hearth::Error& e) {
        parse_error = e.what();
    }
    for (const auto& [conv_name, conv] : conversations.items()) {
        for (bool gp : {true, false}) {
            fs::path base = kData / "chat_goldens" / name / (conv_name + (gp ? ".gp" : ".nogp"));
            SCOPED_TRACE(base.string());
            ChatRenderOptions opts;
            opts.add_generation_prompt = gp;
            opts.bos_token = tokens[name]["bos_token"];
            opts.eos_token = tokens[name]["eos_token"];
            nlohmann::ordered_json tools = conv.contains("tools") ? conv["tools"] : nullptr;
            nlohmann::ordered_json extra =
                conv.value("extra_vars", nlohmann::ordered_json::object());
            bool expect_error = fs::exists(fs::path(base.string() + ".error"));
            if (!tmpl) {
                EXPECT_TRUE(expect_error) << "hearth failed to parse: " << parse_error;
                continue;
            }
            if (expect_error) {
                EXPECT_THROW(tmpl->render_ordered(conv["messages"], tools, opts, extra),
                             hearth::Error)
                    << "jinja2 raised: " << read_file(base.string() + ".error");
                continue;
            }
            std::string expected = read_file(base.string() + ".txt");
            try {
                EXPECT_EQ(tmpl->render_ordered(conv["messages"], tools, opts, extra), expected);
            } catch (const hearth::Error& e) {
                ADD_FAILURE() << "hearth raised: " << e.what();
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllTemplates, TemplateGolden, testing::ValuesIn(template_names()),
                         [](const testing::TestParamInfo<std::string>& info) {
                             std::string id = info.param;
                             for (char& c : id) {
                                 if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                             }
                             return id;
                         });

}  // namespace
