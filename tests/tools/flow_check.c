/*
 * flow_check: proves a Machnet flow carries every byte of every message, in order, both ways.
 *
 *   flow_check server  --local_ip IP --port P [--seed S] [--count N] [--max_size BYTES]
 *                      [--pause_after N --pause_s S]
 *   flow_check client  --local_ip IP --remote_ip IP --port P --count N --seed S
 *                      [--max_size BYTES] [--big K --big_size BYTES] [--window W]
 *                      [--timeout_s T] [--linger_s S] [--flows F]
 *   flow_check connect --local_ip IP --remote_ip IP --port P
 *
 * server: listens on IP:P and echoes every message back on the flow it came from (source and
 *   destination swapped), one at a time: while an echo is refused (EAGAIN/ENOBUFS) it waits
 *   and retries without reading more, so backpressure reaches the sender. With --seed it also
 *   checks what it receives (content and order per flow, see below) and prints an error line
 *   for each bad message, which tells which direction broke. --pause_after N --pause_s S:
 *   after echoing N messages, stop reading for S seconds (prints "paused" and "resumed"
 *   lines). --count N: exit after N echoes. Prints "listening on IP:P" when ready.
 * client: connects to remote_ip:P and sends --count messages. Message i has a size drawn
 *   log-uniformly from 1 B to --max_size (default 8 MiB; message 0 is 1 B, message count/2
 *   is exactly max_size), or --big_size for K messages spread evenly (--big K). Its bytes
 *   are derived from (seed, i): the first 8 bytes are i (little endian, cut short in shorter
 *   messages), the rest a splitmix64 stream seeded from (seed, i). Up to --window messages
 *   are in flight; sends refused with EAGAIN/ENOBUFS are retried while echoes are read. Each
 *   echo must arrive in order with the same size and bytes. Prints one JSON line (messages,
 *   bytes one way, seconds, errors, backpressure, ...) and exits 0 only when every echo came
 *   back right within --timeout_s (default 120). "backpressure" counts refused sends,
 *   "backpressure_events" the spells of refusals, "longest_stall_s" the longest spell.
 *   Exits 1 on a mismatch, a loss (timeout) or a reset, 3 when the connection cannot be
 *   made. --linger_s S: after success, keep the
 *   flow open S seconds before closing it (a test reads `machnetctl flows` meanwhile).
 *   --flows F: open F flows (up to 64) on the one channel and send message i on flow i mod F;
 *   each flow's echoes are checked in that flow's order (use a server without --seed).
 * connect: only machnet_connect(); prints {"ok":..,"errno":"ECONNREFUSED",..,"seconds":..}
 *   and exits 0 when connected, 1 otherwise.
 *
 * MACHNET_SOCKET names the daemon's application socket. Links only libmachnet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <machnet.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool_common.h"


enum { kMaxClientFlows = 64 };

typedef struct Options {
  const char *mode;
  const char *local_ip;
  const char *remote_ip;
  long port;
  long count;
  uint64_t seed;
  int have_seed;
  uint64_t max_size;
  long big;
  uint64_t big_size;
  long window;
  double timeout_s;
  long pause_after;
  double pause_s;
  double linger_s;
  long flows;
} Options;

/* A JSON string body: the message with quotes, backslashes and control characters escaped. */
static void json_escape(char *out, size_t cap, const char *in) {
  size_t o = 0;
  for (; *in && o + 7 < cap; ++in) {
    unsigned char c = (unsigned char)*in;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
}

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The bytes of message `index` of a run with `seed`, `len` long. */
static void fill_message(uint8_t *buf, uint64_t seed, uint64_t index, size_t len) {
  size_t i = 0;
  for (; i < len && i < 8; ++i) buf[i] = (uint8_t)(index >> (8 * i));
  uint64_t state = seed ^ (index * 0xd1b54a32d192ed03ull) ^ 0x5851f42d4c957f2dull;
  while (i + 8 <= len) {
    uint64_t w = splitmix64(&state);
    memcpy(buf + i, &w, 8);
    i += 8;
  }
  if (i < len) {
    uint64_t w = splitmix64(&state);
    memcpy(buf + i, &w, len - i);
  }
}

/* The index a message claims in its first bytes (-1 when shorter than 8 bytes). */
static long long claimed_index(const uint8_t *buf, size_t len) {
  if (len < 8) return -1;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | buf[i];
  return (long long)v;
}

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t len) {
  for (size_t i = 0; i < len; ++i)
    if (a[i] != b[i]) return i;
  return len;
}

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s server --local_ip IP --port P [--seed S] [--count N] [--max_size B]\n"
          "                        [--pause_after N --pause_s S]\n"
          "       %s client --local_ip IP --remote_ip IP --port P --count N --seed S\n"
          "                        [--max_size B] [--big K --big_size B] [--window W] [--timeout_s T]\n"
          "                        [--linger_s S] [--flows F]\n"
          "       %s connect --local_ip IP --remote_ip IP --port P\n",
          prog, prog, prog);
  return kExitUsage;
}

