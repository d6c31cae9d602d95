// The quantize / synth / bench subcommands, registered on an app as main() will do.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gguf/reader.h"

namespace hearth::cli {
void add_quantize_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_bench_command(CLI::App& app);
}  // namespace hearth::cli

namespace {

void run_cli(std::vector<std::string> args) {
    CLI::App app{"hearth"};
    app.require_subcommand(1);
    hearth::cli::add_quantize_command(app);
    hearth::cli::add_synth_command(app);
    hearth::cli::add_bench_command(app);
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
    app.parse(args);
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("hearth-cli-" + name)).string();
}

}  // namespace

TEST(CliCommands, QuantizeSynthBench) {
    const std::string q8 = temp_path("stories-q8.gguf");
    run_cli({"quantize", HEARTH_TEST_DATA "/models/stories260K.gguf", q8, "q8_0", "-t", "2"});
    EXPECT_EQ(hearth::gguf::File::open(q8).get_u64("general.file_type"), 7u);

    const std::string tiny = temp_path("tiny.gguf");
    run_cli({"synth", "tiny", tiny, "--type", "Q4_0", "--vocab",
             HEARTH_TEST_DATA "/vocab/ggml-vocab-llama-spm.gguf", "-t", "2"});
    EXPECT_EQ(hearth::gguf::File::open(tiny).get_u64("general.file_type"), 2u);

    testing::internal::CaptureStdout();
    run_cli({"bench", tiny, "-p", "16", "-n", "4", "-r", "2", "-t", "1,2"});
    std::string table = testing::internal::GetCapturedStdout();
    EXPECT_NE(table.find("pp16"), std::string::npos) << table;
    EXPECT_NE(table.find("tg4"), std::string::npos) << table;
    testing::internal::CaptureStdout();
    run_cli({"bench", q8, "-p", "8", "-n", "2", "-r", "1", "--json"});
    std::string json = testing::internal::GetCapturedStdout();
    EXPECT_NE(json.find("\"avg_ts\""), std::string::npos) << json;
    std::remove(q8.c_str());
    std::remove(tiny.c_str());
}

// synth writes every architecture; bench runs decoders and encoders (which only embed: pp).
TEST(CliCommands, SynthAndBenchOtherArchitectures) {
    const std::string gemma = temp_path("gemma2.gguf"), bert = temp_path("bert.gguf");
    run_cli({"synth", "tiny", gemma, "--arch", "gemma2", "--type", "Q4_K_M", "-t", "2"});
    EXPECT_EQ(hearth::gguf::File::open(gemma).get_string("general.architecture"), "gemma2");
    run_cli({"synth", "tiny", bert, "--arch", "bert", "--type", "Q8_0", "--vocab",
             HEARTH_TEST_DATA "/vocab/ggml-vocab-bert-bge.gguf"});
    const hearth::gguf::File f = hearth::gguf::File::open(bert);
    EXPECT_EQ(f.tensor("token_embd.weight").ne[1], 30522) << "vocab follows the vocab file";

    testing::internal::CaptureStdout();
    run_cli({"bench", gemma, "-p", "8", "-n", "2", "-r", "1", "-t", "1"});
    std::string table = testing::internal::GetCapturedStdout();
    EXPECT_NE(table.find("tg2"), std::string::npos) << table;
    testing::internal::CaptureStdout();
    run_cli({"bench", bert, "-p", "8", "-n", "2", "-r", "1", "-t", "1"});
    table = testing::internal::GetCapturedStdout();
    EXPECT_NE(table.find("pp8"), std::string::npos) << table;
    EXPECT_EQ(table.find("tg2"), std::string::npos) << "encoders cannot generate: " << table;
    EXPECT_THROW(run_cli({"synth", "tiny", temp_path("x.gguf"), "--arch", "mamba"}),
                 std::exception);
    std::remove(gemma.c_str());
    std::remove(bert.c_str());
}

// gpt-oss presets without --type: the experts in MXFP4 as real gpt-oss files keep them (file
// type MOSTLY_MXFP4_MOE), the rest F32; an explicit --type covers every tensor. The MXFP4 file
// benches (its experts run through the MXFP4 kernels).
TEST(CliCommands, SynthGptOssWritesMxfp4ExpertsUnlessTypeIsGiven) {
    using hearth::gguf::TensorType;
    const std::string oss = temp_path("gpt-oss.gguf"), q8 = temp_path("gpt-oss-q8.gguf");
    run_cli({"synth", "gpt-oss-tiny", oss, "-t", "1"});
    const hearth::gguf::File f = hearth::gguf::File::open(oss);
    EXPECT_EQ(f.get_u64("general.file_type"), 38u);
    for (const char* name : {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"})
        EXPECT_EQ(f.tensor("blk.1." + std::string(name) + ".weight").type, TensorType::MXFP4)
            << name;
    EXPECT_EQ(f.tensor("blk.1.ffn_gate_exps.bias").type, TensorType::F32);
    EXPECT_EQ(f.tensor("blk.1.attn_q.weight").type, TensorType::F32);
    EXPECT_EQ(f.tensor("blk.1.ffn_gate_inp.weight").type, TensorType::F32);
    EXPECT_EQ(f.tensor("output.weight").type, TensorType::F32);

    run_cli({"synth", "gpt-oss-tiny", q8, "--type", "Q8_0", "-t", "1"});
    EXPECT_EQ(hearth::gguf::File::open(q8).tensor("blk.1.ffn_up_exps.weight").type,
              TensorType::Q8_0);

    testing::internal::CaptureStdout();
    run_cli({"bench", oss, "-p", "8", "-n", "2", "-r", "1", "-t", "1"});
    std::string table = testing::internal::GetCapturedStdout();
    EXPECT_NE(table.find("tg2"), std::string::npos) << table;
    std::remove(oss.c_str());
    std::remove(q8.c_str());
}

TEST(CliCommands, UnknownTypeIsAClearError) {
    EXPECT_THROW(run_cli({"quantize", HEARTH_TEST_DATA "/models/stories260K.gguf",
                          temp_path("x.gguf"), "Q9_Z"}),
                 std::exception);
}
