#pragma once
// The supervisor of `hearth serve --workers`: one process that starts N worker processes on
// one listening socket it opened (they all accept from its one queue, so a worker that stops
// or dies drops none of the connections still waiting there), and keeps them running:
//  - a worker that dies is started again, after 0 s, then 1 s, 2 s, ... up to max_backoff
//    while it keeps dying within a minute of its start;
//  - a worker that exits before it reports ready `max_start_failures` times in a row (bad
//    options, a model it cannot read) makes the supervisor stop every worker and fail with
//    an error saying so;
//  - SIGHUP replaces the workers one at a time: the new one starts, and once it is ready
//    the old one gets SIGQUIT (it stops accepting and finishes its requests) and the next
//    worker's turn comes when it has exited; a new worker that fails to start ends the
//    reload and the old ones keep serving;
//  - SIGTERM / SIGINT stop every worker (SIGTERM to each, SIGKILL after stop_timeout);
//    SIGQUIT drains them all (each finishes its requests) and then ends.
// It logs each start, ready, exit (status or signal) and restart.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "process/worker.h"

namespace hearth::process {

struct WorkerPlan {
    WorkerPlacement placement;
    // Extra environment of this worker (e.g. HEARTH_THREADS), added to the supervisor's own.
    std::vector<std::pair<std::string, std::string>> env;
};

struct SupervisorOptions {
    std::string program = "/proc/self/exe";  // what each worker runs
    std::vector<std::string> argv;           // its arguments, argv[0] first
    int listen_fd = -1;                      // the socket the workers share
    std::vector<WorkerPlan> workers;         // one entry per worker
    std::chrono::milliseconds start_timeout{300'000};  // not ready by then: a failed start
    int max_start_failures = 5;
    std::chrono::milliseconds max_backoff{30'000};
    std::chrono::milliseconds stop_timeout{30'000};
};

// Runs the workers until a signal stops them; returns normally after a clean stop. Throws
// hearth::Error when a worker keeps failing to start (after stopping the others).
void supervise(const SupervisorOptions& options);

}  // namespace hearth::process
