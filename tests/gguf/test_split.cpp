// Split GGUF models (gguf/split.h): the first part opens the whole model; every way a set of
// parts can be wrong is refused with an error that says what to do.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/reader.h"
#include "gguf/split.h"
#include "gguf/writer.h"
#include "split_files.h"

using namespace hearth;

namespace {

std::string temp_stem(const std::string& name) {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    return (std::filesystem::temp_directory_path() / ("hearth-split-" + test + "-" + name)).string();
}

// Five F32 tensors "t0".."t4" of 8 values each, tensor i holding i*100 + j.
std::string write_whole(const std::string& stem) {
    gguf::Writer writer;
    writer.set("general.architecture", gguf::Value::string("llama"));
    writer.set("general.name", gguf::Value::string("split test"));
    for (int i = 0; i < 5; ++i) {
        std::vector<float> values(8);
        for (int j = 0; j < 8; ++j) values[j] = static_cast<float>(i * 100 + j);
        std::vector<uint8_t> bytes(reinterpret_cast<uint8_t*>(values.data()),
                                   reinterpret_cast<uint8_t*>(values.data() + values.size()));
        writer.add_tensor("t" + std::to_string(i), gguf::TensorType::F32, {8}, std::move(bytes));
    }
    const std::string path = stem + "-whole.gguf";
    writer.write(path);
    return path;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(SplitName, ParsesAndFormatsTheGgufSplitNames) {
    gguf::SplitName name;
    ASSERT_TRUE(gguf::parse_split_name("/m/Qwen3-30B-A3B-Q4_K_M-00002-of-00003.gguf", name));
    EXPECT_EQ(name.stem, "/m/Qwen3-30B-A3B-Q4_K_M");
    EXPECT_EQ(name.index, 2);
    EXPECT_EQ(name.count, 3);
    EXPECT_EQ(gguf::split_part_path(name.stem, 1, 3), "/m/Qwen3-30B-A3B-Q4_K_M-00001-of-00003.gguf");
    EXPECT_FALSE(gguf::parse_split_name("model-00004-of-00003.gguf", name));
    EXPECT_FALSE(gguf::parse_split_name("model-0001-of-0003.gguf", name));
    EXPECT_FALSE(gguf::parse_split_name("model.gguf", name));
}

TEST(SplitGguf, TheFirstPartOpensEveryTensorOfEveryPart) {
    const std::string stem = temp_stem("m");
    const gguf::File whole = gguf::File::open(write_whole(stem));
    const auto parts = split_files::write_split(whole.name(), stem, 3);
    const gguf::File f = gguf::File::open(parts[0]);
    EXPECT_EQ(f.n_parts(), 3);
    EXPECT_EQ(f.get_string("general.name"), "split test");
    ASSERT_EQ(f.tensors().size(), 5u);
    uint64_t bytes = 0;
    for (const auto& p : parts) bytes += std::filesystem::file_size(p);
    EXPECT_EQ(f.file_size(), bytes);
    for (int i = 0; i < 5; ++i) {
        const gguf::TensorInfo& t = f.tensor("t" + std::to_string(i));
        const auto* values = reinterpret_cast<const float*>(t.data);
        for (int j = 0; j < 8; ++j) EXPECT_EQ(values[j], static_cast<float>(i * 100 + j));
    }
    EXPECT_TRUE(f.find_tensor("t4"));  // the index covers the later parts' tensors
}

TEST(SplitGguf, ALaterPartNamesTheFirst) {
    const std::string stem = temp_stem("m");
    const auto parts = split_files::write_split(write_whole(stem), stem, 3);
    const std::string error = error_of([&] { gguf::File::open(parts[1]); });
    EXPECT_NE(error.find("part 2 of 3"), std::string::npos) << error;
    EXPECT_NE(error.find(parts[0]), std::string::npos) << error;
}

TEST(SplitGguf, AMissingPartIsNamed) {
    const std::string stem = temp_stem("m");
    const auto parts = split_files::write_split(write_whole(stem), stem, 3);
    std::filesystem::remove(parts[2]);
    const std::string error = error_of([&] { gguf::File::open(parts[0]); });
    EXPECT_NE(error.find("part 3 of 3"), std::string::npos) << error;
    EXPECT_NE(error.find(parts[2]), std::string::npos) << error;
}

namespace {

// A hand-made part: split keys `no` / `count`, and F32 tensors of 8 zeros with these names.
void write_part(const std::string& path, int no, int count, const std::vector<std::string>& names) {
    gguf::Writer writer;
    writer.set(gguf::kSplitNo, gguf::Value::u16(static_cast<uint16_t>(no)));
    writer.set(gguf::kSplitCount, gguf::Value::u16(static_cast<uint16_t>(count)));
    for (const auto& name : names)
        writer.add_tensor(name, gguf::TensorType::F32, {8}, std::vector<uint8_t>(32, 0));
    writer.write(path);
}

}  // namespace

TEST(SplitGguf, APartThatDoesNotBelongIsRefused) {
    const std::string stem = temp_stem("m");
    const auto parts = split_files::write_split(write_whole(stem), stem, 3);
    // Part 2 where part 3 should be.
    std::filesystem::copy_file(parts[1], parts[2], std::filesystem::copy_options::overwrite_existing);
    std::string error = error_of([&] { gguf::File::open(parts[0]); });
    EXPECT_NE(error.find("is not part 3 of 3"), std::string::npos) << error;
    // The right split.no, but a tensor part 1 already had.
    write_part(parts[2], 2, 3, {"t4", "t0"});
    error = error_of([&] { gguf::File::open(parts[0]); });
    EXPECT_NE(error.find("'t0' is in two parts"), std::string::npos) << error;
    // A part with fewer tensors than the first part's split.tensors.count.
    write_part(parts[2], 2, 3, {});
    error = error_of([&] { gguf::File::open(parts[0]); });
    EXPECT_NE(error.find("hold 4 tensors but the first part says 5"), std::string::npos) << error;
}

TEST(SplitGguf, ARenamedFirstPartExplainsTheNaming) {
    const std::string stem = temp_stem("m");
    const auto parts = split_files::write_split(write_whole(stem), stem, 2);
    const std::string renamed = stem + "-renamed.gguf";
    std::filesystem::rename(parts[0], renamed);
    const std::string error = error_of([&] { gguf::File::open(renamed); });
    EXPECT_NE(error.find("NAME-00001-of-00002.gguf"), std::string::npos) << error;
}

// --- headers read from the first bytes of a file (remote checks before a download) ----------

TEST(GgufHeader, AnyPrefixShortOfTheHeaderAsksForMoreBytes) {
    const std::string path = std::string(HEARTH_TEST_DATA) + "/models/stories260K.gguf";
    const gguf::File whole = gguf::File::open(path);
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    // The header ends where the tensor data starts (after alignment padding).
    size_t shortest = 0;
    for (size_t n : {size_t{0}, size_t{3}, size_t{100}, size_t{4096}, whole.data_offset() - 64,
                     whole.data_offset()}) {
        try {
            const gguf::File header = gguf::File::parse_header(data, n, "prefix");
            shortest = n;
            EXPECT_EQ(header.metadata().size(), whole.metadata().size());
            ASSERT_EQ(header.tensors().size(), whole.tensors().size());
            for (size_t i = 0; i < whole.tensors().size(); ++i) {
                EXPECT_EQ(header.tensors()[i].name, whole.tensors()[i].name);
                EXPECT_EQ(header.tensors()[i].type, whole.tensors()[i].type);
                EXPECT_EQ(header.tensors()[i].data, nullptr);
            }
            break;
        } catch (const gguf::HeaderNeedsMoreBytes&) {
        }
    }
    // The header ends within the alignment padding before the data: 64 bytes short is too few.
    EXPECT_EQ(shortest, whole.data_offset());
    // Malformed is not "more bytes": a bad magic is an error at once.
    std::string bad = bytes.substr(0, 4096);
    bad[0] = 'X';
    try {
        gguf::File::parse_header(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), "bad");
        ADD_FAILURE() << "a bad magic parsed";
    } catch (const gguf::HeaderNeedsMoreBytes&) {
        ADD_FAILURE() << "a bad magic asked for more bytes";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("bad magic"), std::string::npos);
    }
}
