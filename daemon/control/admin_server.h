// Serves the admin socket (machnetctl.sock): accepts connections and answers each request
// line with AdminCommands::handle. Runs on the control thread's io_context.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "control/accept_backoff.h"
#include "control/admin_protocol.h"
#include "util/result.h"

namespace machnet::control {

struct SessionCounts;

class AdminServer {
 public:
  AdminServer(boost::asio::io_context& io, const AdminCommands& commands);

  uint64_t accept_failures() const { return backoff_.failures(); }

  // Creates the socket at `path` and starts accepting.
  Result<void> listen(const std::string& path, std::optional<gid_t> group);

  // Stops accepting and removes the socket file. Call on the io thread or after it stopped.
  void close();

 private:
  void accept();

  boost::asio::local::stream_protocol::acceptor acceptor_;
  AcceptBackoff backoff_;
  const AdminCommands& commands_;
  std::string path_;
  std::shared_ptr<SessionCounts> sessions_;  // open sessions, shared with them for the caps
};

}  // namespace machnet::control
