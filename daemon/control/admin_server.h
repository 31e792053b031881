// Serves the admin socket (machnetctl.sock): accepts connections and answers each request
// line with AdminCommands::handle. Runs on the control thread's io_context.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "control/admin_protocol.h"
#include "util/result.h"

namespace machnet::control {

class AdminServer {
 public:
  AdminServer(boost::asio::io_context& io, const AdminCommands& commands);

  // Creates the socket at `path` and starts accepting.
  Result<void> listen(const std::string& path, std::optional<gid_t> group);

  // Stops accepting and removes the socket file. Call on the io thread or after it stopped.
  void close();

 private:
  void accept();

  boost::asio::local::stream_protocol::acceptor acceptor_;
  const AdminCommands& commands_;
  std::string path_;
  std::shared_ptr<int> sessions_;  // open sessions, shared with them for the connection cap
};

}  // namespace machnet::control