static int parse_u64(const char *text, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 0);
  if (errno || end == text || *end || text[0] == '-') return -1;
  *out = v;
  return 0;
}

static int parse_options(int argc, char **argv, Options *o) {
  memset(o, 0, sizeof(*o));
  o->max_size = MACHNET_MSG_MAX_LEN;
  o->window = 16;
  o->flows = 1;
  o->timeout_s = 120;
  o->count = -1;
  o->port = -1;
  if (argc < 2) return -1;
  o->mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const char *key = argv[i];
    if (i + 1 >= argc) return -1;
    const char *value = argv[++i];
    uint64_t u = 0;
    int bad = 0;
    if (!strcmp(key, "--local_ip")) o->local_ip = value;
    else if (!strcmp(key, "--remote_ip")) o->remote_ip = value;
    else if (!strcmp(key, "--port")) { bad = parse_u64(value, &u) || u > 65535; o->port = (long)u; }
    else if (!strcmp(key, "--count")) { bad = parse_u64(value, &u); o->count = (long)u; }
    else if (!strcmp(key, "--seed")) { bad = parse_u64(value, &o->seed); o->have_seed = 1; }
    else if (!strcmp(key, "--max_size")) bad = parse_u64(value, &o->max_size) || o->max_size < 1 || o->max_size > MACHNET_MSG_MAX_LEN;
    else if (!strcmp(key, "--big")) { bad = parse_u64(value, &u); o->big = (long)u; }
    else if (!strcmp(key, "--big_size")) bad = parse_u64(value, &o->big_size) || o->big_size < 1 || o->big_size > MACHNET_MSG_MAX_LEN;
    else if (!strcmp(key, "--window")) { bad = parse_u64(value, &u) || u < 1; o->window = (long)u; }
    else if (!strcmp(key, "--timeout_s")) { o->timeout_s = strtod(value, NULL); bad = !(o->timeout_s > 0); }
    else if (!strcmp(key, "--pause_after")) { bad = parse_u64(value, &u); o->pause_after = (long)u; }
    else if (!strcmp(key, "--pause_s")) { o->pause_s = strtod(value, NULL); bad = !(o->pause_s >= 0); }
    else if (!strcmp(key, "--linger_s")) { o->linger_s = strtod(value, NULL); bad = !(o->linger_s >= 0); }
    else if (!strcmp(key, "--flows")) { bad = parse_u64(value, &u) || u < 1 || u > kMaxClientFlows; o->flows = (long)u; }
    else bad = 1;
    if (bad) {
      fprintf(stderr, "flow_check: bad option %s %s\n", key, value);
      return -1;
    }
  }
  if (!o->local_ip || o->port < 0) return -1;
  if (strcmp(o->mode, "server") && !o->remote_ip) return -1;
  if (!strcmp(o->mode, "client") && (o->count < 0 || !o->have_seed)) return -1;
  if (o->big && !o->big_size) o->big_size = o->max_size;
  return 0;
}

