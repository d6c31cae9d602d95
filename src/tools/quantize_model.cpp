#include "tools/quantize_model.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "core/error.h"
#include "kernels/thread_pool.h"
#include "kernels/type_traits.h"

namespace hearth::tools {

namespace {

using T = gguf::TensorType;

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) ==
                      std::toupper(static_cast<unsigned char>(y));
           });
}

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "blk.12.ffn_down.weight" -> 12; -1 when the name has no layer.
int layer_of(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    return std::atoi(name.c_str() + 4);
}

// llama.cpp's rule for which layers of a _M mix get more bits: the first and last eighth and
// every third layer in between.
bool use_more_bits(int layer, int n_layers) {
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

T preferred_type(const QuantRecipe& r, const std::string& name, int n_dims, int n_layers,
                 bool has_output_tensor) {
    std::string_view recipe = r.name;
    // llama.cpp's MXFP4_MOE: the stacked expert matrices (3-D) MXFP4, every other matrix Q8_0,
    // the output included.
    if (recipe == "MXFP4_MOE") return n_dims >= 3 ? T::MXFP4 : T::Q8_0;
    bool is_output = name == "output.weight" || (!has_output_tensor && name == "token_embd.weight");
    if (is_output)
        return r.base == T::Q8_0 || r.base == T::F16 || r.base == T::BF16 || r.base == T::F32
                   ? r.base
                   : T::Q6_K;
    int layer = layer_of(name);
    // Experts' down projections count as ffn_down, as in llama.cpp (its test is a substring).
    bool attn_v = ends_with(name, "attn_v.weight"),
         ffn_down = ends_with(name, "ffn_down.weight") || ends_with(name, "ffn_down_exps.weight") ||
                    ends_with(name, "ffn_down_shexp.weight");
    if ((recipe == "Q4_K_M" || recipe == "Q5_K_M") && (attn_v || ffn_down) &&
        use_more_bits(layer, n_layers)) {
        return T::Q6_K;
    }
    if (recipe == "Q4_K_S" && attn_v && layer < 4) return T::Q5_K;
    if (recipe == "Q4_K_S" && ffn_down && layer < n_layers / 8) return T::Q5_K;
    if (recipe == "Q3_K_M" && attn_v) return layer < 2 ? T::Q5_K : T::Q4_K;
    if (recipe == "Q3_K_M" && ffn_down) return layer < n_layers / 16 ? T::Q5_K : T::Q4_K;
    return r.base;
}

// The 32-block type llama.cpp falls back to for a 256-block type (so that files for models
// with rows like SmolLM2's 576 come out the sizes users know): about the same bits per weight.
T fallback_type(T want) {
    switch (want) {
        case T::Q2_K:
        case T::Q3_K:
        case T::IQ4_XS:
            return T::IQ4_NL;
        case T::Q4_K:
            return T::Q5_0;
        case T::Q5_K:
            return T::Q5_1;
        case T::Q6_K:
            return T::Q8_0;
        default:
            return T::F16;
    }
}

}  // namespace

const std::vector<QuantRecipe>& quant_recipes() {
    static const std::vector<QuantRecipe> recipes = {
        {"F32", 0, T::F32, "32-bit floats, no loss"},
        {"F16", 1, T::F16, "16-bit floats"},
        {"BF16", 32, T::BF16, "bfloat16"},
        {"Q8_0", 7, T::Q8_0, "8-bit, nearly lossless"},
        {"Q6_K", 18, T::Q6_K, "6.6 bits/weight"},
        {"Q5_K_M", 17, T::Q5_K, "Q5_K; attn_v/ffn_down of some layers and output Q6_K"},
        {"Q5_K_S", 16, T::Q5_K, "Q5_K; output Q6_K"},
        {"Q5_1", 9, T::Q5_1, "5-bit with min (legacy)"},
        {"Q5_0", 8, T::Q5_0, "5-bit (legacy)"},
        {"Q4_K_M", 15, T::Q4_K,
         "Q4_K; attn_v/ffn_down of some layers and output Q6_K (the usual choice)"},
        {"Q4_K_S", 14, T::Q4_K, "Q4_K; first attn_v/ffn_down layers Q5_K, output Q6_K"},
        {"Q4_1", 3, T::Q4_1, "4-bit with min (legacy)"},
        {"Q4_0", 2, T::Q4_0, "4-bit (legacy, fast); output Q6_K"},
        {"IQ4_NL", 25, T::IQ4_NL, "4-bit non-linear levels, 32-blocks"},
        {"IQ4_XS", 30, T::IQ4_XS, "4.25 bits/weight non-linear levels"},
        // llama.cpp has one file type for MXFP4 (MOSTLY_MXFP4_MOE, 38): both recipes write it.
        {"MXFP4_MOE", 38, T::MXFP4, "experts MXFP4 (as gpt-oss ships), everything else Q8_0"},
        {"MXFP4", 38, T::MXFP4, "4.25 bits/weight 4-bit floats, power-of-two scales; output Q6_K"},
        {"Q3_K_M", 12, T::Q3_K, "Q3_K; attn_v/ffn_down partly Q4_K/Q5_K"},
        {"Q3_K_S", 11, T::Q3_K, "Q3_K everywhere; output Q6_K"},
        {"Q2_K", 10, T::Q2_K, "2.6 bits/weight, large quality loss"},
    };
    return recipes;
}

