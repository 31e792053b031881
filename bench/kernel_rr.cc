// kernel_rr: msg_gen's request-reply benchmark over kernel sockets, the baseline Machnet is
// compared with on the same link. Same flags, same request format, same per-second lines and
// summary (examples/bench_report.h), plus --proto:
//   udp (default): one socket, one datagram per message, msg_window datagrams in flight;
//                  replies missing for 200 ms are counted lost and their slots reused.
//   tcp:           one connection, TCP_NODELAY, each message prefixed by its length
//                  (4 bytes, network order), msg_window messages in flight.
// Everything is non-blocking and poll-based with bounded waits.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_report.h"

namespace mb = machnet::bench;

namespace {

constexpr size_t kMaxUdpPayload = 65507;  // 65535 - IPv4 header (20) - UDP header (8)
constexpr size_t kMaxFrame = 16u << 20;   // TCP: longer length prefixes are garbage
constexpr size_t kMaxPendingOut = 8u << 20;

std::string err(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool make_addr(const std::string& ip, uint16_t port, sockaddr_in* a) {
  *a = sockaddr_in{};
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  return inet_pton(AF_INET, ip.c_str(), &a->sin_addr) == 1;
}

int open_socket(int type, const std::string& ip, uint16_t port, std::string* why) {
  sockaddr_in a;
  if (!make_addr(ip, port, &a)) {
    *why = "not an IPv4 address: " + ip;
    return -1;
  }
  const int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    *why = err(("bind " + ip + ":" + std::to_string(port)).c_str());
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// Waits up to timeout_ms for `events` on fd; EINTR (a stop signal) counts as "not yet".
int wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  const int r = poll(&p, 1, timeout_ms);
  return r < 0 && errno == EINTR ? 0 : r < 0 ? -1 : p.revents;
}

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR; }

// ---- UDP ----------------------------------------------------------------------------

class UdpTransport {
 public:
  explicit UdpTransport(int fd) : fd_(fd) {}
  int try_send(const uint8_t* buf, size_t len) {
    if (send(fd_, buf, len, 0) == static_cast<ssize_t>(len)) return 1;
    if (would_block()) return 0;
    error_ = err("send");
    return -1;
  }
  ssize_t try_recv(uint8_t* buf, size_t cap, int timeout_ms) {
    if (timeout_ms > 0 && wait_fd(fd_, POLLIN, timeout_ms) <= 0) return 0;
    const ssize_t n = recv(fd_, buf, cap, 0);
    if (n >= 0) return n;
    if (would_block()) return 0;
    error_ = err("recv");
    return -1;
  }
  bool lossy() const { return true; }
  std::string error() const { return error_; }

 private:
  int fd_;
  std::string error_;
};

int udp_server(int fd, const mb::Options& o, mb::Reporter& rep) {
  std::vector<uint8_t> buf(kMaxUdpPayload);
  uint64_t echoed = 0, last_activity = mb::now_ns();
  const uint64_t end = o.duration > 0 ? last_activity + static_cast<uint64_t>(o.duration * 1e9) : UINT64_MAX;
  while (!mb::g_stop && (!o.msg_nr || echoed < o.msg_nr)) {
    const uint64_t now = mb::now_ns();
    if (now >= end) break;
    rep.tick(now);
    if (now - last_activity > uint64_t{o.spin_us} * 1000 && wait_fd(fd, POLLIN, mb::kIdleWaitMs) <= 0) continue;
    sockaddr_in from;
    socklen_t from_len = sizeof(from);
    const ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (would_block()) {
        mb::spin_pause();
        continue;
      }
      return rep.finish(mb::now_ns(), err("recvfrom"));
    }
    last_activity = mb::now_ns();
    // A full socket buffer is the client's problem to report as loss: wait briefly, then drop.
    for (int tries = 0; tries < 100; ++tries) {
      if (sendto(fd, buf.data(), n, 0, reinterpret_cast<sockaddr*>(&from), from_len) == n) {
        rep.on_echo();
        ++echoed;
        break;
      }
      if (!would_block()) return rep.finish(mb::now_ns(), err("sendto"));
      wait_fd(fd, POLLOUT, 10);
    }
  }
  return rep.finish(mb::now_ns(), "");
}

// ---- TCP ----------------------------------------------------------------------------

// One non-blocking connection carrying length-prefixed frames, buffered both ways.
class FramedConn {
 public:
  explicit FramedConn(int fd) : fd_(fd) {}
  ~FramedConn() { close(fd_); }
  FramedConn(const FramedConn&) = delete;
  FramedConn& operator=(const FramedConn&) = delete;

