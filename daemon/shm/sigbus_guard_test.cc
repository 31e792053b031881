// The SIGBUS guard (shm/sigbus_guard.h): a registered mapping whose pages vanish under it
// reads zeros and counts the fault instead of killing the process. A hugetlb pool cannot be
// emptied on demand in a unit test, so the vanishing is done the other way that raises
// SIGBUS: a file truncated under its mapping (the integration test test_hugepages.py does
// it with hugetlb holes for real).
#include "shm/sigbus_guard.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

namespace machnet::shm {
namespace {

TEST(SigbusGuard, AVanishedPageOfAGuardedMappingReadsZerosAndIsCounted) {
  install_sigbus_guard();
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const int fd = memfd_create("guard-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, static_cast<off_t>(4 * page)), 0);
  auto* base = static_cast<uint8_t*>(mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(base, MAP_FAILED);
  std::memset(base, 0xab, 4 * page);
  const int slot = sigbus_guard_add(base, 4 * page, page);
  ASSERT_GE(slot, 0);
  ASSERT_EQ(ftruncate(fd, static_cast<off_t>(page)), 0);  // pages 1..3 are gone
  EXPECT_EQ(base[0], 0xab);                                 // still backed
  volatile uint8_t* v = base;
  EXPECT_EQ(v[2 * page + 7], 0);  // SIGBUS without the guard
  v[3 * page] = 5;                // and writes go to the private zero page
  EXPECT_EQ(v[3 * page], 5);
  EXPECT_EQ(sigbus_guard_faults(slot), 2u);
  sigbus_guard_remove(slot);
  munmap(base, 4 * page);
  close(fd);
}

TEST(SigbusGuard, ASigbusOutsideEveryGuardedMappingStillKills) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's own SIGBUS handler reports and exits instead of dying by the signal";
#endif
  install_sigbus_guard();
  EXPECT_EXIT(
      {
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        const int fd = memfd_create("unguarded", MFD_CLOEXEC);
        if (ftruncate(fd, static_cast<off_t>(2 * page)) != 0) _exit(3);
        auto* p = static_cast<volatile uint8_t*>(mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED, fd, 0));
        if (ftruncate(fd, 0) != 0) _exit(3);
        (void)p[page];
        _exit(0);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

TEST(SigbusGuard, RemovedSlotsAreReused) {
  const int a = sigbus_guard_add(reinterpret_cast<const uint8_t*>(0x10000), 4096, 4096);
  ASSERT_GE(a, 0);
  sigbus_guard_remove(a);
  EXPECT_EQ(sigbus_guard_add(reinterpret_cast<const uint8_t*>(0x20000), 4096, 4096), a);
  sigbus_guard_remove(a);
  EXPECT_EQ(sigbus_guard_faults(-1), 0u);
}

}  // namespace
}  // namespace machnet::shm
