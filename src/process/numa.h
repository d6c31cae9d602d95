#pragma once
// NUMA nodes as Linux lists them (/sys/devices/system/node/node*/cpulist), for `serve --workers
// auto`, which runs one worker per node pinned to the node's CPUs.
#include <string>
#include <string_view>
#include <vector>

namespace hearth::process {

struct NumaNode {
    int id = 0;
    std::vector<int> cpus;  // ascending
};

// A Linux CPU list ("0-3,8,10-11\n" -> 0 1 2 3 8 10 11; "" -> none), sorted and without repeats.
// Throws hearth::Error naming the bad part.
std::vector<int> parse_cpu_list(std::string_view text);
// The shortest list that parse_cpu_list reads back as `cpus` (ascending): {0,1,2,5} -> "0-2,5".
std::string format_cpu_list(const std::vector<int>& cpus);

// The nodes that have CPUs, by id, under `root` (a fake tree in tests; "" is the real /sys).
// Empty when the kernel lists no nodes (no NUMA support, or a /sys without them).
std::vector<NumaNode> numa_nodes(const std::string& root = "");

}  // namespace hearth::process
