#include "dpdk/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <sched.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "dpdk/hugepage_reserve.h"

namespace machnet::dpdk {
namespace {

bool g_eal_initialised = false;

const char* eal_log_level(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "debug";
    case LogLevel::kDebug: return "info";
    case LogLevel::kInfo: return "notice";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
    case LogLevel::kCritical: return "critical";
  }
  return "notice";
}

unsigned first_allowed_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set)) return cpu;
  }
  return 0;
}

}  // namespace

HugepageState read_hugepage_state(const std::string& proc_root) {
  HugepageState state;
  std::ifstream mounts(proc_root + "/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, mountpoint, type;
    fields >> device >> mountpoint >> type;
    if (type == "hugetlbfs") state.mounted = true;
  }
  std::ifstream meminfo(proc_root + "/meminfo");
  while (std::getline(meminfo, line)) {
    if (line.rfind("HugePages_Free:", 0) == 0) state.free_pages = std::stoull(line.substr(15));
    if (line.rfind("Hugepagesize:", 0) == 0) state.page_kb = std::stoull(line.substr(13));
  }
  return state;
}

Result<bool> decide_hugepages(Hugepages policy, const HugepageState& state, uint32_t memory_mb) {
  const bool enough = state.mounted && state.free_mb() >= memory_mb;
  switch (policy) {
    case Hugepages::kOff: return false;
    case Hugepages::kAuto: return enough;
    case Hugepages::kOn:
      if (enough) return true;
      if (!state.mounted)
        return make_error(
            "[dpdk] hugepages = \"on\" but no hugetlbfs is mounted: mount one, or reserve pages with "
            "[dpdk] reserve_hugepages, or set [dpdk] hugepages = \"auto\" or \"off\"");
      return make_error(fmt::format(
          "[dpdk] hugepages = \"on\" but {}: [dpdk] memory_mb = {} needs {} pages of {} kB; reserve pages "
          "(e.g. [dpdk] reserve_hugepages = {}), lower memory_mb, or set [dpdk] hugepages = \"auto\" or \"off\"",
          state.free_pages == 0 ? std::string("no hugepages are free")
                                : fmt::format("only {} MB of hugepages are free", state.free_mb()),
          memory_mb, (uint64_t{memory_mb} * 1024 + state.page_kb - 1) / state.page_kb, state.page_kb,
          (uint64_t{memory_mb} * 1024 + 2047) / 2048));
  }
  return false;
}

std::string instance_name(const std::string& admin_socket) {
  return fmt::format("machnet-{:08x}", static_cast<uint32_t>(std::hash<std::string>{}(admin_socket)));
}

std::vector<std::string> eal_arguments(const Config& config, bool use_hugepages, unsigned main_cpu,
                                       const std::string& instance) {
  std::vector<std::string> args = {"machnetd", "-l", std::to_string(main_cpu), "--file-prefix", instance};
  if (use_hugepages) {
    // In-memory: no shared files under /var/run/dpdk or hugetlbfs that a crash could leave.
    args.insert(args.end(), {"--in-memory", "-m", std::to_string(config.dpdk.memory_mb)});
  } else {
    args.insert(args.end(), {"--no-huge", "-m", std::to_string(config.dpdk.memory_mb)});
  }
  if (config.nic.mode == NicMode::kVdev) {
    args.insert(args.end(), {"--no-pci", "--vdev", config.nic.vdev});
  } else if (config.nic.mode == NicMode::kPci && config.nic.pci) {
    args.insert(args.end(), {"-a", config.nic.pci->to_string()});
  }
  args.insert(args.end(), {"--no-telemetry", fmt::format("--log-level=lib.eal:{}", eal_log_level(config.daemon.log_level))});
  args.insert(args.end(), config.dpdk.eal_args.begin(), config.dpdk.eal_args.end());
  return args;
}

Result<EalInfo> init_eal(const Config& config) {
  if (g_eal_initialised) return make_error("the DPDK EAL is already initialised in this process");
  if (config.dpdk.reserve_hugepages > 0 && config.dpdk.hugepages != Hugepages::kOff) {
    auto r = reserve_hugepages(config.dpdk.reserve_hugepages, config.testing.sysfs_root, config.testing.proc_root);
    if (!r && config.dpdk.hugepages == Hugepages::kOn) return r.error();
    if (!r) spdlog::warn("{}; running without hugepages", r.error().message);
    else if (r->requested || r->mounted)
      spdlog::info("hugepages: {} free of the {} wanted{}{}", r->free_after, config.dpdk.reserve_hugepages,
                   r->requested ? fmt::format(" (asked the kernel for {} more)", r->requested) : "",
                   r->mounted ? ", hugetlbfs mounted at /dev/hugepages" : "");
  }
  const auto state = read_hugepage_state(config.testing.proc_root);
  auto huge = decide_hugepages(config.dpdk.hugepages, state, config.dpdk.memory_mb);
  if (!huge) return huge.error();
  if (!*huge && config.dpdk.hugepages == Hugepages::kAuto && state.mounted && state.free_pages > 0)
    spdlog::warn("hugepages: only {} MB free, [dpdk] memory_mb = {} needs more; running on normal pages "
                 "(slower; reserve pages or lower memory_mb to use them)",
                 state.free_mb(), config.dpdk.memory_mb);
  EalInfo info;
  info.hugepages = *huge;
  info.arguments = eal_arguments(config, info.hugepages, first_allowed_cpu(), instance_name(config.daemon.admin_socket));
  std::vector<char*> argv;
  for (auto& a : info.arguments) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string joined;
  for (const auto& a : info.arguments) joined += (joined.empty() ? "" : " ") + a;
  spdlog::info("DPDK EAL: {}", joined);
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const bool have_allowed = sched_getaffinity(0, sizeof(allowed), &allowed) == 0;
  if (rte_eal_init(static_cast<int>(argv.size() - 1), argv.data()) < 0) {
    return make_error(fmt::format("DPDK EAL initialisation failed: {} (arguments: {}); check [nic] vdev/pci "
                                  "and [dpdk] memory_mb, hugepages and eal_args",
                                  rte_strerror(rte_errno), joined));
  }
  // The EAL bound this thread to its main lcore (`-l`, the first CPU we may use), and every
  // thread started from here on would inherit that: the control thread and each engine not
  // pinned by [engine] cores. Two daemons with the shipped `cores = []` then shared CPU 0
  // while the other CPUs idled (issue 13). Nothing of ours needs the main lcore's binding
  // (lcore ids live in thread-local storage), so this thread gets back what it had.
  if (have_allowed && sched_setaffinity(0, sizeof(allowed), &allowed) != 0)
    spdlog::warn("cannot undo the EAL's binding to CPU {} ({}): unpinned engines stay on it", info.arguments[2],
                 std::strerror(errno));
  g_eal_initialised = true;
  return info;
}

void cleanup_eal() {
  if (!g_eal_initialised) return;
  rte_eal_cleanup();
  g_eal_initialised = false;
}

}  // namespace machnet::dpdk
