/*
 * epoll_echo: proves machnet_channel_fd() in a real event loop.
 *
 *   epoll_echo server --local_ip IP --port P [--channels C] [--edge]
 *   epoll_echo client --local_ip IP --remote_ip IP --port P [--channels C] [--flows F]
 *                     [--rounds R] [--max_size BYTES] [--pings N --ping_gap_ms MS]
 *
 * server: one thread attaches C channels (default 10), channel i listening on P+i, puts their
 *   descriptors in one epoll set (level-triggered, or EPOLLET with --edge) and sleeps in
 *   epoll_wait(-1). On readiness it receives until machnet_recvmsg() returns 0 and echoes each
 *   message on its flow, swapped. A message sent with flags = 1 is a ping: its bytes 0..8 hold
 *   the sender's CLOCK_MONOTONIC ns, and the server writes the delay until it had the message in
 *   hand into bytes 8..16 of the echo: the wake-up latency of a server asleep in epoll. Prints
 *   "listening" when ready, a JSON line with its wake-up count on SIGTERM.
 * client: one thread attaches C channels and connects F flows (default 100) spread evenly over
 *   them (flow k on channel k % C to port P + k % C), then runs R rounds: every flow sends one
 *   message (size log-uniform 1 B .. --max_size, contents derived from (flow, round)), and every
 *   echo must come back on its flow with the same bytes. The client waits with epoll too
 *   (edge-triggered). Then --pings N one-byte-plus-timestamp pings, one at a time, --ping_gap_ms
 *   apart so the server is asleep when each arrives. Prints one JSON line: messages, bytes,
 *   errors, seconds, wake_us_p50/p99/max. Exits 0 only when every echo was byte-exact.
 *
 * MACHNET_SOCKET names the daemon's application socket. Links only libmachnet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <machnet.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

enum { kMaxChannels = 32, kMaxFlows = 1024, kPingFlag = 1 };

typedef struct Options {
  const char *mode, *local_ip, *remote_ip;
  long port, channels, flows, rounds, pings, ping_gap_ms;
  uint64_t max_size;
  int edge;
} Options;

static volatile sig_atomic_t g_stop;
static void on_term(int sig) { (void)sig; g_stop = 1; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Message (flow, round): size log-uniform in [1, max], bytes from a stream seeded by both. */
static size_t fill(uint8_t *buf, uint64_t max, long flow, long round) {
  uint64_t s = ((uint64_t)flow << 32) ^ (uint64_t)round ^ 0x5eed;
  const double u = (double)(splitmix(&s) >> 11) / 9007199254740992.0;
  size_t len = (size_t)exp(u * log((double)max));
  if (len < 1) len = 1;
  if (len > max) len = max;
  for (size_t i = 0; i < len; i += 8) {
    const uint64_t v = splitmix(&s);
    memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
  }
  return len;
}

static int die(const char *what) {
  fprintf(stderr, "%s: errno %d (%s): %s\n", what, errno, strerror(errno), machnet_last_error());
  return 1;
}

/* Sends, retrying while the channel is full (bounded: 10 s). */
static int send_retry(void *ch, MachnetMsgHdr_t *m) {
  const uint64_t deadline = now_ns() + 10000000000ull;
  while (machnet_sendmsg(ch, m) != 0) {
    if (errno != ENOBUFS || now_ns() > deadline) return -1;
  }
  return 0;
}

static void *attach_all(void **chans, long n, int epfd, uint32_t events) {
  for (long i = 0; i < n; ++i) {
    if (!(chans[i] = machnet_attach())) return NULL;
    const int fd = machnet_channel_fd(chans[i]);
    if (fd < 0) return NULL;
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return NULL;
  }
  return chans[0];
}

