// Malformed quantized data is a clear load error.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/reader.h"
#include "gguf/writer.h"

using namespace hearth;
using gguf::TensorType;

namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("hearth-gguf-" + name)).string();
}

}  // namespace

TEST(MalformedQuantizedData, WrongByteSizeIsALoadError) {
    // A valid Q4_K tensor file, then cut short by one block: the reader must refuse it,
    // naming the tensor, rather than let a kernel read past the end.
    gguf::Writer writer;
    writer.add_tensor("w", TensorType::Q4_K, {256, 4}, std::vector<uint8_t>(4 * 144, 0));
    std::string path = temp_path("malformed.gguf");
    writer.write(path);
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 144);
    try {
        gguf::File::open(path);
        FAIL() << "truncated Q4_K data was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
    }
    // A row length that is not a multiple of the block size cannot be Q4_K at all.
    gguf::Writer bad;
    EXPECT_ANY_THROW(
        bad.add_tensor("v", TensorType::Q4_K, {100, 4}, std::vector<uint8_t>(4 * 144, 0)));
    std::remove(path.c_str());
}

// MXFP4 blocks are 17 bytes (odd, unlike every other block type): a file whose data ends one
// block short (the writer's alignment padding after the tensor cut too) is refused naming the
// tensor, and rows must fill whole 32-value blocks.
TEST(MalformedQuantizedData, TruncatedMxfp4IsALoadError) {
    gguf::Writer writer;
    writer.add_tensor("experts", TensorType::MXFP4, {64, 3, 2}, std::vector<uint8_t>(12 * 17, 0));
    std::string path = temp_path("malformed-mxfp4.gguf");
    writer.write(path);
    uint64_t end = 0;
    {
        const gguf::File f = gguf::File::open(path);
        const gguf::TensorInfo& t = f.tensor("experts");
        EXPECT_EQ(t.n_bytes, 12u * 17u);
        end = f.data_offset() + t.offset + t.n_bytes;
    }
    std::filesystem::resize_file(path, end - 17);
    try {
        gguf::File::open(path);
        FAIL() << "truncated MXFP4 data was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'experts'"), std::string::npos) << e.what();
    }
    gguf::Writer bad;
    EXPECT_ANY_THROW(
        bad.add_tensor("v", TensorType::MXFP4, {48, 2}, std::vector<uint8_t>(3 * 17, 0)));
    std::remove(path.c_str());
}
