// Feeds arbitrary bytes to the GGUF reader: it must refuse with hearth::Error or accept, never
// crash or read out of bounds (ASan watches). The header-only parse (pull's check of a file's
// first bytes) must accept every file the full parse accepts, with the same tensors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "gguf/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    size_t header_tensors = SIZE_MAX;
    try {
        header_tensors = hearth::gguf::File::parse_header(data, size, "fuzz.gguf").tensors().size();
    } catch (const hearth::Error&) {
    }
    try {
        auto f = hearth::gguf::File::parse(data, size, "fuzz.gguf");
        if (header_tensors != f.tensors().size()) __builtin_trap();
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
