#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

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
