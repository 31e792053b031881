// Azure accelerated networking: every synthetic NIC (VMBus, hv_netvsc) may have a VF on the
// PCI bus (Mellanox mlx4/mlx5, or MANA) with the same MAC, through which its traffic flows.
// The pair is one NIC: the synthetic one is listed by the metadata service and chosen, the VF
// is never a NIC of its own, and its driver decides the plan (binding_plan.h).
//
// How a pair is found, most reliable first:
//   1. the VF interface's sysfs `master` link names the synthetic interface (netvsc enslaves
//      its VF, like a bond; kernels since 4.14);
//   2. the VF's MAC equals the synthetic NIC's MAC (known from its interface, or from our
//      state record when machnetd bound it and it has no interface);
//   3. by elimination: the synthetic device has no interface (bound to uio_hv_generic, by us
//      or by dpdk.service/driverctl), so its VF has no master; when exactly one VF and one such
//      device are left over, they belong together.
// The VF's PCI address has no sysfs link to its VMBus device (it hangs off a separate hv_pci
// bus device), so nothing better exists once the synthetic interface is gone.
#pragma once

#include <vector>

#include "nic/net_devices.h"

namespace machnet::nic {

// A PCI device that can be an accelerated-networking VF (Mellanox or MANA, by driver or id).
bool is_accelerated_vf(const NetDevice& device);

// Fills vf_of / vf_address / vf_driver / vf_pairing; a synthetic NIC without a known MAC takes
// its VF's MAC. Only VMBus synthetic devices are paired, so it changes nothing off Azure.
void pair_accelerated_vfs(std::vector<NetDevice>& devices);

}  // namespace machnet::nic
