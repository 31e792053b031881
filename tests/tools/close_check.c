/*
 * close_check: proves that closing a flow right after sending loses nothing (half-close,
 * docs/wire-protocol.md "Close").
 *
 *   close_check receiver --local_ip IP --port P --count N [--linger_s S]
 *   close_check sender   --local_ip IP --remote_ip IP --port P --count N [--linger_s S]
 *
 * sender: connects, sends N messages as fast as the channel takes them (message i has
 *   size_of(i) bytes derived from i; refused sends are retried), calls machnet_close_flow
 *   at once after the last, then keeps receiving for --linger_s (default 3) seconds: any -1
 *   from machnet_recv (ECONNRESET from a false reset, EPIPE for a message not sent) is a
 *   failure. Prints {"role":"sender","ok":..,"sent":..,"close_rc":..,"recv_errors":..,
 *   "error":..}; exits 0 when ok.
 * receiver: listens, checks that messages arrive in order with their sizes and bytes until
 *   N came, then keeps receiving for --linger_s seconds (nothing more may come, not even an
 *   error). Prints "listening on IP:P", then {"role":"receiver","ok":..,"received":..,
 *   "errors":..,"recv_errors":..}; exits 0 when ok.
 *
 * MACHNET_SOCKET names the daemon's application socket. Links only libmachnet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <machnet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool_common.h"

enum { kMaxSize = 64 << 10 };

/* Sizes from 1 B to 64 KiB, several segments for most, so much is in flight at the close. */
static uint32_t size_of(uint64_t i) { return 1 + (uint32_t)((i * 2654435761u) % kMaxSize); }

static void fill(uint8_t *out, uint64_t i, uint32_t len) {
  for (uint32_t k = 0; k < len; ++k) out[k] = (uint8_t)(i * 131 + k * 7 + (k >> 8));
}

/* Receives for `seconds`; returns how many receives failed (each printed). */
static long drain_for(void *channel, uint8_t *buf, double seconds, long *extra_messages) {
  long failures = 0;
  const double until = now_s() + seconds;
  while (now_s() < until) {
    MachnetFlow_t flow;
    ssize_t n = machnet_recv_timeout(channel, buf, kMaxSize, &flow, 100);
    if (n < 0 && errno != EINTR) {  /* a timeout returns 0; -1 is a flow-ended notice */
      printf("{\"event\":\"recv_error\",\"errno\":\"%s\"}\n", errno_name(errno));
      ++failures;
    } else if (n > 0) {
      ++*extra_messages;
    }
  }
  return failures;
}

static int run_sender(const char *local_ip, const char *remote_ip, long port, long count, double linger_s) {
  void *channel = attach_or_die("close_check");
  MachnetFlow_t flow;
  if (machnet_connect(channel, local_ip, remote_ip, (uint16_t)port, &flow) != 0) {
    fprintf(stderr, "close_check: connect: %s\n", machnet_last_error());
    return kExitConnect;
  }
  static uint8_t buf[kMaxSize];
  long sent = 0;
  const double deadline = now_s() + 60;
  while (sent < count && now_s() < deadline) {
    const uint32_t len = size_of((uint64_t)sent);
    fill(buf, (uint64_t)sent, len);
    if (machnet_send(channel, flow, buf, len) == 0) ++sent;
    else if (errno == ENOBUFS || errno == EAGAIN) sleep_s(50e-6);
    else break;
  }
  const int close_rc = machnet_close_flow(channel, flow);  /* at once: most is still queued */
  long extra = 0;
  const long recv_errors = drain_for(channel, buf, linger_s, &extra);
  const int ok = sent == count && close_rc == 0 && recv_errors == 0 && extra == 0;
  printf("{\"role\":\"sender\",\"ok\":%s,\"sent\":%ld,\"close_rc\":%d,\"recv_errors\":%ld,\"extra\":%ld}\n",
         ok ? "true" : "false", sent, close_rc, recv_errors, extra);
  fflush(stdout);
  machnet_detach(channel);
  return ok ? kExitOk : kExitFail;
}

static int run_receiver(const char *local_ip, long port, long count, double linger_s) {
  void *channel = attach_or_die("close_check");
  if (machnet_listen(channel, local_ip, (uint16_t)port) != 0) {
    fprintf(stderr, "close_check: listen: %s\n", machnet_last_error());
    return kExitConnect;
  }
  printf("listening on %s:%ld\n", local_ip, port);
  fflush(stdout);
  static uint8_t buf[kMaxSize], expect[kMaxSize];
  long received = 0, errors = 0, recv_errors = 0;
  const double deadline = now_s() + 120;
  while (received < count && now_s() < deadline) {
    MachnetFlow_t flow;
    ssize_t n = machnet_recv_timeout(channel, buf, sizeof(buf), &flow, 200);
    if (n < 0) {
      if (errno == EINTR) continue;
      printf("{\"event\":\"recv_error\",\"errno\":\"%s\"}\n", errno_name(errno));
      ++recv_errors;
      continue;
    }
    if (n == 0) continue;
    const uint32_t len = size_of((uint64_t)received);
    fill(expect, (uint64_t)received, len);
    if ((uint32_t)n != len || memcmp(buf, expect, len) != 0) ++errors;
    ++received;
  }
  long extra = 0;
  recv_errors += drain_for(channel, buf, linger_s, &extra);
  const int ok = received == count && errors == 0 && recv_errors == 0 && extra == 0;
  printf("{\"role\":\"receiver\",\"ok\":%s,\"received\":%ld,\"errors\":%ld,\"recv_errors\":%ld,\"extra\":%ld}\n",
         ok ? "true" : "false", received, errors, recv_errors, extra);
  fflush(stdout);
  machnet_detach(channel);
  return ok ? kExitOk : kExitFail;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "", *local_ip = NULL, *remote_ip = NULL;
  long port = -1, count = -1;
  double linger_s = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--local_ip")) local_ip = argv[i + 1];
    else if (!strcmp(argv[i], "--remote_ip")) remote_ip = argv[i + 1];
    else if (!strcmp(argv[i], "--port")) port = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--count")) count = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--linger_s")) linger_s = strtod(argv[i + 1], NULL);
    else port = -1, i = argc;
  }
  if (!local_ip || port < 0 || port > 65535 || count < 0) goto usage;
  if (!strcmp(mode, "receiver")) return run_receiver(local_ip, port, count, linger_s);
  if (!strcmp(mode, "sender") && remote_ip) return run_sender(local_ip, remote_ip, port, count, linger_s);
usage:
  fprintf(stderr, "usage: %s receiver|sender --local_ip IP [--remote_ip IP] --port P --count N [--linger_s S]\n",
          argv[0]);
  return kExitUsage;
}
