// Choosing the dedicated NIC. It is a secondary interface: never the one holding the default
// route, never the primary NIC of the metadata service (the address the host is reached by).
// Matched by MAC between the metadata and sysfs; [nic] mac or pci narrows the choice. Several
// candidates, or none, is an error that lists every NIC and why it was skipped.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "nic/metadata.h"
#include "nic/net_devices.h"
#include "nic/state_record.h"

namespace machnet::nic {

struct NicVerdict {
  NetDevice device;
  std::optional<MetadataNic> metadata;  // the metadata entry with the same MAC, if any
  bool candidate = false;
  std::string reason;  // why chosen, or why skipped
};

struct NicChoice {
  std::vector<NicVerdict> nics;
  std::optional<size_t> chosen;  // index into nics
  std::string error;             // set when nothing (or more than one) qualifies
};

// `metadata` may be null (no cloud, or the service failed: then only [nic] can name the NIC).
// `record` supplies the MAC of a device the daemon itself bound earlier.
NicChoice choose_nic(CloudProvider cloud, const std::vector<NetDevice>& devices,
                     const InstanceMetadata* metadata, const NicConfig& config,
                     const std::optional<StateRecord>& record);

}  // namespace machnet::nic
