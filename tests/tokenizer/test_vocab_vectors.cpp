// Byte-exact conformance of every tokenizer family with test vectors, and the
// detokenize(tokenize(x)) == x round trip for the families that can promise it. The vectors are
// llama.cpp's (tests/data/vocab), except gpt-4o, gpt-oss and gemma-3, which llama.cpp publishes
// none for: tests/vocab/oracle.mjs computes theirs with gpt-tokenizer (tiktoken's o200k ranks)
// and transformers.js tokenizers. llama3 and qwen3 are the llama-bpe and qwen2 vocabularies
// again, with transformers.js's vectors over more cases as a second oracle.
#include <gtest/gtest.h>

#include "core/utf8.h"
#include "tokenizer/tokenizer.h"
#include "vocab_files.h"

namespace hearth::tokenizer {
namespace {

using testing::is_generated_vocab;
using testing::read_expected;
using testing::read_inputs;
using testing::running_in_ci;
using testing::vocab_file;
using testing::vocab_gguf;

// Every vocabulary in tests/data/vocab or made by tests/vocab/prepare.sh: with a .gguf, with
// vectors, or both.
const std::vector<std::string> kVocabs = {
    "baichuan", "bert-bge",  "command-r", "deepseek-coder", "deepseek-llm",
    "falcon",   "gemma-3",   "gemma-4",   "gpt-2",          "gpt-4o",
    "gpt-neox", "gpt-oss",   "llama-bpe", "llama-spm",      "llama3",
    "mpt",      "phi-3",     "qwen2",     "qwen3",          "qwen35",
    "refact",   "starcoder",
};

std::string show(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) {
        s += ' ';
        s += std::to_string(id);
    }
    return s;
}

class VocabFile : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        const std::string& name = GetParam();
        has_gguf_ = std::filesystem::exists(vocab_gguf(name));
        has_vectors_ = std::filesystem::exists(vocab_file(name, ".inp"));
        if (has_gguf_) {
            file_ = std::make_unique<gguf::File>(gguf::File::open(vocab_gguf(name).string()));
            tokenizer_ = Tokenizer::from_gguf(*file_);
        }
    }
    // Skips with the reason when this vocabulary has no .gguf; fails instead under CI when the
    // missing file is one tests/vocab/prepare.sh should have made.
    void skip_without_gguf() {
        if (has_gguf_) return;
        if (is_generated_vocab(GetParam())) {
            const std::string why = vocab_gguf(GetParam()).string() +
                                    " is missing; tests/vocab/prepare.sh makes it (it needs npm)";
            if (running_in_ci()) FAIL() << why;
            GTEST_SKIP() << why;
        }
        GTEST_SKIP() << "ggml-vocab-" << GetParam()
                     << ".gguf is not in tests/data/vocab (upstream file is over 4 MiB); "
                        "its .inp/.out vectors are kept for when it is added";
    }
    void skip_without_vectors() {
        skip_without_gguf();
        if (IsSkipped() || HasFatalFailure()) return;
        if (!has_vectors_) {
            GTEST_SKIP() << "llama.cpp publishes no .inp/.out vectors for " << GetParam();
        }
    }

    bool has_gguf_ = false, has_vectors_ = false;
    std::unique_ptr<gguf::File> file_;
    std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_P(VocabFile, MatchesReferenceIds) {
    skip_without_vectors();
    if (IsSkipped() || HasFatalFailure()) return;
    std::vector<std::string> inputs = read_inputs(GetParam());
    std::vector<std::vector<int32_t>> expected = read_expected(GetParam());
    ASSERT_EQ(inputs.size(), expected.size()) << "one .out line per .inp test";
    size_t passed = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        std::vector<int32_t> got = tokenizer_->encode(inputs[i], false, false);
        EXPECT_EQ(got, expected[i]) << "case " << i << " '" << inputs[i] << "'\n  got     "
                                    << show(got) << "\n  expected" << show(expected[i]);
        passed += got == expected[i];
    }
    std::printf("[ vectors  ] %s: %zu/%zu cases byte-exact\n", GetParam().c_str(), passed,
                inputs.size());
}

// Byte-level BPE is lossless. SentencePiece is too on these texts, including those that start
// with spaces: the decoder drops exactly the one space prefix the encoder added (the ambiguity
// left is text after a special token, which gets a prefix of its own). WordPiece normalizes
// (lower case, accents, whitespace) and so never round-trips.
TEST_P(VocabFile, DetokenizeRoundTrip) {
    skip_without_vectors();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string& model = tokenizer_->vocab().model;
    if (model == "bert") GTEST_SKIP() << "WordPiece normalizes text, so it cannot round-trip";
    for (const std::string& text : read_inputs(GetParam())) {
        std::vector<int32_t> ids = tokenizer_->encode(text, true, false);
        EXPECT_EQ(tokenizer_->decode(ids), text) << show(ids);
    }
}

TEST_P(VocabFile, StreamingNeverSplitsACharacter) {
    skip_without_gguf();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string text = "ied 4 ½ months 🦙🦙 Việt 我想在apple工作 🏃‍♀️";
    std::vector<int32_t> ids = tokenizer_->encode(text, false, false);
    StreamDecoder stream(*tokenizer_);
    std::string joined;
    for (int32_t id : ids) {
        std::string chunk = stream.push(id);
        EXPECT_TRUE(utf8::is_valid(chunk)) << "token " << id;
        joined += chunk;
    }
    joined += stream.flush();
    if (tokenizer_->vocab().model == "gpt2") {
        EXPECT_EQ(joined, text);
    }
}

INSTANTIATE_TEST_SUITE_P(tokenizer, VocabFile, ::testing::ValuesIn(kVocabs), [](const auto& info) {
    std::string name = info.param;
    for (char& c : name) {
        if (c == '-') c = '_';
    }
    return name;
});

}  // namespace
}  // namespace hearth::tokenizer
