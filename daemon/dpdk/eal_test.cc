// Covers: the EAL arguments derived from the configuration, and the hugepage decision from
// a fake /proc. Leaves out rte_eal_init itself (once per process; the integration tests
// start real daemons on virtual devices).
#include "dpdk/eal.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace machnet::dpdk {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Config vdev_config() {
  Config c;
  c.nic.mode = NicMode::kVdev;
  c.nic.vdev = "net_af_packet0,iface=mn0";
  c.dpdk.memory_mb = 256;
  return c;
}

TEST(EalArguments, VdevWithoutHugepages) {
  EXPECT_THAT(eal_arguments(vdev_config(), false, 1, "machnet-x"),
              ElementsAre("machnetd", "-l", "1", "--file-prefix", "machnet-x", "--no-huge", "-m", "256", "--no-pci",
                          "--vdev", "net_af_packet0,iface=mn0", "--no-telemetry", "--log-level=lib.eal:notice"));
}

TEST(EalArguments, PciWithHugepagesAndExtraArguments) {
  Config c;
  c.nic.mode = NicMode::kPci;
  c.nic.pci = PciAddress::parse("0000:00:08.0");
  c.dpdk.eal_args = {"--log-level=pmd,8"};
  c.daemon.log_level = LogLevel::kDebug;
  const auto args = eal_arguments(c, true, 0, "p");
  EXPECT_THAT(args, ElementsAre("machnetd", "-l", "0", "--file-prefix", "p", "--in-memory", "-m", "512", "-a",
                                "0000:00:08.0", "--no-telemetry", "--log-level=lib.eal:info", "--log-level=pmd,8"));
}

TEST(EalArguments, InstanceNameIsStablePerSocket) {
  EXPECT_EQ(instance_name("/run/machnet/machnetctl.sock"), instance_name("/run/machnet/machnetctl.sock"));
  EXPECT_NE(instance_name("/run/a.sock"), instance_name("/run/b.sock"));
  EXPECT_EQ(instance_name("/x").rfind("machnet-", 0), 0u);
}

class HugepageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/machnet-proc-XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(root_ + "/" + name) << text; }
  std::string root_;
};

TEST_F(HugepageTest, MountedAndFree) {
  write("mounts", "sysfs /sys sysfs rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw,pagesize=2M 0 0\n");
  write("meminfo", "MemTotal: 100 kB\nHugePages_Total:     512\nHugePages_Free:      300\nHugepagesize:       2048 kB\n");
  const auto state = read_hugepage_state(root_);
  EXPECT_TRUE(state.mounted);
  EXPECT_EQ(state.free_pages, 300u);
  EXPECT_EQ(state.free_mb(), 600u);
  EXPECT_TRUE(*decide_hugepages(Hugepages::kAuto, state, 512));
  EXPECT_TRUE(*decide_hugepages(Hugepages::kOn, state, 512));
  EXPECT_FALSE(*decide_hugepages(Hugepages::kOff, state, 512));
}

// The EAL takes all of memory_mb at start and fails outright with fewer pages free
// ("Not enough memory available! Requested: 512MB, available: 100MB"), so "auto" must not
// pick hugepages that cannot hold it: a second daemon on a host whose pages the first took
// would not start.
TEST_F(HugepageTest, TooFewFreeForMemoryMb) {
  write("mounts", "hugetlbfs /dev/hugepages hugetlbfs rw 0 0\n");
  write("meminfo", "HugePages_Free:       50\nHugepagesize:       2048 kB\n");
  const auto state = read_hugepage_state(root_);
  EXPECT_FALSE(*decide_hugepages(Hugepages::kAuto, state, 512));
  EXPECT_TRUE(*decide_hugepages(Hugepages::kAuto, state, 100));
  const auto on = decide_hugepages(Hugepages::kOn, state, 512);
  ASSERT_FALSE(on);
  EXPECT_THAT(on.error().message, HasSubstr("only 100 MB of hugepages are free"));
  EXPECT_THAT(on.error().message, HasSubstr("memory_mb = 512 needs 256 pages of 2048 kB"));
}

TEST_F(HugepageTest, GigabytePagesCountBySize) {
  write("mounts", "hugetlbfs /dev/hugepages hugetlbfs rw,pagesize=1G 0 0\n");
  write("meminfo", "HugePages_Free:        1\nHugepagesize:    1048576 kB\n");
  const auto state = read_hugepage_state(root_);
  EXPECT_EQ(state.free_mb(), 1024u);
  EXPECT_TRUE(*decide_hugepages(Hugepages::kAuto, state, 512));
  EXPECT_FALSE(*decide_hugepages(Hugepages::kAuto, state, 2048));
}

TEST_F(HugepageTest, NoneFree) {
  write("mounts", "hugetlbfs /dev/hugepages hugetlbfs rw 0 0\n");
  write("meminfo", "HugePages_Free:        0\n");
  const auto state = read_hugepage_state(root_);
  EXPECT_FALSE(*decide_hugepages(Hugepages::kAuto, state, 512));
  const auto on = decide_hugepages(Hugepages::kOn, state, 512);
  ASSERT_FALSE(on);
  EXPECT_THAT(on.error().message, HasSubstr("no hugepages are free"));
  EXPECT_THAT(on.error().message, HasSubstr("hugepages = \"auto\" or \"off\""));
}

TEST_F(HugepageTest, NotMounted) {
  write("mounts", "proc /proc proc rw 0 0\n");
  write("meminfo", "HugePages_Free:      100\n");
  const auto state = read_hugepage_state(root_);
  EXPECT_FALSE(state.mounted);
  EXPECT_FALSE(*decide_hugepages(Hugepages::kAuto, state, 512));
  EXPECT_THAT(decide_hugepages(Hugepages::kOn, state, 512).error().message, HasSubstr("no hugetlbfs is mounted"));
}

}  // namespace
}  // namespace machnet::dpdk
