// msg_gen: Machnet's request-reply load generator, with upstream msg_gen's flags.
//
//   server:  msg_gen --local_ip 10.0.0.1
//   client:  msg_gen --local_ip 10.0.0.2 --remote_ip 10.0.0.1 --msg_size 1024 --msg_window 32
//
// The server listens on local_ip:local_port and echoes every message on the flow it came
// from. The client keeps msg_window requests in flight on one flow and prints, each second,
// messages/s, Gbit/s and the p50/p99/p99.9/max round-trip latency, then a summary (--json:
// one JSON object). bench/kernel_rr is the same program over kernel sockets, for comparison.
// MACHNET_SOCKET names the daemon's socket when it is not /run/machnet/machnet.sock.
#include <machnet.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "bench_report.h"

namespace mb = machnet::bench;

namespace {

std::string last_error() {
  const char* detail = machnet_last_error();
  return std::string(std::strerror(errno)) + (detail && *detail ? std::string(" (") + detail + ")" : "");
}

// The client's Transport (see run_client): --num_flows connected flows on one channel,
// requests sent on each in turn.
class MachnetTransport {
 public:
  MachnetTransport(void* channel, std::vector<MachnetFlow_t> flows) : channel_(channel), flows_(std::move(flows)) {}

  int try_send(const uint8_t* buf, size_t len) {
    if (machnet_send(channel_, flows_[next_], buf, len) == 0) {
      next_ = next_ + 1 == flows_.size() ? 0 : next_ + 1;
      return 1;
    }
    if (errno == ENOBUFS || errno == EAGAIN) return 0;
    error_ = last_error();
    return -1;
  }

  ssize_t try_recv(uint8_t* buf, size_t cap, int timeout_ms) {
    MachnetFlow_t from;
    const ssize_t n = timeout_ms > 0 ? machnet_recv_timeout(channel_, buf, cap, &from, timeout_ms)
                                     : machnet_recv(channel_, buf, cap, &from);
    if (n >= 0) return n;
    if (errno == EINTR) return 0;  // a stop signal: the loop looks at the flag
    error_ = last_error();  // includes the flow's end: reset, peer silent, or closed
    return -1;
  }

  bool lossy() const { return false; }  // Machnet delivers reliably or resets the flow
  bool ordered() const { return flows_.size() == 1; }  // each flow is; several interleave
  std::string error() const { return error_; }

