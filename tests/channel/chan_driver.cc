// A test driver for the channel integration tests (tests/integration/test_channels.py).
// It uses only <machnet.h>, except "hostile", which speaks the socket protocol itself to get
// at its channel's memory and scribble over it.
//
//   chan_driver server  --ip IP --port P           verify numbered messages, ack each one
//   chan_driver client  --ip IP --port P --count N --seed S [--max-size B] [--big K]
//                       [--until-seconds T]  (sends for T s instead of N messages)
//   chan_driver hostile --ip IP --port P --seconds S
//   chan_driver doorbell --port P --seconds S      attack the daemon through the doorbell
//   chan_driver punch --seconds S                  punch holes in a hugetlb channel, hoard pages
//   chan_driver race [--ip IP] --port P --seconds S --seed S   threads rewrite its channel while it sends
//   chan_driver init                               machnet_init only; prints errno
//
// Message seq carries a 16-byte header {seq, size} and then bytes that are a function of
// (seq, offset), so the server checks every byte and the order. The server answers each
// message with a 16-byte ack {seq, fnv hash}; the client checks the acks in order.
// Progress goes to stdout as "sent N" / "acked N" lines; failures exit non-zero with a reason.
// The client's "done" line also gives the longest wait for an ack (max_ack_gap_ms).
#include <arpa/inet.h>
#include <fcntl.h>
#include <machnet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "channel/channel_view.h"
#include "channel/control_protocol.h"

namespace {

struct Args {
  std::string mode, ip = "127.0.0.1";
  uint16_t port = 7000;
  uint64_t count = 1000, seed = 1, max_size = 1 << 20, big = 0, seconds = 5, until_seconds = 0;
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "chan_driver: %s (%s; errno %d %s)\n", why.c_str(), machnet_last_error(), errno,
               std::strerror(errno));
  std::exit(1);
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Payload byte stream of message `seq`, after the 16-byte header.
void fill(uint8_t* p, size_t n, uint64_t seq) {
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t w = splitmix(seq * 0x100000001b3ULL + i / 8);
    std::memcpy(p + i, &w, std::min<size_t>(8, n - i));
  }
}

