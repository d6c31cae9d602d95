#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/thread_pool.h"

using hearth::kernels::ThreadPool;

TEST(ThreadPool, EveryThreadRunsEachTaskOnce) {
    for (int n : {1, 2, 4}) {
        ThreadPool pool(n);
        for (int round = 0; round < 200; ++round) {
            std::vector<std::atomic<int>> hits(n);
            pool.run([&](int ith, int nth) {
                EXPECT_EQ(nth, n);
                hits[ith]++;
            });
            for (auto& h : hits) ASSERT_EQ(h.load(), 1);
        }
    }
}

TEST(ThreadPool, ParallelForCoversTheRangeExactlyOnce) {
    ThreadPool pool(3);
    std::vector<int> seen(1001, 0);
    pool.parallel_for(1001, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) seen[i]++;
    });
    for (int v : seen) ASSERT_EQ(v, 1);
}

TEST(ThreadPool, WorksAfterWorkersFellAsleep) {
    ThreadPool pool(2);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the spin phase
    std::atomic<int> count{0};
    pool.run([&](int, int) { count++; });
    EXPECT_EQ(count.load(), 2);
}

TEST(ThreadPool, ThreadIndexNamesTheRunningThread) {
    ThreadPool pool(3);
    EXPECT_EQ(ThreadPool::thread_index(), 0);
    for (int round = 0; round < 100; ++round) {
        std::vector<std::atomic<int>> by_thread(3);
        pool.run_chunks(64, [&](int64_t) {
            const int i = ThreadPool::thread_index();
            ASSERT_GE(i, 0);
            ASSERT_LT(i, 3);
            by_thread[i]++;
        });
        int total = 0;
        for (auto& n : by_thread) total += n.load();
        ASSERT_EQ(total, 64);
    }
    std::atomic<int> wrong{0};
    pool.run([&](int ith, int) { wrong += ThreadPool::thread_index() != ith; });
    EXPECT_EQ(wrong.load(), 0);
}

// A worker that keeps the caller waiting milliseconds for its chunk (as when another process
// preempts it) makes the pool run the following jobs on the calling thread alone.
TEST(ThreadPool, StragglingWorkersMakeLaterJobsRunOnTheCaller) {
    ThreadPool pool(2);
    for (int job = 0; job < 3; ++job) {
        std::atomic<bool> worker_has_a_chunk{false};
        pool.run_chunks(2, [&](int64_t) {
            if (ThreadPool::thread_index() != 0) {
                worker_has_a_chunk = true;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                return;
            }
            // The caller holds its chunk until the worker has claimed the other one.
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (!worker_has_a_chunk && std::chrono::steady_clock::now() < give_up)
                std::this_thread::yield();
        });
        ASSERT_TRUE(worker_has_a_chunk) << "the worker never took a chunk";
    }
    std::atomic<int> on_workers{0};
    pool.run_chunks(100, [&](int64_t) {
        on_workers += ThreadPool::thread_index() != 0;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    });
    EXPECT_EQ(on_workers.load(), 0);
}

// ---- the default thread count fits the box (kernels/cpu.h, cpu_budget) ----

namespace {

// A fake file-system root holding /proc/self/cgroup and cgroup files, as a container sees them.
struct FakeRoot {
    std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                ("hearth-cpu-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(reinterpret_cast<uintptr_t>(this)));
    void write(const std::string& path, const std::string& text) {
        std::filesystem::create_directories((dir / path.substr(1)).parent_path());
        std::ofstream(dir / path.substr(1)) << text << "\n";
    }
    ~FakeRoot() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST(CpuBudget, CgroupV2CpuMaxLines) {
    EXPECT_EQ(hearth::kernels::parse_cgroup2_cpu_max("max 100000"), std::nullopt);
    EXPECT_DOUBLE_EQ(*hearth::kernels::parse_cgroup2_cpu_max("100000 100000"), 1.0);
    EXPECT_DOUBLE_EQ(*hearth::kernels::parse_cgroup2_cpu_max("150000 100000"), 1.5);
    EXPECT_DOUBLE_EQ(*hearth::kernels::parse_cgroup2_cpu_max("50000 200000"), 0.25);
    EXPECT_EQ(hearth::kernels::parse_cgroup2_cpu_max(""), std::nullopt);
    EXPECT_EQ(hearth::kernels::parse_cgroup2_cpu_max("garbage"), std::nullopt);
}

TEST(CpuBudget, QuotaOnTheCgroupOrAParentRoundsUp) {
    using hearth::kernels::cpu_budget_at;
    FakeRoot root;
    root.write("/proc/self/cgroup", "0::/kubepods/pod1/ctr");
    root.write("/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000");
    root.write("/sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000");  // the pod's limit
    const auto b = cpu_budget_at(root.dir.string(), 8);
    EXPECT_EQ(b.threads, 2);  // 1.5 CPUs: two threads, each throttled to 75%
    ASSERT_TRUE(b.quota_cpus);
    EXPECT_DOUBLE_EQ(*b.quota_cpus, 1.5);
    EXPECT_NE(b.reason.find("quota of 1.5"), std::string::npos) << b.reason;

    root.write("/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "100000 100000");  // "cpu.max 100000 100000"
    EXPECT_EQ(cpu_budget_at(root.dir.string(), 8).threads, 1);
    // A quota above the affinity mask leaves the mask in charge.
    root.write("/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000");
    root.write("/sys/fs/cgroup/kubepods/pod1/cpu.max", "800000 100000");
    const auto wide = cpu_budget_at(root.dir.string(), 2);
    EXPECT_EQ(wide.threads, 2);
    EXPECT_NE(wide.reason.find("affinity"), std::string::npos) << wide.reason;
}

TEST(CpuBudget, CgroupV1QuotaAndNoQuota) {
    using hearth::kernels::cpu_budget_at;
    FakeRoot root;
    root.write("/proc/self/cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/");
    root.write("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000");
    root.write("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000");
    EXPECT_EQ(cpu_budget_at(root.dir.string(), 4).threads, 1);
    root.write("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1");  // no quota
    const auto none = cpu_budget_at(root.dir.string(), 4);
    EXPECT_EQ(none.threads, 4);
    EXPECT_FALSE(none.quota_cpus);
    // No cgroup files at all (not Linux-like): the affinity mask alone.
    FakeRoot empty;
    EXPECT_EQ(cpu_budget_at(empty.dir.string(), 3).threads, 3);
}

TEST(CpuBudget, ARealAffinityMaskOfOneCpuGivesOneThread) {
    // In a child process (the budget is cached per process), pinned to one CPU as `taskset -c 0`.
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        if (sched_setaffinity(0, sizeof(one), &one) != 0) _exit(2);
        _exit(hearth::kernels::ThreadPool::default_thread_count() == 1 ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}
