#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "gguf/writer.h"
#include "kernels/type_traits.h"
#include "model/arch.h"
#include "fake_hub.h"
#include "registry/installer.h"
#include "registry/model_config.h"
#include "registry/models_dir.h"

using namespace hearth;
using namespace hearth::registry;
using hearth::fake::FakeHub;
using hearth::fake::FakeRepo;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream data;
    data << in.rdbuf();
    return data.str();
}

fs::path fresh_dir(const std::string& name) {
    fs::path dir =
        fs::temp_directory_path() / ("hearth-registry-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

ModelConfig full_config() {
    ModelConfig config;
    config.name = "llama-3.2-1b";
    config.file = "Llama-3.2-1B-Instruct-Q4_K_M.gguf";
    config.aliases = {"gpt-3.5-turbo", "llama"};
    config.context_size = 8192;
    config.threads = 4;
    config.kv_type = hearth::gguf::TensorType::Q8_0;
    config.draft_model = "small-draft.gguf";
    config.template_override = "{% for m in messages %}{{ m.content }}\n{% endfor %}";
    config.parameters.sampling.temperature = 0.7;
    config.parameters.sampling.top_p = 0.9;
    config.parameters.sampling.top_k = 40;
    config.parameters.sampling.min_p = 0.05;
    config.parameters.max_tokens = 512;
    config.parameters.sampling.seed = 42;
    config.mlock = true;
    config.embeddings = false;
    config.source = ModelSource{"bartowski/Llama-3.2-1B-Instruct-GGUF", std::string(40, 'c'),
                                "Llama-3.2-1B-Instruct-Q4_K_M.gguf", std::string(64, 'e'), ""};
    config.context_shift = true;
    return config;
}

}  // namespace

TEST(ModelConfigTest, YamlRoundTrips) {
    fs::path dir = fresh_dir("roundtrip");
    ModelConfig original = full_config();
    save_model_config(dir / "m.yaml", original);
    ModelConfig loaded = load_model_config(dir / "m.yaml");
    EXPECT_EQ(loaded.name, original.name);
    EXPECT_EQ(loaded.file, original.file);
    EXPECT_EQ(loaded.aliases, original.aliases);
    EXPECT_EQ(loaded.context_size, 8192);
    EXPECT_EQ(loaded.threads, 4);
    EXPECT_EQ(loaded.kv_type, hearth::gguf::TensorType::Q8_0);
    EXPECT_NE(to_yaml(loaded).find("kv_type: q8_0\n"), std::string::npos) << to_yaml(loaded);
    EXPECT_EQ(loaded.context_shift, true);
    EXPECT_NE(to_yaml(loaded).find("context_shift: true\n"), std::string::npos) << to_yaml(loaded);
    EXPECT_EQ(loaded.draft_model, "small-draft.gguf");
    EXPECT_NE(to_yaml(loaded).find("draft_model: small-draft.gguf\n"), std::string::npos);
    EXPECT_EQ(loaded.template_override, original.template_override);
    EXPECT_FLOAT_EQ(*loaded.parameters.sampling.temperature, 0.7);
    EXPECT_FLOAT_EQ(*loaded.parameters.sampling.top_p, 0.9);
    EXPECT_EQ(*loaded.parameters.sampling.top_k, 40);
    EXPECT_FLOAT_EQ(*loaded.parameters.sampling.min_p, 0.05);
    EXPECT_EQ(*loaded.parameters.max_tokens, 512);
    EXPECT_EQ(*loaded.parameters.sampling.seed, 42);
    EXPECT_TRUE(loaded.mlock);
    ASSERT_TRUE(loaded.source);
    EXPECT_EQ(loaded.source->repo, original.source->repo);
    EXPECT_EQ(loaded.source->revision, original.source->revision);
    EXPECT_EQ(loaded.source->sha256, original.source->sha256);
    EXPECT_EQ(loaded.config_path, dir / "m.yaml");
    // Saving what was loaded gives the same text.
    EXPECT_EQ(to_yaml(loaded), to_yaml(original));
    EXPECT_NE(to_yaml(loaded).find("temperature: 0.7\n"), std::string::npos) << to_yaml(loaded);
    // Templates keep their exact whitespace, whichever way they are written.
    for (std::string text : {"a\n  b\n", " lead", "trail  ", "x\n\n", "t\tab\n", "{{ x }}"}) {
        ModelConfig config = original;
        config.template_override = text;
        EXPECT_EQ(parse_model_config(to_yaml(config), "t").template_override, text) << text;
    }
    fs::remove_all(dir);
}

TEST(ModelConfigTest, MinimalConfigAndDefaults) {
    ModelConfig config = parse_model_config("name: x\nfile: x.gguf\n", "test");
    EXPECT_FALSE(config.mlock);
    EXPECT_FALSE(config.context_size);
    EXPECT_FALSE(config.kv_type);  // the server's --kv-type then
    EXPECT_FALSE(config.context_shift);  // the server's --context-shift then
    EXPECT_FALSE(config.parameters.sampling.temperature);
    EXPECT_FALSE(config.source);
}

TEST(ModelConfigTest, ReadsLocalAiStyleAndKeepsUnknownKeys) {
    ModelConfig config = parse_model_config(R"(name: phi
parameters:
  model: phi-3.5-mini-Q4_K_M.gguf
  temperature: 0.2
f16: true
backend: llama-cpp
aliases: gpt-4
)",
                                            "localai.yaml");
    EXPECT_EQ(config.file, "phi-3.5-mini-Q4_K_M.gguf");
    EXPECT_EQ(config.aliases, std::vector<std::string>{"gpt-4"});
    EXPECT_FLOAT_EQ(*config.parameters.sampling.temperature, 0.2);
    std::string yaml = to_yaml(config);
    EXPECT_NE(yaml.find("backend: llama-cpp"), std::string::npos) << yaml;
    EXPECT_NE(yaml.find("f16: true"), std::string::npos) << yaml;
    EXPECT_EQ(parse_model_config(yaml, "again").file, "phi-3.5-mini-Q4_K_M.gguf");
}

