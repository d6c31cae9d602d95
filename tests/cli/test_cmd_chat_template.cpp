// `hearth chat-template`: the subcommand prints exactly the rendered prompt.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hearth::cli {
void add_chat_template_command(CLI::App& app);
}

namespace {

namespace fs = std::filesystem;
const fs::path kData = HEARTH_TEST_DATA;

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

fs::path write_temp(const std::string& name, const std::string& text) {
    fs::path path = fs::temp_directory_path() / ("hearth_test_chat_" + name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

// Runs `hearth chat-template ARGS...` in-process and returns what it printed.
std::string run(std::vector<std::string> args) {
    CLI::App app{"hearth"};
    hearth::cli::add_chat_template_command(app);
    args.insert(args.begin(), "chat-template");
    std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
    testing::internal::CaptureStdout();
    try {
        app.parse(args);
    } catch (...) {
        testing::internal::GetCapturedStdout();
        throw;
    }
    return testing::internal::GetCapturedStdout();
}

TEST(ChatTemplateCommand, TemplateFileMatchesGoldenByteForByte) {
    setenv("SOURCE_DATE_EPOCH", "1721000000", 1);
    auto conversations =
        nlohmann::ordered_json::parse(read_file(kData / "chat_goldens" / "conversations.json"));
    fs::path messages = write_temp("messages.json", conversations["tools"]["messages"].dump());
    fs::path tools = write_temp("tools.json", conversations["tools"]["tools"].dump());
    std::string out = run({"--template", (kData / "templates" / "Qwen-Qwen3-0.6B.jinja").string(),
                           "--messages", messages.string(), "--tools", tools.string(),
                           "--add-generation-prompt", "--bos", "", "--eos", "<|im_end|>"});
    EXPECT_EQ(out, read_file(kData / "chat_goldens" / "Qwen-Qwen3-0.6B" / "tools.gp.txt"));
}

TEST(ChatTemplateCommand, ModelWithoutTemplateUsesChatMlAndVarsReachTheTemplate) {
    fs::path messages = write_temp("simple.json", R"([{"role": "user", "content": "Hi"}])");
    std::string out =
        run({(kData / "models" / "stories260K.gguf").string(), "--messages", messages.string()});
    EXPECT_EQ(out, "<|im_start|>user\nHi<|im_end|>\n");
    fs::path tmpl = write_temp("vars.jinja", "{{ bos_token }}{{ flag }}|{{ n + 1 }}");
    out = run({"--template", tmpl.string(), "--messages", messages.string(), "--var", "flag=false",
               "--var", "n=41", "--bos", "<s>"});
    EXPECT_EQ(out, "<s>False|42");
}

TEST(ChatTemplateCommand, ClearErrors) {
    fs::path messages = write_temp("m.json", "[]");
    EXPECT_THROW(run({"--messages", messages.string()}), hearth::Error);  // no template source
    fs::path tmpl = write_temp("t.jinja", "x");
    EXPECT_THROW(
        run({"--template", tmpl.string(), "--messages", messages.string(), "--var", "flag=False"}),
        hearth::Error);  // not JSON
    fs::path bad = write_temp("bad.jinja", "{% if %}");
    EXPECT_THROW(run({"--template", bad.string(), "--messages", messages.string()}), hearth::Error);
}

}  // namespace
