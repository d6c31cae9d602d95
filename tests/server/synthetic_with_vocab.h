#pragma once
// A random-weight model of `architecture` carrying the real tokenizer of a vocab-only GGUF from
// tests/data/vocab, so server code can be tested with real vocabularies and chat templates.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "model/model.h"
#include "model/synthetic.h"

inline std::shared_ptr<hearth::model::Model> synthetic_model_with_vocab(
    const std::string& architecture, const std::string& vocab_name) {
    using namespace hearth;
    // One file per process (CTest runs each test of a binary as its own process, in parallel,
    // and two writers of one file would corrupt each other), removed once mapped: the mapping
    // keeps the data, and the tens of MB per process do not pile up in the temp directory.
    const std::string path = ::testing::TempDir() + "/" + architecture + "-" + vocab_name + "-" +
                             std::to_string(getpid()) + ".gguf";
    model::SyntheticOptions options;
    options.architecture = architecture;
    options.vocab_path =
        std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-" + vocab_name + ".gguf";
    options.seed = 7;
    model::write_synthetic_model(options, path);
    auto model = model::Model::load(path);
    std::remove(path.c_str());
    return model;
}
