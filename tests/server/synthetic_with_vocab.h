#pragma once
// A random-weight model of `architecture` carrying the real tokenizer of a vocab-only GGUF from
// tests/data/vocab, so server code can be tested with real vocabularies and chat templates.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "tools/synthetic.h"

// Removes `path` when the test process exits: servers load their model files lazily, so the
// files must outlive the test body, and one per process would otherwise pile up (tens of MB
// each, every run).
inline void remove_at_exit(const std::string& path) {
    struct Files {
        std::vector<std::string> paths;
        ~Files() {
            for (const std::string& p : paths) std::remove(p.c_str());
        }
    };
    static Files files;
    files.paths.push_back(path);
}

// Writes the model and returns its path. One file per process: CTest runs each test of a binary
// as its own process, in parallel, and two writers of one file would corrupt each other.
// n_ctx > 0 replaces the shape's training context (a long context makes long generations);
// `preset` is the shape (hearth synth's presets), tiny by default.
inline std::string synthetic_model_file_with_vocab(const std::string& architecture,
                                                   const std::string& vocab_name, int64_t n_ctx = 0,
                                                   const std::string& preset = "tiny") {
    using namespace hearth;
    const std::string stem = architecture + "-" + preset + "-" + vocab_name +
                             (n_ctx > 0 ? "-ctx" + std::to_string(n_ctx) : "");
    const std::string path =
        ::testing::TempDir() + "/" + stem + "-" + std::to_string(getpid()) + ".gguf";
    tools::SyntheticOptions options;
    options.architecture = architecture;
    options.vocab_path =
        std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-" + vocab_name + ".gguf";
    options.seed = 7;
    options.shape = tools::synthetic_shape(preset);
    if (n_ctx > 0) options.shape.n_ctx = n_ctx;
    tools::write_synthetic_model(options, path);
    remove_at_exit(path);
    return path;
}

// The same model loaded; the file is removed once mapped (the mapping keeps the data, and the
// tens of MB per process do not pile up in the temp directory).
inline std::shared_ptr<hearth::model::Model> synthetic_model_with_vocab(
    const std::string& architecture, const std::string& vocab_name) {
    const std::string path = synthetic_model_file_with_vocab(architecture, vocab_name);
    auto model = hearth::model::Model::load(path);
    std::remove(path.c_str());
    return model;
}