/* ------------------------------------------------------------------------------------ */

static int run_connect(const Options *o) {
  void *channel = attach_or_die("flow_check");
  MachnetFlow_t flow;
  double t0 = now_s();
  int rc = machnet_connect(channel, o->local_ip, o->remote_ip, (uint16_t)o->port, &flow);
  int err = errno;
  double seconds = now_s() - t0;
  char detail[512];
  json_escape(detail, sizeof(detail), rc == 0 ? "" : machnet_last_error());
  printf("{\"role\":\"connect\",\"ok\":%s,\"rc\":%d,\"errno\":\"%s\",\"error\":\"%s\",\"seconds\":%.6f}\n",
         rc == 0 ? "true" : "false", rc, rc == 0 ? "" : errno_name(err), detail, seconds);
  fflush(stdout);
  if (rc == 0) machnet_close_flow(channel, flow);
  machnet_detach(channel);
  return rc == 0 ? kExitOk : kExitFail;
}

/* ------------------------------------------------------------------------------------ */

typedef struct PeerState {
  MachnetFlow_t flow;
  uint64_t next_index;
} PeerState;

enum { kMaxPeers = 256 };

static int same_flow(MachnetFlow_t a, MachnetFlow_t b) {
  return a.src_ip == b.src_ip && a.dst_ip == b.dst_ip && a.src_port == b.src_port && a.dst_port == b.dst_port;
}

static int run_server(const Options *o) {
  void *channel = attach_or_die("flow_check");
  if (machnet_listen(channel, o->local_ip, (uint16_t)o->port) != 0) {
    fprintf(stderr, "flow_check: machnet_listen %s:%ld: %s (%s)\n", o->local_ip, o->port, machnet_last_error(),
            errno_name(errno));
    return kExitConnect;
  }
  size_t cap = o->max_size;
  uint8_t *buf = malloc(cap);
  uint8_t *expect = o->have_seed ? malloc(cap) : NULL;
  if (!buf || (o->have_seed && !expect)) {
    fprintf(stderr, "flow_check: out of memory\n");
    return kExitFail;
  }
  static PeerState peers[kMaxPeers];
  size_t npeers = 0;
  uint64_t echoed = 0, bytes = 0, errors = 0, backpressure = 0;
  double t0 = now_s();
  printf("listening on %s:%ld\n", o->local_ip, o->port);
  fflush(stdout);

  while (o->count < 0 || echoed < (uint64_t)o->count) {
    MachnetFlow_t flow;
    ssize_t n = machnet_recv_timeout(channel, buf, cap, &flow, 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ESHUTDOWN) {
        // The client closed its flow after its last message: the orderly end, not an error.
        printf("{\"event\":\"peer_closed\"}\n");
        fflush(stdout);
        continue;
      }
      fprintf(stderr, "flow_check server: machnet_recv: %s (%s)\n", machnet_last_error(), errno_name(errno));
      printf("{\"event\":\"error\",\"error\":\"recv failed: %s\"}\n", errno_name(errno));
      fflush(stdout);
      ++errors;
      if (errno == ECONNRESET) continue;
      break;
    }
    if (n == 0) continue;
    if (expect) {
      PeerState *peer = NULL;
      for (size_t i = 0; i < npeers; ++i)
        if (same_flow(peers[i].flow, flow)) peer = &peers[i];
      if (!peer && npeers < kMaxPeers) {
        peer = &peers[npeers++];
        peer->flow = flow;
        peer->next_index = 0;
      }
      if (peer) {
        fill_message(expect, o->seed, peer->next_index, (size_t)n);
        size_t at = first_difference(buf, expect, (size_t)n);
        if (at != (size_t)n) {
          /* Lost or reordered messages: when the message is intact but another index, say
           * so and follow its index, so that one loss is one error, not one per message. */
          long long claimed = claimed_index(buf, (size_t)n);
          int intact = 0;
          if (claimed >= 0) {
            fill_message(expect, o->seed, (uint64_t)claimed, (size_t)n);
            intact = first_difference(buf, expect, (size_t)n) == (size_t)n;
          }
          if (++errors <= 20) {
            if (intact)
              printf("{\"event\":\"error\",\"error\":\"client-to-server: expected message %llu, got message %lld "
                     "(%zd bytes, intact): lost or reordered\"}\n",
                     (unsigned long long)peer->next_index, claimed, n);
            else
              printf("{\"event\":\"error\",\"error\":\"client-to-server message %llu (%zd bytes) differs at byte %zu "
                     "(claims index %lld)\"}\n",
                     (unsigned long long)peer->next_index, n, at, claimed);
            fflush(stdout);
          }
          if (intact) peer->next_index = (uint64_t)claimed;
        }
        ++peer->next_index;
      }
    }
    MachnetFlow_t reply = {flow.dst_ip, flow.src_ip, flow.dst_port, flow.src_port};
    for (;;) {
      if (machnet_send(channel, reply, buf, (size_t)n) == 0) break;
      if (errno != EAGAIN && errno != ENOBUFS) {
        fprintf(stderr, "flow_check server: machnet_send: %s (%s)\n", machnet_last_error(), errno_name(errno));
        printf("{\"event\":\"error\",\"error\":\"send failed: %s\"}\n", errno_name(errno));
        fflush(stdout);
        ++errors;
        break;
      }
      ++backpressure;
      sleep_s(20e-6);
    }
    ++echoed;
    bytes += (uint64_t)n;
    if (o->pause_after > 0 && echoed == (uint64_t)o->pause_after) {
      printf("paused after %llu messages for %.3f s\n", (unsigned long long)echoed, o->pause_s);
      fflush(stdout);
      sleep_s(o->pause_s);
      printf("resumed\n");
      fflush(stdout);
    }
  }
  printf("{\"role\":\"server\",\"messages\":%llu,\"bytes\":%llu,\"seconds\":%.3f,\"errors\":%llu,\"backpressure\":%llu}\n",
         (unsigned long long)echoed, (unsigned long long)bytes, now_s() - t0, (unsigned long long)errors,
         (unsigned long long)backpressure);
  fflush(stdout);
  machnet_detach(channel);
  free(buf);
  free(expect);
  return errors ? kExitFail : kExitOk;
}

