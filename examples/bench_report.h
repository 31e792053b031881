// What the request-reply benchmarks share, so that msg_gen (Machnet) and bench/kernel_rr
// (kernel UDP/TCP sockets) measure and report the same way and their numbers compare:
//  - the command line (upstream msg_gen's flags plus --duration and --json);
//  - the request format: sequence number and send timestamp in the first 16 bytes, then a
//    pattern derived from the sequence number that --verify checks on the reply;
//  - the client loop (window of requests in flight, RTT per reply, bounded waits), written
//    once over a small Transport interface each program implements;
//  - the per-second line and the summary (text, or one JSON object on stdout).
#ifndef MACHNET_EXAMPLES_BENCH_REPORT_H_
#define MACHNET_EXAMPLES_BENCH_REPORT_H_

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include <boost/program_options.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "latency_histogram.h"

namespace machnet::bench {

inline constexpr size_t kHeaderBytes = 16;  // uint64 sequence number, uint64 send time (ns)
// How long one idle wait may sleep. A reply ends the wait at once (doorbell or poll), so this
// only bounds how late the per-second line and the end of the run can be. At least 2 ms:
// machnet_recv_timeout() rounds what is left down to whole milliseconds, so a 1 ms wait
// returns before it ever sleeps and the caller spins.
inline constexpr int kIdleWaitMs = 10;

// One turn of the spin phase that found nothing: give the CPU to any other runnable thread
// (the daemon, the peer) and come straight back if there is none. On 2 shared vCPUs a pure
// spin holds the core the other side needs until the scheduler's tick; a yield does not.
inline void spin_pause() { sched_yield(); }

struct Options {
  std::string local_ip, remote_ip, proto;
  uint16_t local_port = 888, remote_port = 888;
  uint32_t msg_size = 64, msg_window = 8, spin_us = 0;
  uint64_t msg_nr = 0;
  double duration = 0;
  bool verify = false, json = false;
  bool client() const { return !remote_ip.empty(); }
};

// Parses argv. Returns -1 to go on, or the exit code (0 after --help, 2 on a bad command
// line). `extra` holds the program's own flags (kernel_rr's --proto).
inline int parse_options(int argc, char** argv, const char* summary, Options* o,
                         const boost::program_options::options_description& extra = {}) {
  namespace po = boost::program_options;
  po::options_description d(std::string(summary) + "\n\nOptions (--flag=value or --flag value)");
  d.add_options()
      ("help,h", "show this help")
      ("local_ip", po::value(&o->local_ip)->required(), "this side's IPv4 address (required)")
      ("remote_ip", po::value(&o->remote_ip), "the server's address; without it, run as the echo server")
      ("local_port", po::value(&o->local_port)->default_value(888), "server: port to listen on")
      ("remote_port", po::value(&o->remote_port)->default_value(888), "client: the server's port")
      ("msg_size", po::value(&o->msg_size)->default_value(64),
       "bytes per request and reply (>= 16: sequence number and timestamp)")
      ("msg_window", po::value(&o->msg_window)->default_value(8), "client: requests in flight")
      ("msg_nr", po::value(&o->msg_nr)->default_value(0),
       "client: requests to complete; server: messages to echo (0 = unlimited)")
      ("duration", po::value(&o->duration)->default_value(0),
       "seconds to run (0 = until --msg_nr, or until SIGINT)")
      ("verify", po::bool_switch(&o->verify), "client: check every reply's sequence number and payload")
      ("json", po::bool_switch(&o->json),
       "print the summary as one JSON object on stdout (per-second lines go to stderr)")
      ("spin_us", po::value(&o->spin_us)->default_value(200),
       "after the last activity, poll this long (yielding the CPU between polls to any thread "
       "that wants it) before sleeping until a message arrives (0: sleep at once)");
  d.add(extra);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, d), vm);
    if (vm.count("help")) {
      std::cout << d << "\nEach second the client prints messages/s, Gbit/s (reply payload, one\n"
                        "direction) and the p50/p99/p99.9/max round-trip latency in microseconds.\n";
      return 0;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << argv[0] << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  if (o->msg_size < kHeaderBytes) {
    std::cerr << argv[0] << ": --msg_size must be at least " << kHeaderBytes
              << ": every request carries an 8-byte sequence number and an 8-byte timestamp\n";
    return 2;
  }
  if (o->msg_window == 0) {
    std::cerr << argv[0] << ": --msg_window must be at least 1\n";
    return 2;
  }
  return -1;
}

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// SIGINT/SIGTERM ask the loops to stop and report; a second SIGINT kills (SA_RESETHAND), so
// a wedged run can still be interrupted. No SA_RESTART: blocking waits return EINTR at once.
inline volatile sig_atomic_t g_stop = 0;
inline void install_stop_handlers() {
  struct sigaction sa{};
  sa.sa_handler = [](int) { g_stop = 1; };
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a TCP peer that went away is an error return, not a death
}

