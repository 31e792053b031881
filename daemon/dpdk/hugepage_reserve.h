// [dpdk] reserve_hugepages: make sure N 2 MiB hugepages are free and a hugetlbfs is
// mounted before the EAL starts, as Debian's own dpdk.service does from
// /etc/dpdk/dpdk.conf, so that nobody has to do it by hand. Only ever adds pages (the
// shortfall); never takes pages away from the host.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "util/result.h"

namespace machnet::dpdk {

struct HugepageReservation {
  uint64_t free_before = 0;
  uint64_t free_after = 0;
  uint64_t requested = 0;  // pages added to nr_hugepages
  bool mounted = false;    // a hugetlbfs was mounted here
};

// Mounts a hugetlbfs at `mount_point` (creating it). The real one calls mount(2); tests
// pass their own.
using MountFn = std::function<Result<void>(const std::string& mount_point)>;
Result<void> mount_hugetlbfs(const std::string& mount_point);

// Reserves `pages` free 2 MiB pages (sysfs under `sysfs_root`) and mounts a hugetlbfs if
// /proc/mounts (under `proc_root`) shows none. Fails, saying what to do, when the kernel
// cannot give the pages (memory too fragmented or too small) or the mount fails.
Result<HugepageReservation> reserve_hugepages(uint32_t pages, const std::string& sysfs_root,
                                              const std::string& proc_root, const MountFn& mount = mount_hugetlbfs);

}  // namespace machnet::dpdk