/* ------------------------------------------------------------------------------------ */

typedef struct ClientRun {
  const Options *o;
  uint64_t count;
  uint32_t *sizes;
  uint64_t total_bytes;
  uint64_t sent, received, received_bytes;
  uint64_t backpressure, backpressure_events;
  double stall_start, longest_stall;
  double t0;
  int errors;
  char error[512];
  uint16_t src_port;
  double connect_s;
} ClientRun;

static void plan_sizes(ClientRun *r) {
  const Options *o = r->o;
  uint64_t state = o->seed ^ 0x243f6a8885a308d3ull;
  double log_max = log((double)o->max_size + 1.0);
  for (uint64_t i = 0; i < r->count; ++i) {
    double u = (double)(splitmix64(&state) >> 11) * 0x1.0p-53;
    uint64_t s = (uint64_t)floor(exp(u * log_max));
    if (s < 1) s = 1;
    if (s > o->max_size) s = o->max_size;
    r->sizes[i] = (uint32_t)s;
  }
  if (r->count >= 1) r->sizes[0] = 1;
  if (r->count >= 2) r->sizes[r->count / 2] = (uint32_t)o->max_size;
  for (long k = 0; k < o->big && r->count >= 3; ++k) {
    uint64_t at = (uint64_t)(k + 1) * r->count / (uint64_t)(o->big + 1);
    if (at == 0) at = 1;
    r->sizes[at] = (uint32_t)o->big_size;
  }
  r->total_bytes = 0;
  for (uint64_t i = 0; i < r->count; ++i) r->total_bytes += r->sizes[i];
}

