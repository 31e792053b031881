#include "control/app_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "control/unix_socket.h"

namespace machnet::control {

namespace asio = boost::asio;

Result<void> AppServer::listen(const std::string& path, std::optional<gid_t> group) {
  if (auto r = listen_into(acceptor_, asio::generic::seq_packet_protocol(AF_UNIX, 0), path, SOCK_SEQPACKET, group); !r)
    return r;
  path_ = path;
  accept();
  return {};
}

void AppServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, Socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec && live_ && live_() >= max_connections_) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      MACHNET_LOG_RATE_LIMITED(spdlog::level::warn,
                               "application socket: {} connections already (the limit from LimitNOFILE): refusing one",
                               max_connections_);
      boost::system::error_code ignored;
      socket.close(ignored);
    } else if (!ec && handler_) {
      handler_(std::move(socket));
    }
    backoff_.after(ec, "application", [this] { accept(); });
  });
}

void AppServer::close() {
  backoff_.cancel();
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  if (!path_.empty()) unlink(path_.c_str());
  path_.clear();
}

}  // namespace machnet::control
