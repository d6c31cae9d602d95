#pragma once
// One persistent pool of worker threads per engine context. The calling thread works too, as
// thread 0. Idle workers spin briefly (a decode step comes every few milliseconds) and then
// sleep, so a busy neighbour process is not starved by our spinning.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth::kernels {

class ThreadPool {
  public:
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Runs task(ith, nth) on all threads and returns when every one has finished.
    void run(const std::function<void(int ith, int nth)>& task);

    // Splits [0, n) into contiguous ranges, one per thread: body(begin, end). When the whole
    // job is smaller than `min_work_to_split` (in the caller's units of work, n * work_per_item),
    // it runs on the calling thread alone: waking workers costs more than tiny jobs take.
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body,
                      int64_t work_per_item = 1, int64_t min_work_to_split = 0);

    // Runs body(chunk) for every chunk in [0, n_chunks), each exactly once, on whichever
    // threads are running: chunks are claimed from a shared counter, and the call returns as
    // soon as all chunks are done, without waiting for a worker that has not started (another
    // process may hold its core). Unlike run(), a thread may do any number of chunks, even 0.
    // When jobs keep waiting milliseconds for a preempted worker's chunk (a busy process shares
    // the cores), the next jobs run on the calling thread alone for a while, then threads are
    // tried again. Call from one thread at a time (the pool's owner).
    void run_chunks(int64_t n_chunks, const std::function<void(int64_t chunk)>& body);

    // Inside a job: the running thread's index, 0 for the calling thread and 1 .. size()-1
    // for the workers (for per-thread scratch in run_chunks bodies). 0 outside any pool.
    static int thread_index();

    // Threads to use when the user did not say: what the affinity mask and the cgroup's CPU
    // quota allow (kernels/cpu.h, cpu_budget), at least 1.
    static int default_thread_count();

  private:
    void worker_loop(int ith);
    // Claims and runs chunks of job `job_id` until none are left or a newer job replaced it.
    void work_on_chunks(uint32_t job_id, const std::function<void(int64_t)>& body);
    // Records whether a run_chunks job waited long for a straggler; may start a solo period.
    void note_wait(bool straggled);
    bool solo() const;

    int n_threads_;
    std::vector<std::thread> workers_;
    const std::function<void(int, int)>* task_ = nullptr;
    // The current run_chunks job: body, and one atomic word packing (job id, chunk count, next
    // chunk) so that a late worker's claim fails unless it is for the job it read the body of.
    const std::function<void(int64_t)>* chunk_body_ = nullptr;
    std::atomic<uint64_t> chunk_counter_{0};
    std::atomic<int64_t> chunks_done_{0};
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    // Straggler bookkeeping of run_chunks (the calling thread's alone).
    int jobs_in_window_ = 0;
    int stragglers_ = 0;
    std::chrono::steady_clock::time_point solo_until_{};
};

}  // namespace hearth::kernels
