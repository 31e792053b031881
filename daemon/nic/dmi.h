// Which cloud the VM runs in, as the firmware (DMI, /sys/class/dmi/id) tells it. A guess to
// be confirmed by the cloud's metadata service (detector.cc).
#pragma once

#include <string>

#include "config/config.h"
#include "nic/env.h"

namespace machnet::nic {

struct CloudGuess {
  CloudProvider provider = CloudProvider::kNone;
  std::string reason;  // the DMI fields that decided, quoted
};

// Azure: sys_vendor "Microsoft Corporation" and chassis_asset_tag
//   "7783-7084-3265-9085-8269-3286-77" (plain Hyper-V has another tag).
// AWS: sys_vendor or bios_vendor "Amazon EC2" (Nitro), or Xen with "amazon" in bios_version.
// GCP: sys_vendor "Google" and product_name "Google Compute Engine".
CloudGuess guess_cloud_from_dmi(Env& env);

}  // namespace machnet::nic