static void fail(ClientRun *r, const char *fmt, ...) {
  if (r->errors++) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->error, sizeof(r->error), fmt, ap);
  va_end(ap);
}

static void print_client_summary(const ClientRun *r) {
  double seconds = now_s() - r->t0;
  char error[1024];
  json_escape(error, sizeof(error), r->error);
  printf("{\"role\":\"client\",\"ok\":%s,\"messages\":%llu,\"planned\":%llu,\"bytes\":%llu,\"planned_bytes\":%llu,"
         "\"sent\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.1f,\"mbytes_per_s\":%.2f,\"errors\":%d,"
         "\"backpressure\":%llu,\"backpressure_events\":%llu,\"longest_stall_s\":%.3f,\"connect_s\":%.6f,\"src_port\":%u,\"error\":\"%s\"}\n",
         r->errors ? "false" : "true", (unsigned long long)r->received, (unsigned long long)r->count,
         (unsigned long long)r->received_bytes, (unsigned long long)r->total_bytes, (unsigned long long)r->sent,
         seconds, seconds > 0 ? (double)r->received / seconds : 0.0,
         seconds > 0 ? (double)r->received_bytes / seconds / 1e6 : 0.0, r->errors,
         (unsigned long long)r->backpressure, (unsigned long long)r->backpressure_events, r->longest_stall, r->connect_s, r->src_port, error);
  fflush(stdout);
}

