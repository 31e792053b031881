// Listening Unix sockets for the control plane, made the same way for both sockets:
// parent directory created, a stale socket from a crashed daemon replaced, mode 0660 and the
// daemon's group, so that group members may connect and nobody else.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "control/admin_protocol.h"
#include "util/result.h"

namespace machnet::control {

// `type` is SOCK_STREAM or SOCK_SEQPACKET. Returns the listening fd (close-on-exec,
// non-blocking). Call only while holding the InstanceLock for `path`.
Result<int> listen_unix(const std::string& path, int type, std::optional<gid_t> group);

// The gid of `name`, or nullopt (and a warning in the log) when the group does not exist.
std::optional<gid_t> lookup_group(const std::string& name);

// SO_PEERCRED and SO_PEERGROUPS of a connected Unix socket.
PeerCredentials peer_credentials(int fd);

}  // namespace machnet::control