// Request bytes after the header: a function of the sequence number, so a reply carrying
// another request's payload (or a corrupted one) is caught by --verify.
inline uint8_t pattern_byte(uint64_t seq, size_t i) { return static_cast<uint8_t>(seq * 131 + i); }
inline void fill_body(std::vector<uint8_t>& b, uint64_t seq) {
  for (size_t i = kHeaderBytes; i < b.size(); ++i) b[i] = pattern_byte(seq, i);
}
inline bool body_matches(const uint8_t* b, size_t len, uint64_t seq) {
  for (size_t i = kHeaderBytes; i < len; ++i)
    if (b[i] != pattern_byte(seq, i)) return false;
  return true;
}

// Counts, per-second lines and the summary, for the client (latencies) and the server
// (messages echoed).
class Reporter {
 public:
  Reporter(const Options& o, std::string tool, std::string transport)
      : o_(o), tool_(std::move(tool)), transport_(std::move(transport)), lines_(o.json ? stderr : stdout) {}

  void start(uint64_t now) { start_ = last_tick_ = now; }
  void on_reply(uint64_t rtt_ns) { interval_.record(rtt_ns); }
  void on_echo() { ++interval_echoes_; }

  uint64_t sent = 0, lost = 0, late = 0, verify_errors = 0, send_busy = 0;

