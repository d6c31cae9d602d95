#include <gtest/gtest.h>

#include <sys/file.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "fake_hub.h"
#include "hub/catalog.h"
#include "hub/discover.h"
#include "hub/download.h"
#include "hub/hub_client.h"
#include "hub/machine.h"
#include "hub/model_ref.h"

using namespace hearth;
using namespace hearth::hub;
using hearth::fake::FakeFile;
using hearth::fake::FakeHub;
using hearth::fake::FakeRepo;
using hearth::fake::Faults;
namespace fs = std::filesystem;

namespace {

Faults faults(const std::function<void(Faults&)>& change) {
    Faults f;
    change(f);
    return f;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream data;
    data << in.rdbuf();
    return data.str();
}

class HubTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("hearth-hub-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        model_ = fake::make_gguf(1, 200000);  // ~800 KB: several chunks on the wire
        FakeRepo repo;
        repo.files["tiny-Q4_K_M.gguf"] = {model_, ""};
        repo.files["tiny-Q8_0.gguf"] = {fake::make_gguf(2), ""};
        repo.files["README.md"] = {"# tiny", ""};
        hub_.add_repo("acme/tiny-GGUF", repo);
        cancel_flag() = false;
    }
    void TearDown() override { fs::remove_all(dir_); }

    HubClient client(const std::string& token = "") {
        HubSettings settings;
        settings.endpoint = hub_.endpoint();
        settings.http.bearer_token = token;
        settings.http.stall_timeout_s = 5;
        return HubClient(settings);
    }

    DownloadRequest request_for(HubClient& hub, const std::string& file, FakeFile* info = nullptr) {
        RepoInfo repo = hub.model_info("acme/tiny-GGUF");
        const HubFile* entry = repo.find_file(file);
        DownloadRequest request;
        request.url = hub.resolve_url("acme/tiny-GGUF", repo.commit, file);
        request.destination = (dir_ / file).string();
        if (entry) {
            request.expected_size = entry->size;
            request.expected_sha256 = entry->sha256;
        }
        (void)info;
        return request;
    }

    static DownloadOptions fast_retries(int attempts = 5) {
        DownloadOptions options;
        options.max_attempts = attempts;
        options.retry_delay_s = 0.01;
        return options;
    }

    FakeHub hub_;
    fs::path dir_;
    std::string model_;
};

}  // namespace

TEST_F(HubTest, ModelInfoReadsSiblingsHashesAndSizes) {
    RepoInfo info = client().model_info("acme/tiny-GGUF");
    EXPECT_EQ(info.id, "acme/tiny-GGUF");
    EXPECT_EQ(info.commit, "1111111111111111111111111111111111111111");
    EXPECT_EQ(info.pipeline_tag, "text-generation");
    ASSERT_EQ(info.files.size(), 3u);
    const HubFile* file = info.find_file("tiny-Q4_K_M.gguf");
    ASSERT_NE(file, nullptr);
    EXPECT_EQ(file->size, model_.size());
    EXPECT_EQ(file->sha256, fake::sha256_hex(model_));
    EXPECT_EQ(hub_.count_requests("GET /api/models/acme/tiny-GGUF"), 1);
}

TEST_F(HubTest, ListModelsSendsTheHubQueryParameters) {
    hub_.set_listing({R"({"id":"a/b-GGUF","likes":3,"downloads":10,"trendingScore":7.5,
                        "pipeline_tag":"text-generation","tags":["gguf"]})",
                      R"({"modelId":"c/d-GGUF","likes":1})"});
    ModelQuery query;
    query.limit = 5;
    query.pipeline_tag = "text-generation";
    std::vector<RepoSummary> models = client().list_models(query);
    ASSERT_EQ(models.size(), 2u);
    EXPECT_EQ(models[0].id, "a/b-GGUF");
    EXPECT_DOUBLE_EQ(models[0].trending_score, 7.5);
    EXPECT_EQ(models[0].downloads, 10u);
    EXPECT_EQ(models[1].id, "c/d-GGUF");
    std::vector<std::string> requests = hub_.requests();
    ASSERT_EQ(requests.size(), 1u);
    for (const char* part :
         {"library=gguf", "limit=5", "pipeline_tag=text-generation", "sort=trendingScore"}) {
        EXPECT_NE(requests[0].find(part), std::string::npos) << requests[0];
    }
}

