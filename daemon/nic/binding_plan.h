// How the chosen NIC is handed to DPDK, decided from the cloud, the NIC's current driver and
// [nic] driver, and shown before anything is applied:
//   Azure synthetic NIC, MANA VF  -> no rebinding: DPDK gets "-a VF_PCI,mac=MAC" beside the
//                                    kernel's mana driver; refused while the DPDK in use has no
//                                    net_mana driver (Debian 12's 22.11 has none), plan reported
//   hv_netvsc (Azure synthetic)   -> uio_hv_generic via driver_override on the VMBus device
//   ena, gve, virtio-pci, others  -> vfio-pci via driver_override (no-IOMMU only if allowed);
//                                    ENA also gets the write-combining warning
//   mlx4_core / mlx5_core         -> no rebinding (bifurcated driver)
//   already on a DPDK driver      -> used as it is, left bound on stop (unless our record says
//                                    machnetd bound it)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "nic/env.h"
#include "nic/net_devices.h"

namespace machnet::nic {

enum class PlanKind { kRebind, kBifurcated, kUseAsBound, kRefuse };

struct BindingPlan {
  PlanKind kind = PlanKind::kRefuse;
  PlanKind intended = PlanKind::kRefuse;  // what would be done, also when refused
  std::string bus;
  std::string bus_address;
  std::string ifname;
  std::string from_driver;
  std::string to_driver;        // kRebind only
  bool noiommu = false;         // enable vfio's unsafe no-IOMMU mode first (taints the kernel)
  std::string refusal;          // kRefuse: what is missing and what to do
  std::vector<std::string> steps;  // what apply() will do, for people
  std::vector<std::string> notes;  // warnings worth showing (taint, left bound, ...)
  std::string dpdk_device;      // what DPDK is given: "0000:00:06.0" or "net_vdev_netvsc..."
  std::vector<std::string> dpdk_args;  // device arguments (mac=..., ...)

  bool usable() const { return kind != PlanKind::kRefuse; }
  nlohmann::json to_json() const;
};

const char* to_string(PlanKind kind);

// Whether the DPDK in use has the driver ("net_mana": librte_net_mana.so in its driver folder).
bool dpdk_has_driver(Env& env, const std::string& name);

// Whether the host has an IOMMU (SYSFS/class/iommu or SYSFS/kernel/iommu_groups not empty).
bool has_iommu(Env& env);

BindingPlan plan_binding(Env& env, CloudProvider cloud, const NetDevice& device, const NicConfig& config);

}  // namespace machnet::nic
