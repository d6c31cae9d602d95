// Feeds arbitrary bytes to the GGUF reader: it must refuse with hearth::Error or accept, never
// crash or read out of bounds (ASan watches).
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "gguf/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto f = hearth::gguf::File::parse(data, size, "fuzz.gguf");
        uint64_t sum = 0;
        for (const auto& t : f.tensors()) {
            if (t.n_bytes > 0) sum += t.data[0] + t.data[t.n_bytes - 1];
        }
        for (const auto& kv : f.metadata()) sum += kv.value.to_display_string().size();
        return sum == 0xFFFFFFFF ? 1 : 0;
    } catch (const hearth::Error&) {
        return 0;
    }
}
