#pragma once
// Model quantization: the mixture recipes users know from llama.cpp (Q4_K_M gives attn_v,
// ffn_down and the output matrix more bits, ...) and `quantize_model`, which rewrites a GGUF
// file with every 2-D weight converted (`hearth quantize`, and the weights of synthetic models).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/reader.h"
#include "gguf/types.h"
#include "gguf/writer.h"

namespace hearth::kernels {
class ThreadPool;
}

namespace hearth::tools {

// A recipe: its name ("Q4_K_M"), the llama.cpp LLAMA_FTYPE number written to
// general.file_type, and the base weight type.
struct QuantRecipe {
    std::string_view name;
    uint32_t file_type;
    gguf::TensorType base;
    std::string_view summary;
};

const std::vector<QuantRecipe>& quant_recipes();
// Looks a recipe up by name, case-insensitive; plain type names (Q4_0, Q8_0, F16 ...) are
// recipes too.
std::optional<QuantRecipe> find_quant_recipe(std::string_view name);

// What the recipe stores a tensor as. `n_layers` is the model's block count; the tensor's
// layer comes from its "blk.N." name. 1-D tensors (norms) stay F32.
struct TensorChoice {
    gguf::TensorType type;
    std::string note;  // non-empty when the type had to fall back (row length not a multiple)
};
TensorChoice choose_tensor_type(const QuantRecipe& recipe, const std::string& name, int n_dims,
                                int64_t row_length, int n_layers, bool has_output_tensor);

// Adds a tensor to `writer` whose bytes are produced from float rows on demand:
// fill_rows(first_row, n_rows, out_floats) writes n_rows rows of dims[0] floats. Rows are
// converted in parallel on `pool`-sized chunks, so huge tensors never sit in memory as floats.
using RowSource = std::function<void(int64_t first_row, int64_t n_rows, float* out)>;
void add_converted_tensor(gguf::Writer& writer, const std::string& name, gguf::TensorType type,
                          const std::vector<int64_t>& dims, RowSource fill_rows,
                          kernels::ThreadPool& pool);

struct QuantizeReport {
    std::vector<std::string> notes;  // one line per fallback
    uint64_t bytes_in = 0, bytes_out = 0;
};

// Reads `in_path`, writes `out_path` with the recipe applied and general.file_type set.
// progress(done, total) is called after each tensor.
QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const QuantRecipe& recipe, int n_threads,
                              const std::function<void(size_t, size_t)>& progress = {});

}  // namespace hearth::tools
