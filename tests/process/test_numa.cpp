// CPU lists as Linux writes them, and the NUMA nodes of a made-up /sys tree.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "process/numa.h"
#include "process/worker.h"

namespace hearth::process {
namespace {

using Cpus = std::vector<int>;

TEST(CpuList, ReadsRangesAndSingles) {
    EXPECT_EQ(parse_cpu_list("0-3,8,10-11\n"), (Cpus{0, 1, 2, 3, 8, 10, 11}));
    EXPECT_EQ(parse_cpu_list("5"), (Cpus{5}));
    EXPECT_EQ(parse_cpu_list("\n"), Cpus{});  // a node with memory and no CPUs
    EXPECT_EQ(parse_cpu_list("4-5,0,4"), (Cpus{0, 4, 5}));
}

TEST(CpuList, RefusesWhatIsNotAList) {
    for (const char* bad : {"3-1", "a", "1,", "1-", "-2", "0,,1", "1 2"}) {
        try {
            parse_cpu_list(bad);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("bad CPU list"), std::string::npos) << e.what();
        }
    }
}

TEST(CpuList, FormatsTheShortestList) {
    EXPECT_EQ(format_cpu_list({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
    EXPECT_EQ(format_cpu_list({}), "");
    EXPECT_EQ(format_cpu_list({3}), "3");
    const Cpus cpus{0, 2, 3, 4, 9, 63, 64, 65};
    EXPECT_EQ(parse_cpu_list(format_cpu_list(cpus)), cpus);
}

class FakeSys : public ::testing::Test {
  protected:
    // One folder a process: CTest runs the tests of this fixture in parallel processes.
    std::filesystem::path root = std::filesystem::path(::testing::TempDir()) /
                                 ("hearth_fake_sys_" + std::to_string(::getpid()));
    void SetUp() override { std::filesystem::remove_all(root); }
    void TearDown() override { std::filesystem::remove_all(root); }
    void node(const std::string& name, const std::string& cpulist) {
        const auto dir = root / "sys/devices/system/node" / name;
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "cpulist") << cpulist;
    }
};

// A 2-socket box as Linux shows it (hyperthread siblings numbered after the cores), a node of
// memory only (CXL), and the files beside the node folders.
TEST_F(FakeSys, ListsNodesWithCpusInOrder) {
    node("node1", "4-7,12-15\n");
    node("node0", "0-3,8-11\n");
    node("node2", "\n");
    std::ofstream(root / "sys/devices/system/node/possible") << "0-2\n";
    const std::vector<NumaNode> nodes = numa_nodes(root.string());
    ASSERT_EQ(nodes.size(), 2u);
    EXPECT_EQ(nodes[0].id, 0);
    EXPECT_EQ(nodes[0].cpus, (Cpus{0, 1, 2, 3, 8, 9, 10, 11}));
    EXPECT_EQ(nodes[1].id, 1);
    EXPECT_EQ(nodes[1].cpus, (Cpus{4, 5, 6, 7, 12, 13, 14, 15}));
}

TEST_F(FakeSys, NoNodeFolderMeansNoNodes) {
    std::filesystem::create_directories(root / "sys/devices/system");
    EXPECT_TRUE(numa_nodes(root.string()).empty());
}

TEST(WorkerEnvironment, RoundTripsThroughTheEnvironment) {
    WorkerSlot slot;
    slot.number = 3;
    slot.listen_fd = 7;
    slot.ready_fd = 9;
    slot.placement = {1, {4, 5, 6, 7, 12}};
    for (const auto& [key, value] : worker_environment(slot)) ::setenv(key.c_str(), value.c_str(), 1);
    const std::optional<WorkerSlot> read = worker_from_environment();
    ASSERT_TRUE(read);
    EXPECT_EQ(read->number, 3);
    EXPECT_EQ(read->listen_fd, 7);
    EXPECT_EQ(read->ready_fd, 9);
    EXPECT_EQ(read->placement.node, 1);
    EXPECT_EQ(read->placement.cpus, (Cpus{4, 5, 6, 7, 12}));
    // Read once: the variables are gone, so nothing this worker starts thinks it is one.
    EXPECT_FALSE(worker_from_environment());
}

TEST(WorkerEnvironment, RefusesMalformedValues) {
    ::setenv("HEARTH_WORKER", "1", 1);
    ::setenv("HEARTH_WORKER_LISTEN_FD", "three", 1);
    ::setenv("HEARTH_WORKER_READY_FD", "4", 1);
    EXPECT_THROW(worker_from_environment(), Error);
    for (const char* v : {"HEARTH_WORKER", "HEARTH_WORKER_LISTEN_FD", "HEARTH_WORKER_READY_FD"}) ::unsetenv(v);
}

}  // namespace
}  // namespace hearth::process
