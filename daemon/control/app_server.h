// The application socket (machnet.sock, SOCK_SEQPACKET) through which libmachnet attaches
// channels. The foundation creates and owns the socket; serving attach/detach requests is
// the job of the channel layer, which installs a handler for each accepted connection.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include "control/accept_backoff.h"
#include "util/result.h"

namespace machnet::control {

class AppServer {
 public:
  using Socket = boost::asio::generic::seq_packet_protocol::socket;
  using ConnectionHandler = std::function<void(Socket socket)>;

  explicit AppServer(boost::asio::io_context& io) : acceptor_(io), backoff_(io.get_executor()) {}

  // Called (on the control thread) with every accepted application connection. Without a
  // handler, connections are accepted and closed at once.
  void set_connection_handler(ConnectionHandler handler) { handler_ = std::move(handler); }
  // At most `max` application connections at once (`live` counts them): a connection past
  // the limit is closed at once and counted, so idle clients cannot use up the daemon's
  // descriptors. The limit comes from the daemon's open-file limit (LimitNOFILE).
  void set_connection_limit(size_t max, std::function<size_t()> live) {
    max_connections_ = max;
    live_ = std::move(live);
  }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  uint64_t accept_failures() const { return backoff_.failures(); }

  Result<void> listen(const std::string& path, std::optional<gid_t> group);
  void close();

 private:
  void accept();

  boost::asio::basic_socket_acceptor<boost::asio::generic::seq_packet_protocol> acceptor_;
  AcceptBackoff backoff_;
  ConnectionHandler handler_;
  size_t max_connections_ = SIZE_MAX;
  std::function<size_t()> live_;
  std::atomic<uint64_t> refused_{0};
  std::string path_;
};

}  // namespace machnet::control
