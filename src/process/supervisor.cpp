#include "process/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "core/log.h"

extern char** environ;

namespace hearth::process {

namespace {

using Clock = std::chrono::steady_clock;

// A worker that dies sooner than this after its start counts as failing again.
constexpr auto kQuickCrash = std::chrono::seconds(60);

std::string describe_exit(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char* name = sigabbrev_np(sig);
        return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
    }
    return "ended (status " + std::to_string(status) + ")";
}

// Command line and environment as exec wants them, built before fork (the child may only
// call async-signal-safe functions).
struct ExecImage {
    std::vector<std::string> strings;
    std::vector<char*> argv, envp;
};

class Supervisor {
  public:
    explicit Supervisor(const SupervisorOptions& o) : o_(o), slots_(o.workers.size()) {}

    void run();

  private:
    struct Child {
        size_t slot = 0;
        pid_t pid = -1;
        int ready_fd = -1;  // read end of its ready pipe; -1 once read
        Clock::time_point started;
        bool ready = false;
        bool replacement = false;  // started by a reload; the slot's old worker serves meanwhile
        bool draining = false;     // told to finish its requests and exit
    };
    struct Slot {
        int start_failures = 0;  // exits before ready, in a row
        int quick_crashes = 0;   // deaths soon after start, in a row
        std::optional<Clock::time_point> restart_at;
    };

    const SupervisorOptions& o_;
    std::vector<Slot> slots_;
    std::vector<Child> children_;
    int signal_fd_ = -1;
    bool stopping_ = false;
    std::optional<Clock::time_point> kill_at_;
    std::string failure_;         // set when giving up
    bool reloading_ = false;
    size_t reload_next_ = 0;      // the next slot a reload replaces
    pid_t reload_waits_for_ = -1;  // the draining worker the reload waits for, or the new one

