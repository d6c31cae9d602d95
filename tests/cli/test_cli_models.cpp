#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "fake_hub.h"

using hearth::fake::FakeHub;
using hearth::fake::FakeRepo;
namespace fs = std::filesystem;

namespace {

struct CliRun {
    int code = 0;
    std::string out;
    std::string err;
};

CliRun hearth_cli(const std::string& line) {
    CLI::App app{"hearth"};
    hearth::cli::add_model_commands(app);
    CliRun run;
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    try {
        app.parse(line);
    } catch (const CLI::ParseError& e) {
        run.code = app.exit(e);
    }
    run.out = ::testing::internal::GetCapturedStdout();
    run.err = ::testing::internal::GetCapturedStderr();
    return run;
}

class CliModelsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("hearth-cli-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        FakeRepo repo;
        repo.files["Tiny-Q4_K_M.gguf"] = {hearth::fake::make_gguf(1), ""};
        repo.files["Tiny-Q8_0.gguf"] = {hearth::fake::make_gguf(2), ""};
        hub_.add_repo("acme/Tiny-GGUF", repo);
        FakeRepo vision;
        vision.pipeline_tag = "image-text-to-text";
        vision.files["Eye-Q4_K_M.gguf"] = {hearth::fake::make_gguf(3), ""};
        hub_.add_repo("acme/Eye-GGUF", vision);
        hub_.set_listing({R"({"id":"acme/Tiny-GGUF","pipeline_tag":"text-generation",
                             "downloads":99,"likes":7,"trendingScore":3})",
                          R"({"id":"acme/Eye-GGUF","pipeline_tag":"image-text-to-text"})"});
        setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
        setenv("HEARTH_MODELS_DIR", dir_.c_str(), 1);
        unsetenv("HF_TOKEN");
    }
    void TearDown() override {
        fs::remove_all(dir_);
        unsetenv("HF_ENDPOINT");
        unsetenv("HEARTH_MODELS_DIR");
    }

    FakeHub hub_;
    fs::path dir_;
};

}  // namespace