TEST(ModelConfigTest, BadYamlIsAClearError) {
    for (const char* text : {"name: [unclosed", "- a\n- b\n", "name: x\ncontext_size: lots\n",
                             "name: x\nparameters: 3\n", "name: x\nkv_type: q4_k\n",
                             "name: x\ncontext_shift: sometimes\n"}) {
        try {
            parse_model_config(text, "bad.yaml");
            FAIL() << text;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("bad.yaml"), std::string::npos) << e.what();
        }
    }
}

// kv_budget reads sizes as --kv-budget does (binary units) and survives a save.
TEST(ModelConfigTest, MmapTrueIsAcceptedAndFalseRefused) {
    EXPECT_NO_THROW(parse_model_config("name: x\nfile: x.gguf\nmmap: true\n", "t"));
    try {
        parse_model_config("name: x\nfile: x.gguf\nmmap: false\n", "t");
        FAIL() << "mmap: false was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("always maps the weights"), std::string::npos) << e.what();
    }
    // Saved configs no longer carry the key.
    EXPECT_EQ(to_yaml(parse_model_config("name: x\nfile: x.gguf\nmmap: true\n", "t")).find("mmap"),
              std::string::npos);
}

TEST(ModelConfigTest, KvBudgetIsASize) {
    ModelConfig config = parse_model_config("name: x\nfile: x.gguf\nkv_budget: 512M\n", "t");
    ASSERT_TRUE(config.kv_budget);
    EXPECT_EQ(*config.kv_budget, 512ull * 1024 * 1024);
    EXPECT_EQ(parse_model_config(to_yaml(config), "again").kv_budget, config.kv_budget);
    EXPECT_EQ(*parse_model_config("name: x\nkv_budget: 1000000\n", "t").kv_budget, 1000000u);
    EXPECT_FALSE(parse_model_config("name: x\n", "t").kv_budget);
    for (const char* text : {"name: x\nkv_budget: lots\n", "name: x\nkv_budget: 4Q\n",
                             "name: x\nkv_budget: 0\n", "name: x\nkv_budget: -1G\n"}) {
        try {
            parse_model_config(text, "bad.yaml");
            FAIL() << text;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("bad.yaml"), std::string::npos) << e.what();
        }
    }
}

