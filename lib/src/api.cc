// The C API: control calls go to the daemon over the socket; data calls touch only the
// channel's shared memory (no syscalls unless machnet_recv_timeout has to sleep, or a channel
// in fd mode found its ring empty after the daemon rang: see doorbell.cc).
#include <arpa/inet.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <chrono>
#include <cstring>
#include <new>

#include "channel/doorbell_socket.h"
#include "channel/message_chain.h"
#include "lib_internal.h"
#include "machnet.h"

using machnet::channel::BufferDesc;
using machnet::channel::CtlType;
namespace ch = machnet::channel;
static_assert(sizeof(MachnetIovec_t) == sizeof(ch::IoPiece) && offsetof(MachnetIovec_t, len) == offsetof(ch::IoPiece, len));
namespace lib = machnet::lib;

namespace {

lib::Channel* as_channel(const void* handle) {
  auto* c = static_cast<lib::Channel*>(const_cast<void*>(handle));
  if (!c || c->handle_magic != lib::kHandleMagic) return nullptr;
  return c;
}

bool parse_ip(const char* text, uint32_t* out) {
  in_addr a{};
  if (!text || inet_pton(AF_INET, text, &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}

// Wakes the engine if it sleeps. Pairs with the engine, which sets engine_sleeping and
// then looks at the rings once more: we published the message, then look at the flag
// (both seq_cst), so one of us sees the other. A syscall only when the engine sleeps.
void wake_engine(lib::Channel* c) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  std::atomic_ref<uint32_t> sleeping(c->view.header()->engine_sleeping);
  if (sleeping.load(std::memory_order_relaxed) == 0 || sleeping.exchange(0) == 0) return;
  ch::doorbell_ring(c->doorbell_fd);
}

int send_iov(lib::Channel* c, const MachnetFlow_t& flow, const MachnetIovec_t* iov, size_t iovcnt,
             size_t len, uint16_t flags) {
  const auto& g = c->view.geometry();
  // A stopping daemon takes nothing new: refused here rather than queued and lost.
  if (std::atomic_ref<uint32_t>(c->view.header()->daemon_stopping).load(std::memory_order_seq_cst) != 0)
    return lib::fail(ESHUTDOWN, "the daemon is stopping: it takes no new messages");
  if (len > g.max_message_bytes || len > MACHNET_MSG_MAX_LEN)
    return lib::fail(EMSGSIZE, "message of " + std::to_string(len) + " bytes exceeds the channel's maximum of " +
                                   std::to_string(g.max_message_bytes));
  const uint32_t need = ch::buffers_for(len, g.buffer_size);
  if (c->to_daemon.free_space(1) == 0) return lib::fail(ENOBUFS, "send ring full: the daemon has not caught up yet");
  while (c->stash.size() < need) {
    uint32_t got[64];
    const uint32_t want = std::min<uint32_t>(64, need - c->stash.size());
    const uint32_t n = c->app_free.dequeue_burst(got, want);
    if (n == 0) break;
    for (uint32_t k = 0; k < n; ++k) {
      if (c->view.in_app_pool(got[k])) c->stash.push_back(got[k]);
    }
  }
  if (c->stash.size() < need)
    return lib::fail(ENOBUFS, "no free send buffers: " + std::to_string(need) + " needed, " +
                                  std::to_string(c->stash.size()) + " available; retry later");
  ch::IoCursor src{reinterpret_cast<const ch::IoPiece*>(iov), iovcnt};
  const uint32_t* idx = c->stash.data() + c->stash.size() - need;
  ch::fill_chain(c->view, idx, src, static_cast<uint32_t>(len), flags, flow.src_ip, flow.dst_ip, flow.src_port,
                 flow.dst_port);
  // The release store of the ring's producer index publishes the descriptors and data.
  if (!c->to_daemon.enqueue(idx[0])) return lib::fail(ENOBUFS, "send ring full");
  c->stash.resize(c->stash.size() - need);
  wake_engine(c);
  return 0;
}

// Looks at the next message: -1 error, 0 nothing, 1 ready with its chain in c->chain.
int peek_message(lib::Channel* c, BufferDesc* head_out) {
  if (c->to_app.available(1) == 0) return 0;
  uint32_t count = 0;
  const bool ok = ch::walk_chain(c->view, c->to_app.peek(0), [c](uint32_t i) { return c->view.in_daemon_pool(i); },
                                 c->chain.data(), &count, head_out);
  c->chain_len = ok ? count : 0;
  if (ok) return 1;
  // Trusting the daemon is reasonable, but a malformed message must not take the app down.
  c->to_app.advance(1);
  return lib::fail(EPROTO, "the daemon delivered a malformed message; it was discarded");
}

void release_message(lib::Channel* c) {
  c->to_app.advance(1);
  c->daemon_free.enqueue_burst(c->chain.data(), c->chain_len);
}

// 1 received, 0 nothing, -1 error.
int recv_iov(lib::Channel* c, const MachnetIovec_t* iov, size_t iovcnt, size_t cap, MachnetFlow_t* flow,
             uint32_t* size, uint16_t* flags) {
  BufferDesc head{};
  int r = peek_message(c, &head);
  // Empty: in fd mode arm the doorbell so the descriptor turns readable on the next delivery;
  // a message that raced with the arming is taken now rather than left for a wake-up.
  if (r == 0 && c->fd_mode && lib::doorbell_on_empty_st(c)) r = peek_message(c, &head);
  if (r <= 0) return r;
  if (head.flags & ch::kMsgFlowEnded) {
    if (flow) *flow = MachnetFlow_t{head.src_ip, head.dst_ip, head.src_port, head.dst_port};
    if (size) *size = 0;
    release_message(c);
    const int err = head.reserved ? head.reserved : ECONNRESET;
    const char* why = err == ETIMEDOUT      ? "the flow ended: the peer stopped answering"
                      : err == ENETDOWN     ? "the flow ended: the daemon stopped; everything sent on it was delivered"
                      : err == ECONNABORTED ? "the flow ended: the daemon stopped before it could deliver everything sent on it"
                      : err == EPIPE        ? "a message sent on this flow was not sent: the flow is closed"
                                            : "the flow ended: reset by the peer";
    return lib::fail(err, why);
  }
  if (head.msg_len > cap)
    return lib::fail(EMSGSIZE, "message of " + std::to_string(head.msg_len) + " bytes does not fit the " +
                                   std::to_string(cap) + "-byte receive buffer; it stays queued");
  ch::IoCursor dst{reinterpret_cast<const ch::IoPiece*>(iov), iovcnt};
  ch::copy_chain_out(c->view, c->chain.data(), c->chain_len, dst);
  if (flow) *flow = MachnetFlow_t{head.src_ip, head.dst_ip, head.src_port, head.dst_port};
  if (size) *size = head.msg_len;
  if (flags) *flags = head.flags;
  release_message(c);
  return 1;
}

// Time left until deadline for ppoll: nullptr (forever) for a negative timeout; false when
// it has passed. Nanoseconds, not whole milliseconds: rounding down would turn a 1 ms timeout
// into no wait at all and its caller into a spinner.
using Clock = std::chrono::steady_clock;
bool time_left(int timeout_ms, Clock::time_point deadline, timespec* ts, timespec** wait) {
  *wait = nullptr;
  if (timeout_ms < 0) return true;
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()).count();
  if (left <= 0) return false;
  ts->tv_sec = static_cast<time_t>(left / 1'000'000'000);
  ts->tv_nsec = static_cast<long>(left % 1'000'000'000);
  *wait = ts;
  return true;
}

}  // namespace

extern "C" {

int machnet_init(void) {
  lib::clear_error();
  return lib::connect_daemon();
}

void* machnet_attach(void) {
  lib::clear_error();
  lib::Response resp;
  if (lib::request(lib::make_request(CtlType::kAttach, 0), &resp) != 0) return nullptr;
  const int memfd = resp.fds[0], doorbell_fd = resp.fds[1];
  auto give_up = [&](int err, std::string why) -> void* {
    if (memfd >= 0) ::close(memfd);
    if (doorbell_fd >= 0) ::close(doorbell_fd);
    lib::fail(err, std::move(why));
    return nullptr;
  };
  if (memfd < 0 || doorbell_fd < 0) return give_up(EPROTO, "machnetd did not pass the channel's descriptors");
  const uint64_t size = resp.msg.channel_size;
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (base == MAP_FAILED) return give_up(errno, std::string("mmap of the channel failed: ") + std::strerror(errno));
  ::close(memfd);  // the mapping keeps the memory alive
  ch::ChannelGeometry g;
  if (const char* why = ch::read_header(static_cast<ch::ChannelHeader*>(base), size, &g)) {
    ::munmap(base, size);
    return give_up(EPROTO, why);
  }
  auto* c = new (std::nothrow) lib::Channel;
  if (!c) {
    ::munmap(base, size);
    return give_up(ENOMEM, "out of memory");
  }
  c->id = resp.msg.channel_id;
  c->base = static_cast<uint8_t*>(base);
  c->mapped = size;
  c->doorbell_fd = doorbell_fd;
  c->view = ch::ChannelView(c->base, g);
  auto prod = [&](const ch::RingRef& r) { return reinterpret_cast<ch::RingHeader*>(c->base + r.offset)->producer; };
  auto cons = [&](const ch::RingRef& r) { return reinterpret_cast<ch::RingHeader*>(c->base + r.offset)->consumer; };
  c->to_daemon = ch::RingProducer(c->view.ring(g.to_daemon), g.to_daemon.slots, prod(g.to_daemon));
  c->to_app = ch::RingConsumer(c->view.ring(g.to_app), g.to_app.slots, cons(g.to_app));
  c->app_free = ch::RingConsumer(c->view.ring(g.app_free), g.app_free.slots, cons(g.app_free));
  c->daemon_free = ch::RingProducer(c->view.ring(g.daemon_free), g.daemon_free.slots, prod(g.daemon_free));
  c->stash.reserve(g.app_pool_count);
  c->chain.resize(g.max_chain);  // once: resizing per message cleared max_chain entries each time
  return c;
}

int machnet_listen(void* channel, const char* local_ip, uint16_t port) {
  lib::clear_error();
  auto* c = as_channel(channel);
  if (!c) return lib::fail(EINVAL, "machnet_listen: not a channel handle");
  auto req = lib::make_request(CtlType::kListen, c->id);
  if (!parse_ip(local_ip, &req.local_ip)) return lib::fail(EINVAL, std::string("machnet_listen: not an IPv4 address: ") + (local_ip ? local_ip : "(null)"));
  req.local_port = port;
  lib::Response resp;
  return lib::request(req, &resp);
}

int machnet_connect(void* channel, const char* local_ip, const char* remote_ip, uint16_t remote_port,
                    MachnetFlow_t* flow) {
  lib::clear_error();
  auto* c = as_channel(channel);
  if (!c || !flow) return lib::fail(EINVAL, "machnet_connect: null channel or flow");
  auto req = lib::make_request(CtlType::kConnect, c->id);
  if (!parse_ip(local_ip, &req.local_ip) || !parse_ip(remote_ip, &req.remote_ip))
    return lib::fail(EINVAL, "machnet_connect: local_ip and remote_ip must be IPv4 addresses");
  req.remote_port = remote_port;
  lib::Response resp;
  if (lib::request(req, &resp) != 0) return -1;
  *flow = MachnetFlow_t{resp.msg.flow.src_ip, resp.msg.flow.dst_ip, resp.msg.flow.src_port, resp.msg.flow.dst_port};
  return 0;
}

int machnet_send(const void* channel, MachnetFlow_t flow, const void* buf, size_t len) {
  auto* c = as_channel(channel);
  if (!c || (!buf && len)) return lib::fail(EINVAL, "machnet_send: null channel or buffer");
  MachnetIovec_t iov{const_cast<void*>(buf), len};
  return send_iov(c, flow, &iov, 1, len, 0);
}

int machnet_sendmsg(const void* channel, const MachnetMsgHdr_t* m) {
  auto* c = as_channel(channel);
  if (!c || !m || (!m->msg_iov && m->msg_iovlen)) return lib::fail(EINVAL, "machnet_sendmsg: null argument");
  size_t total = 0;
  for (size_t i = 0; i < m->msg_iovlen; ++i) {
    if (!m->msg_iov[i].base && m->msg_iov[i].len) return lib::fail(EINVAL, "machnet_sendmsg: null iovec base");
    total += m->msg_iov[i].len;
  }
  if (total != m->msg_size)
    return lib::fail(EINVAL, "machnet_sendmsg: msg_size " + std::to_string(m->msg_size) + " but the iovecs hold " +
                                 std::to_string(total) + " bytes");
  return send_iov(c, m->flow_info, m->msg_iov, m->msg_iovlen, total, m->flags);
}

int machnet_sendmmsg(const void* channel, const MachnetMsgHdr_t* msghdrs, int vlen) {
  if (!as_channel(channel) || (!msghdrs && vlen > 0) || vlen < 0) return lib::fail(EINVAL, "machnet_sendmmsg: bad argument");
  int sent = 0;
  while (sent < vlen && machnet_sendmsg(channel, &msghdrs[sent]) == 0) ++sent;
  return sent;
}

ssize_t machnet_recv(const void* channel, void* buf, size_t len, MachnetFlow_t* flow) {
  auto* c = as_channel(channel);
  if (!c || (!buf && len)) return lib::fail(EINVAL, "machnet_recv: null channel or buffer");
  MachnetIovec_t iov{buf, len};
  uint32_t size = 0;
  const int r = recv_iov(c, &iov, 1, len, flow, &size, nullptr);
  return r <= 0 ? r : static_cast<ssize_t>(size);
}

int machnet_recvmsg(const void* channel, MachnetMsgHdr_t* m) {
  auto* c = as_channel(channel);
  if (!c || !m || (!m->msg_iov && m->msg_iovlen)) return lib::fail(EINVAL, "machnet_recvmsg: null argument");
  size_t cap = 0;
  for (size_t i = 0; i < m->msg_iovlen; ++i) cap += m->msg_iov[i].len;
  return recv_iov(c, m->msg_iov, m->msg_iovlen, cap, &m->flow_info, &m->msg_size, &m->flags);
}

int machnet_get_channel_stats(const void* channel, MachnetChannelStats_t* stats, size_t stats_size) {
  auto* c = as_channel(channel);
  if (!c || !stats) return lib::fail(EINVAL, "machnet_get_channel_stats: null argument");
  const ch::ChannelStats* s = c->view.stats();
  MachnetChannelStats_t out{};
  auto rd = [](const uint64_t& v) { return std::atomic_ref<const uint64_t>(v).load(std::memory_order_relaxed); };
  out.msgs_sent = rd(s->msgs_in);
  out.bytes_sent = rd(s->bytes_in);
  out.msgs_received = rd(s->msgs_out);
  out.bytes_received = rd(s->bytes_out);
  uint64_t* drops[] = {&out.drops_bad_ring_index, &out.drops_bad_buffer_index, &out.drops_bad_chain,
                       &out.drops_bad_length,     &out.drops_unknown_flow,     &out.drops_bad_free_index,
                       &out.drops_peer_gone,      &out.drops_receiver_full};
  static_assert(sizeof(drops) / sizeof(drops[0]) == ch::kDropReasonCount);
  for (uint32_t r = 0; r < ch::kDropReasonCount; ++r) {
    *drops[r] = rd(s->drops[r]);
    out.drops_total += *drops[r];
  }
  out.max_message_bytes = c->view.geometry().max_message_bytes;
  out.channel_id = c->id;
  std::memcpy(stats, &out, std::min(stats_size, sizeof(out)));
  return 0;
}

}  // extern "C"

namespace {

// The daemon's end of the doorbell is gone: it stopped, or dropped this channel. Waiting on
// would spin on a descriptor that stays readable, and it is not a timeout.
ssize_t doorbell_closed() {
  return lib::fail(ECONNRESET, "the channel's doorbell closed: machnetd stopped or dropped this channel");
}

// machnet_recv_timeout on a channel in fd mode: machnet_recv arms the doorbell itself (and
// drains it), so waiting is only a poll; the flag stays as the receive path keeps it.
ssize_t recv_timeout_fd_mode(lib::Channel* c, void* buf, size_t len, MachnetFlow_t* flow, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    const bool pending = c->to_app.available(1) > 0;
    const ssize_t n = machnet_recv(c, buf, len, flow);
    if (n != 0 || pending) return n;
    timespec ts{};
    timespec* wait = nullptr;
    if (!time_left(timeout_ms, deadline, &ts, &wait)) {
      lib::fail(ETIMEDOUT, "no message within the timeout");
      return 0;
    }
    pollfd p{c->doorbell_fd, POLLIN, 0};
    if (::ppoll(&p, 1, wait, nullptr) < 0) return lib::fail(errno, std::string("waiting for the doorbell: ") + std::strerror(errno));
    if (p.revents & POLLHUP) return doorbell_closed();
  }
}

}  // namespace

extern "C" {

ssize_t machnet_recv_timeout(const void* channel, void* buf, size_t len, MachnetFlow_t* flow, int timeout_ms) {
  auto* c = as_channel(channel);
  if (!c) return lib::fail(EINVAL, "machnet_recv_timeout: not a channel handle");
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  if (c->fd_mode) return recv_timeout_fd_mode(c, buf, len, flow, timeout_ms);
  std::atomic_ref<uint32_t> waiting(c->view.header()->app_waiting);
  for (;;) {
    // Zero-length messages: tell "nothing" from "empty message" by looking at the ring.
    const bool pending = c->to_app.available(1) > 0;
    const ssize_t n = machnet_recv(channel, buf, len, flow);
    if (n != 0 || pending) return n;
    // Announce that we sleep, then look again: the daemon checks the flag after it
    // publishes, so one of us sees the other (both sides use seq_cst).
    waiting.store(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (c->to_app.available(1) > 0) {
      waiting.store(0, std::memory_order_relaxed);
      continue;
    }
    // The time left in nanoseconds (ppoll), not whole milliseconds: rounding down would
    // turn a 1 ms timeout into no wait at all and its caller into a spinner.
    timespec left_ts{};
    timespec* wait = nullptr;
    if (timeout_ms >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clock::now()).count();
      if (left <= 0) {
        waiting.store(0, std::memory_order_relaxed);
        lib::fail(ETIMEDOUT, "no message within the timeout");
        return 0;
      }
      left_ts.tv_sec = static_cast<time_t>(left / 1'000'000'000);
      left_ts.tv_nsec = static_cast<long>(left % 1'000'000'000);
      wait = &left_ts;
    }
    pollfd p{c->doorbell_fd, POLLIN, 0};
    const int r = ::ppoll(&p, 1, wait, nullptr);
    waiting.store(0, std::memory_order_relaxed);
    if (r < 0) return lib::fail(errno, std::string("waiting for the doorbell: ") + std::strerror(errno));
    if (r > 0 && ch::doorbell_drain(c->doorbell_fd).closed) return doorbell_closed();
  }
}

int machnet_channel_fd(void* channel) {
  auto* c = as_channel(channel);
  if (!c) return lib::fail(EINVAL, "machnet_channel_fd: not a channel handle");
  lib::doorbell_enable_st(c);
  return c->doorbell_fd;
}

int machnet_close_flow(void* channel, MachnetFlow_t flow) {
  lib::clear_error();
  auto* c = as_channel(channel);
  if (!c) return lib::fail(EINVAL, "machnet_close_flow: not a channel handle");
  auto req = lib::make_request(CtlType::kCloseFlow, c->id);
  req.flow = ch::CtlFlow{flow.src_ip, flow.dst_ip, flow.src_port, flow.dst_port};
  lib::Response resp;
  return lib::request(req, &resp);
}

int machnet_detach(void* channel) {
  lib::clear_error();
  auto* c = as_channel(channel);
  if (!c) return lib::fail(EINVAL, "machnet_detach: not a channel handle");
  lib::Response resp;
  const int r = lib::request(lib::make_request(CtlType::kDetach, c->id), &resp);
  const int err = errno;
  ::munmap(c->base, c->mapped);
  ::close(c->doorbell_fd);
  c->handle_magic = 0;
  delete c;
  errno = err;
  return r;
}

const char* machnet_last_error(void) { return lib::last_error(); }

}  // extern "C"
