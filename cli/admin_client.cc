#include "admin_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

namespace machnetctl {

namespace asio = boost::asio;

namespace {
constexpr int kTimeoutSeconds = 10;
constexpr size_t kMaxResponseBytes = 64 << 20;
}  // namespace

ClientResult request(const std::string& path, const nlohmann::json& req) {
  ClientResult result;
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  boost::system::error_code ec;
  socket.connect(asio::local::stream_protocol::endpoint(path), ec);
  const bool no_socket = (ec == boost::system::errc::no_such_file_or_directory);
  if (no_socket || ec == boost::system::errc::connection_refused) {
    result.status = ClientStatus::kNotRunning;
    result.error = no_socket
                       ? fmt::format("machnetd is not running (no socket at {})", path)
                       : fmt::format("machnetd is not running (nobody listens on {})", path);
    return result;
  }
  if (ec == boost::system::errc::permission_denied) {
    result.error = fmt::format("permission denied on {}: run as root or as a member of group machnet", path);
    return result;
  }
  if (ec) {
    result.error = fmt::format("cannot connect to {}: {}", path, ec.message());
    return result;
  }
  // Bounded waits: a daemon that hangs must not hang machnetctl.
  timeval timeout{kTimeoutSeconds, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));

  const std::string line = req.dump() + "\n";
  asio::write(socket, asio::buffer(line), ec);
  if (ec) {
    result.error = fmt::format("cannot send the request to {}: {}", path, ec.message());
    return result;
  }
  asio::streambuf buffer(kMaxResponseBytes);
  const size_t n = asio::read_until(socket, buffer, '\n', ec);
  if (ec) {
    result.error = ec == asio::error::would_block || ec == asio::error::try_again
                       ? fmt::format("machnetd did not answer within {} s", kTimeoutSeconds)
                       : fmt::format("no answer from machnetd: {}", ec.message());
    return result;
  }
  const auto data = buffer.data();
  const std::string answer(asio::buffers_begin(data), asio::buffers_begin(data) + static_cast<ptrdiff_t>(n));
  result.response = nlohmann::json::parse(answer, nullptr, false);
  if (result.response.is_discarded() || !result.response.is_object()) {
    result.error = "machnetd answered with malformed JSON";
    return result;
  }
  result.status = ClientStatus::kOk;
  return result;
}

}  // namespace machnetctl