static int run_client(const Options *o) {
  ClientRun r;
  memset(&r, 0, sizeof(r));
  r.o = o;
  r.count = (uint64_t)o->count;
  r.sizes = malloc(sizeof(uint32_t) * (r.count ? r.count : 1));
  size_t cap = o->max_size > o->big_size ? o->max_size : o->big_size;
  uint8_t *sbuf = malloc(cap), *rbuf = malloc(cap), *ebuf = malloc(cap);
  if (!r.sizes || !sbuf || !rbuf || !ebuf) {
    fprintf(stderr, "flow_check: out of memory\n");
    return kExitFail;
  }
  plan_sizes(&r);

  void *channel = attach_or_die("flow_check");
  MachnetFlow_t flows[kMaxClientFlows];
  uint64_t echoes[kMaxClientFlows] = {0}; /* per flow: echoes checked */
  const uint64_t nflows = (uint64_t)o->flows;
  double c0 = now_s();
  for (uint64_t f = 0; f < nflows; ++f) {
    if (machnet_connect(channel, o->local_ip, o->remote_ip, (uint16_t)o->port, &flows[f]) == 0) continue;
    int err = errno;
    char detail[512];
    json_escape(detail, sizeof(detail), machnet_last_error());
    printf("{\"role\":\"client\",\"ok\":false,\"messages\":0,\"errors\":1,\"error\":\"connect %s -> %s:%ld failed: %s (%s)\","
           "\"errno\":\"%s\",\"connect_s\":%.6f}\n",
           o->local_ip, o->remote_ip, o->port, errno_name(err), detail, errno_name(err), now_s() - c0);
    fflush(stdout);
    return kExitConnect;
  }
  r.connect_s = now_s() - c0;
  r.src_port = flows[0].src_port;
  r.t0 = now_s();
  double deadline = r.t0 + o->timeout_s;
  uint64_t generated = UINT64_MAX;
  int got_last = 0;

  while (r.received < r.count && !r.errors) {
    int sent_any = 0;
    while (r.sent < r.count && r.sent - r.received < (uint64_t)o->window) {
      size_t len = r.sizes[r.sent];
      if (generated != r.sent) {
        fill_message(sbuf, o->seed, r.sent, len);
        generated = r.sent;
      }
      if (machnet_send(channel, flows[r.sent % nflows], sbuf, len) == 0) {
        ++r.sent;
        sent_any = 1;
        if (r.stall_start > 0) {
          double stall = now_s() - r.stall_start;
          if (stall > r.longest_stall) r.longest_stall = stall;
          r.stall_start = 0;
        }
        continue;
      }
      if (errno == EAGAIN || errno == ENOBUFS) {
        ++r.backpressure;
        if (r.stall_start == 0) {
          r.stall_start = now_s();
          ++r.backpressure_events;
        }
        break;
      }
      fail(&r, "send of message %llu (%zu bytes) failed: %s (%s)", (unsigned long long)r.sent, len,
           errno_name(errno), machnet_last_error());
      break;
    }
    if (r.errors) break;

    MachnetFlow_t from;
    ssize_t n = (sent_any || got_last) ? machnet_recv(channel, rbuf, cap, &from)
                                       : machnet_recv_timeout(channel, rbuf, cap, &from, 1);
    got_last = n > 0;
    if (n == 0 && !sent_any && r.stall_start > 0) sleep_s(50e-6); /* refused and idle: do not spin */
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EMSGSIZE) {
        fail(&r, "echo %llu is longer than any message sent (%zu bytes max)", (unsigned long long)r.received, cap);
      } else {
        fail(&r, "recv failed after %llu echoes: %s (%s)", (unsigned long long)r.received, errno_name(errno),
             machnet_last_error());
      }
      break;
    }
    if (n > 0) {
      uint64_t f = 0;
      while (f < nflows && (from.src_port != flows[f].dst_port || from.dst_port != flows[f].src_port)) ++f;
      if (f == nflows) {
        fail(&r, "echo %llu arrived on another flow (ports %u->%u)", (unsigned long long)r.received, from.src_port,
             from.dst_port);
        break;
      }
      uint64_t i = f + nflows * echoes[f]++; /* the next message this flow carried */
      if (i >= r.count) {
        fail(&r, "flow %llu echoed more messages than it carried", (unsigned long long)f);
        break;
      }
      size_t want = r.sizes[i];
      if ((size_t)n != want) {
        fail(&r, "echo %llu has %zd bytes, sent %zu (claims index %lld): lost, reordered or cut", (unsigned long long)i,
             n, want, claimed_index(rbuf, (size_t)n));
        break;
      }
      fill_message(ebuf, o->seed, i, want);
      size_t at = first_difference(rbuf, ebuf, want);
      if (at != want) {
        fail(&r, "echo %llu (%zu bytes) differs at byte %zu: got 0x%02x, want 0x%02x (claims index %lld)",
             (unsigned long long)i, want, at, rbuf[at], ebuf[at], claimed_index(rbuf, want));
        break;
      }
      ++r.received;
      r.received_bytes += want;
    }
    if (now_s() > deadline) {
      fail(&r, "timeout after %.1f s: sent %llu of %llu, %llu echoes back (next expected: %llu, %u bytes)",
           o->timeout_s, (unsigned long long)r.sent, (unsigned long long)r.count, (unsigned long long)r.received,
           (unsigned long long)r.received, r.received < r.count ? r.sizes[r.received] : 0);
      break;
    }
  }
  if (r.stall_start > 0) {
    double stall = now_s() - r.stall_start;
    if (stall > r.longest_stall) r.longest_stall = stall;
  }
  print_client_summary(&r);
  if (r.errors) fprintf(stderr, "flow_check client: %s\n", r.error);
  /* Keeps the flow open a while after success so a test can read `machnetctl flows`. */
  if (!r.errors && o->linger_s > 0) sleep_s(o->linger_s);
  for (uint64_t f = 0; f < nflows; ++f) machnet_close_flow(channel, flows[f]);
  machnet_detach(channel);
  free(r.sizes);
  free(sbuf);
  free(rbuf);
  free(ebuf);
  return r.errors ? kExitFail : kExitOk;
}

int main(int argc, char **argv) {
  Options o;
  if (parse_options(argc, argv, &o) != 0) return usage(argv[0]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!strcmp(o.mode, "server")) return run_server(&o);
  if (!strcmp(o.mode, "client")) return run_client(&o);
  if (!strcmp(o.mode, "connect")) return run_connect(&o);
  return usage(argv[0]);
}
