#include "dpdk/hugepage_reserve.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "dpdk/eal.h"

namespace machnet::dpdk {
namespace {

constexpr const char* kTwoMegDir = "/kernel/mm/hugepages/hugepages-2048kB";
constexpr const char* kMountPoint = "/dev/hugepages";

bool read_number(const std::string& path, uint64_t* out) {
  std::ifstream f(path);
  return static_cast<bool>(f >> *out);
}

}  // namespace

Result<void> mount_hugetlbfs(const std::string& mount_point) {
  std::error_code ec;
  std::filesystem::create_directories(mount_point, ec);
  if (::mount("nodev", mount_point.c_str(), "hugetlbfs", 0, "pagesize=2M") != 0)
    return make_error(fmt::format("cannot mount hugetlbfs at {}: {}", mount_point, std::strerror(errno)));
  return {};
}

Result<HugepageReservation> reserve_hugepages(uint32_t pages, const std::string& sysfs_root,
                                              const std::string& proc_root, const MountFn& mount) {
  HugepageReservation r;
  const std::string dir = sysfs_root + kTwoMegDir;
  uint64_t total = 0;
  if (!read_number(dir + "/nr_hugepages", &total) || !read_number(dir + "/free_hugepages", &r.free_before))
    return make_error(fmt::format("[dpdk] reserve_hugepages: this kernel has no 2 MiB hugepages ({} unreadable)", dir));
  r.free_after = r.free_before;
  if (r.free_before < pages) {
    r.requested = pages - r.free_before;
    std::ofstream nr(dir + "/nr_hugepages");
    nr << total + r.requested << '\n';
    nr.close();
    if (!nr)
      return make_error(fmt::format("[dpdk] reserve_hugepages: cannot write {}/nr_hugepages (run as root)", dir));
    read_number(dir + "/free_hugepages", &r.free_after);
    if (r.free_after < pages)
      return make_error(fmt::format(
          "[dpdk] reserve_hugepages = {}: the kernel gave only {} free 2 MiB pages (memory too small or "
          "fragmented); lower the number, reserve at boot (hugepages= on the kernel command line), or set "
          "[dpdk] hugepages = \"off\"",
          pages, r.free_after));
  }
  if (!read_hugepage_state(proc_root).mounted) {
    if (auto m = mount(kMountPoint); !m) return make_error(fmt::format("[dpdk] reserve_hugepages: {}", m.error().message));
    r.mounted = true;
  }
  return r;
}

}  // namespace machnet::dpdk
