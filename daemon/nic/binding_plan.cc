#include "nic/binding_plan.h"

#include <fmt/format.h>

namespace machnet::nic {
namespace {

BindingPlan base(const NetDevice& d) {
  BindingPlan p;
  p.bus = d.bus;
  p.bus_address = d.bus_address;
  p.ifname = d.ifname;
  p.from_driver = d.driver;
  p.dpdk_device = d.bus_address;
  return p;
}

BindingPlan refuse(BindingPlan p, std::string why) {
  p.intended = p.kind;
  p.kind = PlanKind::kRefuse;
  p.refusal = std::move(why);
  return p;
}

void rebind_steps(BindingPlan& p) {
  p.kind = p.intended = PlanKind::kRebind;
  const std::string dev = fmt::format("bus/{}/devices/{}", p.bus, p.bus_address);
  if (p.noiommu) p.steps.push_back("write Y to module/vfio/parameters/enable_unsafe_noiommu_mode");
  p.steps.push_back(fmt::format("record {} (driver {}, interface {}) in the state directory", p.bus_address, p.from_driver, p.ifname.empty() ? "-" : p.ifname));
  p.steps.push_back(fmt::format("write {} to {}/driver_override", p.to_driver, dev));
  if (!p.from_driver.empty()) p.steps.push_back(fmt::format("write {} to bus/{}/drivers/{}/unbind", p.bus_address, p.bus, p.from_driver));
  p.steps.push_back(fmt::format("write {} to bus/{}/drivers/{}/bind", p.bus_address, p.bus, p.to_driver));
  p.steps.push_back(fmt::format("on stop: clear driver_override, bind {} back to {}, restore MTU, addresses, default routes and link state",
                                p.bus_address, p.from_driver.empty() ? "no driver" : p.from_driver));
}

BindingPlan vfio(Env& env, BindingPlan p, const NicConfig& config) {
  p.to_driver = "vfio-pci";
  if (p.bus != "pci") return refuse(std::move(p), fmt::format("vfio-pci needs a PCI device; {} is on bus {}", p.bus_address, p.bus));
  if (!has_iommu(env)) {
    if (!config.allow_noiommu)
      return refuse(std::move(p), "vfio-pci needs an IOMMU and this VM has none; set [nic] allow_noiommu = true to use "
                                  "vfio's no-IOMMU mode (it taints the kernel), or enable an IOMMU for the VM");
    p.noiommu = true;
    p.notes.push_back("no IOMMU: vfio-pci runs in unsafe no-IOMMU mode, which taints the kernel (allowed by [nic] allow_noiommu)");
  }
  rebind_steps(p);
  return p;
}

// DPDK's ENA guide: the low-latency queues (LLQ) of current instance types need the device's
// memory BAR mapped write-combining, which stock vfio-pci does not do.
std::string ena_write_combining_note() {
  return "ENA on vfio-pci: the ENA driver's low-latency queues need write-combining, which stock vfio-pci does not "
         "give, and DPDK's ENA guide warns of a large performance loss on current instance types. Bind the ENI "
         "yourself to a vfio-pci with write-combining (amzn-drivers' enav2-vfio-patch) or to igb_uio loaded with "
         "wc_activate=1, then set [nic] driver = \"keep\"";
}

// Azure MANA: the VF stays on the kernel's mana driver; DPDK's net_mana takes it by PCI address
// and picks the port by MAC.
BindingPlan mana(Env& env, const NetDevice& d) {
  BindingPlan p = base(d);
  p.kind = p.intended = PlanKind::kBifurcated;
  p.dpdk_device = d.vf_address.empty() ? d.bus_address : d.vf_address;
  const std::string mac = d.mac ? d.mac->to_string() : "?";
  if (d.mac) p.dpdk_args.push_back("mac=" + mac);
  p.steps.push_back(fmt::format("no rebinding: DPDK's MANA driver takes VF {} beside the kernel's mana driver, "
                                "selected by mac={} (EAL: -a {},mac={})", p.dpdk_device, mac, p.dpdk_device, mac));
  p.steps.push_back(fmt::format("{} keeps its kernel driver, addresses and routes; nothing to restore on stop",
                                d.ifname.empty() ? d.bus_address : d.ifname));
  if (!dpdk_has_driver(env, "net_mana"))
    return refuse(std::move(p), fmt::format("this is an Azure MANA NIC and the DPDK in use has no MANA driver (no "
                                            "librte_net_mana.so in {}; Debian 12's DPDK 22.11 packages ship none). "
                                            "Needed: DPDK >= 22.11 built with net_mana (rdma-core with the mana "
                                            "provider, libibverbs >= 44), or a VM size whose accelerated NIC is Mellanox",
                                            env.dpdk_driver_dir().empty() ? "the DPDK driver folder" : env.dpdk_driver_dir()));
  return p;
}

}  // namespace

const char* to_string(PlanKind kind) {
  switch (kind) {
    case PlanKind::kRebind: return "rebind";
    case PlanKind::kBifurcated: return "bifurcated";
    case PlanKind::kUseAsBound: return "use-as-bound";
    case PlanKind::kRefuse: return "refuse";
  }
  return "?";
}

bool dpdk_has_driver(Env& env, const std::string& name) {
  // Drivers named "net_mana" live in librte_net_mana.so (and .so.23 ...).
  const std::string file = "librte_" + name + ".so";
  for (const auto& entry : env.list_dir(env.dpdk_driver_dir()))
    if (entry.rfind(file, 0) == 0) return true;
  return false;
}

bool has_iommu(Env& env) {
  return !env.list_dir(env.sysfs("class/iommu")).empty() || !env.list_dir(env.sysfs("kernel/iommu_groups")).empty();
}

BindingPlan plan_binding(Env& env, CloudProvider cloud, const NetDevice& d, const NicConfig& config) {
  BindingPlan p = base(d);
  if (is_mana(d) || d.vf_driver == "mana") return mana(env, d);
  if (d.dpdk_bound()) {
    p.kind = p.intended = PlanKind::kUseAsBound;
    p.steps.push_back(fmt::format("use {} as it is (already bound to {})", d.bus_address, d.driver));
    if (d.recorded)
      p.notes.push_back(fmt::format("bound to {} by machnetd (its state record): given back to its kernel driver when "
                                    "the daemon stops, at the next start, or by machnetd --restore-nic", d.driver));
    else
      p.notes.push_back(fmt::format("already bound to {} (by dpdk.service, driverctl or by hand; no state record of ours): "
                                    "used as it is and left bound on stop", d.driver));
    if (d.driver == "vfio-pci" && is_ena(d)) p.notes.push_back(ena_write_combining_note());
    return p;
  }
  if (is_bifurcated_driver(d.driver)) {
    p.kind = p.intended = PlanKind::kBifurcated;
    p.steps.push_back(fmt::format("no rebinding: {} is bifurcated, DPDK's mlx PMD works beside the kernel driver", d.driver));
    return p;
  }
  if (config.driver == DriverPolicy::kKeep)
    return refuse(std::move(p), fmt::format("[nic] driver = \"keep\" but {} is on kernel driver {}; bind it to a DPDK driver first "
                                            "(driverctl, dpdk-devbind) or set driver = \"auto\"", d.bus_address, d.driver.empty() ? "none" : d.driver));
  if (config.driver == DriverPolicy::kUioHvGeneric || (config.driver == DriverPolicy::kAuto && d.driver == "hv_netvsc")) {
    if (d.bus != "vmbus") return refuse(std::move(p), fmt::format("uio_hv_generic needs a VMBus device; {} is on bus {}", d.bus_address, d.bus));
    p.to_driver = "uio_hv_generic";
    rebind_steps(p);
    return p;
  }
  if (d.bus == "vmbus") return refuse(std::move(p), fmt::format("VMBus device {} with driver {}: only hv_netvsc NICs can be rebound", d.bus_address, d.driver));
  (void)cloud;  // ENA (AWS), gVNIC (GCP), virtio and any other PCI NIC: the same plan
  const bool ena = is_ena(d);
  p = vfio(env, std::move(p), config);
  if (ena) p.notes.push_back(ena_write_combining_note());
  return p;
}

nlohmann::json BindingPlan::to_json() const {
  return {{"kind", to_string(kind)},
          {"intended", to_string(intended)},
          {"bus", bus},
          {"bus_address", bus_address},
          {"from_driver", from_driver},
          {"to_driver", to_driver.empty() ? nlohmann::json() : nlohmann::json(to_driver)},
          {"noiommu", noiommu},
          {"usable", usable()},
          {"refusal", refusal.empty() ? nlohmann::json() : nlohmann::json(refusal)},
          {"steps", steps},
          {"notes", notes},
          {"dpdk_device", dpdk_device},
          {"dpdk_args", dpdk_args}};
}

}  // namespace machnet::nic
