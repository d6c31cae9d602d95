#pragma once
// Whether hearth runs a model, judged from its GGUF header alone (metadata and tensor list, no
// weights): the checks `pull`, `discover` and `update --auto` make before downloading.
#include <string>
#include <vector>

#include "gguf/reader.h"

namespace hearth::runtime {

// "" when hearth can run the model; otherwise the first reason it cannot, in words for a user:
// an architecture it does not implement (or keys it needs that are missing or inconsistent), a
// weight type it cannot compute, or a tokenizer it does not have.
std::string why_unsupported(const gguf::File& metadata,
                            const std::vector<gguf::TensorInfo>& tensors);

}  // namespace hearth::runtime