  // Prints the last second's line once a second has passed.
  void tick(uint64_t now) {
    if (now - last_tick_ < 1'000'000'000ull) return;
    const double secs = static_cast<double>(now - last_tick_) / 1e9;
    const double t = static_cast<double>(now - start_) / 1e9;
    if (o_.client()) {
      const double rate = static_cast<double>(interval_.count()) / secs;
      std::fprintf(lines_,
                   "[%s %s] t=%5.1fs  %10.0f msgs/s  %7.3f Gbit/s  p50 %8.1f  p99 %8.1f  p99.9 %8.1f  max %8.1f us\n",
                   tool_.c_str(), transport_.c_str(), t, rate, gbit(rate), us(interval_.percentile(50)),
                   us(interval_.percentile(99)), us(interval_.percentile(99.9)), us(interval_.max()));
      total_.merge(interval_);
      interval_.reset();
    } else {
      std::fprintf(lines_, "[%s %s server] t=%5.1fs  %10.0f msgs/s echoed\n", tool_.c_str(), transport_.c_str(), t,
                   static_cast<double>(interval_echoes_) / secs);
      total_echoes_ += interval_echoes_;
      interval_echoes_ = 0;
    }
    std::fflush(lines_);
    last_tick_ = now;
  }

  // The summary; `error` (empty when the run went well) makes it a failed run. Returns the
  // exit code.
  int finish(uint64_t now, const std::string& error) {
    total_.merge(interval_);
    interval_.reset();
    total_echoes_ += interval_echoes_;
    interval_echoes_ = 0;
    const double secs = static_cast<double>(now - start_) / 1e9;
    const uint64_t msgs = o_.client() ? total_.count() : total_echoes_;
    const double rate = secs > 0 ? static_cast<double>(msgs) / secs : 0;
    if (o_.json) {
      nlohmann::json j = {{"tool", tool_}, {"transport", transport_}, {"role", o_.client() ? "client" : "server"},
                          {"ok", error.empty()}, {"msg_size", o_.msg_size}, {"msg_window", o_.msg_window},
                          {"seconds", secs}, {"messages", msgs}, {"msgs_per_s", rate}, {"gbit_per_s", gbit(rate)}};
      if (o_.client()) {
        j["latency_us"] = {{"min", us(total_.min())}, {"mean", total_.mean() / 1e3},
                           {"p50", us(total_.percentile(50))}, {"p99", us(total_.percentile(99))},
                           {"p99.9", us(total_.percentile(99.9))}, {"max", us(total_.max())}};
        j["sent"] = sent;
        j["lost"] = lost;
        j["late"] = late;
        j["verify_errors"] = verify_errors;
        j["send_busy"] = send_busy;
      }
      // This process's own CPU time, so bench/run.sh can charge it per message (a process
      // that has exited can no longer be read from /proc).
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      j["cpu_s"] = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
      if (!error.empty()) j["error"] = error;
      std::printf("%s\n", j.dump().c_str());
    } else if (o_.client()) {
      std::printf("[%s %s] summary: %llu round trips of %u B in %.2f s (window %u): %.0f msgs/s, %.3f Gbit/s\n"
                  "  latency us: min %.1f  mean %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n"
                  "  sent %llu  lost %llu  late %llu  verify errors %llu  send busy %llu\n",
                  tool_.c_str(), transport_.c_str(), static_cast<unsigned long long>(msgs), o_.msg_size, secs,
                  o_.msg_window, rate, gbit(rate), us(total_.min()), total_.mean() / 1e3, us(total_.percentile(50)),
                  us(total_.percentile(99)), us(total_.percentile(99.9)), us(total_.max()),
                  static_cast<unsigned long long>(sent), static_cast<unsigned long long>(lost),
                  static_cast<unsigned long long>(late), static_cast<unsigned long long>(verify_errors),
                  static_cast<unsigned long long>(send_busy));
    } else {
      std::printf("[%s %s server] summary: %llu messages echoed in %.2f s (%.0f msgs/s)\n", tool_.c_str(),
                  transport_.c_str(), static_cast<unsigned long long>(msgs), secs, rate);
    }
    std::fflush(stdout);
    if (!error.empty()) std::fprintf(stderr, "%s: %s\n", tool_.c_str(), error.c_str());
    return error.empty() ? 0 : 1;
  }

 private:
  static double us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }
  double gbit(double msgs_per_s) const { return msgs_per_s * o_.msg_size * 8 / 1e9; }

  const Options& o_;
  std::string tool_, transport_;
  FILE* lines_;
  uint64_t start_ = 0, last_tick_ = 0, interval_echoes_ = 0, total_echoes_ = 0;
  LatencyHistogram interval_, total_;
};

