// StateRecord::from_json holds every field to the shape the daemon writes: the fields become
// sysfs path components and `ip` arguments (issue 15, row 11).
#include "nic/state_record.h"

#include <gtest/gtest.h>

namespace machnet::nic {
namespace {

nlohmann::json good() {
  return {{"version", 1},          {"bus", "pci"},        {"bus_address", "0000:00:06.0"},
          {"original_driver", "ena"}, {"target_driver", "vfio-pci"}, {"ifname", "eth1"},
          {"mac", "02:00:00:aa:bb:cc"}, {"mtu", 9001}, {"up", true},
          {"addresses", {"10.0.1.5/24"}}, {"routes", {{{"gateway", "10.0.1.1"}, {"metric", 200}}}},
          {"noiommu", false}};
}

TEST(StateRecord, WhatTheDaemonWritesReadsBack) {
  auto r = StateRecord::from_json(good());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->bus_address, "0000:00:06.0");
  EXPECT_EQ(StateRecord::from_json(r->to_json())->to_json(), r->to_json());
  auto vmbus = good();
  vmbus["bus"] = "vmbus";
  vmbus["bus_address"] = "6e2a1a94-1f8b-4d8a-9a3c-0123456789ab";
  vmbus["original_driver"] = "hv_netvsc";
  vmbus["target_driver"] = "uio_hv_generic";
  EXPECT_TRUE(StateRecord::from_json(vmbus));
  auto bare = good();  // interface facts are optional
  bare.erase("ifname");
  bare.erase("mac");
  bare.erase("mtu");
  bare.erase("addresses");
  EXPECT_TRUE(StateRecord::from_json(bare));
}

TEST(StateRecord, FieldsThatCouldSteerWritesOrArgumentsAreRefused) {
  const std::vector<std::pair<std::string, nlohmann::json>> bad = {
      {"bus_address", "../../../../etc"},
      {"bus_address", "0000:00:06.0/../x"},
      {"bus_address", "00:06.0"},
      {"original_driver", ".."},
      {"original_driver", "ena/../../x"},
      {"target_driver", "-rf"},
      {"target_driver", ""},
      {"ifname", "-f"},
      {"ifname", "eth0/x"},
      {"ifname", "a234567890123456"},  // 16 bytes
      {"ifname", ".."},
      {"ifname", "eth 0"},
      {"mac", "02:00:00:aa:bb"},
      {"mtu", 20},
      {"mtu", 70000},
      {"addresses", {"10.0.1.5"}},
      {"addresses", {"10.0.1.5/33"}},
      {"addresses", {"10.0.1.5/24 dev lo"}},
      {"routes", {{{"gateway", "10.0.1.1 via"}, {"metric", 1}}}},
  };
  for (const auto& [key, value] : bad) {
    auto j = good();
    j[key] = value;
    EXPECT_FALSE(StateRecord::from_json(j)) << key << " = " << value.dump();
  }
  auto guid_on_pci = good();
  guid_on_pci["bus_address"] = "6e2a1a94-1f8b-4d8a-9a3c-0123456789ab";
  EXPECT_FALSE(StateRecord::from_json(guid_on_pci));
}

}  // namespace
}  // namespace machnet::nic
