#pragma once
// The worker's side of `serve --workers`: what the supervisor (supervisor.h) tells a worker
// process through its environment, and the worker's answers.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hearth::process {

// Where a worker runs: pinned to `cpus` with its memory bound to NUMA node `node` (auto), or
// wherever the kernel puts it (node -1, no CPUs: --workers N).
struct WorkerPlacement {
    int node = -1;
    std::vector<int> cpus;
};

// What one worker process is: its number (1..N), the listening socket every worker accepts on,
// the pipe that tells the supervisor it is serving, and its placement.
struct WorkerSlot {
    int number = 0;
    int listen_fd = -1;
    int ready_fd = -1;
    WorkerPlacement placement;
};

// The variables that carry a WorkerSlot across exec.
std::vector<std::pair<std::string, std::string>> worker_environment(const WorkerSlot& slot);
// This process's slot when a supervisor started it (and unsets the variables, so nothing it
// starts believes it is a worker too); nullopt otherwise. Throws hearth::Error when they are
// malformed.
std::optional<WorkerSlot> worker_from_environment();

// Pins this process to the placement's CPUs and binds its memory to its node (MPOL_BIND), so
// weights it repacks and its KV cache live on the node's own memory. Call before any thread
// starts (threads inherit both). What the kernel refuses (a container without CAP_SYS_NICE
// may refuse set_mempolicy) is logged, and the worker goes on unpinned.
void apply_placement(const WorkerPlacement& placement);

// Tells the supervisor this worker accepts connections (writes to and closes the ready pipe).
void report_ready(WorkerSlot& slot);

}  // namespace hearth::process
