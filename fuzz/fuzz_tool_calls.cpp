// libFuzzer target: arbitrary model replies through the tool-call parser of every syntax, whole
// and streamed in pieces. Findings: crashes, sanitizer reports, arguments that are not a JSON
// object, a reply without calls that does not come back unchanged, and a streamed parse whose
// calls differ from the whole-reply parse.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/harmony.h"
#include "chat/tool_calls.h"

using hearth::chat::ParsedReply;
using hearth::chat::ToolCallStream;
using hearth::chat::ToolCallSyntax;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const ToolCallSyntax syntaxes[] = {ToolCallSyntax::None, ToolCallSyntax::Hermes,
                                       ToolCallSyntax::Llama3Json, ToolCallSyntax::Mistral};
    const ToolCallSyntax syntax = syntaxes[data[0] % 4];
    const size_t piece = 1 + data[1] % 16;
    const std::string reply(reinterpret_cast<const char*>(data + 2), size - 2);

    const ParsedReply whole = hearth::chat::parse_tool_calls(syntax, reply);
    if (whole.calls.empty() && whole.content != reply) __builtin_trap();
    for (const auto& call : whole.calls) {
        auto arguments = nlohmann::json::parse(call.arguments, nullptr, false);
        if (arguments.is_discarded() || !arguments.is_object()) __builtin_trap();
    }

    ToolCallStream stream(syntax);
    for (size_t i = 0; i < reply.size(); i += piece) stream.push(reply.substr(i, piece));
    const ParsedReply streamed = stream.finish();
    if (streamed.calls.size() != whole.calls.size()) __builtin_trap();
    for (size_t i = 0; i < whole.calls.size(); ++i) {
        if (streamed.calls[i].name != whole.calls[i].name ||
            streamed.calls[i].arguments != whole.calls[i].arguments)
            __builtin_trap();
    }
    // Harmony (gpt-oss): streamed equals whole, no marker reaches reasoning or content.
    const hearth::chat::HarmonyReply h = hearth::chat::parse_harmony(reply);
    hearth::chat::HarmonyStream harmony;
    hearth::chat::HarmonyReply joined;
    for (size_t i = 0; i < reply.size(); i += piece) {
        hearth::chat::HarmonyReply part = harmony.push(reply.substr(i, piece));
        joined.reasoning += part.reasoning;
        joined.content += part.content;
    }
    hearth::chat::HarmonyReply end = harmony.finish();
    joined.reasoning += end.reasoning;
    joined.content += end.content;
    if (joined.reasoning != h.reasoning || joined.content != h.content ||
        end.calls.size() != h.calls.size())
        __builtin_trap();
    for (const std::string& marker : hearth::chat::harmony_marker_texts()) {
        if (h.reasoning.find(marker) != std::string::npos ||
            h.content.find(marker) != std::string::npos)
            __builtin_trap();
    }
    return 0;
}
