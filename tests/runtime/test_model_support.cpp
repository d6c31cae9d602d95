// runtime::why_unsupported: what `pull` / `discover` decide from a model's header alone.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "gguf/reader.h"
#include "gguf/writer.h"
#include "runtime/model_support.h"

using namespace hearth;

namespace {

std::string why(const gguf::File& f) { return runtime::why_unsupported(f, f.tensors()); }

// stories260K's header with `change` applied to its metadata, written and read back.
gguf::File changed_stories(const std::function<void(gguf::Writer&)>& change) {
    const gguf::File original = gguf::File::open(HEARTH_TEST_DATA "/models/stories260K.gguf");
    gguf::Writer writer(original.alignment());
    for (const auto& kv : original.metadata()) writer.set(kv.key, kv.value);
    for (const auto& t : original.tensors())
        writer.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                          std::vector<uint8_t>(t.data, t.data + t.n_bytes));
    change(writer);
    const std::string path = ::testing::TempDir() + "/hearth-support-" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                             ".gguf";
    writer.write(path);
    return gguf::File::open(path);
}

}  // namespace

TEST(ModelSupport, AModelHearthRunsPasses) {
    EXPECT_EQ(why(gguf::File::open(HEARTH_TEST_DATA "/models/stories260K.gguf")), "");
}

TEST(ModelSupport, AnUnknownArchitectureIsNamedWithTheKnownOnes) {
    const gguf::File f = changed_stories([](gguf::Writer& w) {
        w.set("general.architecture", gguf::Value::string("deepseek2"));
    });
    const std::string reason = why(f);
    EXPECT_NE(reason.find("deepseek2"), std::string::npos) << reason;
    EXPECT_NE(reason.find("qwen3moe"), std::string::npos) << "lists what runs: " << reason;
}

TEST(ModelSupport, MissingKeysAndUnknownTokenizersAreReasons) {
    std::string reason = why(changed_stories(
        [](gguf::Writer& w) { w.remove("llama.attention.head_count"); }));
    EXPECT_NE(reason.find("head_count"), std::string::npos) << reason;
    reason = why(changed_stories([](gguf::Writer& w) {
        w.set("tokenizer.ggml.model", gguf::Value::string("rwkv"));
    }));
    EXPECT_NE(reason.find("tokenizer"), std::string::npos) << reason;
    EXPECT_NE(reason.find("rwkv"), std::string::npos) << reason;
}

// gpt-oss files keep their experts in MXFP4, which hearth computes: such a tensor passes, while
// a type it has no kernels for (IQ2_XXS, 66 bytes per 256) is named.
TEST(ModelSupport, Mxfp4TensorsPassOtherUncomputedTypesAreNamed) {
    EXPECT_EQ(why(changed_stories([](gguf::Writer& w) {
                  w.add_tensor("blk.0.ffn_up_exps.weight", gguf::TensorType::MXFP4, {64, 2, 2},
                               std::vector<uint8_t>(8 * 17, 0));
              })),
              "");
    const std::string reason = why(changed_stories([](gguf::Writer& w) {
        w.add_tensor("blk.0.ffn_up_exps.weight", gguf::TensorType::IQ2_XXS, {256, 2},
                     std::vector<uint8_t>(2 * 66, 0));
    }));
    EXPECT_NE(reason.find("IQ2_XXS"), std::string::npos) << reason;
}

// Rank pooling (pooling_type 4) is a reranker: hearth runs bert-family cross-encoders, and says
// so for a decoder reranker (Qwen3-Reranker's layout) instead of calling the pooling unknown.
TEST(ModelSupport, RankPoolingIsARerankerOfTheBertFamilyOnly) {
    const std::string reason = why(
        changed_stories([](gguf::Writer& w) { w.set("llama.pooling_type", gguf::Value::u32(4)); }));
    EXPECT_NE(reason.find("reranker"), std::string::npos) << reason;
    EXPECT_NE(reason.find("bert"), std::string::npos) << reason;
    const std::string unknown = why(
        changed_stories([](gguf::Writer& w) { w.set("llama.pooling_type", gguf::Value::u32(5)); }));
    EXPECT_NE(unknown.find("4 rank"), std::string::npos) << unknown;
}
