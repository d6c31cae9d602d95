#include "process/numa.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace hearth::process {

namespace {

int parse_cpu(std::string_view text, std::string_view whole) {
    int value = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 1'000'000)
        throw Error("bad CPU list '" + std::string(whole) + "': '" + std::string(text) +
                    "' is not a CPU number");
    return value;
}

}  // namespace

std::vector<int> parse_cpu_list(std::string_view text) {
    const std::string_view whole = text;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    std::vector<int> cpus;
    while (!text.empty()) {
        const size_t comma = text.find(',');
        const std::string_view part = text.substr(0, comma);
        const size_t dash = part.find('-');
        const int first = parse_cpu(part.substr(0, dash), whole);
        const int last = dash == std::string_view::npos ? first : parse_cpu(part.substr(dash + 1), whole);
        if (last < first)
            throw Error("bad CPU list '" + std::string(whole) + "': range '" + std::string(part) +
                        "' runs backwards");
        for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
        if (text.empty()) throw Error("bad CPU list '" + std::string(whole) + "': ends with ','");
    }
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
    std::string out;
    for (size_t i = 0; i < cpus.size();) {
        size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(cpus[i]);
        if (j > i) out += '-' + std::to_string(cpus[j]);
        i = j + 1;
    }
    return out;
}

std::vector<NumaNode> numa_nodes(const std::string& root) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(root.empty() ? "/" : root) / "sys/devices/system/node";
    std::vector<NumaNode> nodes;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() < 5 || name.rfind("node", 0) != 0) continue;
        if (!std::all_of(name.begin() + 4, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        std::ifstream in(entry.path() / "cpulist");
        if (!in) continue;
        std::stringstream text;
        text << in.rdbuf();
        NumaNode node;
        node.id = std::stoi(name.substr(4));
        node.cpus = parse_cpu_list(text.str());
        if (!node.cpus.empty()) nodes.push_back(std::move(node));
    }
    std::sort(nodes.begin(), nodes.end(), [](const NumaNode& a, const NumaNode& b) { return a.id < b.id; });
    return nodes;
}

}  // namespace hearth::process