    void spawn(size_t slot, bool replacement);
    void on_signal(int sig);
    void on_ready(Child& c);
    void on_exit(pid_t pid, int status);
    void after_death(const Child& c, const std::string& how);
    void reload_step();
    void stop_all(int sig);
    void run_timers();
    int poll_timeout() const;
    std::string name(const Child& c) const {
        return "worker " + std::to_string(c.slot + 1) + " (pid " + std::to_string(c.pid) + ")";
    }
};

ExecImage exec_image(const SupervisorOptions& o, const WorkerSlot& slot, const WorkerPlan& plan) {
    ExecImage image;
    std::vector<std::pair<std::string, std::string>> vars = worker_environment(slot);
    for (const auto& v : plan.env) vars.push_back(v);
    for (const std::string& a : o.argv) image.strings.push_back(a);
    const size_t args = image.strings.size();
    for (char** e = environ; *e; ++e) {
        const std::string_view entry(*e);
        const bool replaced = std::any_of(vars.begin(), vars.end(), [&](const auto& v) {
            return entry.substr(0, entry.find('=')) == v.first;
        });
        if (!replaced) image.strings.emplace_back(entry);
    }
    for (const auto& [key, value] : vars) image.strings.push_back(key + "=" + value);
    for (size_t i = 0; i < image.strings.size(); ++i)
        (i < args ? image.argv : image.envp).push_back(image.strings[i].data());
    image.argv.push_back(nullptr);
    image.envp.push_back(nullptr);
    return image;
}

void Supervisor::spawn(size_t slot, bool replacement) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
    WorkerSlot ws;
    ws.number = static_cast<int>(slot + 1);
    ws.listen_fd = o_.listen_fd;
    ws.ready_fd = pipe_fds[1];
    ws.placement = o_.workers[slot].placement;
    ExecImage image = exec_image(o_, ws, o_.workers[slot]);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        throw Error(std::string("cannot start a worker: fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // The child: only async-signal-safe calls until exec.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the mask would survive exec
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);          // a worker ends with its supervisor
        if (::getppid() != parent) ::_exit(1);
        ::fcntl(o_.listen_fd, F_SETFD, 0);
        ::fcntl(pipe_fds[1], F_SETFD, 0);
        ::execve(o_.program.c_str(), image.argv.data(), image.envp.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    Child c;
    c.slot = slot;
    c.pid = pid;
    c.ready_fd = pipe_fds[0];
    c.started = Clock::now();
    c.replacement = replacement;
    children_.push_back(c);
    slots_[slot].restart_at.reset();
    log::info("started worker {} (pid {}){}", slot + 1, pid, replacement ? " to replace the running one" : "");
}

void Supervisor::on_ready(Child& c) {
    char byte = 0;
    const ssize_t n = ::read(c.ready_fd, &byte, 1);
    ::close(c.ready_fd);
    c.ready_fd = -1;
    if (n != 1) return;  // it closed the pipe without a word: it is exiting, SIGCHLD follows
    c.ready = true;
    slots_[c.slot].start_failures = 0;
    log::info("{} ready", name(c));
    if (!c.replacement) return;
    c.replacement = false;
    const pid_t fresh = c.pid;
    const size_t slot = c.slot;
    for (Child& old : children_) {
        if (old.slot != slot || old.pid == fresh || old.draining || old.replacement) continue;
        old.draining = true;
        ::kill(old.pid, SIGQUIT);
        log::info("{} draining: finishing its requests, replaced by pid {}", name(old), fresh);
        if (reloading_ && reload_waits_for_ == fresh) reload_waits_for_ = old.pid;
    }
    if (reloading_ && reload_waits_for_ == fresh) {
        reload_waits_for_ = -1;  // the old one had already gone
        reload_step();
    }
}

void Supervisor::on_exit(pid_t pid, int status) {
    auto it = std::find_if(children_.begin(), children_.end(), [&](const Child& c) { return c.pid == pid; });
    if (it == children_.end()) return;
    const Child c = *it;
    children_.erase(it);
    if (c.ready_fd >= 0) ::close(c.ready_fd);
    const std::string how = describe_exit(status);
    if (stopping_ || c.draining) {
        log::info("{} {}", name(c), how);
    } else {
        log::warn("{} {}{}", name(c), how, c.ready ? "" : " before it was ready");
        after_death(c, how);
    }
    if (reloading_ && reload_waits_for_ == pid) {
        reload_waits_for_ = -1;
        if (!c.draining && !c.ready) {
            log::error("reload stopped: the new worker {} did not start; the running workers "
                       "keep serving",
                       c.slot + 1);
            reloading_ = false;
            return;
        }
        reload_step();
    }
}

// A worker that was meant to keep serving has died: start it again, or give up when it
// cannot start at all.
void Supervisor::after_death(const Child& c, const std::string& how) {
    Slot& slot = slots_[c.slot];
    const bool replaced = std::any_of(children_.begin(), children_.end(),
                                      [&](const Child& o) { return o.slot == c.slot && !o.draining; });
    if (c.replacement || replaced) return;  // a reload's new worker failed, or another serves the slot
    if (!c.ready && ++slot.start_failures >= o_.max_start_failures) {
        failure_ = "worker " + std::to_string(c.slot + 1) + " failed to start " +
                   std::to_string(slot.start_failures) + " times in a row (the last one " + how +
                   "); see its log lines above";
        log::error("{}: stopping", failure_);
        return stop_all(SIGTERM);
    }
    const bool quick = Clock::now() - c.started < kQuickCrash;
    slot.quick_crashes = quick ? slot.quick_crashes + 1 : 1;
    const int n = std::max(slot.quick_crashes, slot.start_failures);
    auto delay = std::chrono::milliseconds(0);
    if (n > 1) delay = std::min(o_.max_backoff, std::chrono::milliseconds(1000LL << std::min(n - 2, 20)));
    slot.restart_at = Clock::now() + delay;
    log::info("restarting worker {} in {} ms", c.slot + 1, delay.count());
}

void Supervisor::reload_step() {
    if (stopping_) return;
    if (reload_next_ >= slots_.size()) {
        reloading_ = false;
        log::info("reload done: every worker replaced");
        return;
    }
    const size_t slot = reload_next_++;
    spawn(slot, true);
    reload_waits_for_ = children_.back().pid;
}

void Supervisor::stop_all(int sig) {
    stopping_ = true;
    reloading_ = false;
    for (Slot& s : slots_) s.restart_at.reset();
    for (Child& c : children_) ::kill(c.pid, sig);
    if (!kill_at_) kill_at_ = Clock::now() + o_.stop_timeout;
}

void Supervisor::on_signal(int sig) {
    if (sig == SIGCHLD) {
        int status = 0;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) on_exit(pid, status);
        return;
    }
    if (sig == SIGHUP) {
        if (stopping_) return;
        if (reloading_) return log::info("SIGHUP: a reload is already under way");
        log::info("SIGHUP: replacing the workers one at a time");
        reloading_ = true;
        reload_next_ = 0;
        return reload_step();
    }
    log::info("received {}, {} the workers", sig == SIGQUIT ? "SIGQUIT" : sig == SIGINT ? "SIGINT" : "SIGTERM",
              sig == SIGQUIT ? "draining" : "stopping");
    stop_all(sig == SIGQUIT ? SIGQUIT : SIGTERM);
    if (sig == SIGQUIT) kill_at_.reset();  // a drain takes as long as the requests take
}

void Supervisor::run_timers() {
    const auto now = Clock::now();
    if (kill_at_ && now >= *kill_at_) {
        for (Child& c : children_) {
            log::warn("{} still running {} s after the stop: killing it", name(c),
                      std::chrono::duration_cast<std::chrono::seconds>(o_.stop_timeout).count());
            ::kill(c.pid, SIGKILL);
        }
        kill_at_ = now + o_.stop_timeout;
    }
    for (Child& c : children_) {
        if (!c.ready && !c.draining && now - c.started >= o_.start_timeout) {
            log::warn("{} not ready after {} s: killing it", name(c),
                      std::chrono::duration_cast<std::chrono::seconds>(o_.start_timeout).count());
            ::kill(c.pid, SIGKILL);
            c.started = now;  // killed once; its exit counts as a failed start
        }
    }
    for (size_t i = 0; i < slots_.size(); ++i) {
        if (!stopping_ && slots_[i].restart_at && now >= *slots_[i].restart_at) spawn(i, false);
    }
}

int Supervisor::poll_timeout() const {
    std::optional<Clock::time_point> next = kill_at_;
    auto earliest = [&](Clock::time_point t) { if (!next || t < *next) next = t; };
    for (const Slot& s : slots_) if (s.restart_at) earliest(*s.restart_at);
    for (const Child& c : children_) if (!c.ready && !c.draining) earliest(c.started + o_.start_timeout);
    if (!next) return -1;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*next - Clock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(wait + 1, 0, 60'000));
}

void Supervisor::run() {
    sigset_t handled;
    sigemptyset(&handled);
    for (int sig : {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT}) sigaddset(&handled, sig);
    sigset_t previous;
    ::sigprocmask(SIG_BLOCK, &handled, &previous);
    signal_fd_ = ::signalfd(-1, &handled, SFD_CLOEXEC);
    if (signal_fd_ < 0) throw Error(std::string("signalfd: ") + std::strerror(errno));
    for (size_t i = 0; i < slots_.size(); ++i) spawn(i, false);
    while (!stopping_ || !children_.empty()) {
        std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
        std::vector<pid_t> owners{-1};
        for (const Child& c : children_) {
            if (c.ready_fd < 0) continue;
            fds.push_back({c.ready_fd, POLLIN, 0});
            owners.push_back(c.pid);
        }
        const int n = ::poll(fds.data(), fds.size(), poll_timeout());
        if (n < 0 && errno != EINTR) throw Error(std::string("poll: ") + std::strerror(errno));
        if (n > 0 && (fds[0].revents & POLLIN)) {
            signalfd_siginfo info{};
            if (::read(signal_fd_, &info, sizeof info) == sizeof info) on_signal(static_cast<int>(info.ssi_signo));
        }
        for (size_t i = 1; n > 0 && i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            for (Child& c : children_) {
                if (c.pid == owners[i] && c.ready_fd >= 0) {
                    on_ready(c);
                    break;
                }
            }
        }
        run_timers();
    }
    ::close(signal_fd_);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    if (!failure_.empty()) throw Error(failure_);
    log::info("every worker has stopped");
}

}  // namespace

void supervise(const SupervisorOptions& options) {
    if (options.workers.empty()) throw Error("no workers to supervise");
    Supervisor(options).run();
}

}  // namespace hearth::process
