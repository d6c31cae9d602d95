#include "cli/serve_workers.h"

#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/log.h"
#include "core/log_tag.h"
#include "http/server.h"
#include "kernels/cpu.h"
#include "process/numa.h"
#include "process/supervisor.h"

namespace hearth::cli {

namespace {

constexpr int kMaxWorkers = 256;

// This process's command line as it was started: each worker runs it again.
std::vector<std::string> own_command_line() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    for (size_t start = 0; start < all.size();) {
        const size_t end = all.find('\0', start);
        args.push_back(all.substr(start, end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    if (args.empty()) throw Error("cannot read this process's command line from /proc/self/cmdline");
    return args;
}

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

// auto: one worker per NUMA node that has CPUs this process may use, pinned there; its
// threads default to what the pinning leaves it (kernels::cpu_budget reads the mask).
std::vector<process::WorkerPlan> plans_per_node() {
    const std::vector<int> allowed = allowed_cpus();
    std::vector<process::WorkerPlan> plans;
    // HEARTH_NUMA_ROOT: a folder holding a made-up sys/devices/system/node (tests).
    const char* root = std::getenv("HEARTH_NUMA_ROOT");
    for (const process::NumaNode& node : process::numa_nodes(root ? root : "")) {
        process::WorkerPlan plan;
        plan.placement.node = node.id;
        for (int cpu : node.cpus) {
            if (std::find(allowed.begin(), allowed.end(), cpu) != allowed.end())
                plan.placement.cpus.push_back(cpu);
        }
        if (!plan.placement.cpus.empty()) plans.push_back(std::move(plan));
    }
    if (plans.size() <= 1) {
        log::info("--workers auto: one NUMA node, so one worker (unpinned)");
        return {process::WorkerPlan{}};
    }
    log::info("--workers auto: {} NUMA nodes, one worker pinned to each", plans.size());
    return plans;
}

// N: N unpinned workers; without --threads each gets an equal share of the CPU budget, so the
// workers together run as many compute threads as one process would.
std::vector<process::WorkerPlan> plans_by_count(int count, int threads) {
    std::vector<process::WorkerPlan> plans(count);
    if (threads == 0) {
        const int share = std::max(1, kernels::cpu_budget().threads / count);
        for (process::WorkerPlan& p : plans) p.env.emplace_back("HEARTH_THREADS", std::to_string(share));
        log::info("compute threads per worker: {} ({} CPUs shared by {} workers; --threads overrides)",
                  share, kernels::cpu_budget().threads, count);
    }
    return plans;
}

std::vector<process::WorkerPlan> plan_workers(const std::string& workers, int threads) {
    if (workers == "auto") return plans_per_node();
    int count = 0;
    try {
        size_t used = 0;
        count = std::stoi(workers, &used);
        if (used != workers.size()) count = 0;
    } catch (const std::exception&) {
    }
    if (count < 1 || count > kMaxWorkers)
        throw Error("--workers " + workers + ": give a count from 1 to " + std::to_string(kMaxWorkers) +
                    ", or auto (one worker per NUMA node)");
    return plans_by_count(count, threads);
}

}  // namespace

std::optional<process::WorkerSlot> start_worker() {
    std::optional<process::WorkerSlot> slot = process::worker_from_environment();
    if (!slot) return slot;
    log::set_tag("worker " + std::to_string(slot->number));
    process::apply_placement(slot->placement);
    return slot;
}

void serve_workers(const std::string& workers, const server::ServerOptions& options, int threads) {
    log::set_tag("supervisor");
    process::SupervisorOptions supervisor;
    supervisor.workers = plan_workers(workers, threads);
    supervisor.argv = own_command_line();
    const std::string host = server::Server::listen_host(options);
    supervisor.listen_fd = http::open_listener(host, options.port);
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    int port = options.port;
    if (::getsockname(supervisor.listen_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
        port = ntohs(reinterpret_cast<sockaddr_in&>(address).sin_port);  // sin6_port sits alike
    log::info("listening on {}://{}:{} for {} worker process(es)",
              options.tls.cert_file.empty() ? "http" : "https", host, port, supervisor.workers.size());
    try {
        process::supervise(supervisor);
    } catch (...) {
        ::close(supervisor.listen_fd);
        throw;
    }
    ::close(supervisor.listen_fd);
}

}  // namespace hearth::cli
