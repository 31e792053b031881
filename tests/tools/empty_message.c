/*
 * empty_message: proves that 0-byte messages are delivered as 0-byte messages, in order,
 * and that the flow keeps working after them (machnet.h, docs/wire-protocol.md).
 *
 *   empty_message server --local_ip IP --port P
 *   empty_message client --local_ip IP --remote_ip IP --port P [--rounds N] [--timeout_s T]
 *                        [--linger_s S]
 *
 * server: listens on IP:P and echoes every message (0-byte ones included) on the flow it
 *   came from. Receives with machnet_recvmsg(), the call that tells a 0-byte message from
 *   "nothing pending". Prints "listening on IP:P" when ready.
 * client: connects, then per round sends a 0-byte message, a 1-byte one, two 0-byte ones
 *   and one of 3000 bytes (two segments at MTU 1500), each from its own bytes, and checks
 *   that every echo comes back in order with its size and bytes. Prints one JSON line
 *   {"role":"client","ok":..,"echoes":..,"empty_echoes":..,"error":..} and exits 0 only
 *   when every echo came back right within --timeout_s (default 30); 3 when the connection
 *   cannot be made. --linger_s S: after the summary, keep the flow open S seconds before
 *   closing it (a test reads `machnetctl flows` meanwhile).
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

enum { kCap = 4096 };

static const uint32_t kRound[] = {0, 1, 0, 0, 3000};
enum { kPerRound = sizeof(kRound) / sizeof(kRound[0]) };

/* The bytes of message i: its index in the first byte, then a simple pattern. */
static void fill(uint8_t *out, uint64_t i, uint32_t len) {
  for (uint32_t k = 0; k < len; ++k) out[k] = (uint8_t)(k == 0 ? i : i * 31 + k * 7);
}

/* machnet_recvmsg into buf: 1 with *len and *flow set, 0 nothing yet, -1 error. */
static int receive(void *channel, uint8_t *buf, uint32_t *len, MachnetFlow_t *flow) {
  MachnetIovec_t iov = {buf, kCap};
  MachnetMsgHdr_t m;
  memset(&m, 0, sizeof(m));
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  int r = machnet_recvmsg(channel, &m);
  if (r == 1) {
    *len = m.msg_size;
    *flow = m.flow_info;
  }
  return r;
}

static int send_retrying(void *channel, MachnetFlow_t flow, const uint8_t *buf, uint32_t len) {
  for (;;) {
    /* A 0-byte message needs no buffer: pass NULL, as the API allows. */
    if (machnet_send(channel, flow, len ? buf : NULL, len) == 0) return 0;
    if (errno != ENOBUFS && errno != EAGAIN) return -1;
    sleep_s(20e-6);
  }
}

static int run_server(const char *ip, long port) {
  void *channel = attach_or_die("empty_message");
  if (machnet_listen(channel, ip, (uint16_t)port) != 0) {
    fprintf(stderr, "empty_message: machnet_listen %s:%ld: %s\n", ip, port, machnet_last_error());
    return kExitConnect;
  }
  static uint8_t buf[kCap];
  printf("listening on %s:%ld\n", ip, port);
  fflush(stdout);
  for (;;) {
    uint32_t len = 0;
    MachnetFlow_t flow = {0, 0, 0, 0};
    int r = receive(channel, buf, &len, &flow);
    if (r == 0) {
      sleep_s(20e-6);
      continue;
    }
    if (r < 0) {
      if (errno == ECONNRESET || errno == ETIMEDOUT) continue; /* a flow ended: serve others */
      fprintf(stderr, "empty_message server: machnet_recvmsg: %s\n", machnet_last_error());
      return kExitFail;
    }
    MachnetFlow_t reply = {flow.dst_ip, flow.src_ip, flow.dst_port, flow.src_port};
    if (send_retrying(channel, reply, buf, len) != 0) {
      fprintf(stderr, "empty_message server: machnet_send: %s\n", machnet_last_error());
      return kExitFail;
    }
    printf("{\"event\":\"echo\",\"bytes\":%u}\n", len);
    fflush(stdout);
  }
}

