#include "process/worker.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/log.h"
#include "process/numa.h"

namespace hearth::process {

namespace {

constexpr const char* kNumber = "HEARTH_WORKER";
constexpr const char* kListenFd = "HEARTH_WORKER_LISTEN_FD";
constexpr const char* kReadyFd = "HEARTH_WORKER_READY_FD";
constexpr const char* kNode = "HEARTH_WORKER_NODE";
constexpr const char* kCpus = "HEARTH_WORKER_CPUS";

// set_mempolicy(2)'s mode; libnuma's <numaif.h> has it, the syscall alone needs no library.
constexpr int kMpolBind = 2;

int read_int(const char* name, int low, int high) {
    const char* text = std::getenv(name);
    if (!text) throw Error(std::string(name) + " is missing (set by `hearth serve --workers`)");
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low || value > high)
        throw Error(std::string(name) + "=" + text + " is not a number from " +
                    std::to_string(low) + " to " + std::to_string(high));
    return static_cast<int>(value);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> worker_environment(const WorkerSlot& slot) {
    std::vector<std::pair<std::string, std::string>> vars = {
        {kNumber, std::to_string(slot.number)},
        {kListenFd, std::to_string(slot.listen_fd)},
        {kReadyFd, std::to_string(slot.ready_fd)},
    };
    if (slot.placement.node >= 0) vars.emplace_back(kNode, std::to_string(slot.placement.node));
    if (!slot.placement.cpus.empty()) vars.emplace_back(kCpus, format_cpu_list(slot.placement.cpus));
    return vars;
}

std::optional<WorkerSlot> worker_from_environment() {
    if (!std::getenv(kNumber)) return std::nullopt;
    WorkerSlot slot;
    slot.number = read_int(kNumber, 1, 4096);
    slot.listen_fd = read_int(kListenFd, 0, 1 << 20);
    slot.ready_fd = read_int(kReadyFd, 0, 1 << 20);
    if (std::getenv(kNode)) slot.placement.node = read_int(kNode, 0, 1023);
    if (const char* cpus = std::getenv(kCpus)) slot.placement.cpus = parse_cpu_list(cpus);
    for (const char* name : {kNumber, kListenFd, kReadyFd, kNode, kCpus}) ::unsetenv(name);
    return slot;
}

void apply_placement(const WorkerPlacement& placement) {
    if (!placement.cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int cpu : placement.cpus) {
            if (cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
        }
        if (::sched_setaffinity(0, sizeof set, &set) != 0)
            log::warn("cannot pin this worker to CPUs {}: {}; running unpinned",
                      format_cpu_list(placement.cpus), std::strerror(errno));
    }
    if (placement.node < 0) return;
    unsigned long nodes[1024 / (8 * sizeof(unsigned long))] = {};
    const size_t bits = 8 * sizeof(unsigned long);
    nodes[placement.node / bits] |= 1ul << (placement.node % bits);
    if (::syscall(SYS_set_mempolicy, kMpolBind, nodes, sizeof nodes * 8) != 0) {
        log::warn("cannot bind this worker's memory to NUMA node {}: {}; its memory may be remote",
                  placement.node, std::strerror(errno));
        return;
    }
    log::info("pinned to NUMA node {} (CPUs {}), its memory bound to the node", placement.node,
              format_cpu_list(placement.cpus));
}

void report_ready(WorkerSlot& slot) {
    if (slot.ready_fd < 0) return;
    const char ready = 'R';
    ssize_t n;
    do n = ::write(slot.ready_fd, &ready, 1);
    while (n < 0 && errno == EINTR);
    ::close(slot.ready_fd);
    slot.ready_fd = -1;
}

}  // namespace hearth::process
