/*
 * stop_check: what a daemon's graceful stop does to one flow (issue 14; docs/wire-protocol.md
 * "Stop"). Counts on both ends, so a test can compare what was accepted with what arrived.
 *
 *   stop_check send --local_ip IP --remote_ip IP --port P [--size B] [--count N] [--wait_s S]
 *   stop_check recv --local_ip IP --port P [--idle_s S] [--pause_after N --pause_s S]
 *
 * send: connects, then sends messages of --size bytes (default 16384; message i begins with
 *   i, 8 bytes little endian) as fast as the daemon takes them, until --count are accepted
 *   (default: no end) or a send fails with anything but ENOBUFS/EAGAIN (ESHUTDOWN once the
 *   daemon stops). Whatever arrives is read and ignored. Then it waits up to --wait_s
 *   (default 30) for machnet_recv to report the flow's end and prints one JSON line:
 *   {"role":"send","accepted":N,"send_errno":"ESHUTDOWN","ended_errno":"ENETDOWN",...}.
 * recv: listens and reads; every message must carry the next index (none lost, none twice,
 *   in order). --pause_after N --pause_s S: stop reading for S seconds after N messages.
 *   Exits when --idle_s (default 3) pass without a message after the first one, printing
 *   {"role":"recv","received":R,"out_of_order":K,"ended_errno":"..."}.
 * Prints "listening"/"connected" lines when ready. MACHNET_SOCKET names the daemon's socket.
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

typedef struct Options {
  const char *mode, *local_ip, *remote_ip;
  long port, size, count, pause_after;
  double wait_s, idle_s, pause_s;
} Options;

static int parse(int argc, char **argv, Options *o) {
  memset(o, 0, sizeof(*o));
  o->port = -1;
  o->size = 16384;
  o->count = -1;
  o->wait_s = 30;
  o->idle_s = 3;
  if (argc < 2) return -1;
  o->mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--local_ip")) o->local_ip = v;
    else if (!strcmp(k, "--remote_ip")) o->remote_ip = v;
    else if (!strcmp(k, "--port")) o->port = atol(v);
    else if (!strcmp(k, "--size")) o->size = atol(v);
    else if (!strcmp(k, "--count")) o->count = atol(v);
    else if (!strcmp(k, "--wait_s")) o->wait_s = atof(v);
    else if (!strcmp(k, "--idle_s")) o->idle_s = atof(v);
    else if (!strcmp(k, "--pause_after")) o->pause_after = atol(v);
    else if (!strcmp(k, "--pause_s")) o->pause_s = atof(v);
    else return -1;
  }
  if (!o->local_ip || o->port < 0 || o->size < 8 || o->size > MACHNET_MSG_MAX_LEN) return -1;
  if (!strcmp(o->mode, "send") && !o->remote_ip) return -1;
  return 0;
}

static int run_send(const Options *o) {
  void *ch = attach_or_die("stop_check");
  MachnetFlow_t flow;
  if (machnet_connect(ch, o->local_ip, o->remote_ip, (uint16_t)o->port, &flow) != 0) {
    fprintf(stderr, "stop_check: connect: %s (%s)\n", machnet_last_error(), errno_name(errno));
    return 3;
  }
  printf("connected\n");
  char *buf = calloc(1, (size_t)o->size);
  char *rbuf = malloc((size_t)o->size);
  uint64_t accepted = 0;
  int send_errno = 0, ended_errno = 0;
  double stopped_at = 0, ended_at = 0;
  MachnetFlow_t from;
  while (o->count < 0 || accepted < (uint64_t)o->count) {
    memcpy(buf, &accepted, 8); /* little endian on the machines we test on */
    if (machnet_send(ch, flow, buf, (size_t)o->size) == 0) {
      ++accepted;
      continue;
    }
    if (errno != ENOBUFS && errno != EAGAIN) {
      send_errno = errno;
      stopped_at = now_s();
      break;
    }
    ssize_t n = machnet_recv_timeout(ch, rbuf, (size_t)o->size, &from, 1);
    if (n < 0 && errno != EINTR && errno != EMSGSIZE) {  /* the end came before a refused send */
      ended_errno = errno;
      ended_at = stopped_at = now_s();
      break;
    }
  }
  printf("{\"event\":\"sending_done\",\"accepted\":%llu}\n", (unsigned long long)accepted);
  fflush(stdout);
  const double until = now_s() + o->wait_s;
  while (!ended_errno && now_s() < until) {
    ssize_t n = machnet_recv_timeout(ch, rbuf, (size_t)o->size, &from, 100);
    if (n < 0 && errno != EINTR && errno != EMSGSIZE && errno != EAGAIN) {
      ended_errno = errno;
      ended_at = now_s();
    }
  }
  printf("{\"role\":\"send\",\"accepted\":%llu,\"send_errno\":\"%s\",\"ended_errno\":\"%s\",\"end_after_s\":%.3f}\n",
         (unsigned long long)accepted, errno_name(send_errno), errno_name(ended_errno),
         ended_at && stopped_at ? ended_at - stopped_at : -1.0);
  fflush(stdout);
  return 0;
}

static int run_recv(const Options *o) {
  void *ch = attach_or_die("stop_check");
  if (machnet_listen(ch, o->local_ip, (uint16_t)o->port) != 0) {
    fprintf(stderr, "stop_check: listen: %s (%s)\n", machnet_last_error(), errno_name(errno));
    return 3;
  }
  printf("listening\n");
  fflush(stdout);
  char *buf = malloc(MACHNET_MSG_MAX_LEN);
  uint64_t received = 0, out_of_order = 0;
  int ended_errno = 0;
  double last = 0;
  while (last == 0 || now_s() - last < o->idle_s) {
    MachnetFlow_t from;
    ssize_t n = machnet_recv_timeout(ch, buf, MACHNET_MSG_MAX_LEN, &from, 100);
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN) ended_errno = errno;
      continue;
    }
    if (n == 0) continue;
    uint64_t index = 0;
    if (n >= 8) memcpy(&index, buf, 8);
    if (n < 8 || index != received) ++out_of_order;
    ++received;
    last = now_s();
    if (o->pause_after > 0 && received == (uint64_t)o->pause_after) {
      printf("paused\n");
      fflush(stdout);
      sleep_s(o->pause_s);
      last = now_s();
    }
  }
  printf("{\"role\":\"recv\",\"received\":%llu,\"out_of_order\":%llu,\"ended_errno\":\"%s\"}\n",
         (unsigned long long)received, (unsigned long long)out_of_order, errno_name(ended_errno));
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  Options o;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (parse(argc, argv, &o) != 0) {
    fprintf(stderr, "usage: see the comment at the top of stop_check.c\n");
    return 2;
  }
  if (!strcmp(o.mode, "send")) return run_send(&o);
  if (!strcmp(o.mode, "recv")) return run_recv(&o);
  return 2;
}
