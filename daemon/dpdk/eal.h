// DPDK's Environment Abstraction Layer, initialised from the configuration (never from
// hard-coded arguments): which device, which memory, a per-instance file prefix so several
// daemons run side by side. Once per process.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "util/result.h"

namespace machnet::dpdk {

struct HugepageState {
  bool mounted = false;     // a hugetlbfs is mounted
  uint64_t free_pages = 0;  // HugePages_Free of the default size
  uint64_t page_kb = 2048;  // Hugepagesize, the default size
  uint64_t free_mb() const { return free_pages * page_kb / 1024; }
};

// What the host offers, from /proc/mounts and /proc/meminfo under `proc_root`.
HugepageState read_hugepage_state(const std::string& proc_root = "/proc");

// Whether DPDK gets hugepages for its `memory_mb`: "on" needs them, "off" never, "auto" when
// a hugetlbfs is mounted and enough pages are free for all of `memory_mb` (the EAL takes it
// all at start, and fails outright with fewer). Fails for "on" without, saying what to do.
Result<bool> decide_hugepages(Hugepages policy, const HugepageState& state, uint32_t memory_mb);

// The EAL argument vector for `config` (argv[0] included). Pure: unit-tested.
// `main_cpu` is the CPU the EAL's main lcore is bound to; `instance` names the file prefix.
std::vector<std::string> eal_arguments(const Config& config, bool use_hugepages, unsigned main_cpu,
                                       const std::string& instance);

// A file prefix unique to this daemon's admin socket path, stable across restarts.
std::string instance_name(const std::string& admin_socket);

struct EalInfo {
  bool hugepages = false;
  std::vector<std::string> arguments;
};

// Initialises the EAL for [nic] mode "pci" or "vdev". Errors say what failed and what to do.
Result<EalInfo> init_eal(const Config& config);

// Releases what init_eal took (rte_eal_cleanup). Safe to call when init_eal never ran.
void cleanup_eal();

}  // namespace machnet::dpdk