TEST(ModelsDirTest, ListsResolvesAndRemoves) {
    fs::path dir = fresh_dir("modelsdir");
    ModelsDir models(dir);
    ModelConfig a = full_config();
    models.save(a);
    std::ofstream(dir / a.file) << "gguf bytes";
    ModelConfig b;
    b.name = "qwen";
    b.file = "qwen-Q8_0-00001-of-00002.gguf";
    b.aliases = {"text-embedding-ada-002"};
    models.save(b);
    std::ofstream(dir / "qwen-Q8_0-00001-of-00002.gguf") << "part 1";
    std::ofstream(dir / "qwen-Q8_0-00002-of-00002.gguf") << "part 2";
    // A repacked-weights cache (model/repack_cache.h): no model of its own, deleted with qwen.
    std::ofstream(dir / "qwen-Q8_0-00001-of-00002.gguf.hearth-repack-avx2") << "cache";
    std::ofstream(dir / "Loose-Model-F16.gguf") << "dropped in by hand";
    std::ofstream(dir / "broken.yaml") << "name: [";

    std::vector<ModelConfig> list = models.list();
    ASSERT_EQ(list.size(), 3u);  // broken.yaml skipped, second split part hidden
    EXPECT_EQ(list[0].name, "llama-3.2-1b");
    EXPECT_EQ(list[1].name, "loose-model-f16");
    EXPECT_EQ(list[2].name, "qwen");

    EXPECT_EQ(models.resolve("LLAMA-3.2-1B")->name, "llama-3.2-1b");
    EXPECT_EQ(models.resolve("gpt-3.5-turbo")->name, "llama-3.2-1b");
    EXPECT_EQ(models.resolve("text-embedding-ada-002")->name, "qwen");
    EXPECT_EQ(models.resolve("Loose-Model-F16.gguf")->name, "loose-model-f16");
    EXPECT_FALSE(models.resolve("gpt-4"));
    EXPECT_EQ(models.model_files(*models.resolve("qwen")).size(), 2u);

    auto removed = models.remove("text-embedding-ada-002");
    EXPECT_EQ(removed.size(), 4u);
    EXPECT_FALSE(fs::exists(dir / "qwen-Q8_0-00002-of-00002.gguf"));
    EXPECT_FALSE(fs::exists(dir / "qwen-Q8_0-00001-of-00002.gguf.hearth-repack-avx2"));
    EXPECT_FALSE(fs::exists(dir / "qwen.yaml"));
    EXPECT_TRUE(fs::exists(dir / a.file));
    EXPECT_THROW(models.remove("qwen"), Error);
    fs::remove_all(dir);
}

TEST(ModelsDirTest, NameOwnsOverAlias) {
    fs::path dir = fresh_dir("shadow");
    ModelsDir models(dir);
    ModelConfig first;
    first.name = "alpha";
    first.file = "a.gguf";
    first.aliases = {"beta"};
    ModelConfig second;
    second.name = "beta";
    second.file = "b.gguf";
    models.save(first);
    models.save(second);
    EXPECT_EQ(models.resolve("beta")->file, "b.gguf");
    fs::remove_all(dir);
}

TEST(ModelsDirTest, DefaultPathFromEnvironment) {
    setenv("HEARTH_MODELS_DIR", "/srv/models", 1);
    EXPECT_EQ(ModelsDir::default_path(), fs::path("/srv/models"));
    unsetenv("HEARTH_MODELS_DIR");
    setenv("HOME", "/home/u", 1);
    unsetenv("XDG_DATA_HOME");
    EXPECT_EQ(ModelsDir::default_path(), fs::path("/home/u/.local/share/hearth/models"));
    EXPECT_EQ(model_name_from_file("x/Big-Q8_0-00001-of-00003.gguf"), "big-q8_0");
}

class InstallerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
        q4_ = fake::make_gguf(10);
        FakeRepo repo;
        repo.files["Tiny-Q4_K_M.gguf"] = {q4_, ""};
        repo.files["Tiny-Q8_0.gguf"] = {fake::make_gguf(11), ""};
        repo.files["split/Tiny-F16-00001-of-00003.gguf"] = {fake::make_gguf(21), ""};
        repo.files["split/Tiny-F16-00002-of-00003.gguf"] = {fake::make_gguf(22), ""};
        repo.files["split/Tiny-F16-00003-of-00003.gguf"] = {fake::make_gguf(23), ""};
        hub_.add_repo("acme/Tiny-GGUF", repo);
    }
    void TearDown() override { fs::remove_all(dir_); }

    Installer installer() {
        hub::HubSettings settings;
        settings.endpoint = hub_.endpoint();
        auto catalog = hub::Catalog::parse(R"({"models":[{"name":"tiny","kind":"chat",
            "repo":"acme/Tiny-GGUF","file":"Tiny-Q8_0.gguf","quant":"Q8_0","size_gb":0.001,
            "ram_gb":0.1,"context":2048,"license":"mit"}]})",
                                           "test");
        return Installer(settings, ModelsDir(dir_), catalog);
    }

    FakeHub hub_;
    fs::path dir_;
    std::string q4_;
};

TEST_F(InstallerTest, PullsQuantAndWritesConfig) {
    Installer inst = installer();
    PullPlan plan = inst.plan("acme/Tiny-GGUF:Q4_K_M");
    ASSERT_EQ(plan.files.size(), 1u);
    EXPECT_EQ(plan.files[0].path, "Tiny-Q4_K_M.gguf");
    EXPECT_EQ(plan.name, "tiny-q4_k_m");
    PullOptions options;
    options.aliases = {"gpt-3.5-turbo"};
    PullResult result = inst.pull(plan, options);
    EXPECT_FALSE(result.already_installed);
    EXPECT_EQ(read_file(dir_ / "Tiny-Q4_K_M.gguf"), q4_);
    ModelConfig config = load_model_config(dir_ / "tiny-q4_k_m.yaml");
    EXPECT_EQ(config.file, "Tiny-Q4_K_M.gguf");
    EXPECT_EQ(config.aliases, std::vector<std::string>{"gpt-3.5-turbo"});
    ASSERT_TRUE(config.source);
    EXPECT_EQ(config.source->repo, "acme/Tiny-GGUF");
    EXPECT_EQ(config.source->revision, "1111111111111111111111111111111111111111");
    EXPECT_EQ(config.source->sha256, fake::sha256_hex(q4_));
    EXPECT_EQ(inst.models_dir().resolve("gpt-3.5-turbo")->name, "tiny-q4_k_m");

    // Pulling again finds it installed and downloads nothing.
    int downloads = hub_.count_requests("GET /cdn/");
    EXPECT_TRUE(inst.pull(inst.plan("acme/Tiny-GGUF:q4_k_m"), {}).already_installed);
    EXPECT_EQ(hub_.count_requests("GET /cdn/"), downloads);
}

TEST_F(InstallerTest, SameFileNameFromAnotherRepoDoesNotOverwrite) {
    Installer inst = installer();
    inst.pull(inst.plan("acme/Tiny-GGUF:Q4_K_M"), {});
    std::string other = fake::make_gguf(77);
    FakeRepo copy;
    copy.files["Tiny-Q4_K_M.gguf"] = {other, ""};
    hub_.add_repo("quantizer/Tiny-GGUF", copy);

    PullResult result = inst.pull(inst.plan("quantizer/Tiny-GGUF:Q4_K_M"), {});
    EXPECT_EQ(result.config.name, "quantizer-tiny-q4_k_m");
    EXPECT_EQ(result.config.file, "quantizer/Tiny-Q4_K_M.gguf");
    EXPECT_EQ(read_file(dir_ / "Tiny-Q4_K_M.gguf"), q4_);
    EXPECT_EQ(read_file(dir_ / "quantizer" / "Tiny-Q4_K_M.gguf"), other);
    EXPECT_EQ(inst.models_dir().list().size(), 2u);
    EXPECT_TRUE(inst.pull(inst.plan("quantizer/Tiny-GGUF:Q4_K_M"), {}).already_installed);
    EXPECT_EQ(inst.models_dir().remove("quantizer-tiny-q4_k_m").size(), 2u);
    EXPECT_EQ(read_file(dir_ / "Tiny-Q4_K_M.gguf"), q4_);
}

