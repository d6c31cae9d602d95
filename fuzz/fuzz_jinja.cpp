// libFuzzer target: any bytes as a chat template must parse or fail with hearth::Error, and
// render or fail with hearth::Error: never crash, hang or run out of memory.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_jinja.cpp
//   src/chat/*.cpp src/core/utf8.cpp
#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

const nlohmann::json& sample_messages() {
    static const nlohmann::json messages = nlohmann::json::parse(R"([
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi é"},
        {"role": "assistant", "content": null, "reasoning_content": "think",
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"}
    ])");
    return messages;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string source(reinterpret_cast<const char*>(data), size);
    try {
        hearth::chat::ChatTemplate tmpl(source);
        hearth::chat::SandboxLimits limits;
        limits.max_steps = 200'000;  // keep each input fast
        limits.max_output_bytes = 1 << 20;
        limits.max_string_bytes = 1 << 20;
        limits.max_array_items = 100'000;
        tmpl.set_limits(limits);
        hearth::chat::ChatRenderOptions opts;
        opts.bos_token = "<s>";
        opts.eos_token = "</s>";
        opts.tools = nlohmann::json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
        opts.extra_vars = {{"enable_thinking", true}};
        tmpl.render(sample_messages(), opts);
    } catch (const hearth::Error&) {
        // Expected: the template was invalid or failed cleanly.
    }
    return 0;
}
