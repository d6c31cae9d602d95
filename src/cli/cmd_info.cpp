#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "core/format.h"
#include "gguf/reader.h"

namespace hearth::cli {

namespace {

nlohmann::json to_json(const gguf::Value& v, size_t max_array) {
    using gguf::ValueType;
    switch (v.type()) {
        case ValueType::String:
            return v.as_string();
        case ValueType::Bool:
            return v.as_bool();
        case ValueType::F32:
        case ValueType::F64:
            return v.as_f64();
        case ValueType::I8:
        case ValueType::I16:
        case ValueType::I32:
        case ValueType::I64:
            return v.as_i64();
        case ValueType::Array: {
            const gguf::Array& arr = v.as_array();
            nlohmann::json out = nlohmann::json::array();
            for (size_t i = 0; i < arr.items.size() && i < max_array; ++i)
                out.push_back(to_json(arr.items[i], max_array));
            return out;
        }
        default:
            return v.as_u64();
    }
}

void print_json(const gguf::File& f, bool full_arrays) {
    nlohmann::json out;
    out["file"] = f.name();
    out["version"] = f.version();
    out["alignment"] = f.alignment();
    out["data_offset"] = f.data_offset();
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& kv : f.metadata()) {
        meta[kv.key] = {{"type", std::string(gguf::value_type_name(kv.value.type()))},
                        {"value", to_json(kv.value, full_arrays ? SIZE_MAX : 16)}};
        if (kv.value.type() == gguf::ValueType::Array)
            meta[kv.key]["length"] = kv.value.as_array().items.size();
    }
    out["metadata"] = meta;
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : f.tensors()) {
        std::vector<int64_t> shape(t.ne.begin(), t.ne.begin() + t.n_dims);
        tensors.push_back({{"name", t.name},
                           {"type", std::string(gguf::type_name(t.type))},
                           {"shape", shape},
                           {"offset", t.offset},
                           {"bytes", t.n_bytes}});
    }
    out["tensors"] = tensors;
    std::cout << out.dump(2) << "\n";
}

void print_text(const gguf::File& f) {
    uint64_t total = 0;
    for (const auto& t : f.tensors()) total += t.n_bytes;
    std::printf("file:      %s\n", f.name().c_str());
    std::printf(
        "format:    GGUF v%u, alignment %u, %zu metadata keys, %zu tensors (%s of tensor data)\n\n",
        f.version(), f.alignment(), f.metadata().size(), f.tensors().size(),
        format_bytes(total).c_str());
    std::printf("metadata:\n");
    for (const auto& kv : f.metadata()) {
        std::printf("  %-45s %-8s %s\n", kv.key.c_str(),
                    std::string(gguf::value_type_name(kv.value.type())).c_str(),
                    kv.value.to_display_string().c_str());
    }
    if (f.tensors().empty()) return;
    std::printf("\ntensors:\n  %-36s %-8s %-22s %12s\n", "name", "type", "shape", "bytes");
    for (const auto& t : f.tensors()) {
        std::printf("  %-36s %-8s %-22s %12s\n", t.name.c_str(),
                    std::string(gguf::type_name(t.type)).c_str(), t.shape_string().c_str(),
                    format_bytes(t.n_bytes).c_str());
    }
}

}  // namespace

void add_info_command(CLI::App& app) {
    struct Options {
        std::string path;
        bool json = false;
        bool full = false;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("info", "Show a GGUF file's metadata and tensor table.");
    cmd->add_option("model", o->path, "Path to a .gguf file")->required()->check(CLI::ExistingFile);
    cmd->add_flag("--json", o->json, "Print JSON instead of a table");
    cmd->add_flag(
        "--full", o->full,
        "With --json: print arrays (e.g. the vocabulary) in full instead of their first 16 items");
    cmd->footer("Example:\n  hearth info tests/data/models/stories260K.gguf");
    cmd->callback([o] {
        gguf::File f = gguf::File::open(o->path);
        if (o->json)
            print_json(f, o->full);
        else
            print_text(f);
    });
}

}  // namespace hearth::cli