TEST_F(InstallerTest, SplitModelsAreFetchedWhole) {
    Installer inst = installer();
    PullResult result = inst.pull(inst.plan("acme/Tiny-GGUF:F16"), {});
    for (int i = 1; i <= 3; ++i) {
        std::string name = "Tiny-F16-0000" + std::to_string(i) + "-of-00003.gguf";
        EXPECT_EQ(read_file(dir_ / name), fake::make_gguf(20 + i)) << name;
    }
    EXPECT_EQ(result.config.file, "Tiny-F16-00001-of-00003.gguf");
    EXPECT_EQ(result.config.name, "tiny-f16");
    // Naming any part pulls the set too.
    PullPlan by_part = inst.plan("acme/Tiny-GGUF/split/Tiny-F16-00002-of-00003.gguf");
    EXPECT_EQ(by_part.files.size(), 3u);
}

TEST_F(InstallerTest, SplitModelNeedsRoomForAllParts) {
    Installer inst = installer();
    PullPlan plan = inst.plan("acme/Tiny-GGUF:F16");
    PullOptions options;
    options.download.disk_reserve = 0;
    uint64_t two_parts = plan.files[0].size + plan.files[1].size;
    options.download.free_space = [two_parts](const std::string&) { return two_parts; };
    EXPECT_THROW(inst.pull(plan, options), Error);
    EXPECT_EQ(hub_.count_requests("GET /cdn/"), 0);  // refused before fetching anything
    EXPECT_TRUE(inst.models_dir().list().empty());
}

TEST_F(InstallerTest, CatalogNamesAndUrls) {
    Installer inst = installer();
    PullPlan catalog = inst.plan("tiny");
    EXPECT_EQ(catalog.files[0].path, "Tiny-Q8_0.gguf");
    PullResult result = inst.pull(catalog, {});
    EXPECT_EQ(result.config.name, "tiny");
    EXPECT_EQ(result.config.context_size, 2048);

    PullPlan url = inst.plan(hub_.endpoint() + "/acme/Tiny-GGUF/resolve/main/Tiny-Q4_K_M.gguf");
    EXPECT_EQ(url.files[0].path, "Tiny-Q4_K_M.gguf");
    EXPECT_EQ(url.endpoint, hub_.endpoint());

    EXPECT_THROW(inst.plan("no-such-catalog-name"), Error);
    EXPECT_THROW(inst.plan("acme/Tiny-GGUF:Q2_K"), Error);
}

TEST_F(InstallerTest, UpdateReplacesOnlyAfterVerification) {
    Installer inst = installer();
    inst.pull(inst.plan("acme/Tiny-GGUF:Q4_K_M"), {});
    EXPECT_FALSE(inst.check_updates()[0].file_changed);

    // A new commit that changes only other files: no download, just a newer revision.
    hub_.set_commit("acme/Tiny-GGUF", std::string(40, '2'));
    UpdateCheck quiet = inst.check_updates()[0];
    EXPECT_TRUE(quiet.revision_changed);
    EXPECT_FALSE(quiet.file_changed);

    // A bad new upload (hash mismatch) must leave the old model untouched.
    std::string v2 = fake::make_gguf(99);
    hub_.set_file("acme/Tiny-GGUF", "Tiny-Q4_K_M.gguf", {v2, std::string(64, 'f')});
    UpdateCheck bad = inst.check_updates()[0];
    EXPECT_TRUE(bad.file_changed);
    EXPECT_THROW(inst.apply_update(bad, {}), Error);
    EXPECT_EQ(read_file(dir_ / "Tiny-Q4_K_M.gguf"), q4_);

    hub_.set_file("acme/Tiny-GGUF", "Tiny-Q4_K_M.gguf", {v2, ""});
    hub_.set_commit("acme/Tiny-GGUF", std::string(40, '3'));
    UpdateCheck good = inst.check_updates()[0];
    ASSERT_TRUE(good.file_changed);
    PullResult updated = inst.apply_update(good, {});
    EXPECT_EQ(read_file(dir_ / "Tiny-Q4_K_M.gguf"), v2);
    EXPECT_EQ(updated.config.source->revision, std::string(40, '3'));
    EXPECT_FALSE(inst.check_updates()[0].file_changed);
}