TEST_F(HubTest, FileMetadataStopsAtTheCdnRedirect) {
    FileMetadata meta = client().file_metadata("acme/tiny-GGUF", "main", "tiny-Q4_K_M.gguf");
    EXPECT_EQ(meta.commit, "1111111111111111111111111111111111111111");
    EXPECT_EQ(meta.etag, fake::sha256_hex(model_));
    EXPECT_EQ(meta.size, model_.size());
    EXPECT_NE(meta.location.find("/cdn/"), std::string::npos);
    EXPECT_EQ(hub_.count_requests("/cdn/"), 0);
}

TEST_F(HubTest, DownloadFollowsRedirectAndVerifies) {
    HubClient hub = client();
    DownloadResult result = download_file(hub.http(), request_for(hub, "tiny-Q4_K_M.gguf"));
    EXPECT_EQ(read_file(dir_ / "tiny-Q4_K_M.gguf"), model_);
    EXPECT_EQ(result.sha256, fake::sha256_hex(model_));
    EXPECT_FALSE(fs::exists(dir_ / "tiny-Q4_K_M.gguf.partial"));
    EXPECT_EQ(hub_.count_requests("GET /cdn/"), 1);
}

TEST_F(HubTest, DownloadWithoutRedirect) {
    hub_.set_faults(faults([](Faults& f) { f.redirect_to_cdn = false; }));
    HubClient hub = client();
    download_file(hub.http(), request_for(hub, "tiny-Q4_K_M.gguf"));
    EXPECT_EQ(read_file(dir_ / "tiny-Q4_K_M.gguf"), model_);
}

TEST_F(HubTest, ResumesAfterDroppedConnectionByteIdentical) {
    hub_.set_faults(faults([](Faults& f) {
        f.drop_after_bytes = 300000;
        f.drops = 2;
    }));
    HubClient hub = client();
    DownloadResult result =
        download_file(hub.http(), request_for(hub, "tiny-Q4_K_M.gguf"), fast_retries());
    EXPECT_EQ(read_file(dir_ / "tiny-Q4_K_M.gguf"), model_);
    EXPECT_EQ(result.attempts, 3);
    // Each resume asks the hub and then the CDN it redirects to, both with the Range.
    EXPECT_EQ(hub_.count_requests("GET /cdn/"), 3);
    EXPECT_EQ(hub_.count_requests("Range: bytes=300000-"), 2);
    EXPECT_EQ(hub_.count_requests("Range: bytes=600000-"), 2);
}

TEST_F(HubTest, InterruptedDownloadLeavesOnlyPartialThenResumes) {
    hub_.set_faults(faults([](Faults& f) {
        f.drop_after_bytes = 250000;
        f.drops = 1;
    }));
    HubClient hub = client();
    DownloadRequest request = request_for(hub, "tiny-Q4_K_M.gguf");
    try {
        download_file(hub.http(), request, fast_retries(1));
        FAIL() << "expected the dropped download to fail";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("run the command again to resume"), std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(fs::exists(dir_ / "tiny-Q4_K_M.gguf"));
    ASSERT_TRUE(fs::exists(dir_ / "tiny-Q4_K_M.gguf.partial"));
    EXPECT_EQ(fs::file_size(dir_ / "tiny-Q4_K_M.gguf.partial"), 250000u);

    DownloadResult result = download_file(hub.http(), request, fast_retries(1));
    EXPECT_EQ(result.resumed_from, 250000u);
    EXPECT_EQ(read_file(dir_ / "tiny-Q4_K_M.gguf"), model_);
    EXPECT_FALSE(fs::exists(dir_ / "tiny-Q4_K_M.gguf.partial"));
}

TEST_F(HubTest, SecondDownloaderOfTheSameFileIsRefused) {
    HubClient hub = client();
    DownloadRequest request = request_for(hub, "tiny-Q4_K_M.gguf");
    std::string part = partial_path(request.destination);
    std::FILE* holder = std::fopen(part.c_str(), "ab");
    ASSERT_EQ(flock(fileno(holder), LOCK_EX | LOCK_NB), 0);
    try {
        download_file(hub.http(), request, fast_retries());
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("another hearth process"), std::string::npos);
    }
    EXPECT_TRUE(fs::exists(part));  // the other downloader's file is left alone
    std::fclose(holder);
}