uint64_t fnv(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

void* attach_and_init() {
  if (machnet_init() != 0) die("machnet_init");
  void* ch = machnet_attach();
  if (!ch) die("machnet_attach");
  return ch;
}

int run_server(const Args& a) {
  void* ch = attach_and_init();
  if (machnet_listen(ch, a.ip.c_str(), a.port) != 0) die("machnet_listen");
  std::printf("listening\n");
  std::fflush(stdout);
  std::vector<uint8_t> buf(MACHNET_MSG_MAX_LEN), want(MACHNET_MSG_MAX_LEN);
  std::unordered_map<uint64_t, uint64_t> expect;  // per sending flow (src ip:port)
  for (;;) {
    MachnetFlow_t flow;
    const ssize_t n = machnet_recv_timeout(ch, buf.data(), buf.size(), &flow, 1000);
    if (n < 0) die("machnet_recv");
    if (n == 0) continue;
    if (n < 16) die("message shorter than its header: " + std::to_string(n));
    uint64_t seq, size;
    std::memcpy(&seq, buf.data(), 8);
    std::memcpy(&size, buf.data() + 8, 8);
    uint64_t& next = expect[uint64_t{flow.src_ip} << 16 | flow.src_port];
    if (seq != next) die("out of order: got " + std::to_string(seq) + ", expected " + std::to_string(next));
    if (size != static_cast<uint64_t>(n)) die("message " + std::to_string(seq) + " has length " + std::to_string(n) + ", header says " + std::to_string(size));
    fill(want.data(), n - 16, seq);
    if (std::memcmp(want.data(), buf.data() + 16, n - 16) != 0) die("message " + std::to_string(seq) + " corrupted");
    ++next;
    uint64_t ack[2] = {seq, fnv(buf.data(), n)};
    const MachnetFlow_t reply{flow.dst_ip, flow.src_ip, flow.dst_port, flow.src_port};
    while (machnet_send(ch, reply, ack, sizeof(ack)) != 0) {
      if (errno != ENOBUFS) die("machnet_send ack");
      usleep(50);
    }
  }
}

size_t message_size(std::mt19937_64& rng, const Args& a, uint64_t seq) {
  if (a.big && seq % (a.count / a.big + 1) == a.count / (2 * a.big) + 1) return MACHNET_MSG_MAX_LEN;
  // Log-uniform between 16 (the header) and max_size: every order of magnitude is exercised.
  std::uniform_real_distribution<double> d(std::log(16.0), std::log(static_cast<double>(a.max_size)));
  return static_cast<size_t>(std::exp(d(rng)));
}

int run_client(const Args& a) {
  void* ch = attach_and_init();
  MachnetFlow_t flow;
  if (machnet_connect(ch, a.ip.c_str(), a.ip.c_str(), a.port, &flow) != 0) die("machnet_connect");
  std::mt19937_64 rng(a.seed);
  std::vector<uint8_t> msg(MACHNET_MSG_MAX_LEN);
  std::vector<uint64_t> hashes;  // expected ack per seq
  hashes.reserve(a.until_seconds ? 1 << 16 : a.count);
  uint64_t sent = 0, acked = 0, bytes = 0;
  size_t next_size = message_size(rng, a, 0);
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  // With --until-seconds the client sends for that long, then waits for the last acks.
  const auto stop_sending = start + std::chrono::seconds(a.until_seconds);
  auto more_to_send = [&] {
    return a.until_seconds ? std::chrono::steady_clock::now() < stop_sending : sent < a.count;
  };
  // The longest time a sent message waited for its ack while nothing else was acked: from
  // the later of the previous ack and the moment something became outstanding.
  auto waiting_since = start;
  double max_gap_s = 0;
  while (more_to_send() || acked < sent) {
    // Send while the channel takes it and not too far ahead of the acks.
    while (more_to_send() && sent - acked < 256) {
      const uint64_t seq = sent;
      const size_t n = std::max<size_t>(16, next_size);
      std::memcpy(msg.data(), &seq, 8);
      const uint64_t size = n;
      std::memcpy(msg.data() + 8, &size, 8);
      if (hashes.size() == seq) {
        fill(msg.data() + 16, n - 16, seq);
        hashes.push_back(fnv(msg.data(), n));
      }
      if (machnet_send(ch, flow, msg.data(), n) != 0) {
        if (errno == ENOBUFS) break;
        die("machnet_send");
      }
      if (sent == acked) waiting_since = std::chrono::steady_clock::now();
      ++sent;
      bytes += n;
      next_size = message_size(rng, a, sent);
    }
    if (sent == acked) continue;  // nothing outstanding (only with --until-seconds ending)
    uint64_t ack[2];
    MachnetFlow_t from;
    const ssize_t r = machnet_recv_timeout(ch, ack, sizeof(ack), &from, 10000);
    if (r < 0) die("machnet_recv");
    if (r == 0) die("no ack within 10 s (sent " + std::to_string(sent) + ", acked " + std::to_string(acked) + ")");
    if (r != sizeof(ack)) die("ack of " + std::to_string(r) + " bytes");
    if (from.src_port != flow.dst_port || from.dst_port != flow.src_port) die("ack on an unexpected flow");
    if (ack[0] != acked) die("ack out of order: " + std::to_string(ack[0]) + " expected " + std::to_string(acked));
    if (ack[1] != hashes[acked]) die("ack hash mismatch for " + std::to_string(acked));
    ++acked;
    const auto now = std::chrono::steady_clock::now();
    max_gap_s = std::max(max_gap_s, std::chrono::duration<double>(now - waiting_since).count());
    waiting_since = now;
    if (now - last_report > std::chrono::milliseconds(200)) {
      last_report = now;
      std::printf("acked %llu\n", static_cast<unsigned long long>(acked));
      std::fflush(stdout);
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MachnetChannelStats_t st;
  machnet_get_channel_stats(ch, &st, sizeof(st));
  std::printf("done %llu messages %llu bytes %.2f s drops %llu max_ack_gap_ms %.1f\n",
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(bytes), s,
              static_cast<unsigned long long>(st.drops_total), max_gap_s * 1000);
  std::fflush(stdout);
  machnet_detach(ch);
  return st.drops_total == 0 ? 0 : 3;
}

// The application socket, spoken directly (the hostile modes): connects to MACHNET_SOCKET.
int connect_app_socket() {
  const char* path = std::getenv("MACHNET_SOCKET");
  if (!path) die("MACHNET_SOCKET not set");
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) die("connect");
  return fd;
}

// One request and its answer; *memfd (if not null) gets the first descriptor passed.
machnet::channel::CtlResponse ask(int fd, machnet::channel::CtlRequest req, int* memfd) {
  using namespace machnet::channel;
  req.magic = kCtlMagic;
  req.version = kCtlVersion;
  if (send(fd, &req, sizeof(req), 0) != sizeof(req)) die("send request");
  CtlResponse resp{};
  iovec iov{&resp, sizeof(resp)};
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  if (recvmsg(fd, &m, 0) != sizeof(resp)) die("recv response");
  if (cmsghdr* c = CMSG_FIRSTHDR(&m); c && memfd) std::memcpy(memfd, CMSG_DATA(c), sizeof(int));
  if (resp.error) die(std::string("request refused: ") + resp.message);
  return resp;
}

// Speaks the control protocol directly: attach (keeping the memfd), connect to the server,
// then writes random bytes over the whole channel, rings included.
int run_hostile(const Args& a) {
  using namespace machnet::channel;
  const int fd = connect_app_socket();
  CtlRequest attach{};
  attach.type = static_cast<uint16_t>(CtlType::kAttach);
  int memfd = -1;
  const CtlResponse r = ask(fd, attach, &memfd);
  if (memfd < 0) die("no memfd");
  // The seals hold: the memfd cannot be shrunk under the daemon.
  if (ftruncate(memfd, 4096) == 0) die("ftruncate shrank a sealed channel");
  std::printf("shrink refused: %s\n", std::strerror(errno));
  auto* base = static_cast<uint8_t*>(mmap(nullptr, r.channel_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  if (base == MAP_FAILED) die("mmap");
  CtlRequest conn{};
  conn.type = static_cast<uint16_t>(CtlType::kConnect);
  conn.channel_id = r.channel_id;
  conn.local_ip = conn.remote_ip = 0x7f000001;
  conn.remote_port = a.port;
  ask(fd, conn, nullptr);
  std::printf("scribbling\n");
  std::fflush(stdout);
  std::mt19937_64 rng(a.seed);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(a.seconds);
  uint64_t rounds = 0;
  while (std::chrono::steady_clock::now() < end) {
    // Mostly small random writes everywhere (so the rings and descriptors see garbage often),
    // with a full sweep now and then.
    if (rounds % 64 == 0) {
      for (uint64_t i = 0; i + 8 <= r.channel_size; i += 8) {
        const uint64_t w = rng();
        std::memcpy(base + i, &w, 8);
      }
    } else {
      for (int k = 0; k < 4096; ++k) {
        const uint64_t off = rng() % (r.channel_size - 8);
        const uint64_t w = rng();
        std::memcpy(base + off, &w, k % 2 ? 4 : 8);
      }
    }
    ++rounds;
    usleep(100);
  }
  std::printf("done %llu rounds\n", static_cast<unsigned long long>(rounds));
  std::fflush(stdout);
  pause();  // stay attached until the test kills us
  return 0;
}

// Issue 15, row 1. With machnet_channel_fd() armed (app_waiting = 1), makes its descriptor
// blocking (with an eventfd shared with the daemon that made the daemon's write blocking
// too), fills it (an eventfd counter near its maximum: the daemon's next write would block
// for good), then sends itself a message so that the daemon rings. Never receives again;
// a thread floods the descriptor for the rest of the time. A daemon that shares the
// descriptor's open file description with us freezes here; ours must not notice.
int run_doorbell(const Args& a) {
  if (machnet_init() != 0) die("machnet_init");
  void* ch = machnet_attach();
  if (!ch) die("machnet_attach");
  const int fd = machnet_channel_fd(ch);
  if (fd < 0) die("machnet_channel_fd");
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) die("clearing O_NONBLOCK");
  const uint64_t almost_full = 0xfffffffffffffffeULL;
  if (write(fd, &almost_full, sizeof(almost_full)) != sizeof(almost_full)) die("filling the doorbell");
  if (machnet_listen(ch, a.ip.c_str(), a.port) != 0) die("machnet_listen");
  MachnetFlow_t flow;
  if (machnet_connect(ch, a.ip.c_str(), a.ip.c_str(), a.port, &flow) != 0) die("machnet_connect");
  const char msg[] = "ring me";
  if (machnet_send(ch, flow, msg, sizeof(msg)) != 0) die("machnet_send");
  std::printf("armed\n");
  std::fflush(stdout);
  // Flood the daemon's end with rings (this thread blocks when it is full: only we wait).
  std::thread([fd] {
    char junk[4096] = {};
    for (;;) {
      if (write(fd, junk, sizeof(junk)) < 0 && errno != EINTR) return;
    }
  }).detach();
  std::this_thread::sleep_for(std::chrono::seconds(a.seconds));
  std::printf("done\n");
  std::fflush(stdout);
  pause();  // stay attached until the test kills us
  return 0;
}
// Issue 15, row 8. Attaches through the socket protocol (keeping the memfd), then, in rounds:
// punches the whole channel out of the memfd (FALLOC_FL_PUNCH_HOLE: the seals allow it) and
// at once takes every free 2 MiB page for itself, so the daemon's next touch of the channel
// finds no page to refill the hole with. Without a guard that touch is SIGBUS: the daemon
// dies. Holds the pages until killed.
int run_punch(const Args& a) {
  using namespace machnet::channel;
  const int sock = connect_app_socket();
  CtlRequest req{};
  req.type = static_cast<uint16_t>(CtlType::kAttach);
  int memfd = -1;
  const CtlResponse resp = ask(sock, req, &memfd);
  if (memfd < 0) die("no memfd");
  constexpr size_t kPage = 2u << 20;
  std::vector<void*> hoard;
  auto grab_all = [&] {
    for (;;) {
      const int fd = memfd_create("hoard", MFD_HUGETLB);
      if (fd < 0 || ftruncate(fd, kPage) != 0) return;
      void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
      close(fd);
      if (p == MAP_FAILED) return;
      hoard.push_back(p);
    }
  };
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(a.seconds);
  uint64_t rounds = 0;
  grab_all();
  while (std::chrono::steady_clock::now() < end) {
    if (fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(resp.channel_size)) != 0)
      die("punching the channel");
    grab_all();
    ++rounds;
    usleep(20000);
  }
  std::printf("punched %llu rounds, holding %zu pages\n", static_cast<unsigned long long>(rounds), hoard.size());
  std::fflush(stdout);
  pause();
  return 0;
}

// Issue 15, "a race fuzzer on channel memory". Attaches through the socket protocol (keeping
// the memfd), listens and connects to itself (its messages go from its to_daemon ring to its
// own to_app ring, so no other channel is involved), then for --seconds runs, at once:
//   - a submitter that takes app-pool buffers from app_free, writes well-formed messages of
//     1 to 3 buffers on its two flows and publishes them on to_daemon, by raw ring writes;
//   - a receiver that takes messages from to_app and hands their buffers back on
//     daemon_free, now and then with indices the daemon never lent;
//   - a flipper that rewrites `next`, `len`, `msg_len` and the flow of the message just
//     published, back and forth, while the daemon is reading it;
//   - two scramblers that rewrite, from a seeded PRNG, every field the daemon reads: `next`
//     (cycles, out of range, the other pool), `len`, `msg_len`, flags, flows, all eight ring
//     indices, ring slots, the header's doorbell and stop words and the stats.
// Everything the threads share with the daemon is read and written with relaxed atomics (the
// races with the daemon are the point; races among our own threads are not undefined
// behaviour). The driver trusts nothing it reads back: every index is checked before use.
// It does so in epochs of about 1 s, each on a fresh channel (see run_race). Prints "racing"
// when the threads start and, when the last epoch ends, one JSON line of counts; then stays
// attached until killed so that the test can read the channels' counters.
namespace race {

using namespace machnet::channel;

uint32_t ld(const uint32_t& v) { return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(v)).load(std::memory_order_relaxed); }
uint32_t ld_acq(const uint32_t& v) { return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(v)).load(std::memory_order_acquire); }
void st(uint32_t& v, uint32_t x) { std::atomic_ref<uint32_t>(v).store(x, std::memory_order_relaxed); }
void st_rel(uint32_t& v, uint32_t x) { std::atomic_ref<uint32_t>(v).store(x, std::memory_order_release); }
void st16(uint16_t& v, uint16_t x) { std::atomic_ref<uint16_t>(v).store(x, std::memory_order_relaxed); }

struct Ring {
  RingHeader* h;
  uint32_t* slots;
  uint32_t n;
  Ring(const ChannelView& v, const RingRef& r)
      : h(reinterpret_cast<RingHeader*>(v.ring(r))), slots(reinterpret_cast<uint32_t*>(v.ring(r) + kRingSlotsOffset)), n(r.slots) {}
  uint32_t& slot(uint32_t i) const { return slots[i & (n - 1)]; }
};

// What the scramblers and the flipper wrote, by field.
enum Kind { kNext, kLen, kMsgLen, kFlags, kFlow, kRingIndex, kSlot, kHeaderWord, kStats, kInflight, kKinds };
const char* const kKindNames[kKinds] = {"next", "len", "msg_len", "flags", "flow", "ring_index", "ring_slot",
                                        "header_word", "stats", "inflight_rewrites"};

struct Shared {
  ChannelView v;
  Ring to_daemon, to_app, app_free, daemon_free;
  CtlFlow flows[2];  // connector -> listener, and the reply direction
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> last_head{kNoBuffer};
  std::atomic<uint64_t> writes[kKinds] = {};
  std::atomic<uint64_t> submitted{0}, received{0}, bogus_returns{0}, ring_full{0}, starved{0};
  Shared(const ChannelView& view)
      : v(view),
        to_daemon(view, view.geometry().to_daemon),
        to_app(view, view.geometry().to_app),
        app_free(view, view.geometry().app_free),
        daemon_free(view, view.geometry().daemon_free) {}
};

// An index the daemon must refuse or at least not trust: cycles, other pools, out of range.
uint32_t hostile_index(std::mt19937_64& rng, const ChannelGeometry& g, uint32_t self) {
  switch (rng() % 9) {
    case 0: return self;                                                    // a cycle of one
    case 1: return g.app_pool_first + rng() % g.app_pool_count;             // another app buffer
    case 2: return g.daemon_pool_first + rng() % g.daemon_pool_count;       // the daemon's pool
    case 3: return g.buffer_count;                                          // one past the end
    case 4: return g.buffer_count + static_cast<uint32_t>(rng() % 100000);  // far out
    case 5: return kNoBuffer - 1;
    case 6: return kNoBuffer;                                               // cut the chain short
    case 7: return self + 1;                                                // the usual neighbour
    default: return static_cast<uint32_t>(rng());
  }
}

uint32_t hostile_length(std::mt19937_64& rng, const ChannelGeometry& g) {
  switch (rng() % 8) {
    case 0: return 0;
    case 1: return g.buffer_size;
    case 2: return g.buffer_size + 1;
    case 3: return g.max_message_bytes;
    case 4: return g.max_message_bytes + 1;
    case 5: return 0xffffffffu;
    case 6: return static_cast<uint32_t>(rng() % (2 * g.buffer_size));
    default: return static_cast<uint32_t>(rng());
  }
}

uint32_t hostile_ring_index(std::mt19937_64& rng, uint32_t now, uint32_t slots) {
  switch (rng() % 7) {
    case 0: return now + 1;
    case 1: return now - 1;
    case 2: return now + slots;
    case 3: return now + slots + 1;
    case 4: return now - slots - 1;
    case 5: return now + 0x80000000u;
    default: return static_cast<uint32_t>(rng());
  }
}

void scrambler(Shared& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const ChannelGeometry& g = s.v.geometry();
  Ring* rings[4] = {&s.to_daemon, &s.to_app, &s.app_free, &s.daemon_free};
  ChannelHeader* hdr = s.v.header();
  while (!s.stop.load(std::memory_order_relaxed)) {
    for (int k = 0; k < 64; ++k) {
      // Mostly app-pool descriptors (those the daemon validates), some daemon-pool ones.
      const uint32_t b = rng() % 4 ? g.app_pool_first + rng() % g.app_pool_count
                                   : g.daemon_pool_first + rng() % g.daemon_pool_count;
      BufferDesc* d = s.v.desc(b);
      const unsigned what = rng() % 100;
      Kind kind;
      if (what < 28) st(d->next, hostile_index(rng, g, b)), kind = kNext;
      else if (what < 48) st(d->len, hostile_length(rng, g)), kind = kLen;
      else if (what < 68) st(d->msg_len, hostile_length(rng, g)), kind = kMsgLen;
      else if (what < 76) st16(d->flags, static_cast<uint16_t>(rng())), kind = kFlags;
      else if (what < 88) {
        // A flow of ours with one field off, or anything.
        const CtlFlow& f = s.flows[rng() % 2];
        st(d->src_ip, rng() % 2 ? f.src_ip : static_cast<uint32_t>(rng()));
        st16(d->src_port, rng() % 2 ? f.src_port : static_cast<uint16_t>(rng()));
        st16(d->dst_port, rng() % 2 ? f.dst_port : static_cast<uint16_t>(rng()));
        kind = kFlow;
      } else if (what < 96) {
        uint32_t* words[] = {&hdr->app_waiting, &hdr->engine_sleeping, &hdr->daemon_stopping, &hdr->channel_id,
                             &hdr->buffer_count, &hdr->to_daemon.slots};
        st(*words[rng() % 6], static_cast<uint32_t>(rng() % 3 ? rng() % 2 : rng()));
        kind = kHeaderWord;
      } else {
        auto* w = reinterpret_cast<uint32_t*>(s.v.stats());
        st(w[rng() % (sizeof(ChannelStats) / 4)], static_cast<uint32_t>(rng()));
        kind = kStats;
      }
      s.writes[kind].fetch_add(1, std::memory_order_relaxed);
    }
    // Ring indices and slots, far less often: a buffer the daemon could not hand back
    // through a ring it found corrupt stays with it for good (as it should), so at the rate
    // of the fields above the channel would run dry within milliseconds. Both sides' indices
    // of every ring; the owner's next publication writes its own value back.
    if (rng() % 8 == 0) {
      Ring& r = *rings[rng() % 4];
      uint32_t& idx = rng() % 2 ? r.h->producer : r.h->consumer;
      st(idx, hostile_ring_index(rng, ld(idx), r.n));
      s.writes[kRingIndex].fetch_add(1, std::memory_order_relaxed);
    }
    if (rng() % 8 == 0) {
      Ring& r = *rings[rng() % 4];
      st(r.slot(static_cast<uint32_t>(rng())), hostile_index(rng, g, rng() % g.buffer_count));
      s.writes[kSlot].fetch_add(1, std::memory_order_relaxed);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));  // pacing: leave CPU to the victims
  }
}