 private:
  void* channel_;
  std::vector<MachnetFlow_t> flows_;
  size_t next_ = 0;
  std::string error_;
};

// machnet_recv() reports the end of a flow as -1 with ECONNRESET (reset), ETIMEDOUT (the
// peer stopped answering); ESHUTDOWN too, should a daemon ever report an orderly close.
bool flow_ended(int err) { return err == ECONNRESET || err == ETIMEDOUT || err == ESHUTDOWN; }

// Sends one reply, retrying while the channel is full. Bounded: a daemon that takes nothing
// for 5 s is not coming back.
bool send_with_retry(void* channel, MachnetFlow_t flow, const void* buf, size_t len) {
  const uint64_t give_up = mb::now_ns() + 5'000'000'000ull;
  while (machnet_send(channel, flow, buf, len) != 0) {
    if ((errno != ENOBUFS && errno != EAGAIN) || mb::now_ns() > give_up || mb::g_stop) return false;
  }
  return true;
}

int run_server(void* channel, const mb::Options& o) {
  if (machnet_listen(channel, o.local_ip.c_str(), o.local_port) != 0) {
    std::fprintf(stderr, "msg_gen: machnet_listen %s:%u: %s\n", o.local_ip.c_str(), o.local_port,
                 last_error().c_str());
    return 1;
  }
  std::fprintf(o.json ? stderr : stdout, "msg_gen: listening on %s:%u\n", o.local_ip.c_str(), o.local_port);
  std::fflush(stdout);
  mb::Reporter rep(o, "msg_gen", "machnet");
  // Requests may be longer than --msg_size (the client chooses): grow on EMSGSIZE.
  std::vector<uint8_t> buf(std::max<size_t>(o.msg_size, 64 * 1024));
  const uint64_t start = mb::now_ns();
  const uint64_t end = o.duration > 0 ? start + static_cast<uint64_t>(o.duration * 1e9) : UINT64_MAX;
  uint64_t echoed = 0, last_activity = start;
  rep.start(start);
  while (!mb::g_stop && (!o.msg_nr || echoed < o.msg_nr)) {
    const uint64_t now = mb::now_ns();
    if (now >= end) break;
    rep.tick(now);
    MachnetFlow_t from;
    const bool idle = now - last_activity > uint64_t{o.spin_us} * 1000;
    const ssize_t n = idle ? machnet_recv_timeout(channel, buf.data(), buf.size(), &from, mb::kIdleWaitMs)
                           : machnet_recv(channel, buf.data(), buf.size(), &from);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EMSGSIZE && buf.size() < MACHNET_MSG_MAX_LEN) {
        buf.resize(std::min<size_t>(buf.size() * 2, MACHNET_MSG_MAX_LEN));
        continue;
      }
      if (flow_ended(errno)) {  // one client went away; keep serving the others
        std::fprintf(stderr, "msg_gen: %s\n", last_error().c_str());
        continue;
      }
      return rep.finish(mb::now_ns(), "machnet_recv: " + last_error());
    }
    if (n == 0) {
      if (!idle) mb::spin_pause();
      continue;
    }
    last_activity = mb::now_ns();
    // The reply goes back on the flow as travelled, source and destination swapped.
    const MachnetFlow_t reply{from.dst_ip, from.src_ip, from.dst_port, from.src_port};
    if (!send_with_retry(channel, reply, buf.data(), static_cast<size_t>(n))) {
      if (mb::g_stop) break;
      return rep.finish(mb::now_ns(), "machnet_send: " + last_error());
    }
    rep.on_echo();
    ++echoed;
  }
  return rep.finish(mb::now_ns(), "");
}

}  // namespace

int main(int argc, char** argv) {
  mb::Options o;
  uint32_t num_flows = 1;
  boost::program_options::options_description own("msg_gen");
  own.add_options()("num_flows", boost::program_options::value(&num_flows)->default_value(1),
                    "client: flows to open on the channel; requests go on each in turn");
  if (const int rc = mb::parse_options(argc, argv,
                                       "msg_gen: request-reply load generator over Machnet.\n"
                                       "Without --remote_ip: echo server on local_ip:local_port.",
                                       &o, own);
      rc >= 0)
    return rc;
  if (num_flows < 1 || num_flows > 1024) {
    std::fprintf(stderr, "msg_gen: --num_flows is 1 to 1024\n");
    return 2;
  }
  if (o.msg_size > MACHNET_MSG_MAX_LEN) {
    std::fprintf(stderr, "msg_gen: --msg_size is at most %u (MACHNET_MSG_MAX_LEN)\n", MACHNET_MSG_MAX_LEN);
    return 2;
  }
  mb::install_stop_handlers();
  if (machnet_init() != 0) {
    std::fprintf(stderr, "msg_gen: machnet_init: %s\n", last_error().c_str());
    return 1;
  }
  void* channel = machnet_attach();
  if (!channel) {
    std::fprintf(stderr, "msg_gen: machnet_attach: %s\n", last_error().c_str());
    return 1;
  }
  int rc;
  if (!o.client()) {
    rc = run_server(channel, o);
  } else {
    std::vector<MachnetFlow_t> flows(num_flows);
    for (MachnetFlow_t& flow : flows) {
      if (machnet_connect(channel, o.local_ip.c_str(), o.remote_ip.c_str(), o.remote_port, &flow) != 0) {
        std::fprintf(stderr, "msg_gen: machnet_connect %s -> %s:%u: %s\n", o.local_ip.c_str(), o.remote_ip.c_str(),
                     o.remote_port, last_error().c_str());
        machnet_detach(channel);
        return 1;
      }
    }
    MachnetTransport t(channel, flows);
    mb::Reporter rep(o, "msg_gen", "machnet");
    rc = mb::run_client(t, o, rep);
    for (const MachnetFlow_t& flow : flows) machnet_close_flow(channel, flow);
  }
  machnet_detach(channel);
  return rc;
}