TEST_F(HubTest, SinkErrorsKeepTheirType) {
    // A failing disk write inside the curl callback must reach the caller as the same
    // hearth::Error (with its "disk full?" advice), not as a generic exception.
    HubClient hub = client();
    std::string url = hub.resolve_url("acme/tiny-GGUF", "main", "tiny-Q4_K_M.gguf");
    auto failing_sink = [](const char*, size_t) { throw Error("write failed (disk full?)"); };
    try {
        hub.http().download(url, 0, failing_sink);
        FAIL();
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "write failed (disk full?)");
    }
}

TEST_F(HubTest, StalledTransferTimesOutAndKeepsThePartial) {
    hub_.set_faults(faults([](Faults& f) { f.slow_ms_per_chunk = 2500; }));
    HubSettings settings;
    settings.endpoint = hub_.endpoint();
    settings.http.stall_timeout_s = 1;
    HubClient hub(settings);
    DownloadRequest request = request_for(hub, "tiny-Q4_K_M.gguf");
    try {
        download_file(hub.http(), request, fast_retries(1));
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("failed after 1 attempt"), std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(fs::exists(request.destination));
}

TEST_F(HubTest, CancelKeepsThePartial) {
    hub_.set_faults(faults([](Faults& f) { f.slow_ms_per_chunk = 20; }));
    HubClient hub = client();
    DownloadOptions options = fast_retries();
    options.on_progress = [](const DownloadProgress& p) {
        if (p.done > 100000) cancel_flag() = true;
    };
    try {
        download_file(hub.http(), request_for(hub, "tiny-Q4_K_M.gguf"), options);
        FAIL() << "expected cancellation";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("interrupted"), std::string::npos) << e.what();
    }
    cancel_flag() = false;
    EXPECT_FALSE(fs::exists(dir_ / "tiny-Q4_K_M.gguf"));
    EXPECT_TRUE(fs::exists(dir_ / "tiny-Q4_K_M.gguf.partial"));
}

TEST_F(HubTest, WrongShaLeavesNothingAndSaysSo) {
    hub_.set_file("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", {model_, std::string(64, 'a')});
    HubClient hub = client();
    try {
        download_file(hub.http(), request_for(hub, "tiny-Q4_K_M.gguf"), fast_retries());
        FAIL() << "expected a hash mismatch";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("sha256 mismatch"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("nothing was installed"), std::string::npos);
    }
    EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(HubTest, NonGgufIsRefused) {
    hub_.set_file("acme/tiny-GGUF", "broken-Q4_0.gguf", {"this is not a gguf file at all", ""});
    HubClient hub = client();
    try {
        download_file(hub.http(), request_for(hub, "broken-Q4_0.gguf"), fast_retries());
        FAIL() << "expected the GGUF check to refuse the file";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not a valid GGUF"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(HubTest, MissingFileErrorSaysWhatToDo) {
    HubClient hub = client();
    DownloadRequest request;
    request.url = hub.resolve_url("acme/tiny-GGUF", "main", "nope.gguf");
    request.destination = (dir_ / "nope.gguf").string();
    try {
        download_file(hub.http(), request, fast_retries());
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("404"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("not in the repository"), std::string::npos);
    }
    EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(HubTest, PrivateRepoNeedsToken) {
    FakeRepo secret;
    secret.private_repo = true;
    secret.files["s-Q4_0.gguf"] = {model_, ""};
    hub_.add_repo("acme/secret", secret);
    hub_.set_token("hf_test");
    try {
        client().model_info("acme/secret");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("401"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("HF_TOKEN"), std::string::npos) << e.what();
    }
    EXPECT_EQ(client("hf_test").model_info("acme/secret").files.size(), 1u);
}

TEST_F(HubTest, UnknownRepoErrorIsActionable) {
    try {
        client().model_info("acme/missing");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("Check the name"), std::string::npos) << e.what();
    }
}

TEST_F(HubTest, DiskSpaceCheckRefuses) {
    HubClient hub = client();
    DownloadOptions options = fast_retries();
    options.free_space = [](const std::string&) -> uint64_t { return 1000; };
    try {
        download_file(hub.http(), request_for(hub, "tiny-Q4_K_M.gguf"), options);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not enough disk space"), std::string::npos);
    }
    EXPECT_TRUE(fs::is_empty(dir_));
    EXPECT_EQ(hub_.count_requests("/cdn/"), 0);
}

TEST_F(HubTest, RangeRefusedWithCompletePartialFinishes) {
    std::ofstream(dir_ / "tiny-Q4_K_M.gguf.partial", std::ios::binary) << model_;
    hub_.set_faults(faults([](Faults& f) { f.refuse_ranges = true; }));
    HubClient hub = client();
    download_file(hub.http(), request_for(hub, "tiny-Q4_K_M.gguf"), fast_retries());
    EXPECT_EQ(read_file(dir_ / "tiny-Q4_K_M.gguf"), model_);
}

TEST_F(HubTest, RangeRefusedWithStalePartialStartsOver) {
    std::ofstream(dir_ / "tiny-Q4_K_M.gguf.partial", std::ios::binary) << "garbage";
    hub_.set_faults(faults([](Faults& f) { f.refuse_ranges = true; }));
    HubClient hub = client();
    download_file(hub.http(), request_for(hub, "tiny-Q4_K_M.gguf"), fast_retries());
    EXPECT_EQ(read_file(dir_ / "tiny-Q4_K_M.gguf"), model_);
}

TEST_F(HubTest, BadJsonIsAClearError) {
    for (const char* body : {"{not json", "[1,2,3]", R"({"siblings":"oops","sha":5})", "null"}) {
        hub_.set_faults(faults([&](Faults& f) { f.api_body_override = body; }));
        try {
            client().model_info("acme/tiny-GGUF");
            FAIL() << body;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("hub"), std::string::npos) << e.what();
        }
    }
    hub_.set_faults(faults([](Faults& f) { f.api_body_override = "{\"oops\":1}"; }));
    EXPECT_THROW(client().list_models({}), Error);
    hub_.set_faults(faults([](Faults& f) { f.api_body_override = "<html>"; }));
    EXPECT_THROW(client().list_models({}), Error);
}

TEST_F(HubTest, ConnectionRefusedIsAnError) {
    HubSettings settings;
    settings.endpoint = "http://127.0.0.1:1";
    try {
        HubClient(settings).model_info("a/b");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("HTTPS_PROXY"), std::string::npos) << e.what();
    }
}