TEST_F(InstallerTest, UpdateReportsHubErrorsPerModel) {
    Installer inst = installer();
    inst.pull(inst.plan("acme/Tiny-GGUF:Q4_K_M"), {});
    fake::Faults faults;
    faults.api_body_override = "{broken";
    hub_.set_faults(faults);
    std::vector<UpdateCheck> checks = inst.check_updates();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_NE(checks[0].error.find("not JSON"), std::string::npos) << checks[0].error;
}

// The curated catalog lists only models hearth runs: each entry names its architecture, which is
// in the model table, and its quant's main weight type (Q4_K for Q4_K_M) has kernels.
TEST(CatalogRuns, EveryEntryIsAModelHearthRuns) {
    const hub::Catalog catalog = hub::Catalog::builtin();
    for (const hub::CatalogEntry& entry : catalog.entries()) {
        ASSERT_FALSE(entry.architecture.empty()) << entry.name;
        EXPECT_NO_THROW(model::arch_spec(entry.architecture)) << entry.name;
        std::string type = entry.quant;
        for (const char* mix : {"_M", "_S", "_L"}) {
            if (type.size() > 4 && type.substr(type.size() - 2) == mix && type.find("_K") != std::string::npos)
                type.resize(type.size() - 2);
        }
        const auto parsed = gguf::type_from_name(type);
        ASSERT_TRUE(parsed) << entry.name << ": " << entry.quant;
        EXPECT_TRUE(kernels::is_supported(*parsed)) << entry.name << ": " << entry.quant;
    }
}

// pull reads the header first: a model whose architecture hearth does not run is refused before
// any byte of it is downloaded, with the reason; --no-check (check_support off) fetches it.
TEST_F(InstallerTest, PullRefusesAModelHearthCannotRunBeforeDownloading) {
    gguf::Writer writer;
    writer.set("general.architecture", gguf::Value::string("rwkv7"));
    writer.add_tensor("weights", gguf::TensorType::F32, {4}, std::vector<uint8_t>(16, 0));
    const std::string path = (fs::temp_directory_path() / ("hearth-rwkv-" + std::to_string(::getpid()) + ".gguf")).string();
    writer.write(path);
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    fs::remove(path);
    FakeRepo repo;
    repo.files["Rwkv-Q8_0.gguf"] = {bytes.str(), ""};
    hub_.add_repo("acme/Rwkv-GGUF", repo);
    Installer inst = installer();
    const PullPlan plan = inst.plan("acme/Rwkv-GGUF:Q8_0");
    std::string error;
    try {
        inst.pull(plan, {});
    } catch (const Error& e) {
        error = e.what();
    }
    EXPECT_NE(error.find("rwkv7"), std::string::npos) << error;
    EXPECT_NE(error.find("Nothing was downloaded"), std::string::npos) << error;
    // Only a range request for the header reached the file, no download.
    for (const std::string& request : hub_.requests()) {
        if (request.find("Rwkv-Q8_0.gguf") != std::string::npos)
            EXPECT_NE(request.find("Range: bytes=0-"), std::string::npos) << request;
    }
    EXPECT_FALSE(fs::exists(dir_ / "rwkv-q8_0.yaml"));
    PullOptions no_check;
    no_check.check_support = false;
    EXPECT_EQ(inst.pull(plan, no_check).config.name, "rwkv-q8_0");
}
