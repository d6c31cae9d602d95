// POST /v1/rerank over real HTTP: a synthetic cross-encoder (bert-reranker-tiny with BERT's
// vocabulary) serves it. The scores must be Model::rank's of the pairs Tokenizer::encode_pair
// makes (the numbers themselves are checked against the numpy reference in
// reference_bert-reranker), best first; plus the request shapes clients send and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "live_server.h"
#include "synthetic_with_vocab.h"

namespace hearth::server {
namespace {

using nlohmann::json;

ModelEntry entry(const std::string& name, const std::string& path) {
    ModelEntry e;
    e.name = name;
    e.path = path;
    return e;
}

class Rerank : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        const std::string reranker =
            synthetic_model_file_with_vocab("bert", "bert-bge", 0, "bert-reranker-tiny");
        const std::string embedder = synthetic_model_file_with_vocab("bert", "bert-bge");
        ServerOptions o;
        o.max_body_bytes = 256 * 1024;
        live_ = new LiveServer(o, {entry("reranker", reranker), entry("bge", embedder)});
        model_ = model::Model::load(reranker);
        tokenizer_ = tokenizer::Tokenizer::from_gguf(model_->file()).release();
    }
    static void TearDownTestSuite() {
        delete live_;
        delete tokenizer_;
        model_.reset();
    }

    // Two models are served: a body without "model" asks for the reranker.
    static httplib::Result post(const std::string& path, json body) {
        if (!body.contains("model")) body["model"] = "reranker";
        return live_->post(path, body);
    }
    static json post_ok(const std::string& path, const json& body) {
        return ok_json(post(path, body));
    }
    static void expect_error(const json& body, int status, const std::string& param,
                             const std::string& code = {}) {
        auto res = post("/v1/rerank", body);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, status) << body.dump() << " -> " << res->body;
        json error = json::parse(res->body)["error"];
        EXPECT_EQ(error["type"], "invalid_request_error") << res->body;
        EXPECT_FALSE(error["message"].get<std::string>().empty());
        if (!param.empty()) {
            EXPECT_EQ(error["param"], param) << res->body;
        }
        if (!code.empty()) {
            EXPECT_EQ(error["code"], code) << res->body;
        }
    }
    // The oracle: the pair's score computed in this process.
    static float score(const std::string& query, const std::string& document) {
        kernels::ThreadPool pool(1);
        tokenizer::Tokenizer::Pair pair = tokenizer_->encode_pair(query, document);
        return model_->rank(pair.tokens, pair.second, pool);
    }
    static size_t pair_tokens(const std::string& query, const std::string& document) {
        return tokenizer_->encode_pair(query, document).tokens.size();
    }

    static LiveServer* live_;
    static std::shared_ptr<model::Model> model_;
    static tokenizer::Tokenizer* tokenizer_;
};
LiveServer* Rerank::live_ = nullptr;
std::shared_ptr<model::Model> Rerank::model_;
tokenizer::Tokenizer* Rerank::tokenizer_ = nullptr;

const std::string kQuery = "what is a panda?";
const std::vector<std::string> kDocuments = {
    "hi", "it is a bear",
    "The giant panda, sometimes called a panda bear, is a bear species endemic to China.",
    "pandas is a python library"};

TEST_F(Rerank, ScoresEveryDocumentBestFirst) {
    json r = post_ok("/v1/rerank",
                     {{"model", "reranker"}, {"query", kQuery}, {"documents", kDocuments}});
    EXPECT_EQ(r["object"], "list");
    EXPECT_EQ(r["model"], "reranker");
    ASSERT_EQ(r["results"].size(), kDocuments.size());
    std::set<size_t> seen;
    double previous = INFINITY;
    size_t tokens = 0;
    for (const json& item : r["results"]) {
        const size_t i = item["index"];
        ASSERT_LT(i, kDocuments.size());
        seen.insert(i);
        const double got = item["relevance_score"];
        const double want = score(kQuery, kDocuments[i]);
        EXPECT_NEAR(got, want, 1e-5 * std::max(1.0, std::abs(want))) << kDocuments[i];
        EXPECT_LE(got, previous) << "results must be sorted best first";
        previous = got;
        EXPECT_FALSE(item.contains("document")) << "documents only when asked for";
        tokens += pair_tokens(kQuery, kDocuments[i]);
    }
    EXPECT_EQ(seen.size(), kDocuments.size());
    EXPECT_EQ(r["usage"]["prompt_tokens"], tokens);
    EXPECT_EQ(r["usage"]["total_tokens"], tokens);
    // The scores tell the documents apart (the document reaches the [CLS] state).
    EXPECT_NE(r["results"][0]["relevance_score"], r["results"][3]["relevance_score"]);
}

