// `machnetd --detect [--json]` and `machnetd --restore-nic`: run without a daemon (no sockets,
// no lock on the sockets). --detect changes nothing; --restore-nic gives back a NIC that a
// stopped or crashed daemon left bound (for ExecStopPost=).
#pragma once

#include <ostream>

#include "config/config.h"

namespace machnet::nic {

// Exit code 0 when a usable NIC was found, 1 otherwise (the report says why).
int detect_command(const Config& config, bool json, std::ostream& out);
// Exit code 0 when there was nothing to restore or the restore worked, 1 otherwise.
int restore_command(const Config& config, std::ostream& out, std::ostream& err);

}  // namespace machnet::nic
