// Applies a binding plan and undoes it. apply() writes the state record before its first
// change; restore() works from the record alone, so it also runs after a crash (at the next
// start, or from ExecStopPost= via `machnetd --restore-nic`). Overrides live in sysfs only and
// so never survive a reboot.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "nic/binding_plan.h"
#include "nic/env.h"
#include "nic/net_devices.h"
#include "nic/state_record.h"
#include "util/result.h"

namespace machnet::nic {

// How long to wait for the kernel to move a device to its new driver (and for the interface
// to reappear on restore) before calling the step failed.
inline constexpr std::chrono::milliseconds kBindWait{3000};

// Every check apply_plan() makes before its first change: the plan is usable, the target
// driver is loaded (modprobe if needed), the sysfs files it will write exist, vfio offers
// no-IOMMU mode when the plan needs it. A failure here means nothing was changed.
Result<void> check_plan(Env& env, const BindingPlan& plan);

// `addresses`: the interface's IPv4 addresses ("10.0.1.5/24"), recorded for restore.
Result<void> apply_plan(Env& env, const BindingPlan& plan, const NetDevice& device,
                        const std::vector<std::string>& addresses, const std::string& state_dir);

// Restores what `record` describes and removes the record.
Result<void> restore_from_record(Env& env, const StateRecord& record, const std::string& state_dir);

// Restores if there is a record; says what it did ("" when there was nothing to do).
Result<std::string> restore_if_recorded(Env& env, const std::string& state_dir);

// The interface's IPv4 addresses as `ip -o -4 addr show dev IF` reports them.
std::vector<std::string> interface_addresses(Env& env, const std::string& ifname);

}  // namespace machnet::nic
