#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

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
