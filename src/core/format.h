#pragma once
// Numbers for people: sizes in binary units.
#include <cstdint>
#include <string>

namespace hearth {

// "512 B", "1.2 GiB".
std::string format_bytes(uint64_t bytes);

}  // namespace hearth