// The client loop over a Transport that provides:
//   int try_send(const uint8_t* buf, size_t len);   1 queued, 0 busy (try later), -1 error
//   ssize_t try_recv(uint8_t* buf, size_t cap, int timeout_ms);
//                                                   reply length, 0 nothing yet, -1 error
//   bool lossy() const;         replies may vanish (UDP): give up on them instead of failing
//   std::string error() const;  why the last call failed
// Keeps msg_window requests in flight until --duration, --msg_nr or a signal, then waits
// (at most a second) for the replies still in flight. Returns the exit code.
template <class Transport>
int run_client(Transport& t, const Options& o, Reporter& rep) {
  // A reliable transport that stays silent this long is broken; UDP replies missing this
  // long are counted lost and their window slots reused.
  const uint64_t reply_timeout = t.lossy() ? 200'000'000ull : 5'000'000'000ull;
  // Replies come back in the order sent unless the transport spreads requests over flows.
  const bool ordered = [&] {
    if constexpr (requires { t.ordered(); }) return t.ordered();
    else return true;
  }();
  const uint64_t spin = uint64_t{o.spin_us} * 1000;
  std::vector<uint8_t> tx(o.msg_size), rx(o.msg_size);
  fill_body(tx, 0);
  uint64_t next_seq = 0, floor_seq = 0, expected = 0, in_flight = 0;
  const uint64_t start = now_ns();
  const uint64_t end = o.duration > 0 ? start + static_cast<uint64_t>(o.duration * 1e9) : UINT64_MAX;
  uint64_t last_progress = start, last_activity = start, drain_until = 0;
  bool sending = true;
  rep.start(start);
  auto fail = [&](const std::string& why) { return rep.finish(now_ns(), why); };
  for (;;) {
    uint64_t now = now_ns();
    if (sending && (g_stop || now >= end || (o.msg_nr && next_seq >= o.msg_nr))) {
      sending = false;
      drain_until = now + 1'000'000'000ull;
    }
    if (!sending && (in_flight == 0 || now >= drain_until)) break;
    while (sending && in_flight < o.msg_window && (!o.msg_nr || next_seq < o.msg_nr)) {
      if (o.verify) fill_body(tx, next_seq);
      const uint64_t stamp = now_ns();
      std::memcpy(tx.data(), &next_seq, 8);
      std::memcpy(tx.data() + 8, &stamp, 8);
      const int r = t.try_send(tx.data(), tx.size());
      if (r < 0) return fail("send: " + t.error());
      if (r == 0) {  // backpressure: go and take replies, then try again
        ++rep.send_busy;
        break;
      }
      if (in_flight == 0) last_progress = stamp;
      ++next_seq;
      ++in_flight;
      ++rep.sent;
      last_activity = stamp;
    }
    // Poll while traffic flows (lowest latency), yielding between polls; sleep in short
    // waits when idle so that an idle benchmark costs no CPU.
    const bool idle = now_ns() - last_activity > spin;  // (now may predate the last send)
    const ssize_t n = t.try_recv(rx.data(), rx.size(), idle ? kIdleWaitMs : 0);
    if (n < 0) return fail("receive: " + t.error());
    if (n == 0 && !idle) spin_pause();
    now = now_ns();
    if (n > 0) {
      last_activity = now;
      uint64_t seq = 0, stamp = 0;
      if (static_cast<size_t>(n) >= kHeaderBytes) {
        std::memcpy(&seq, rx.data(), 8);
        std::memcpy(&stamp, rx.data() + 8, 8);
      }
      if (static_cast<size_t>(n) < kHeaderBytes || seq >= next_seq) {
        ++rep.verify_errors;  // not a reply to anything we sent
      } else if (seq < floor_seq) {
        ++rep.late;  // given up as lost already
      } else {
        rep.on_reply(now - stamp);
        --in_flight;
        last_progress = now;
        if (o.verify && (static_cast<size_t>(n) != o.msg_size || !body_matches(rx.data(), n, seq) ||
                         (!t.lossy() && ordered && seq != expected)))
          ++rep.verify_errors;
        expected = seq + 1;
      }
    } else if (in_flight > 0 && now - last_progress > reply_timeout) {
      if (!t.lossy()) return fail("no reply for " + std::to_string(reply_timeout / 1'000'000'000ull) + " s");
      rep.lost += in_flight;
      in_flight = 0;
      floor_seq = next_seq;
    } else if (in_flight == 0 && sending && now - last_progress > reply_timeout) {
      return fail("send stayed busy for " + std::to_string(reply_timeout / 1'000'000ull) + " ms");
    }
    rep.tick(now);
  }
  return rep.finish(now_ns(), in_flight && !t.lossy() && !g_stop
                                   ? std::to_string(in_flight) + " replies missing at the end"
                                   : std::string());
}

}  // namespace machnet::bench

#endif  // MACHNET_EXAMPLES_BENCH_REPORT_H_
