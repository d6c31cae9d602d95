// POST /v1/embeddings' request handling over Model::embed (whose numbers the numpy reference
// checks): inputs in every accepted shape, base64 encoding, dimensions, usage and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "server/api_error.h"
#include "server/embeddings.h"
#include "synthetic_with_vocab.h"

using namespace hearth;
using json = nlohmann::json;

namespace {

std::unique_ptr<server::LoadedModel> load(std::shared_ptr<model::Model> model) {
    auto m = std::make_unique<server::LoadedModel>();
    m->entry.name = "bge";
    m->model = std::move(model);
    m->tokenizer = tokenizer::Tokenizer::from_gguf(m->model->file());
    return m;
}

class Embeddings : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        model_ = load(synthetic_model_with_vocab("bert", "bert-bge")).release();
    }
    static void TearDownTestSuite() { delete model_; }
    static server::LoadedModel* model_;
};
server::LoadedModel* Embeddings::model_ = nullptr;

std::vector<float> decode_base64_floats(const std::string& s) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        return c == '+' ? 62 : 63;
    };
    std::vector<uint8_t> bytes;
    for (size_t i = 0; i + 3 < s.size(); i += 4) {
        uint32_t v = (value(s[i]) << 18) | (value(s[i + 1]) << 12);
        if (s[i + 2] != '=') v |= value(s[i + 2]) << 6;
        if (s[i + 3] != '=') v |= value(s[i + 3]);
        bytes.push_back(v >> 16);
        if (s[i + 2] != '=') bytes.push_back((v >> 8) & 0xFF);
        if (s[i + 3] != '=') bytes.push_back(v & 0xFF);
    }
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}

TEST(Base64, KnownVectors) {
    // RFC 4648 section 10.
    EXPECT_EQ(server::base64_encode("", 0), "");
    EXPECT_EQ(server::base64_encode("f", 1), "Zg==");
    EXPECT_EQ(server::base64_encode("fo", 2), "Zm8=");
    EXPECT_EQ(server::base64_encode("foobar", 6), "Zm9vYmFy");
}

TEST_F(Embeddings, StringInputEqualsModelEmbedOfItsTokens) {
    json r = server::create_embeddings({{"input", "Hello world"}}, *model_);
    auto ids = model_->tokenizer->encode("Hello world", true, false);
    kernels::ThreadPool pool(1);
    auto want = model_->model->embed(ids, model::Pooling::Default, true, pool);
    std::vector<float> got = r["data"][0]["embedding"];
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]);
    EXPECT_EQ(r["object"], "list");
    EXPECT_EQ(r["data"][0]["object"], "embedding");
    EXPECT_EQ(r["usage"]["prompt_tokens"], ids.size());
    EXPECT_EQ(ids.front(), model_->tokenizer->vocab().cls);  // [CLS] ... [SEP]
}

TEST_F(Embeddings, ArraysTokensAndBase64) {
    auto ids = model_->tokenizer->encode("cats and dogs", true, false);
    json r = server::create_embeddings(
        {{"input", {"cats and dogs", ids}}, {"encoding_format", "base64"}}, *model_);
    ASSERT_EQ(r["data"].size(), 2u);
    auto a = decode_base64_floats(r["data"][0]["embedding"]);
    auto b = decode_base64_floats(r["data"][1]["embedding"]);
    EXPECT_EQ(a, b);  // text and its token ids give the same vector
    EXPECT_EQ(r["data"][1]["index"], 1);
    double norm = 0;
    for (float x : a) norm += x * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST_F(Embeddings, DimensionsTruncateAndRenormalize) {
    json full = server::create_embeddings({{"input", "hello"}}, *model_);
    json cut = server::create_embeddings({{"input", "hello"}, {"dimensions", 8}}, *model_);
    std::vector<float> f = full["data"][0]["embedding"];
    std::vector<float> c = cut["data"][0]["embedding"];
    ASSERT_EQ(c.size(), 8u);
    double norm = 0;
    for (int i = 0; i < 8; ++i) norm += f[i] * f[i];
    for (int i = 0; i < 8; ++i) EXPECT_NEAR(c[i], f[i] / std::sqrt(norm), 1e-6);
}

TEST_F(Embeddings, BadRequestsAre400s) {
    auto status = [&](const json& body) {
        try {
            server::create_embeddings(body, *model_);
        } catch (const server::ApiError& e) {
            return e.status();
        }
        return 200;
    };
    EXPECT_EQ(status(json::object()), 400);
    EXPECT_EQ(status({{"input", 5}}), 400);
    EXPECT_EQ(status({{"input", ""}}), 400);
    EXPECT_EQ(status({{"input", json::array({99999999})}}), 400);
    EXPECT_EQ(status({{"input", "x"}, {"encoding_format", "hex"}}), 400);
    EXPECT_EQ(status({{"input", "x"}, {"dimensions", 0}}), 400);
    EXPECT_EQ(status({{"input", "x"}, {"dimensions", 100000}}), 400);
    EXPECT_EQ(status({{"input", json::array({"a", 3.5})}}), 400);
}

TEST(EmbeddingsRefused, TextGenerationModel) {
    auto m = load(model::Model::load(std::string(HEARTH_TEST_DATA) + "/models/stories260K.gguf"));
    try {
        server::create_embeddings({{"input", "hi"}}, *m);
        FAIL();
    } catch (const server::ApiError& e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_EQ(e.to_json()["error"]["code"], "model_not_supported");
    }
}

}  // namespace
