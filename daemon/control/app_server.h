// The application socket (machnet.sock, SOCK_SEQPACKET) through which libmachnet attaches
// channels. The foundation creates and owns the socket; serving attach/detach requests is
// the job of the channel layer, which installs a handler for each accepted connection.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include "util/result.h"

namespace machnet::control {

class AppServer {
 public:
  using Socket = boost::asio::generic::seq_packet_protocol::socket;
  using ConnectionHandler = std::function<void(Socket socket)>;

  explicit AppServer(boost::asio::io_context& io) : acceptor_(io) {}

  // Called (on the control thread) with every accepted application connection. Without a
  // handler, connections are accepted and closed at once.
  void set_connection_handler(ConnectionHandler handler) { handler_ = std::move(handler); }

  Result<void> listen(const std::string& path, std::optional<gid_t> group);
  void close();

 private:
  void accept();

  boost::asio::basic_socket_acceptor<boost::asio::generic::seq_packet_protocol> acceptor_;
  ConnectionHandler handler_;
  std::string path_;
};

}  // namespace machnet::control
