#include "core/format.h"

#include <cstdio>
#include <exception>

#include "core/error.h"

namespace hearth {

std::string format_bytes(uint64_t bytes) {
    static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
    return text;
}

uint64_t parse_bytes(const std::string& text) {
    size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        throw Error("'" + text + "' is not a size (examples: 8G, 512M, 1000000)");
    }
    std::string unit = text.substr(used);
    if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
    if (unit.size() == 2 && unit[1] == 'i') unit.pop_back();
    double scale = 1;
    if (unit == "K" || unit == "k")
        scale = 1024.0;
    else if (unit == "M" || unit == "m")
        scale = 1024.0 * 1024;
    else if (unit == "G" || unit == "g")
        scale = 1024.0 * 1024 * 1024;
    else if (unit == "T" || unit == "t")
        scale = 1024.0 * 1024 * 1024 * 1024;
    else if (!unit.empty())
        throw Error("unknown size unit in '" + text + "' (use K, M, G or T)");
    if (value < 0) throw Error("a size cannot be negative: '" + text + "'");
    // stod also reads "inf" and "nan"; 2^63 bytes is past any machine.
    if (!(value * scale < 9.2e18)) throw Error("'" + text + "' is not a usable size");
    return static_cast<uint64_t>(value * scale);
}

}  // namespace hearth