TEST(HubSettingsTest, EndpointAndTokenFromEnvironment) {
    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    setenv("HF_TOKEN", "hf_abc", 1);
    HubSettings settings = HubSettings::from_environment();
    EXPECT_EQ(settings.endpoint, "http://127.0.0.1:9");
    EXPECT_EQ(settings.http.bearer_token, "hf_abc");
    unsetenv("HF_ENDPOINT");
    unsetenv("HF_TOKEN");
    EXPECT_EQ(HubSettings::from_environment().endpoint, "https://huggingface.co");
}

TEST(ModelRefTest, ParsesEveryForm) {
    ModelRef quant = parse_model_ref("bartowski/Llama-3.2-1B-Instruct-GGUF:q4_k_m");
    EXPECT_EQ(quant.kind, ModelRef::Kind::RepoQuant);
    EXPECT_EQ(quant.repo, "bartowski/Llama-3.2-1B-Instruct-GGUF");
    EXPECT_EQ(quant.quant, "Q4_K_M");

    ModelRef file = parse_model_ref("owner/repo/sub/dir/model-Q8_0.gguf");
    EXPECT_EQ(file.kind, ModelRef::Kind::RepoFile);
    EXPECT_EQ(file.repo, "owner/repo");
    EXPECT_EQ(file.file, "sub/dir/model-Q8_0.gguf");

    ModelRef url =
        parse_model_ref("https://huggingface.co/owner/repo/resolve/main/m-Q4_0.gguf?download=true");
    EXPECT_EQ(url.kind, ModelRef::Kind::Url);
    EXPECT_EQ(url.endpoint, "https://huggingface.co");
    EXPECT_EQ(url.repo, "owner/repo");
    EXPECT_EQ(url.revision, "main");
    EXPECT_EQ(url.file, "m-Q4_0.gguf");

    ModelRef blob = parse_model_ref("http://127.0.0.1:8080/o/r/blob/abc123/m.gguf");
    EXPECT_EQ(blob.endpoint, "http://127.0.0.1:8080");
    EXPECT_EQ(blob.revision, "abc123");

    ModelRef revision = parse_model_ref("hf.co/owner/repo@v2:Q8_0");
    EXPECT_EQ(revision.repo, "owner/repo");
    EXPECT_EQ(revision.revision, "v2");
    EXPECT_EQ(revision.quant, "Q8_0");

    EXPECT_EQ(parse_model_ref("owner/repo").kind, ModelRef::Kind::Repo);
    ModelRef catalog = parse_model_ref("llama-3.2-1b");
    EXPECT_EQ(catalog.kind, ModelRef::Kind::Catalog);
    EXPECT_EQ(catalog.catalog_name, "llama-3.2-1b");

    EXPECT_THROW(parse_model_ref("owner/"), Error);
    EXPECT_THROW(parse_model_ref("https://example.com/nothing"), Error);
    EXPECT_THROW(parse_model_ref("owner/repo/file.gguf:Q4_0"), Error);
}

