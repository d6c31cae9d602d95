// What usage accounting costs a request (plain program). Build: ninja -C build bench_usage
// Prints the time of UsageStore::add (what a request pays), of a flush of a second's worth of
// rows (the background thread's transaction), and of one UPSERT transaction per request (the
// alternative design: a write to the WAL file on every request).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "server/key_store.h"
#include "server/usage_store.h"

using namespace hearth::server;
using Clock = std::chrono::steady_clock;

static double micros_since(Clock::time_point t, int n) {
    return std::chrono::duration<double, std::micro>(Clock::now() - t).count() / n;
}

int main() {
    const auto dir = std::filesystem::temp_directory_path() / "hearth-bench-usage";
    std::filesystem::remove_all(dir);
    KeyStore keys((dir / "keys.db").string());
    // A long interval: only the explicit flushes below write.
    UsageStore usage(keys, std::chrono::hours(1));
    const int64_t now = 1796601600;
    auto event = [&](int i) {
        return UsageEvent{"hk_" + std::to_string(i % 50), "key" + std::to_string(i % 50),
                          "model" + std::to_string(i % 3), now, {1, 100, 20, 50, 0}};
    };
    constexpr int kAdds = 200000;
    auto t = Clock::now();
    for (int i = 0; i < kAdds; ++i) usage.add(event(i));
    std::printf("add (in memory):               %.3f us per request\n", micros_since(t, kAdds));
    t = Clock::now();
    usage.flush();
    std::printf("flush of 150 rows (1 tx):      %.3f ms\n", micros_since(t, 1) / 1000);
    constexpr int kWrites = 2000;
    t = Clock::now();
    for (int i = 0; i < kWrites; ++i) {
        usage.add(event(i));
        usage.flush();
    }
    std::printf("one UPSERT tx per request:     %.3f us per request\n", micros_since(t, kWrites));
    std::filesystem::remove_all(dir);
}