TEST_F(Rerank, TopNDocumentObjectsAndReturnedTexts) {
    // Cohere and Jina clients send documents as {"text": ...} objects; strings and objects mix.
    json documents = json::array({kDocuments[0],
                                  {{"text", kDocuments[1]}},
                                  kDocuments[2],
                                  {{"text", kDocuments[3]}, {"title", "ignored"}}});
    json all = post_ok("/v1/rerank", {{"query", kQuery}, {"documents", kDocuments}});
    json r = post_ok(
        "/v1/rerank",
        {{"query", kQuery}, {"documents", documents}, {"top_n", 2}, {"return_documents", true}});
    ASSERT_EQ(r["results"].size(), 2u);
    for (size_t k = 0; k < 2; ++k) {
        const size_t i = r["results"][k]["index"];
        EXPECT_EQ(i, all["results"][k]["index"]) << "top_n keeps the best";
        EXPECT_EQ(r["results"][k]["document"]["text"], kDocuments[i]);
        EXPECT_EQ(r["results"][k]["relevance_score"], all["results"][k]["relevance_score"]);
    }
    // Usage counts every document scored, not only those returned.
    EXPECT_EQ(r["usage"]["prompt_tokens"], all["usage"]["prompt_tokens"]);
    EXPECT_EQ(post_ok("/v1/rerank",
                      {{"query", kQuery}, {"documents", kDocuments}, {"top_n", 99}})["results"]
                  .size(),
              kDocuments.size());
    EXPECT_EQ(post_ok("/v1/rerank",
                      {{"query", kQuery}, {"documents", kDocuments}, {"top_n", nullptr}})["results"]
                  .size(),
              kDocuments.size());
}

TEST_F(Rerank, EveryPathAnswersTheSame) {
    const json body = {{"query", kQuery}, {"documents", kDocuments}};
    const json want = post_ok("/v1/rerank", body)["results"];
    for (const char* path : {"/rerank", "/v1/reranking", "/reranking", "/models/reranker/v1/rerank",
                             "/models/reranker/rerank"}) {
        EXPECT_EQ(post_ok(path, body)["results"], want) << path;
    }
    // The path's model wins over the body's, as on the other routes.
    auto res = post("/models/bge/v1/rerank",
                    {{"model", "reranker"}, {"query", "q"}, {"documents", {"d"}}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
}

TEST_F(Rerank, ModelsThatCannotRerankOrEmbedSaySo) {
    expect_error({{"model", "bge"}, {"query", "q"}, {"documents", {"d"}}}, 400, "model",
                 "model_not_supported");
    auto res = post("/v1/embeddings", {{"model", "reranker"}, {"input", "hello"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_EQ(json::parse(res->body)["error"]["code"], "model_not_supported");
    EXPECT_NE(res->body.find("rerank"), std::string::npos) << res->body;
    expect_error({{"model", "nope"}, {"query", "q"}, {"documents", {"d"}}}, 404, "model",
                 "model_not_found");
}

TEST_F(Rerank, BadRequestsGetClearErrors) {
    const json docs = {"a", "b"};
    expect_error({{"documents", docs}}, 400, "query");
    expect_error({{"query", 5}, {"documents", docs}}, 400, "query");
    expect_error({{"query", ""}, {"documents", docs}}, 400, "query");
    expect_error({{"query", "q"}}, 400, "documents");
    expect_error({{"query", "q"}, {"documents", "a"}}, 400, "documents");
    expect_error({{"query", "q"}, {"documents", json::array()}}, 400, "documents");
    expect_error({{"query", "q"}, {"documents", {"a", 5}}}, 400, "documents");
    expect_error({{"query", "q"}, {"documents", {{{"title", "no text"}}}}}, 400, "documents");
    expect_error({{"query", "q"}, {"documents", json::array({json::array({"a"})})}}, 400,
                 "documents");
    expect_error({{"query", "q"}, {"documents", std::vector<std::string>(1001, "a")}}, 400,
                 "documents");
    for (const json& top : {json("2"), json(0), json(-1), json(1.5), json(true)})
        expect_error({{"query", "q"}, {"documents", docs}, {"top_n", top}}, 400, "top_n");
    expect_error({{"query", "q"}, {"documents", docs}, {"return_documents", "yes"}}, 400,
                 "return_documents");
    // A pair longer than the model's learned positions (2048 in the tiny shape).
    std::string long_document;
    for (int i = 0; i < 2100; ++i) long_document += "bear ";
    expect_error({{"query", "q"}, {"documents", {"a", long_document}}}, 400, "documents",
                 "context_length_exceeded");
    // Not a JSON object at all.
    auto res = live_->client().Post("/v1/rerank", "[1, 2]", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
}

}  // namespace
}  // namespace hearth::server