// Rewrites the message just published while the daemon may be walking it: each field flips
// to a bad value and back, so the daemon sees a mix of the two within one walk.
void flipper(Shared& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const ChannelGeometry& g = s.v.geometry();
  while (!s.stop.load(std::memory_order_relaxed)) {
    const uint32_t h = s.last_head.load(std::memory_order_relaxed);
    if (h - g.app_pool_first >= g.app_pool_count) {
      std::this_thread::yield();
      continue;
    }
    BufferDesc* d = s.v.desc(h);
    for (int k = 0; k < 16; ++k) {
      switch (rng() % 5) {
        case 4: {
          // A cycle through the whole message: its second buffer links back to the head.
          const uint32_t second = ld(d->next);
          if (second - g.app_pool_first >= g.app_pool_count) break;
          uint32_t& link = s.v.desc(second)->next;
          const uint32_t was = ld(link);
          st(link, h);
          st(link, was);
          break;
        }
        case 0: {
          const uint32_t was = ld(d->next);
          st(d->next, hostile_index(rng, g, h));
          st(d->next, was);
          break;
        }
        case 1: {
          const uint32_t was = ld(d->len);
          st(d->len, hostile_length(rng, g));
          st(d->len, was);
          break;
        }
        case 2: {
          const uint32_t was = ld(d->msg_len);
          st(d->msg_len, hostile_length(rng, g));
          if (rng() % 2) st(d->msg_len, was);
          break;
        }
        default: st16(d->dst_port, static_cast<uint16_t>(rng())); break;
      }
      s.writes[kInflight].fetch_add(1, std::memory_order_relaxed);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

// Well-formed messages by raw ring writes. Keeps its ring positions privately (as the library
// does) and re-publishes them, so a scrambled index of ours is repaired on the next message.
void submitter(Shared& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const ChannelGeometry& g = s.v.geometry();
  std::vector<uint32_t> held;
  std::vector<uint8_t> out(g.app_pool_count, 1);  // 1: the daemon has it (all, at attach)
  uint32_t free_cons = 0, td_prod = 0;
  uint64_t seq = 0;
  while (!s.stop.load(std::memory_order_relaxed)) {
    // Take what app_free offers. A producer index that offers more than the daemon can owe
    // us (the pool less what we hold) was scrambled: "nothing" this round. Taking it would
    // put our consumer index ahead of the daemon's producer, after which the daemon rightly
    // refuses that ring for good and the channel has no buffers left to race with.
    // An index moved by one or two passes that test, so most entries must also name a buffer
    // we gave away (`out`); stale slots from the ring's previous lap do not.
    const uint32_t owed = g.app_pool_count - std::min<uint32_t>(g.app_pool_count, static_cast<uint32_t>(held.size()));
    const uint32_t avail = ld_acq(s.app_free.h->producer) - free_cons;
    uint32_t named_out = 0;
    for (uint32_t i = 0; avail <= owed && i < avail; ++i) {
      const uint32_t b = ld(s.app_free.slot(free_cons + i)) - g.app_pool_first;
      named_out += b < g.app_pool_count && out[b];
    }
    if (avail <= owed && named_out * 2 >= avail) {  // a few scrambled slots are just skipped
      for (uint32_t i = 0; i < avail; ++i) {
        const uint32_t b = ld(s.app_free.slot(free_cons + i));
        if (b - g.app_pool_first < g.app_pool_count && out[b - g.app_pool_first]) {
          out[b - g.app_pool_first] = 0;
          held.push_back(b);
        }
      }
      free_cons += avail;
    }
    st_rel(s.app_free.h->consumer, free_cons);  // also repairs a scrambled index of ours
    const uint32_t want = 1 + static_cast<uint32_t>(rng() % 3);
    if (held.size() < want) {
      s.starved.fetch_add(1, std::memory_order_relaxed);
      st_rel(s.to_daemon.h->producer, td_prod);  // repair a scrambled index of ours
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    // The daemon's consumer index may be scrambled too, and it publishes it again only when
    // it takes something: an impossible value is taken as "all consumed" (at worst we
    // overwrite entries it has not read, which only hurts this channel).
    // And a producer index we published while it was scrambled to be further on makes the
    // daemon consume past our real one; from then on it sees our index behind its own (an
    // impossible ring) until we catch up: catch up at once by skipping to its index.
    const uint32_t td_cons = ld_acq(s.to_daemon.h->consumer);
    if (static_cast<int32_t>(td_cons - td_prod) > 0 && td_cons - td_prod <= s.to_daemon.n) td_prod = td_cons;
    const uint32_t used = td_prod - td_cons;
    if (used == s.to_daemon.n) {
      s.ring_full.fetch_add(1, std::memory_order_relaxed);
      st_rel(s.to_daemon.h->producer, td_prod);  // repair a scrambled index of ours
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    const uint32_t len = (want - 1) * g.buffer_size + 1 + static_cast<uint32_t>(rng() % g.buffer_size);
    const CtlFlow& f = s.flows[seq % 2];
    uint32_t idx[3];
    for (uint32_t k = 0; k < want; ++k) {
      idx[k] = held[held.size() - 1 - k];
      out[idx[k] - g.app_pool_first] = 1;
    }
    held.resize(held.size() - want);
    for (uint32_t k = 0; k < want; ++k) {
      BufferDesc* d = s.v.desc(idx[k]);
      const uint32_t chunk = k + 1 < want ? g.buffer_size : len - k * g.buffer_size;
      std::memset(s.v.data(idx[k]), static_cast<int>(seq), 64);  // some payload; nobody checks it
      st(d->len, chunk);
      st(d->next, k + 1 < want ? idx[k + 1] : kNoBuffer);
    }
    BufferDesc* h = s.v.desc(idx[0]);
    st(h->msg_len, len);
    st16(h->flags, 0);
    st(h->src_ip, f.src_ip);
    st(h->dst_ip, f.dst_ip);
    st16(h->src_port, f.src_port);
    st16(h->dst_port, f.dst_port);
    st(s.to_daemon.slot(td_prod), idx[0]);
    st_rel(s.to_daemon.h->producer, ++td_prod);
    s.last_head.store(idx[0], std::memory_order_relaxed);
    s.submitted.fetch_add(1, std::memory_order_relaxed);
    ++seq;
    if (seq % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// Takes delivered messages and gives their buffers back, walking each chain with bounds (the
// scramblers rewrite the daemon's descriptors too); one return in 32 is a buffer it never had.
void receiver(Shared& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const ChannelGeometry& g = s.v.geometry();
  uint32_t app_cons = 0, free_prod = 0;
  uint64_t taken = 0;
  std::vector<uint32_t> back;
  while (!s.stop.load(std::memory_order_relaxed)) {
    // More entries than messages we sent ourselves and have not taken yet: a scrambled
    // producer index (see the submitter); wait for the daemon to publish its own again.
    const uint64_t owed = s.submitted.load(std::memory_order_relaxed) - std::min(taken, s.submitted.load(std::memory_order_relaxed));
    // Resynchronise as the submitter does: our consumer index ahead of the daemon's producer
    // (we took stale entries under a scrambled index) would make it refuse the ring for good,
    // and so would its consumer index ahead of our producer on daemon_free.
    const uint32_t app_prod = ld_acq(s.to_app.h->producer);
    if (static_cast<int32_t>(app_cons - app_prod) > 0 && app_cons - app_prod <= s.to_app.n) app_cons = app_prod;
    const uint32_t free_cons = ld_acq(s.daemon_free.h->consumer);
    if (static_cast<int32_t>(free_cons - free_prod) > 0 && free_cons - free_prod <= s.daemon_free.n) free_prod = free_cons;
    const uint32_t avail = app_prod - app_cons;
    if (avail == 0 || avail > s.to_app.n || avail > owed + 64) {
      st_rel(s.to_app.h->consumer, app_cons);  // repair scrambled indices of ours
      st_rel(s.daemon_free.h->producer, free_prod);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    back.clear();
    for (uint32_t i = 0; i < avail; ++i) {
      uint32_t b = ld(s.to_app.slot(app_cons + i));
      for (uint32_t n = 0; b - g.daemon_pool_first < g.daemon_pool_count && n < g.max_chain; ++n) {
        back.push_back(b);
        b = ld(s.v.desc(b)->next);
      }
      if (rng() % 32 == 0) {
        back.push_back(hostile_index(rng, g, b));
        s.bogus_returns.fetch_add(1, std::memory_order_relaxed);
      }
    }
    app_cons += avail;
    taken += avail;
    st_rel(s.to_app.h->consumer, app_cons);
    s.received.fetch_add(avail, std::memory_order_relaxed);
    // daemon_free holds a whole pool; returns beyond its room wait for the next round. An
    // impossible consumer index (scrambled) counts as an empty ring, as in the submitter.
    const uint32_t pending = free_prod - ld_acq(s.daemon_free.h->consumer);
    const uint32_t room = pending > s.daemon_free.n ? s.daemon_free.n : s.daemon_free.n - pending;
    const uint32_t k = std::min<uint32_t>(room, static_cast<uint32_t>(back.size()));
    for (uint32_t i = 0; i < k; ++i) st(s.daemon_free.slot(free_prod + i), back[i]);
    free_prod += k;
    st_rel(s.daemon_free.h->producer, free_prod);
  }
}

}  // namespace race

int run_race(const Args& a) {
  using namespace machnet::channel;
  in_addr ip{};
  if (inet_pton(AF_INET, a.ip.c_str(), &ip) != 1) die("bad --ip " + a.ip);
  const int fd = connect_app_socket();
  // A channel whose rings were scrambled loses buffers for good (the daemon keeps what it
  // could not hand back through a corrupt ring, as it should), so after a while the app has
  // nothing left to send. The race therefore runs in epochs of about 1 s, each on a fresh
  // channel of this app; the old ones stay attached, broken, until the app is killed.
  const uint64_t epochs = std::max<uint64_t>(1, a.seconds);
  const auto epoch_len = std::chrono::milliseconds(a.seconds * 1000 / epochs);
  std::vector<std::unique_ptr<race::Shared>> done;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t e = 0; e < epochs; ++e) {
    CtlRequest attach{};
    attach.type = static_cast<uint16_t>(CtlType::kAttach);
    int memfd = -1;
    const CtlResponse r = ask(fd, attach, &memfd);
    if (memfd < 0) die("no memfd");
    auto* base = static_cast<uint8_t*>(mmap(nullptr, r.channel_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
    if (base == MAP_FAILED) die("mmap");
    close(memfd);
    // The geometry is read once, before anyone scribbles on the header.
    ChannelGeometry g;
    if (const char* bad = read_header(reinterpret_cast<ChannelHeader*>(base), r.channel_size, &g)) die(bad);
    const uint16_t port = static_cast<uint16_t>(a.port + e);
    CtlRequest listen{};
    listen.type = static_cast<uint16_t>(CtlType::kListen);
    listen.channel_id = r.channel_id;
    listen.local_ip = ntohl(ip.s_addr);
    listen.local_port = port;
    ask(fd, listen, nullptr);
    CtlRequest conn{};
    conn.type = static_cast<uint16_t>(CtlType::kConnect);
    conn.channel_id = r.channel_id;
    conn.local_ip = conn.remote_ip = ntohl(ip.s_addr);
    conn.remote_port = port;
    const CtlResponse c = ask(fd, conn, nullptr);

    auto sp = std::make_unique<race::Shared>(ChannelView(base, g));
    race::Shared& s = *sp;
    s.flows[0] = c.flow;
    s.flows[1] = CtlFlow{c.flow.dst_ip, c.flow.src_ip, c.flow.dst_port, c.flow.src_port};
    if (e == 0) {
      std::printf("racing %llu epochs of %lld ms: %u buffers of %u bytes, %u ring slots\n",
                  static_cast<unsigned long long>(epochs), static_cast<long long>(epoch_len.count()), g.buffer_count,
                  g.buffer_size, g.to_daemon.slots);
      std::fflush(stdout);
    }
    const uint64_t seed = splitmix(a.seed * 1000 + e);
    std::vector<std::thread> threads;
    threads.emplace_back(race::submitter, std::ref(s), splitmix(seed + 1));
    threads.emplace_back(race::receiver, std::ref(s), splitmix(seed + 2));
    // The rewriting starts once the first message is out: a producer index scrambled before
    // the submitter's first look at app_free would leave it without buffers for good.
    const auto first_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (s.submitted.load() == 0 && std::chrono::steady_clock::now() < first_deadline) std::this_thread::yield();
    threads.emplace_back(race::flipper, std::ref(s), splitmix(seed + 3));
    threads.emplace_back(race::scrambler, std::ref(s), splitmix(seed + 4));
    threads.emplace_back(race::scrambler, std::ref(s), splitmix(seed + 5));
    std::this_thread::sleep_until(start + epoch_len * (e + 1));  // the epoch's length, not a wait for an event
    s.stop = true;
    for (auto& t : threads) t.join();
    std::printf("epoch %llu channel %u submitted %llu received %llu starved %llu\n", static_cast<unsigned long long>(e),
                r.channel_id, static_cast<unsigned long long>(s.submitted.load()),
                static_cast<unsigned long long>(s.received.load()), static_cast<unsigned long long>(s.starved.load()));
    std::fflush(stdout);
    done.push_back(std::move(sp));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t total = 0, submitted = 0, received = 0, bogus = 0, full = 0, starved = 0;
  std::string kinds;
  for (int k = 0; k < race::kKinds; ++k) {
    uint64_t n = 0;
    for (const auto& s : done) n += s->writes[k].load();
    total += n;
    kinds += std::string(k ? ", " : "") + "\"" + race::kKindNames[k] + "\": " + std::to_string(n);
  }
  for (const auto& s : done) {
    submitted += s->submitted, received += s->received, bogus += s->bogus_returns;
    full += s->ring_full, starved += s->starved;
  }
  std::printf("done {\"seconds\": %.2f, \"channels\": %llu, \"submitted\": %llu, \"received\": %llu, "
              "\"bogus_returns\": %llu, \"ring_full\": %llu, \"starved\": %llu, \"corruptions\": %llu, "
              "\"by_field\": {%s}}\n",
              secs, static_cast<unsigned long long>(epochs), static_cast<unsigned long long>(submitted),
              static_cast<unsigned long long>(received), static_cast<unsigned long long>(bogus),
              static_cast<unsigned long long>(full), static_cast<unsigned long long>(starved),
              static_cast<unsigned long long>(total), kinds.c_str());
  std::fflush(stdout);
  pause();  // stay attached until the test kills us
  return 0;
}

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) die(std::string("check failed at line ") + std::to_string(__LINE__) + ": " #cond); \
  } while (0)

// Receives on `ch`, waiting up to 5 s; returns the length.
ssize_t recv_wait(void* ch, void* buf, size_t len, MachnetFlow_t* flow) {
  return machnet_recv_timeout(ch, buf, len, flow, 5000);
}

// The API's edges in one process: scatter-gather, a receive buffer too small, an oversize
// send, flow direction, close, the errors of listen/connect, detach.
int run_api(const Args& a) {
  void* srv = attach_and_init();
  void* cli = machnet_attach();
  CHECK(cli != nullptr);
  CHECK(machnet_listen(srv, a.ip.c_str(), a.port) == 0);
  void* other = machnet_attach();
  CHECK(machnet_listen(other, a.ip.c_str(), a.port) == -1 && errno == EADDRINUSE);
  CHECK(machnet_listen(other, "10.9.9.9", a.port) == -1 && errno == EADDRNOTAVAIL);
  CHECK(machnet_listen(other, "not-an-ip", a.port) == -1 && errno == EINVAL);
  MachnetFlow_t flow;
  CHECK(machnet_connect(cli, a.ip.c_str(), a.ip.c_str(), a.port + 1, &flow) == -1 && errno == ECONNREFUSED);
  CHECK(machnet_connect(cli, a.ip.c_str(), "10.9.9.9", a.port, &flow) == -1 && errno == ENETUNREACH);
  CHECK(machnet_connect(cli, a.ip.c_str(), a.ip.c_str(), a.port, &flow) == 0);
  CHECK(flow.src_ip == 0x7f000001 && flow.dst_ip == 0x7f000001 && flow.dst_port == a.port && flow.src_port != 0);

  // Scatter-gather send, flags carried, flow as travelled.
  char p1[] = "Hello, ", p2[] = "scatter", p3[] = "-gather!";
  MachnetIovec_t iov[3] = {{p1, 7}, {p2, 7}, {p3, 8}};
  MachnetMsgHdr_t hdr{22, flow, iov, 3, 0x5a};
  CHECK(machnet_sendmsg(cli, &hdr) == 0);
  hdr.msg_size = 21;
  CHECK(machnet_sendmsg(cli, &hdr) == -1 && errno == EINVAL);  // size != iovec total
  char small[10], part1[5], part2[40];
  MachnetFlow_t got;
  CHECK(machnet_recv_timeout(srv, small, 0, &got, 5000) == -1 && errno == EMSGSIZE);
  CHECK(machnet_recv(srv, small, sizeof(small), &got) == -1 && errno == EMSGSIZE);  // stays queued
  MachnetIovec_t riov[2] = {{part1, sizeof(part1)}, {part2, sizeof(part2)}};
  MachnetMsgHdr_t rhdr{0, {}, riov, 2, 0};
  CHECK(machnet_recvmsg(srv, &rhdr) == 1);
  CHECK(rhdr.msg_size == 22 && rhdr.flags == 0x5a);
  CHECK(std::memcmp(part1, "Hello", 5) == 0 && std::memcmp(part2, ", scatter-gather!", 17) == 0);
  CHECK(rhdr.flow_info.src_port == flow.src_port && rhdr.flow_info.dst_port == flow.dst_port);
  CHECK(machnet_recv(srv, small, sizeof(small), &got) == 0);  // nothing more

  // The flow-ended flag is the daemon's notice alone: a peer that sets it sends an ordinary
  // message, not a forged "reset by the peer" (-1 ECONNRESET and the data thrown away).
  MachnetMsgHdr_t forged_end{7, flow, iov, 1, static_cast<uint16_t>(0x8000 | 0x5a)};
  CHECK(machnet_sendmsg(cli, &forged_end) == 0);
  int got_forged = 0;
  for (int i = 0; i < 500 && (got_forged = machnet_recvmsg(srv, &rhdr)) == 0; ++i) usleep(10000);
  CHECK(got_forged == 1);
  CHECK(rhdr.msg_size == 7 && rhdr.flags == 0x5a && std::memcmp(part1, "Hello", 5) == 0);

  // Reply on the swapped flow; a zero-length message is a message.
  const MachnetFlow_t reply{rhdr.flow_info.dst_ip, rhdr.flow_info.src_ip, rhdr.flow_info.dst_port,
                            rhdr.flow_info.src_port};
  CHECK(machnet_send(srv, reply, "pong", 4) == 0);
  CHECK(machnet_send(srv, reply, nullptr, 0) == 0);
  char buf[16];
  CHECK(recv_wait(cli, buf, sizeof(buf), &got) == 4 && std::memcmp(buf, "pong", 4) == 0);
  CHECK(got.src_port == flow.dst_port && got.dst_port == flow.src_port);
  MachnetMsgHdr_t zhdr{99, {}, riov, 2, 0};
  for (int i = 0; i < 500 && machnet_recvmsg(cli, &zhdr) == 0; ++i) usleep(10000);
  CHECK(zhdr.msg_size == 0);

  // Too long for the API.
  std::vector<char> huge(MACHNET_MSG_MAX_LEN + 1);
  CHECK(machnet_send(cli, flow, huge.data(), huge.size()) == -1 && errno == EMSGSIZE);
  CHECK(machnet_send(cli, flow, huge.data(), MACHNET_MSG_MAX_LEN) == 0);
  std::vector<char> big(MACHNET_MSG_MAX_LEN);
  CHECK(recv_wait(srv, big.data(), big.size(), &got) == static_cast<ssize_t>(MACHNET_MSG_MAX_LEN));

  // A flow this channel does not own is dropped and counted, not delivered.
  MachnetFlow_t forged = flow;
  forged.src_port = static_cast<uint16_t>(flow.src_port + 1);
  CHECK(machnet_send(cli, forged, "x", 1) == 0);
  MachnetChannelStats_t st{};
  for (int i = 0; i < 500; ++i) {
    CHECK(machnet_get_channel_stats(cli, &st, sizeof(st)) == 0);
    if (st.drops_unknown_flow == 1) break;
    usleep(10000);
  }
  CHECK(st.drops_unknown_flow == 1 && st.drops_total == 1);
  // ... and the sender hears that machnet_send's message was not sent.
  CHECK(recv_wait(cli, buf, sizeof(buf), &got) == -1 && errno == EPIPE && got.dst_port == forged.src_port);

  // Closing the flow stops both ends.
  CHECK(machnet_close_flow(cli, flow) == 0);
  CHECK(machnet_close_flow(cli, flow) == -1 && errno == ENOENT);
  CHECK(machnet_send(srv, reply, "late", 4) == 0);
  for (int i = 0; i < 500; ++i) {
    CHECK(machnet_get_channel_stats(srv, &st, sizeof(st)) == 0);
    if (st.drops_unknown_flow == 1) break;
    usleep(10000);
  }
  CHECK(st.drops_unknown_flow == 1);
  CHECK(recv_wait(srv, buf, sizeof(buf), &got) == -1 && errno == EPIPE);
  CHECK(machnet_recv_timeout(cli, buf, sizeof(buf), &got, 200) == 0 && errno == ETIMEDOUT);

  CHECK(machnet_detach(other) == 0);
  CHECK(machnet_detach(cli) == 0);
  CHECK(machnet_detach(srv) == 0);
  CHECK(machnet_listen(nullptr, a.ip.c_str(), 1) == -1 && errno == EINVAL);
  std::printf("api ok\n");
  return 0;
}

// Attaches channels until the daemon refuses; prints how many it got and the errno.
int run_fill() {
  attach_and_init();
  int n = 1;
  while (machnet_attach() != nullptr) ++n;
  std::printf("attached %d errno %s\n", n, strerrorname_np(errno));
  std::fflush(stdout);
  pause();
  return 0;
}

int run_init() {
  const int r = machnet_init();
  const int err = errno;
  std::printf("result %d errno %d %s\nmessage %s\n", r, err, strerrorname_np(err) ? strerrorname_np(err) : "?",
              machnet_last_error());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc < 2) return 2;
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--ip") a.ip = v;
    else if (k == "--port") a.port = static_cast<uint16_t>(std::stoul(v));
    else if (k == "--count") a.count = std::stoull(v);
    else if (k == "--seed") a.seed = std::stoull(v);
    else if (k == "--max-size") a.max_size = std::stoull(v);
    else if (k == "--big") a.big = std::stoull(v);
    else if (k == "--seconds") a.seconds = std::stoull(v);
    else if (k == "--until-seconds") a.until_seconds = std::stoull(v);
    else return 2;
  }
  if (a.mode == "server") return run_server(a);
  if (a.mode == "client") return run_client(a);
  if (a.mode == "hostile") return run_hostile(a);
  if (a.mode == "doorbell") return run_doorbell(a);
  if (a.mode == "punch") return run_punch(a);
  if (a.mode == "race") return run_race(a);
  if (a.mode == "init") return run_init();
  if (a.mode == "api") return run_api(a);
  if (a.mode == "fill") return run_fill();
  return 2;
}