static int run_client(const char *local_ip, const char *remote_ip, long port, long rounds, double timeout_s,
                      double linger_s) {
  void *channel = attach_or_die("empty_message");
  MachnetFlow_t flow;
  if (machnet_connect(channel, local_ip, remote_ip, (uint16_t)port, &flow) != 0) {
    printf("{\"role\":\"client\",\"ok\":false,\"echoes\":0,\"empty_echoes\":0,\"error\":\"connect: %s\"}\n",
           machnet_last_error());
    return kExitConnect;
  }
  static uint8_t sbuf[kCap], rbuf[kCap], ebuf[kCap];
  const uint64_t total = (uint64_t)rounds * kPerRound;
  uint64_t echoes = 0, empty = 0;
  char error[256] = "";
  const double deadline = now_s() + timeout_s;
  for (uint64_t i = 0; i < total && !error[0]; ++i) {
    const uint32_t len = kRound[i % kPerRound];
    fill(sbuf, i, len);
    if (send_retrying(channel, flow, sbuf, len) != 0) {
      snprintf(error, sizeof(error), "send of message %llu (%u bytes): %s", (unsigned long long)i, len,
               machnet_last_error());
      break;
    }
    /* One at a time: the echo of each message must come back before the next goes. */
    for (;;) {
      uint32_t got = 0;
      MachnetFlow_t from = {0, 0, 0, 0};
      int r = receive(channel, rbuf, &got, &from);
      if (r == 1) {
        fill(ebuf, i, len);
        if (got != len)
          snprintf(error, sizeof(error), "echo %llu has %u bytes, sent %u", (unsigned long long)i, got, len);
        else if (memcmp(rbuf, ebuf, len) != 0)
          snprintf(error, sizeof(error), "echo %llu (%u bytes) has other bytes", (unsigned long long)i, len);
        else
          ++echoes, empty += len == 0;
        break;
      }
      if (r < 0) {
        snprintf(error, sizeof(error), "recv after %llu echoes: %s", (unsigned long long)echoes, machnet_last_error());
        break;
      }
      if (now_s() > deadline) {
        snprintf(error, sizeof(error), "timeout: no echo of message %llu (%u bytes) after %llu echoes",
                 (unsigned long long)i, len, (unsigned long long)echoes);
        break;
      }
      sleep_s(20e-6);
    }
  }
  printf("{\"role\":\"client\",\"ok\":%s,\"echoes\":%llu,\"empty_echoes\":%llu,\"src_port\":%u,\"error\":\"%s\"}\n",
         error[0] ? "false" : "true", (unsigned long long)echoes, (unsigned long long)empty, flow.src_port, error);
  fflush(stdout);
  if (linger_s > 0) {
    struct timespec ts = {(time_t)linger_s, (long)((linger_s - (double)(time_t)linger_s) * 1e9)};
    nanosleep(&ts, NULL);
  }
  machnet_close_flow(channel, flow);
  machnet_detach(channel);
  return error[0] ? kExitFail : kExitOk;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "", *local_ip = NULL, *remote_ip = NULL;
  long port = -1, rounds = 20;
  double timeout_s = 30, linger_s = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--local_ip")) local_ip = argv[i + 1];
    else if (!strcmp(argv[i], "--remote_ip")) remote_ip = argv[i + 1];
    else if (!strcmp(argv[i], "--port")) port = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--rounds")) rounds = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--timeout_s")) timeout_s = strtod(argv[i + 1], NULL);
    else if (!strcmp(argv[i], "--linger_s")) linger_s = strtod(argv[i + 1], NULL);
    else port = -2;
  }
  if (!local_ip || port < 0 || port > 65535) mode = "";
  if (!strcmp(mode, "server")) return run_server(local_ip, port);
  if (!strcmp(mode, "client") && remote_ip && rounds > 0) return run_client(local_ip, remote_ip, port, rounds, timeout_s, linger_s);
  fprintf(stderr, "usage: empty_message server --local_ip IP --port P\n"
                  "       empty_message client --local_ip IP --remote_ip IP --port P [--rounds N] [--timeout_s T]\n"
                  "                            [--linger_s S]\n");
  return kExitUsage;
}