TEST(ModelRefTest, QuantNamesAreWholeTokens) {
    EXPECT_EQ(quant_of("Llama-3.2-1B-Instruct-Q4_K_M.gguf"), "Q4_K_M");
    EXPECT_EQ(quant_of("qwen2.5-0.5b-instruct-q4_k_m.gguf"), "Q4_K_M");
    EXPECT_EQ(quant_of("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"), "Q4_K_M");
    EXPECT_EQ(quant_of("model-IQ4_XS.gguf"), "IQ4_XS");
    EXPECT_EQ(quant_of("model-f16.gguf"), "F16");
    EXPECT_EQ(quant_of("Q4_K_M/model-00001-of-00002.gguf"), "Q4_K_M");
    EXPECT_EQ(quant_of("model.gguf"), "");
    EXPECT_EQ(quant_of("gpt-oss-20b-mxfp4.gguf"), "MXFP4");
    EXPECT_EQ(quant_of("gpt-oss-120b-MXFP4_MOE-00001-of-00002.gguf"), "MXFP4_MOE");
}

// gpt-oss repos: ggml-org's has one MXFP4 file, others add F16 beside it (too big to be a
// default); pull and discover both take the MXFP4 file.
TEST(ModelRefTest, Mxfp4IsAPreferredQuant) {
    RepoInfo repo;
    repo.id = "ggml-org/gpt-oss-20b-GGUF";
    for (const char* path : {"gpt-oss-20b-F16.gguf", "gpt-oss-20b-mxfp4.gguf", "README.md"})
        repo.files.push_back({path, 10, ""});
    EXPECT_EQ(default_quant(repo), "MXFP4");
    EXPECT_EQ(select_quant(repo, "mxfp4")[0].path, "gpt-oss-20b-mxfp4.gguf");

    Suggestion s;
    s.quants = {{"F16", 13'800'000'000, 0}, {"MXFP4", 12'100'000'000, 0}};
    FitPolicy policy;
    for (QuantOption& q : s.quants) q.ram_needed = estimate_ram_needed(q.size, q.quant, policy);
    MachineInfo machine;
    machine.ram_available = 64'000'000'000;
    machine.disk_free = 100'000'000'000;
    recommend(s, machine, policy);
    EXPECT_EQ(s.recommended, "MXFP4");
}

TEST(ModelRefTest, SelectsTheRightSiblingAndWholeSplitSets) {
    RepoInfo repo;
    repo.id = "o/r";
    for (const char* path :
         {"m-Q4_K.gguf", "m-Q4_K_M.gguf", "m-Q4_K_S.gguf", "mmproj-m-Q4_K_M.gguf",
          "big-Q8_0-00002-of-00003.gguf", "big-Q8_0-00001-of-00003.gguf",
          "big-Q8_0-00003-of-00003.gguf", "README.md"}) {
        repo.files.push_back({path, 10, ""});
    }
    auto q4 = select_quant(repo, "q4_k_m");
    ASSERT_EQ(q4.size(), 1u);
    EXPECT_EQ(q4[0].path, "m-Q4_K_M.gguf");
    EXPECT_EQ(select_quant(repo, "Q4_K")[0].path, "m-Q4_K.gguf");

    auto split = select_quant(repo, "Q8_0");
    ASSERT_EQ(split.size(), 3u);
    EXPECT_EQ(split[0].path, "big-Q8_0-00001-of-00003.gguf");
    EXPECT_EQ(split[2].path, "big-Q8_0-00003-of-00003.gguf");
    EXPECT_EQ(select_file(repo, "big-Q8_0-00002-of-00003.gguf").size(), 3u);

    EXPECT_EQ(default_quant(repo), "Q4_K_M");
    try {
        select_quant(repo, "Q2_K");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("Q4_K_M"), std::string::npos) << e.what();
    }
    repo.files.erase(repo.files.begin() + 4);  // a part goes missing
    EXPECT_THROW(select_quant(repo, "Q8_0"), Error);
}