std::optional<QuantRecipe> find_quant_recipe(std::string_view name) {
    for (const auto& r : quant_recipes()) {
        if (iequals(r.name, name)) return r;
    }
    return std::nullopt;
}

TensorChoice choose_tensor_type(const QuantRecipe& recipe, const std::string& name, int n_dims,
                                int64_t row_length, int n_layers, bool has_output_tensor) {
    if (n_dims < 2 || !ends_with(name, ".weight")) return {T::F32, ""};
    // Mixture-of-experts routers stay F32 (llama.cpp never quantizes ffn_gate_inp): small, and
    // the expert choice is sensitive to their rounding.
    if (ends_with(name, "ffn_gate_inp.weight")) return {T::F32, ""};
    T want = preferred_type(recipe, name, n_dims, n_layers, has_output_tensor);
    uint32_t block = gguf::type_info(want).block_size;
    if (row_length % block == 0) return {want, ""};
    // Row lengths that do not fill whole blocks (stories260K's ffn_down has 172) fall back to
    // the best type that fits.
    T fallback = fallback_type(want);
    if (row_length % gguf::type_info(fallback).block_size != 0) fallback = T::F16;
    std::string note = name + ": row length " + std::to_string(row_length) +
                       " is not a multiple of " + std::string(gguf::type_name(want)) +
                       "'s block of " + std::to_string(block) + "; stored as " +
                       std::string(gguf::type_name(fallback));
    return {fallback, note};
}

void add_converted_tensor(gguf::Writer& writer, const std::string& name, gguf::TensorType type,
                          const std::vector<int64_t>& dims, RowSource fill_rows,
                          kernels::ThreadPool& pool) {
    int64_t cols = dims[0], rows = 1;
    for (size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
    writer.add_tensor(
        name, type, dims,
        [type, cols, rows, fill_rows = std::move(fill_rows), &pool](uint8_t* out, uint64_t) {
            const kernels::TypeTraits& tt = kernels::traits(type);
            const size_t row_bytes = gguf::bytes_for(type, static_cast<uint64_t>(cols));
            // Chunks of rows per task keep the float staging buffer small (a few MB per thread).
            const int64_t chunk = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(cols, 1));
            pool.run([&](int ith, int nth) {
                std::vector<float> staging(static_cast<size_t>(chunk * cols));
                for (int64_t first = chunk * ith; first < rows; first += chunk * nth) {
                    int64_t n = std::min(chunk, rows - first);
                    fill_rows(first, n, staging.data());
                    for (int64_t r = 0; r < n; ++r)
                        tt.from_float(staging.data() + r * cols, out + (first + r) * row_bytes,
                                      cols);
                }
            });
        });
}

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const QuantRecipe& recipe, int n_threads,
                              const std::function<void(size_t, size_t)>& progress) {
    gguf::File in = gguf::File::open(in_path);
    std::string arch = in.get_string("general.architecture", "llama");
    int n_layers = static_cast<int>(in.get_u64(arch + ".block_count", 0));
    bool has_output = in.find_tensor("output.weight") != nullptr;

    gguf::Writer writer(in.alignment());
    for (const auto& kv : in.metadata()) {
        if (kv.key != "general.alignment") writer.set(kv.key, kv.value);
    }
    writer.set("general.file_type", gguf::Value::u32(recipe.file_type));
    writer.set("general.quantization_version", gguf::Value::u32(2));

    kernels::ThreadPool pool(std::max(1, n_threads));
    QuantizeReport report;
    report.bytes_in = in.file_size();
    for (const auto& t : in.tensors()) {
        TensorChoice choice =
            choose_tensor_type(recipe, t.name, t.n_dims, t.ne[0], n_layers, has_output);
        if (!choice.note.empty()) report.notes.push_back(choice.note);
        std::vector<int64_t> dims(t.ne.begin(), t.ne.begin() + std::max(t.n_dims, 1));
        if (choice.type == t.type) {  // nothing to convert: copy the bytes
            const gguf::TensorInfo* info = &t;
            writer.add_tensor(t.name, t.type, dims, [info](uint8_t* out, uint64_t n) {
                std::copy_n(info->data, n, out);
            });
            report.bytes_out += t.n_bytes;
            continue;
        }
        const kernels::TypeTraits& source = kernels::traits(t.type);
        const size_t src_row_bytes = gguf::bytes_for(t.type, static_cast<uint64_t>(t.ne[0]));
        const uint8_t* src = t.data;
        const int64_t cols = t.ne[0];
        add_converted_tensor(
            writer, t.name, choice.type, dims,
            [&source, src, src_row_bytes, cols](int64_t first, int64_t n, float* out) {
                for (int64_t r = 0; r < n; ++r)
                    source.to_float(src + (first + r) * src_row_bytes, out + r * cols, cols);
            },
            pool);
        report.bytes_out += gguf::bytes_for(choice.type, static_cast<uint64_t>(t.n_elements()));
    }
    writer.write(out_path, progress);
    return report;
}

}  // namespace hearth::tools
