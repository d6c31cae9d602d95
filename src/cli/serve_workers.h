#pragma once
// `hearth serve --workers N|auto`: this process becomes the supervisor of N worker processes
// (process/supervisor.h), each a `hearth serve` with the same options accepting on the one
// socket the supervisor opened; or, started by a supervisor, this process is one of them.
#include <optional>
#include <string>

#include "process/worker.h"
#include "server/server.h"

namespace hearth::cli {

// In a worker (the supervisor's variables are set): tags its log lines "worker N", pins it
// to its NUMA node when it has one, and returns its slot; otherwise nullopt. Call first.
std::optional<process::WorkerSlot> start_worker();

// The supervisor: `workers` is a count (1..256) or "auto" (one per NUMA node, pinned; one
// worker on a single-node machine); `threads` is --threads (0: each worker gets its share of
// the CPUs, or its node's). Opens the socket of options' host and port, runs the workers with
// this process's own command line, and returns when they have stopped. Throws hearth::Error.
void serve_workers(const std::string& workers, const server::ServerOptions& options, int threads);

}  // namespace hearth::cli
