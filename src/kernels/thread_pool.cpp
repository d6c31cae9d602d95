#include "kernels/thread_pool.h"

#include <immintrin.h>

#include <chrono>

#include "kernels/cpu.h"

namespace hearth::kernels {

namespace {
// About 50-100 microseconds of polling before sleeping: long enough to catch the next matmul of
// the same forward pass, short enough not to steal a core from another process for long.
constexpr int kSpinIterations = 20000;

thread_local int this_thread_index = 0;

inline void cpu_relax() {
    _mm_pause();
}

// A wait this long at the end of a chunked job means a worker holding a chunk was preempted
// (a chunk takes tens of microseconds; the scheduler's time slices are milliseconds).
constexpr auto kStragglerWait = std::chrono::microseconds(1500);
// That many such waits within kStragglerWindow jobs: another process shares our cores, and the
// jobs of the next kSoloPeriod run on the calling thread alone, which is then faster than
// waiting for a worker that only runs in the other process's gaps. Then threads are tried again.
constexpr int kStragglersForSolo = 3;
constexpr int kStragglerWindow = 64;
constexpr auto kSoloPeriod = std::chrono::seconds(2);

// chunk_counter_ layout: job id (24 bits) | chunk count (20 bits) | next chunk (20 bits).
constexpr int kChunkBits = 20;
constexpr uint64_t kChunkMask = (uint64_t{1} << kChunkBits) - 1;
constexpr uint64_t kJobIdMask = (uint64_t{1} << 24) - 1;
constexpr int64_t kMaxChunks = static_cast<int64_t>(kChunkMask);

uint64_t pack_counter(uint64_t job_id, uint64_t n_chunks, uint64_t next) {
    return ((job_id & kJobIdMask) << (2 * kChunkBits)) | (n_chunks << kChunkBits) | next;
}
uint32_t counter_job(uint64_t v) {
    return static_cast<uint32_t>(v >> (2 * kChunkBits));
}
uint64_t counter_chunks(uint64_t v) {
    return (v >> kChunkBits) & kChunkMask;
}
uint64_t counter_next(uint64_t v) {
    return v & kChunkMask;
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_.store(true);
        generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

int ThreadPool::default_thread_count() {
    return cpu_budget().threads;
}

void ThreadPool::run(const std::function<void(int, int)>& task) {
    if (n_threads_ == 1) {
        task(0, 1);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        task_ = &task;
        chunk_body_ = nullptr;
        pending_.store(n_threads_ - 1);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    task(0, n_threads_);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
        if (spin < kSpinIterations) {
            cpu_relax();
        } else {
            std::unique_lock<std::mutex> lock(mutex_);
            done_.wait(lock, [&] { return pending_.load() == 0; });
        }
    }
}

int ThreadPool::thread_index() {
    return this_thread_index;
}

void ThreadPool::worker_loop(int ith) {
    this_thread_index = ith;
    uint64_t seen = 0;
    while (true) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
            cpu_relax();
            gen = generation_.load(std::memory_order_acquire);
        }
        if (gen == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load() != seen; });
            gen = generation_.load();
        }
        if (stop_.load()) return;
        // Read the generation and its job together: with run_chunks a worker may skip whole
        // jobs, so the job must be the one of the generation it records as seen.
        const std::function<void(int, int)>* task;
        const std::function<void(int64_t)>* chunk_body;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            seen = generation_.load();
            task = task_;
            chunk_body = chunk_body_;
        }
        if (stop_.load()) return;
        if (chunk_body) {
            work_on_chunks(static_cast<uint32_t>(seen & kJobIdMask), *chunk_body);
            continue;
        }
        if (!task) continue;  // a run_chunks job that finished before this worker got here
        (*task)(ith, n_threads_);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mutex_);
            done_.notify_one();
        }
    }
}

void ThreadPool::work_on_chunks(uint32_t job_id, const std::function<void(int64_t)>& body) {
    uint64_t v = chunk_counter_.load(std::memory_order_acquire);
    while (counter_job(v) == job_id && counter_next(v) < counter_chunks(v)) {
        // A successful claim pins the job: its caller cannot return before this chunk is done.
        if (chunk_counter_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
            body(static_cast<int64_t>(counter_next(v)));
            chunks_done_.fetch_add(1, std::memory_order_release);
            v = chunk_counter_.load(std::memory_order_acquire);
        }
    }
}

void ThreadPool::run_chunks(int64_t n_chunks, const std::function<void(int64_t)>& body) {
    if (n_chunks <= 0) return;
    if (n_threads_ == 1 || n_chunks == 1 || n_chunks > kMaxChunks || solo()) {
        for (int64_t c = 0; c < n_chunks; ++c) body(c);
        return;
    }
    uint32_t job_id;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        uint64_t gen = generation_.load() + 1;
        job_id = static_cast<uint32_t>(gen & kJobIdMask);
        task_ = nullptr;
        chunk_body_ = &body;
        chunks_done_.store(0, std::memory_order_relaxed);
        chunk_counter_.store(pack_counter(job_id, static_cast<uint64_t>(n_chunks), 0),
                             std::memory_order_release);
        generation_.store(gen, std::memory_order_release);
    }
    wake_.notify_all();
    work_on_chunks(job_id, body);
    // Only chunks that running threads have claimed remain; they finish in a chunk's time
    // unless their thread was preempted.
    const auto wait_start = std::chrono::steady_clock::now();
    for (int spin = 0; chunks_done_.load(std::memory_order_acquire) != n_chunks; ++spin) {
        if (spin < kSpinIterations)
            cpu_relax();
        else
            std::this_thread::yield();
    }
    note_wait(std::chrono::steady_clock::now() - wait_start > kStragglerWait);
    std::lock_guard<std::mutex> lock(mutex_);
    chunk_body_ = nullptr;  // late workers find no job (and the body's storage may go away)
}

bool ThreadPool::solo() const {
    return solo_until_ != std::chrono::steady_clock::time_point{} &&
           std::chrono::steady_clock::now() < solo_until_;
}

void ThreadPool::note_wait(bool straggled) {
    if (++jobs_in_window_ > kStragglerWindow) jobs_in_window_ = 1, stragglers_ = 0;
    if (!straggled || ++stragglers_ < kStragglersForSolo) return;
    solo_until_ = std::chrono::steady_clock::now() + kSoloPeriod;
    stragglers_ = 0;
    jobs_in_window_ = 0;
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body,
                              int64_t work_per_item, int64_t min_work_to_split) {
    if (n_threads_ == 1 || n * work_per_item < min_work_to_split) {
        if (n > 0) body(0, n);
        return;
    }
    run([&](int ith, int nth) {
        int64_t begin = n * ith / nth;
        int64_t end = n * (ith + 1) / nth;
        if (begin < end) body(begin, end);
    });
}

}  // namespace hearth::kernels
