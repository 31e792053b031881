// Listening Unix sockets for the control plane, made the same way for both sockets:
// parent directory created, a stale socket from a crashed daemon replaced, mode 0660 and the
// daemon's group, so that group members may connect and nobody else.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <optional>
#include <string>

#include <boost/system/error_code.hpp>

#include "control/admin_protocol.h"
#include "util/result.h"

namespace machnet::control {

// `type` is SOCK_STREAM or SOCK_SEQPACKET. Returns the listening fd (close-on-exec,
// non-blocking). Call only while holding the InstanceLock for `path`.
Result<int> listen_unix(const std::string& path, int type, std::optional<gid_t> group);

// listen_unix(), then hands the socket to an Asio acceptor; on failure nothing is left
// behind (no fd, no socket file).
template <typename Acceptor, typename Protocol>
Result<void> listen_into(Acceptor& acceptor, const Protocol& protocol, const std::string& path, int type,
                         std::optional<gid_t> group) {
  auto fd = listen_unix(path, type, group);
  if (!fd) return fd.error();
  boost::system::error_code ec;
  acceptor.assign(protocol, *fd, ec);
  if (ec) {
    ::close(*fd);
    ::unlink(path.c_str());
    return make_error("cannot serve " + path + ": " + ec.message());
  }
  return {};
}

// The gid of `name`, or nullopt (and a warning in the log) when the group does not exist.
std::optional<gid_t> lookup_group(const std::string& name);

// SO_PEERCRED and SO_PEERGROUPS of a connected Unix socket.
PeerCredentials peer_credentials(int fd);

}  // namespace machnet::control