TEST_F(CliModelsTest, PullListShowRemove) {
    CliRun pull = hearth_cli("pull acme/Tiny-GGUF:Q4_K_M --alias gpt-3.5-turbo --alias gpt-4");
    ASSERT_EQ(pull.code, 0) << pull.err;
    // stderr is not a terminal here, so progress comes as log lines.
    EXPECT_NE(pull.err.find("Tiny-Q4_K_M.gguf: 100%"), std::string::npos) << pull.err;
    EXPECT_NE(pull.out.find("installed: tiny-q4_k_m"), std::string::npos) << pull.out;
    EXPECT_TRUE(fs::exists(dir_ / "Tiny-Q4_K_M.gguf"));
    EXPECT_TRUE(fs::exists(dir_ / "tiny-q4_k_m.yaml"));

    CliRun again = hearth_cli("pull acme/Tiny-GGUF:Q4_K_M");
    EXPECT_NE(again.out.find("up to date: tiny-q4_k_m"), std::string::npos) << again.out;

    CliRun list = hearth_cli("models list");
    EXPECT_NE(list.out.find("tiny-q4_k_m"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("gpt-3.5-turbo,gpt-4"), std::string::npos) << list.out;

    CliRun show = hearth_cli("models show gpt-3.5-turbo");
    EXPECT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("architecture: llama"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("repo: acme/Tiny-GGUF"), std::string::npos) << show.out;

    CliRun rm = hearth_cli("models rm tiny-q4_k_m");
    EXPECT_EQ(rm.code, 0) << rm.err;
    EXPECT_FALSE(fs::exists(dir_ / "Tiny-Q4_K_M.gguf"));
    EXPECT_NE(hearth_cli("models list").out.find("No models"), std::string::npos);
}

TEST_F(CliModelsTest, ErrorsExitWithStatusOne) {
    CliRun missing = hearth_cli("pull acme/Nope-GGUF:Q4_0");
    EXPECT_EQ(missing.code, 1);
    EXPECT_NE(missing.err.find("error:"), std::string::npos) << missing.err;
    EXPECT_NE(missing.err.find("HF_TOKEN"), std::string::npos) << missing.err;
    EXPECT_EQ(hearth_cli("models show nothing").code, 1);
    EXPECT_EQ(hearth_cli("models rm nothing").code, 1);
    EXPECT_FALSE(fs::exists(dir_ / "Tiny-Q4_K_M.gguf"));
}

TEST_F(CliModelsTest, CatalogDiscoverUpdate) {
    CliRun catalog = hearth_cli("models catalog");
    EXPECT_NE(catalog.out.find("llama-3.2-1b"), std::string::npos) << catalog.out;
    EXPECT_NE(catalog.out.find("approximate"), std::string::npos);
    EXPECT_EQ(hearth_cli("models catalog --fits").code, 0);

    CliRun discover = hearth_cli("discover --all");
    EXPECT_EQ(discover.code, 0) << discover.err;
    EXPECT_NE(discover.out.find("hearth pull acme/Tiny-GGUF:Q4_K_M"), std::string::npos)
        << discover.out;
    EXPECT_EQ(discover.out.find("Eye-GGUF"), std::string::npos) << "not text generation";

    ASSERT_EQ(hearth_cli("pull acme/Tiny-GGUF:Q8_0").code, 0);
    EXPECT_NE(hearth_cli("update --dry-run").out.find("up to date"), std::string::npos);
    std::string v2 = hearth::fake::make_gguf(42);
    hub_.set_file("acme/Tiny-GGUF", "Tiny-Q8_0.gguf", {v2, ""});
    hub_.set_commit("acme/Tiny-GGUF", std::string(40, '9'));
    CliRun dry = hearth_cli("update --dry-run");
    EXPECT_NE(dry.out.find("update available"), std::string::npos) << dry.out;
    CliRun update = hearth_cli("update");
    EXPECT_EQ(update.code, 0) << update.err;
    EXPECT_NE(update.out.find("updated"), std::string::npos) << update.out;
    EXPECT_EQ(fs::file_size(dir_ / "Tiny-Q8_0.gguf"), v2.size());

    CliRun auto_dry = hearth_cli("update --auto --dry-run");
    EXPECT_NE(auto_dry.out.find("No new trending models"), std::string::npos) << auto_dry.out;
}

TEST_F(CliModelsTest, UpdateAutoAddsTrendingModelsThatFit) {
    FakeRepo other;
    other.files["Other-Q4_K_M.gguf"] = {hearth::fake::make_gguf(5), ""};
    other.files["Other-Q8_0.gguf"] = {hearth::fake::make_gguf(6), ""};
    hub_.add_repo("acme/Other-GGUF", other);
    hub_.set_listing({R"({"id":"acme/Tiny-GGUF","pipeline_tag":"text-generation"})",
                      R"({"id":"acme/Other-GGUF","pipeline_tag":"text-generation"})"});
    ASSERT_EQ(hearth_cli("pull acme/Tiny-GGUF:Q8_0").code, 0);

    CliRun dry = hearth_cli("update --auto --top 1 --dry-run");
    EXPECT_NE(dry.out.find("would add acme/Other-GGUF:Q4_K_M"), std::string::npos) << dry.out;
    EXPECT_FALSE(fs::exists(dir_ / "Other-Q4_K_M.gguf"));

    CliRun real = hearth_cli("update --auto --top 1");
    EXPECT_EQ(real.code, 0) << real.err;
    EXPECT_NE(real.out.find("added other-q4_k_m"), std::string::npos) << real.out;
    EXPECT_TRUE(fs::exists(dir_ / "Other-Q4_K_M.gguf"));
}

TEST_F(CliModelsTest, HelpTeachesWithExamples) {
    for (const char* command :
         {"pull --help", "models --help", "discover --help", "update --help"}) {
        CliRun help = hearth_cli(command);
        EXPECT_EQ(help.code, 0);
        EXPECT_NE(help.out.find("Examples:"), std::string::npos) << command;
    }
}
