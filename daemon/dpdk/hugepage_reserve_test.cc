// reserve_hugepages against a fake sysfs/procfs tree: it adds only the shortfall, mounts
// only when nothing is mounted, and says what to do when the kernel cannot give the pages.
#include "dpdk/hugepage_reserve.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <unistd.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace machnet::dpdk {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class HugepageReserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / fmt::format("mn-huge-{}", ::getpid());
    fs::create_directories(dir());
    fs::create_directories(root_ / "proc");
    write(root_ / "proc/mounts", "proc /proc proc rw 0 0\n");
    write(root_ / "proc/meminfo", "HugePages_Free:        0\n");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path dir() const { return root_ / "sys/kernel/mm/hugepages/hugepages-2048kB"; }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  static uint64_t read(const fs::path& p) {
    uint64_t v = 0;
    std::ifstream(p) >> v;
    return v;
  }
  Result<HugepageReservation> reserve(uint32_t pages) {
    return reserve_hugepages(pages, (root_ / "sys").string(), (root_ / "proc").string(), [this](const std::string& at) {
      mounted_at_ = at;
      return Result<void>{};
    });
  }

  fs::path root_;
  std::string mounted_at_;
};

TEST_F(HugepageReserveTest, AddsOnlyTheShortfallAndMountsWhenNothingIs) {
  write(dir() / "nr_hugepages", "10\n");
  write(dir() / "free_hugepages", "64\n");  // the fake kernel "already" has them free
  auto r = reserve(64);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->requested, 0u);
  EXPECT_EQ(read(dir() / "nr_hugepages"), 10u) << "enough were free: the host's setting stays";
  EXPECT_TRUE(r->mounted);
  EXPECT_EQ(mounted_at_, "/dev/hugepages");
}

TEST_F(HugepageReserveTest, RaisesNrHugepagesByWhatIsMissing) {
  write(dir() / "nr_hugepages", "10\n");
  write(dir() / "free_hugepages", "4\n");
  write(root_ / "proc/mounts", "hugetlbfs /dev/hugepages hugetlbfs rw,pagesize=2M 0 0\n");
  auto r = reserve(64);
  EXPECT_EQ(read(dir() / "nr_hugepages"), 70u);
  // A fake sysfs does not grow free_hugepages: that is the "kernel could not" path.
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("gave only 4 free"));
  EXPECT_THAT(r.error().message, HasSubstr("hugepages = \"off\""));
  EXPECT_TRUE(mounted_at_.empty()) << "a hugetlbfs was mounted already";
}

TEST_F(HugepageReserveTest, NoTwoMegPagesIsAClearError) {
  fs::remove_all(dir());
  auto r = reserve(8);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("no 2 MiB hugepages"));
}

}  // namespace
}  // namespace machnet::dpdk
