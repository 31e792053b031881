// The application socket: connect once per process, then one request/response at a time.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "lib_internal.h"

namespace machnet::lib {
namespace {

constexpr const char* kDefaultSocket = "/run/machnet/machnet.sock";

thread_local std::string t_last_error;

std::mutex g_mutex;
int g_fd = -1;

const char* socket_path() {
  const char* env = std::getenv("MACHNET_SOCKET");
  return env && *env ? env : kDefaultSocket;
}

void close_fds(Response* r) {
  for (int& fd : r->fds) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

}  // namespace

int fail(int err, std::string message) {
  t_last_error = std::move(message);
  errno = err;
  return -1;
}
void clear_error() { t_last_error.clear(); }
const char* last_error() { return t_last_error.c_str(); }

channel::CtlRequest make_request(channel::CtlType type, uint32_t channel_id) {
  channel::CtlRequest r{};
  r.magic = channel::kCtlMagic;
  r.version = channel::kCtlVersion;
  r.type = static_cast<uint16_t>(type);
  r.channel_id = channel_id;
  return r;
}

int connect_daemon() {
  std::lock_guard lock(g_mutex);
  if (g_fd >= 0) return 0;
  const char* path = socket_path();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (std::strlen(path) >= sizeof(addr.sun_path))
    return fail(ENAMETOOLONG, std::string("socket path too long: ") + path);
  std::strcpy(addr.sun_path, path);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(errno, std::string("socket(): ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(err, std::string("cannot reach machnetd at ") + path + ": " + std::strerror(err) +
                         (err == ENOENT || err == ECONNREFUSED ? " (is machnetd running? MACHNET_SOCKET overrides the path)" : ""));
  }
  g_fd = fd;
  return 0;
}

int request(const channel::CtlRequest& req, Response* out) {
  std::lock_guard lock(g_mutex);
  if (g_fd < 0) return fail(ENOTCONN, "not connected to machnetd: call machnet_init() first");
  ssize_t n;
  do n = ::send(g_fd, &req, sizeof(req), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(req))) {
    ::close(g_fd);
    g_fd = -1;
    return fail(ENOTCONN, std::string("lost the connection to machnetd: ") + std::strerror(errno));
  }
  iovec iov{&out->msg, sizeof(out->msg)};
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];  // room to close extras
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  do n = ::recvmsg(g_fd, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (i < std::size(out->fds)) out->fds[i] = fd;
        else ::close(fd);
      }
    }
  }
  if (n != static_cast<ssize_t>(sizeof(out->msg))) {
    close_fds(out);
    ::close(g_fd);
    g_fd = -1;
    return fail(ENOTCONN, n == 0 ? "machnetd closed the connection" : "lost the connection to machnetd");
  }
  if (out->msg.magic != channel::kCtlMagic || out->msg.version != channel::kCtlVersion || out->msg.type != req.type) {
    close_fds(out);
    return fail(EPROTO, "machnetd answered with an unexpected message (version mismatch?)");
  }
  if (out->msg.error != 0) {
    close_fds(out);
    out->msg.message[sizeof(out->msg.message) - 1] = '\0';
    return fail(out->msg.error, std::string("machnetd: ") + out->msg.message);
  }
  return 0;
}

}  // namespace machnet::lib