  int fd() const { return fd_; }
  size_t pending_out() const { return out_.size() - out_start_; }
  std::string error() const { return error_; }

  void queue(const uint8_t* buf, size_t len) {
    const uint32_t be = htonl(static_cast<uint32_t>(len));
    const auto* p = reinterpret_cast<const uint8_t*>(&be);
    out_.insert(out_.end(), p, p + 4);
    out_.insert(out_.end(), buf, buf + len);
  }
  // Writes what the socket takes now. False on a broken connection.
  bool flush() {
    while (pending_out() > 0) {
      const ssize_t n = send(fd_, out_.data() + out_start_, pending_out(), MSG_NOSIGNAL);
      if (n < 0) {
        if (would_block()) break;
        error_ = err("send");
        return false;
      }
      out_start_ += static_cast<size_t>(n);
    }
    if (out_start_ == out_.size()) out_.clear(), out_start_ = 0;
    return true;
  }
  // Reads what the socket has now (bounded). False on error or when the peer closed.
  bool fill() {
    compact_in();
    for (int i = 0; i < 16; ++i) {
      const size_t old = in_.size();
      in_.resize(old + 64 * 1024);
      const ssize_t n = recv(fd_, in_.data() + old, 64 * 1024, 0);
      in_.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
      if (n == 0) {
        error_ = "the peer closed the connection";
        return false;
      }
      if (n < 0) {
        if (would_block()) return true;
        error_ = err("recv");
        return false;
      }
    }
    return true;
  }
  // The next complete frame, or {nullptr, 0}; SIZE_MAX as length marks a garbage prefix.
  std::pair<const uint8_t*, size_t> next_frame() {
    if (in_.size() - in_start_ < 4) return {nullptr, 0};
    uint32_t be;
    std::memcpy(&be, in_.data() + in_start_, 4);
    const size_t len = ntohl(be);
    if (len > kMaxFrame) return {nullptr, SIZE_MAX};
    if (in_.size() - in_start_ < 4 + len) return {nullptr, 0};
    const uint8_t* p = in_.data() + in_start_ + 4;
    in_start_ += 4 + len;
    return {p, len};
  }

 private:
  void compact_in() {
    in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(in_start_));
    in_start_ = 0;
  }
  int fd_;
  std::vector<uint8_t> in_, out_;
  size_t in_start_ = 0, out_start_ = 0;
  std::string error_;
};

class TcpTransport {
 public:
  explicit TcpTransport(int fd) : c_(fd) {}
  int try_send(const uint8_t* buf, size_t len) {
    if (c_.pending_out() > kMaxPendingOut) return c_.flush() ? 0 : -1;
    c_.queue(buf, len);
    return c_.flush() ? 1 : -1;
  }
  ssize_t try_recv(uint8_t* buf, size_t cap, int timeout_ms) {
    for (int pass = 0; pass < 2; ++pass) {
      const auto [p, len] = c_.next_frame();
      if (len == SIZE_MAX) return fail("a reply's length prefix is garbage");
      if (p) {
        std::memcpy(buf, p, std::min(len, cap));
        return static_cast<ssize_t>(len);
      }
      if (pass == 1) break;
      if (!c_.flush()) return fail(c_.error());
      if (timeout_ms > 0 && wait_fd(c_.fd(), POLLIN | (c_.pending_out() ? POLLOUT : 0), timeout_ms) <= 0) return 0;
      if (!c_.fill()) return fail(c_.error());
    }
    return 0;
  }
  bool lossy() const { return false; }
  std::string error() const { return error_; }

 private:
  ssize_t fail(const std::string& why) {
    error_ = why;
    return -1;
  }
  FramedConn c_;
  std::string error_;
};

// Connects (non-blocking, bounded by 5 s) from local_ip to the server.
int tcp_connect(const mb::Options& o, std::string* why) {
  const int fd = open_socket(SOCK_STREAM, o.local_ip, 0, why);
  if (fd < 0) return -1;
  sockaddr_in to;
  if (!make_addr(o.remote_ip, o.remote_port, &to)) {
    *why = "not an IPv4 address: " + o.remote_ip;
  } else if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0 && errno != EINPROGRESS) {
    *why = err("connect");
  } else if (wait_fd(fd, POLLOUT, 5000) <= 0) {
    *why = "connect: no answer within 5 s";
  } else {
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    const int one = 1;
    if (so_error == 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0) return fd;
    *why = std::string("connect: ") + std::strerror(so_error ? so_error : errno);
  }
  close(fd);
  return -1;
}