TEST(CatalogTest, BuiltinCatalogIsComplete) {
    Catalog catalog = Catalog::builtin();
    EXPECT_GE(catalog.entries().size(), 15u);
    auto llama = catalog.find("Llama-3.2-1B");
    ASSERT_TRUE(llama);
    EXPECT_EQ(llama->repo, "bartowski/Llama-3.2-1B-Instruct-GGUF");
    EXPECT_EQ(llama->file, "Llama-3.2-1B-Instruct-Q4_K_M.gguf");
    bool has_embedding = false;
    for (const CatalogEntry& entry : catalog.entries()) {
        EXPECT_FALSE(entry.license.empty()) << entry.name;
        EXPECT_GT(entry.size_bytes, 0u) << entry.name;
        EXPECT_GE(entry.ram_bytes, entry.size_bytes) << entry.name;
        EXPECT_EQ(quant_of(entry.file), entry.quant) << entry.name;
        has_embedding |= entry.kind == "embedding";
    }
    EXPECT_TRUE(has_embedding);
    EXPECT_THROW(Catalog::parse("{\"models\": 3}", "test"), Error);
}

TEST(MachineTest, FitArithmetic) {
    MachineInfo machine = probe_machine("/nonexistent/models/dir");
    EXPECT_GT(machine.ram_total, 0u);
    EXPECT_GT(machine.disk_free, 0u);
    FitPolicy policy;
    uint64_t small = estimate_ram_needed(800'000'000, "Q4_K_M", policy);
    uint64_t big = estimate_ram_needed(5'000'000'000, "Q4_K_M", policy);
    EXPECT_GT(small, 800'000'000u);
    EXPECT_GT(big - 5'000'000'000u, small - 800'000'000u);  // bigger models need more KV
    MachineInfo tiny;
    tiny.ram_total = 3'000'000'000;
    tiny.ram_available = 2'000'000'000;
    EXPECT_TRUE(fits_in_ram(small, tiny, policy));
    EXPECT_FALSE(fits_in_ram(big, tiny, policy));
}

TEST(DiscoverTest, RecommendsTheBestQuantThatFits) {
    Suggestion s;
    s.quants = {
        {"Q8_0", 8'000'000'000, 0}, {"Q4_K_M", 4'500'000'000, 0}, {"Q2_K", 3'000'000'000, 0}};
    FitPolicy policy;
    for (QuantOption& q : s.quants) q.ram_needed = estimate_ram_needed(q.size, q.quant, policy);
    MachineInfo big;
    big.ram_available = 64'000'000'000;
    big.disk_free = 100'000'000'000;
    recommend(s, big, policy);
    EXPECT_EQ(s.recommended, "Q4_K_M");  // the CPU sweet spot wins when it fits

    Suggestion tight = s;
    tight.recommended.clear();
    MachineInfo small = big;
    small.ram_available = 5'000'000'000;
    recommend(tight, small, policy);
    EXPECT_EQ(tight.recommended, "Q2_K");

    Suggestion none = s;
    none.recommended.clear();
    small.ram_available = 1'000'000'000;
    recommend(none, small, policy);
    EXPECT_TRUE(none.recommended.empty());
    EXPECT_NE(none.note.find("too big"), std::string::npos);
}

TEST_F(HubTest, DiscoverKeepsTextGenerationWithGgufs) {
    hub_.set_listing({R"({"id":"acme/tiny-GGUF","pipeline_tag":"text-generation"})",
                      R"({"id":"acme/vision","pipeline_tag":"image-text-to-text"})",
                      R"({"id":"acme/gone","tags":["conversational"]})"});
    MachineInfo machine;
    machine.ram_available = 16'000'000'000;
    machine.disk_free = 100'000'000'000;
    std::vector<Suggestion> found = discover(client(), ModelQuery{}, machine, FitPolicy{});
    ASSERT_EQ(found.size(), 2u);
    EXPECT_EQ(found[0].repo.id, "acme/tiny-GGUF");
    EXPECT_EQ(found[0].recommended, "Q4_K_M");
    EXPECT_EQ(found[0].quants.size(), 2u);
    EXPECT_EQ(found[1].repo.id, "acme/gone");  // listed but unreadable: kept with a note
    EXPECT_NE(found[1].note.find("could not read"), std::string::npos);
}

// With a support check, discover reads the recommended file's header (a range request, not a
// download) and drops the recommendation of a model the check refuses, keeping its reason.
TEST_F(HubTest, DiscoverSkipsWhatTheSupportCheckRefuses) {
    hub_.set_listing({R"({"id":"acme/tiny-GGUF","pipeline_tag":"text-generation"})"});
    MachineInfo machine;
    machine.ram_available = 16'000'000'000;
    machine.disk_free = 100'000'000'000;
    std::string seen_name;
    size_t seen_tensors = 0;
    const SupportCheck refuse = [&](const hearth::gguf::File& metadata,
                                    const std::vector<hearth::gguf::TensorInfo>& tensors) {
        seen_name = metadata.get_string("general.name");
        seen_tensors = tensors.size();
        return std::string("architecture 'llama' is not wanted here");
    };
    std::vector<Suggestion> found = discover(client(), ModelQuery{}, machine, FitPolicy{}, refuse);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_TRUE(found[0].recommended.empty());
    EXPECT_FALSE(found[0].runnable);
    EXPECT_EQ(found[0].note, "skipped: architecture 'llama' is not wanted here");
    EXPECT_EQ(seen_tensors, 1u);
    EXPECT_EQ(seen_name.rfind("fake-", 0), 0u) << "the header of the Q4_K_M file was read";
    for (const std::string& request : hub_.requests()) {
        if (request.find(".gguf") != std::string::npos)
            EXPECT_NE(request.find("Range: bytes=0-"), std::string::npos) << request;
    }
    const SupportCheck accept = [](const hearth::gguf::File&,
                                   const std::vector<hearth::gguf::TensorInfo>&) {
        return std::string();
    };
    found = discover(client(), ModelQuery{}, machine, FitPolicy{}, accept);
    EXPECT_EQ(found[0].recommended, "Q4_K_M");
}

TEST_F(HubTest, TokenGoesToTheHubButNotToTheCdn) {
    FakeHub cdn;  // another host:port, like a real CDN
    FakeRepo secret;
    secret.private_repo = true;
    secret.files["s-Q4_0.gguf"] = {model_, ""};
    hub_.add_repo("acme/secret", secret);
    cdn.add_repo("acme/secret", secret);
    hub_.set_token("hf_test");
    hub_.set_faults(faults([&](Faults& f) { f.cdn_endpoint = cdn.endpoint(); }));

    HubClient hub = client("hf_test");
    RepoInfo info = hub.model_info("acme/secret");
    DownloadRequest request;
    request.url = hub.resolve_url("acme/secret", info.commit, "s-Q4_0.gguf");
    request.destination = (dir_ / "s-Q4_0.gguf").string();
    request.expected_sha256 = info.files[0].sha256;
    download_file(hub.http(), request, fast_retries());
    EXPECT_EQ(read_file(dir_ / "s-Q4_0.gguf"), model_);
    EXPECT_EQ(hub_.count_requests("/resolve/"), 1);
    EXPECT_EQ(hub_.count_requests(" auth"), 2);  // api + resolve
    ASSERT_EQ(cdn.count_requests("GET /cdn/"), 1);
    EXPECT_EQ(cdn.count_requests(" auth"), 0);
}

TEST_F(HubTest, GatedRepoSaysAcceptTheLicense) {
    FakeRepo gated;
    gated.gated = true;
    gated.files["g-Q4_0.gguf"] = {model_, ""};
    hub_.add_repo("acme/gated", gated);
    HubClient hub = client();
    DownloadRequest request;
    request.url = hub.resolve_url("acme/gated", "main", "g-Q4_0.gguf");
    request.destination = (dir_ / "g-Q4_0.gguf").string();
    try {
        download_file(hub.http(), request, fast_retries());
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("accept its license"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("HF_TOKEN"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_empty(dir_));
}
