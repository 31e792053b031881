#include "control/admin_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string_view>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "control/unix_socket.h"

namespace machnet::control {
namespace {

namespace asio = boost::asio;
using Socket = asio::local::stream_protocol::socket;

// Limits that keep a misbehaving client from holding resources: sessions in all and per
// user (root has slots of its own beyond them, so an admin can always look), how long a
// client may take to send a request, and how long to read its answer.
constexpr int kMaxSessions = 64;
constexpr int kMaxSessionsPerUser = 16;
constexpr int kRootReserve = 8;
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr auto kWriteTimeout = std::chrono::seconds(5);

}  // namespace

struct SessionCounts {
  int total = 0;
  std::map<uid_t, int> by_user;
};

namespace {

// One client connection: read a line, answer it, repeat until the client closes.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, const AdminCommands& commands, std::shared_ptr<SessionCounts> sessions)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(kMaxAdminRequestBytes + 1),
        commands_(commands),
        sessions_(std::move(sessions)),
        peer_(peer_credentials(socket_.native_handle())) {
    ++sessions_->total;
    ++sessions_->by_user[peer_.uid];
  }
  ~Session() {
    --sessions_->total;
    if (--sessions_->by_user[peer_.uid] == 0) sessions_->by_user.erase(peer_.uid);
  }

  // Why this session may not be served now, or empty.
  std::string_view over_limit() const {
    const bool root = peer_.uid == 0;
    if (sessions_->total > kMaxSessions + (root ? kRootReserve : 0)) return "too many admin connections; try again later";
    if (!root && sessions_->by_user.at(peer_.uid) > kMaxSessionsPerUser)
      return "too many admin connections from this user; try again later";
    return {};
  }

  void start() { read(); }

  // Answers a client we will not serve, then hangs up.
  void refuse(std::string_view why) { write(AdminCommands::error_response(why), false); }

 private:
  void read() {
    timer_.expires_after(kIdleTimeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->socket_.close();  // idle for too long
    });
    asio::async_read_until(socket_, buffer_, '\n',
                           [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                             self->on_line(ec, n);
                           });
  }

  void on_line(boost::system::error_code ec, size_t n) {
    timer_.cancel();
    if (ec == asio::error::not_found) {  // no newline within the size limit
      return write(AdminCommands::error_response("request too large (limit 65536 bytes)"), false);
    }
    if (ec) return;  // end of file, reset or closed: nothing more to do
    const auto data = buffer_.data();
    std::string line(asio::buffers_begin(data), asio::buffers_begin(data) + static_cast<ptrdiff_t>(n) - 1);
    buffer_.consume(n);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // An asynchronous command (detect) answers later; the session waits for it, without a
    // read timer, and the control thread goes on serving everyone else meanwhile.
    commands_.handle_async(line, peer_, [self = shared_from_this()](std::string answer) {
      self->write(std::move(answer), true);
    });
  }

  // A client that does not read its answer within kWriteTimeout is hung up on: it cannot
  // hold a session (and its slot under the caps) by never reading.
  void write(std::string response, bool keep_going) {
    response_ = std::move(response);
    response_ += '\n';
    timer_.expires_after(kWriteTimeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->socket_.close();
    });
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this(), keep_going](boost::system::error_code ec, size_t) {
                        self->timer_.cancel();
                        // A client that left before reading its answer costs nothing more.
                        if (!ec && keep_going) self->read();
                      });
  }

  Socket socket_;
  asio::steady_timer timer_;
  asio::streambuf buffer_;
  const AdminCommands& commands_;
  std::shared_ptr<SessionCounts> sessions_;
  PeerCredentials peer_;
  std::string response_;
};

}  // namespace

AdminServer::AdminServer(asio::io_context& io, const AdminCommands& commands)
    : acceptor_(io), backoff_(io.get_executor()), commands_(commands), sessions_(std::make_shared<SessionCounts>()) {}

Result<void> AdminServer::listen(const std::string& path, std::optional<gid_t> group) {
  if (auto r = listen_into(acceptor_, asio::local::stream_protocol(), path, SOCK_STREAM, group); !r) return r;
  path_ = path;
  accept();
  return {};
}

void AdminServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, Socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      auto session = std::make_shared<Session>(std::move(socket), commands_, sessions_);
      if (auto why = session->over_limit(); !why.empty()) {
        session->refuse(why);
      } else {
        session->start();
      }
    }
    backoff_.after(ec, "admin", [this] { accept(); });
  });
}

void AdminServer::close() {
  backoff_.cancel();
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  if (!path_.empty()) unlink(path_.c_str());
  path_.clear();
}

}  // namespace machnet::control