// Serves one connection at a time: echoes every frame back, until the client closes.
int tcp_server(int listen_fd, const mb::Options& o, mb::Reporter& rep) {
  if (listen(listen_fd, 16) != 0) return rep.finish(mb::now_ns(), err("listen"));
  uint64_t echoed = 0, last_activity = mb::now_ns();
  const uint64_t end = o.duration > 0 ? last_activity + static_cast<uint64_t>(o.duration * 1e9) : UINT64_MAX;
  std::unique_ptr<FramedConn> c;
  while (!mb::g_stop && (!o.msg_nr || echoed < o.msg_nr)) {
    const uint64_t now = mb::now_ns();
    if (now >= end) break;
    rep.tick(now);
    const int timeout = now - last_activity > uint64_t{o.spin_us} * 1000 ? mb::kIdleWaitMs : 0;
    if (!c) {
      if (wait_fd(listen_fd, POLLIN, mb::kIdleWaitMs) <= 0) continue;
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) continue;
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      c = std::make_unique<FramedConn>(fd);
      last_activity = mb::now_ns();
      continue;
    }
    // Stop reading while the client does not take its replies: TCP's own backpressure.
    const bool reading = c->pending_out() < kMaxPendingOut;
    const short events = static_cast<short>((reading ? POLLIN : 0) | (c->pending_out() ? POLLOUT : 0));
    if (timeout && wait_fd(c->fd(), events, timeout) <= 0) continue;
    const uint64_t echoed_before = echoed;
    bool ok = !reading || c->fill();
    for (auto f = c->next_frame(); f.first; f = c->next_frame()) {
      c->queue(f.first, f.second);
      rep.on_echo();
      ++echoed;
      last_activity = mb::now_ns();
    }
    if (!timeout && echoed == echoed_before) mb::spin_pause();  // spinning, and nothing came
    ok = c->flush() && ok && c->next_frame().second != SIZE_MAX;
    if (!ok) c.reset();  // the client left (or spoke garbage): wait for the next one
  }
  return rep.finish(mb::now_ns(), "");
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  mb::Options o;
  po::options_description extra("kernel_rr");
  extra.add_options()("proto", po::value(&o.proto)->default_value("udp"), "udp or tcp");
  if (const int rc = mb::parse_options(argc, argv,
                                       "kernel_rr: msg_gen's request-reply benchmark over kernel sockets.\n"
                                       "Without --remote_ip: echo server on local_ip:local_port.",
                                       &o, extra);
      rc >= 0)
    return rc;
  const bool udp = o.proto == "udp";
  if (!udp && o.proto != "tcp") {
    std::fprintf(stderr, "kernel_rr: --proto is udp or tcp, not %s\n", o.proto.c_str());
    return 2;
  }
  if (udp && o.msg_size > kMaxUdpPayload) {
    std::fprintf(stderr, "kernel_rr: a UDP datagram carries at most %zu bytes; use --proto tcp for larger messages\n",
                 kMaxUdpPayload);
    return 2;
  }
  if (o.msg_size > kMaxFrame) {
    std::fprintf(stderr, "kernel_rr: --msg_size is at most %zu\n", kMaxFrame);
    return 2;
  }
  mb::install_stop_handlers();
  mb::Reporter rep(o, "kernel_rr", o.proto);
  std::string why;
  if (!o.client()) {
    const int fd = open_socket(udp ? SOCK_DGRAM : SOCK_STREAM, o.local_ip, o.local_port, &why);
    if (fd < 0) {
      std::fprintf(stderr, "kernel_rr: %s\n", why.c_str());
      return 1;
    }
    std::fprintf(o.json ? stderr : stdout, "kernel_rr: %s listening on %s:%u\n", o.proto.c_str(), o.local_ip.c_str(),
                 o.local_port);
    std::fflush(stdout);
    rep.start(mb::now_ns());
    const int rc = udp ? udp_server(fd, o, rep) : tcp_server(fd, o, rep);
    close(fd);
    return rc;
  }
  if (!udp) {
    const int fd = tcp_connect(o, &why);
    if (fd < 0) {
      std::fprintf(stderr, "kernel_rr: %s\n", why.c_str());
      return 1;
    }
    TcpTransport t(fd);  // owns fd
    return mb::run_client(t, o, rep);
  }
  const int fd = open_socket(SOCK_DGRAM, o.local_ip, 0, &why);
  sockaddr_in to;
  if (fd >= 0 && (!make_addr(o.remote_ip, o.remote_port, &to) ||
                  connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0)) {
    why = err(("connect " + o.remote_ip).c_str());
    close(fd);
  } else if (fd >= 0) {
    UdpTransport t(fd);
    const int rc = mb::run_client(t, o, rep);
    close(fd);
    return rc;
  }
  std::fprintf(stderr, "kernel_rr: %s\n", why.c_str());
  return 1;
}
