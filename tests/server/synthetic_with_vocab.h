#pragma once
// A random-weight model of `architecture` carrying the real tokenizer of a vocab-only GGUF from
// tests/data/vocab, so server code can be tested with real vocabularies and chat templates.
// n_ctx > 0 replaces the tiny shape's training context (a long context makes long generations).
#include <gtest/gtest.h>

#include <string>

#include "gguf/writer.h"
#include "model/synthetic.h"

inline std::string synthetic_model_with_vocab(const std::string& architecture,
                                              const std::string& vocab_name, int64_t n_ctx = 0) {
    using namespace hearth;
    const std::string dir = ::testing::TempDir();
    const std::string vocab_path =
        std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-" + vocab_name + ".gguf";
    const std::string stem =
        architecture + "-" + vocab_name + (n_ctx > 0 ? "-ctx" + std::to_string(n_ctx) : "");
    const std::string weights = dir + "/" + stem + "-weights.gguf";
    const std::string out = dir + "/" + stem + ".gguf";
    gguf::File v = gguf::File::open(vocab_path);
    model::SyntheticShape shape = model::synthetic_shape("tiny");
    shape.n_vocab = static_cast<int64_t>(v.find("tokenizer.ggml.tokens")->as_array().items.size());
    if (n_ctx > 0) shape.n_ctx = n_ctx;
    model::write_synthetic_model(architecture, shape, weights, 7);
    gguf::File w = gguf::File::open(weights);
    gguf::Writer writer;
    for (const auto& kv : w.metadata()) writer.set(kv.key, kv.value);
    for (const auto& kv : v.metadata()) {
        if (kv.key.rfind("tokenizer.", 0) == 0) writer.set(kv.key, kv.value);
    }
    for (const auto& t : w.tensors()) {
        writer.add_tensor(t.name, t.type,
                          std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                          std::vector<uint8_t>(t.data, t.data + t.n_bytes));
    }
    writer.write(out);
    return out;
}
