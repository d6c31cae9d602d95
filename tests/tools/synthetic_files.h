#pragma once
// Shared by the tests that write synthetic models (tests/model, tests/tools): a per-test file
// name, the tiny preset of an architecture written to it, and the message of an expected error.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

#include "core/error.h"
#include "tools/synthetic.h"

namespace hearth::testing {

// A per-test file name: CTest may run these tests in parallel processes.
inline std::string temp_path(const std::string& stem) {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    return (std::filesystem::temp_directory_path() / ("hearth-" + test + "-" + stem + ".gguf"))
        .string();
}

inline std::string synthesized(const std::string& arch) {
    const std::string path = temp_path(arch);
    tools::write_synthetic_model(arch, tools::synthetic_shape("tiny"), path, 7);
    return path;
}

inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace hearth::testing
