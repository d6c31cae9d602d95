#pragma once
// Numbers for people: sizes in binary units, written and read.
#include <cstdint>
#include <string>

namespace hearth {

// "512 B", "1.2 GiB".
std::string format_bytes(uint64_t bytes);

// "8G", "512M", "1.5GiB", "1000000" -> bytes (binary units). Throws hearth::Error with an
// example of the expected form when `text` is not a size.
uint64_t parse_bytes(const std::string& text);

}  // namespace hearth
