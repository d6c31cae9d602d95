#include "model/arch.h"

#include "core/error.h"

namespace hearth::model {

namespace {

using kernels::RopeStyle;

// Facts from the published model definitions and llama.cpp's GGUF conventions.
// clang-format off
constexpr bool X = true;
constexpr bool o = false;
using enum Family;
using enum Activation;
using enum RopeStyle;
constexpr ArchSpec kArchitectures[] = {
    //                                         fused      gated qkv  qk   post  learned sliding loc.      norm
    // name        family rope    activation  qkv gate_up ffn   bias norm norms pos     pattern rope moe  topk
    {"llama",      Llama, Normal, Silu,       o,  o,      X,    o,   o,   o,    o,      0,      o,   o,   X},
    {"qwen2",      Llama, NeoX,   Silu,       o,  o,      X,    X,   o,   o,    o,      0,      o,   o,   o},
    {"qwen3",      Llama, NeoX,   Silu,       o,  o,      X,    o,   X,   o,    o,      0,      o,   o,   o},
    {"phi3",       Llama, NeoX,   Silu,       X,  X,      X,    o,   o,   o,    o,      0,      o,   o,   o},
    {"qwen2moe",   Llama, NeoX,   Silu,       o,  o,      X,    X,   o,   o,    o,      0,      o,   X,   o},
    {"qwen3moe",   Llama, NeoX,   Silu,       o,  o,      X,    o,   X,   o,    o,      0,      o,   X,   X},
    {"olmoe",      Llama, NeoX,   Silu,       o,  o,      X,    o,   X,   o,    o,      0,      o,   X,   o},
    {"gpt-oss",    GptOss, NeoX,  SwigluOai,  o,  o,      X,    X,   o,   o,    o,      2,      o,   X,   X},
    {"gemma",      Gemma, NeoX,   GeluTanh,   o,  o,      X,    o,   o,   o,    o,      0,      o,   o,   o},
    {"gemma2",     Gemma, NeoX,   GeluTanh,   o,  o,      X,    o,   o,   X,    o,      2,      o,   o,   o},
    {"gemma3",     Gemma, NeoX,   GeluTanh,   o,  o,      X,    o,   X,   X,    o,      6,      X,   o,   o},
    {"bert",       Bert,  Normal, GeluErf,    o,  o,      o,    X,   o,   o,    X,      0,      o,   o,   o},
    {"nomic-bert", Bert,  NeoX,   Silu,       X,  o,      X,    o,   o,   o,    o,      0,      o,   o,   o},
};
// clang-format on

}  // namespace

std::string supported_architectures() {
    std::string out;
    for (const ArchSpec& a : kArchitectures) out += (out.empty() ? "" : ", ") + std::string(a.name);
    return out;
}

const ArchSpec& arch_spec(const std::string& architecture) {
    for (const ArchSpec& a : kArchitectures) {
        if (a.name == architecture) return a;
    }
    throw Error("architecture '" + architecture +
                "' is not supported by this hearth build (supported: " + supported_architectures() +
                ")");
}

}  // namespace hearth::model