static int serve(const Options *o) {
  void *chans[kMaxChannels];
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!attach_all(chans, o->channels, epfd, EPOLLIN | (o->edge ? EPOLLET : 0))) return die("attach");
  for (long i = 0; i < o->channels; ++i) {
    if (machnet_listen(chans[i], o->local_ip, (uint16_t)(o->port + i)) != 0) return die("listen");
  }
  uint8_t *buf = malloc(MACHNET_MSG_MAX_LEN);
  printf("listening on %s:%ld..%ld\n", o->local_ip, o->port, o->port + o->channels - 1);
  fflush(stdout);
  long wakeups = 0, echoed = 0, empty_wakeups = 0;
  while (!g_stop) {
    struct epoll_event evs[kMaxChannels];
    const int n = epoll_wait(epfd, evs, kMaxChannels, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return die("epoll_wait");
    ++wakeups;
    for (int e = 0; e < n; ++e) {
      void *ch = chans[evs[e].data.u64];
      long got = 0;
      for (;;) {  /* until 0: that re-arms the descriptor */
        MachnetIovec_t iov = {buf, MACHNET_MSG_MAX_LEN};
        MachnetMsgHdr_t m = {.msg_iov = &iov, .msg_iovlen = 1};
        const int r = machnet_recvmsg(ch, &m);
        if (r == 0) break;
        if (r < 0) return die("recvmsg");
        const uint64_t t = now_ns();
        if ((m.flags & kPingFlag) && m.msg_size >= 16) {
          uint64_t sent;
          memcpy(&sent, buf, 8);
          const uint64_t delay = t - sent;
          memcpy(buf + 8, &delay, 8);
        }
        MachnetFlow_t f = m.flow_info;
        m.flow_info = (MachnetFlow_t){f.dst_ip, f.src_ip, f.dst_port, f.src_port};
        iov.len = m.msg_size;
        if (send_retry(ch, &m) != 0) return die("echo");
        ++echoed, ++got;
      }
      if (got == 0) ++empty_wakeups;
    }
  }
  printf("{\"wakeups\":%ld,\"empty_wakeups\":%ld,\"echoed\":%ld}\n", wakeups, empty_wakeups, echoed);
  for (long i = 0; i < o->channels; ++i) machnet_detach(chans[i]);
  free(buf);
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Waits (epoll, edge-triggered) for one message on any channel; 1 got, 0 timeout, -1 error. */
static int next_message(int epfd, void **chans, long nch, MachnetMsgHdr_t *m, long *which) {
  const uint64_t deadline = now_ns() + 30000000000ull;
  for (;;) {
    for (long i = 0; i < nch; ++i) {
      const int r = machnet_recvmsg(chans[i], m);
      if (r != 0) return *which = i, r;
    }
    /* Every channel returned 0: all are armed, so sleeping cannot miss a delivery. */
    if (now_ns() > deadline) return 0;
    struct epoll_event evs[kMaxChannels];
    if (epoll_wait(epfd, evs, kMaxChannels, 1000) < 0 && errno != EINTR) return -1;
  }
}

static int client(const Options *o) {
  void *chans[kMaxChannels];
  MachnetFlow_t flows[kMaxFlows];
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!attach_all(chans, o->channels, epfd, EPOLLIN | EPOLLET)) return die("attach");
  for (long k = 0; k < o->flows; ++k) {
    if (machnet_connect(chans[k % o->channels], o->local_ip, o->remote_ip,
                        (uint16_t)(o->port + k % o->channels), &flows[k]) != 0) return die("connect");
  }
  uint8_t *want = malloc(o->max_size + 16), *got = malloc(o->max_size + 16);
  long errors = 0, messages = 0;
  uint64_t bytes = 0;
  const uint64_t t0 = now_ns();
  for (long round = 0; round < o->rounds; ++round) {
    for (long k = 0; k < o->flows; ++k) {
      const size_t len = fill(want, o->max_size, k, round);
      MachnetIovec_t iov = {want, len};
      MachnetMsgHdr_t m = {.msg_size = (uint32_t)len, .flow_info = flows[k], .msg_iov = &iov, .msg_iovlen = 1};
      if (send_retry(chans[k % o->channels], &m) != 0) return die("send");
    }
    /* Echoes of this round may come in any order across flows; one per flow. */
    for (long left = o->flows; left > 0; --left) {
      MachnetIovec_t iov = {got, o->max_size + 16};
      MachnetMsgHdr_t m = {.msg_iov = &iov, .msg_iovlen = 1};
      long ch;
      const int r = next_message(epfd, chans, o->channels, &m, &ch);
      if (r == 0) { fprintf(stderr, "timeout in round %ld, %ld echoes missing\n", round, left); return 1; }
      if (r < 0) return die("recv");
      long k = -1;  /* which flow: ours is the echo's destination */
      for (long j = ch; j < o->flows; j += o->channels) {
        if (flows[j].src_port == m.flow_info.dst_port) k = j;
      }
      const size_t len = k < 0 ? 0 : fill(want, o->max_size, k, round);
      if (k < 0 || m.msg_size != len || memcmp(got, want, len) != 0) {
        fprintf(stderr, "bad echo on channel %ld port %u round %ld (size %u)\n", ch, m.flow_info.dst_port, round,
                m.msg_size);
        ++errors;
      }
      ++messages;
      bytes += m.msg_size;
    }
  }
  const double seconds = (double)(now_ns() - t0) / 1e9;
  uint64_t *wake = calloc((size_t)o->pings + 1, sizeof(uint64_t));
  for (long p = 0; p < o->pings; ++p) {
    /* Pacing, not synchronisation: the gap lets the server fall asleep in epoll_wait. */
    const struct timespec gap = {o->ping_gap_ms / 1000, (o->ping_gap_ms % 1000) * 1000000};
    nanosleep(&gap, NULL);
    uint8_t ping[16] = {0};
    const uint64_t t = now_ns();
    memcpy(ping, &t, 8);
    MachnetIovec_t iov = {ping, sizeof(ping)};
    MachnetMsgHdr_t m = {.msg_size = sizeof(ping), .flow_info = flows[p % o->flows], .msg_iov = &iov,
                         .msg_iovlen = 1, .flags = kPingFlag};
    if (send_retry(chans[p % o->flows % o->channels], &m) != 0) return die("ping");
    MachnetIovec_t riov = {got, o->max_size + 16};
    MachnetMsgHdr_t r = {.msg_iov = &riov, .msg_iovlen = 1};
    long ch;
    if (next_message(epfd, chans, o->channels, &r, &ch) != 1 || r.msg_size != 16) return die("ping echo");
    memcpy(&wake[p], got + 8, 8);
  }
  qsort(wake, (size_t)o->pings, sizeof(uint64_t), cmp_u64);
  const long n = o->pings;
  printf("{\"messages\":%ld,\"bytes\":%llu,\"errors\":%ld,\"seconds\":%.3f,\"pings\":%ld,"
         "\"wake_us_p50\":%.1f,\"wake_us_p99\":%.1f,\"wake_us_max\":%.1f}\n",
         messages, (unsigned long long)bytes, errors, seconds, n, n ? wake[n / 2] / 1e3 : 0.0,
         n ? wake[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e3 : 0.0, n ? wake[n - 1] / 1e3 : 0.0);
  for (long i = 0; i < o->channels; ++i) machnet_detach(chans[i]);
  free(want);
  free(got);
  free(wake);
  return errors ? 1 : 0;
}

int main(int argc, char **argv) {
  Options o = {.local_ip = "127.0.0.1", .remote_ip = "127.0.0.1", .port = 7300, .channels = 10, .flows = 100,
               .rounds = 10, .max_size = 65536, .ping_gap_ms = 20};
  if (argc < 2) goto usage;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--edge")) { o.edge = 1; continue; }
    if (!v) goto usage;
    ++i;
    if (!strcmp(a, "--local_ip")) o.local_ip = v;
    else if (!strcmp(a, "--remote_ip")) o.remote_ip = v;
    else if (!strcmp(a, "--port")) o.port = atol(v);
    else if (!strcmp(a, "--channels")) o.channels = atol(v);
    else if (!strcmp(a, "--flows")) o.flows = atol(v);
    else if (!strcmp(a, "--rounds")) o.rounds = atol(v);
    else if (!strcmp(a, "--max_size")) o.max_size = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--pings")) o.pings = atol(v);
    else if (!strcmp(a, "--ping_gap_ms")) o.ping_gap_ms = atol(v);
    else goto usage;
  }
  if (o.channels < 1 || o.channels > kMaxChannels || o.flows < 1 || o.flows > kMaxFlows || o.max_size < 16 ||
      o.max_size > MACHNET_MSG_MAX_LEN)
    goto usage;
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  if (machnet_init() != 0) return die("machnet_init");
  if (!strcmp(o.mode, "server")) return serve(&o);
  if (!strcmp(o.mode, "client")) return client(&o);
usage:
  fprintf(stderr, "usage: see the comment at the top of epoll_echo.c\n");
  return 2;
}
