/*
 * hello_world: the smallest Machnet application, in the shape of upstream Machnet's.
 *
 *   server:  hello_world --local 127.0.0.1
 *   client:  hello_world --local 127.0.0.1 --remote 127.0.0.1
 *
 * The server listens on port 888 and prints every message it receives, then answers it on
 * the flow it came from with source and destination swapped. The client connects, sends
 * "Hello World!" and prints the answer. MACHNET_SOCKET names the daemon's socket when it is
 * not /run/machnet/machnet.sock. Only <machnet.h> is needed.
 */
#include <errno.h>
#include <machnet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kPort = 888 };

static int usage(const char *prog) {
  fprintf(stderr, "usage: %s --local IP [--remote IP] [--count N]\n", prog);
  return 2;
}

int main(int argc, char **argv) {
  const char *local = NULL, *remote = NULL;
  long count = -1; /* server: messages to answer before exiting (-1: forever) */
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--local") && i + 1 < argc) local = argv[++i];
    else if (!strcmp(argv[i], "--remote") && i + 1 < argc) remote = argv[++i];
    else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = strtol(argv[++i], NULL, 10);
    else return usage(argv[0]);
  }
  if (!local) return usage(argv[0]);

  if (machnet_init() != 0) {
    fprintf(stderr, "machnet_init: %s (%s)\n", machnet_last_error(), strerror(errno));
    return 1;
  }
  void *channel = machnet_attach();
  if (!channel) {
    fprintf(stderr, "machnet_attach: %s\n", machnet_last_error());
    return 1;
  }
  char buf[1024];
  MachnetFlow_t flow;

  if (!remote) {
    if (machnet_listen(channel, local, kPort) != 0) {
      fprintf(stderr, "machnet_listen: %s\n", machnet_last_error());
      return 1;
    }
    printf("listening on %s:%d\n", local, kPort);
    fflush(stdout);
    for (long answered = 0; count < 0 || answered < count;) {
      ssize_t n = machnet_recv_timeout(channel, buf, sizeof(buf) - 1, &flow, 1000);
      if (n < 0) {
        fprintf(stderr, "machnet_recv: %s\n", machnet_last_error());
        if (errno == ECONNRESET || errno == ETIMEDOUT) continue;  /* one client's flow failed */
        return 1;
      }
      if (n == 0) continue;
      buf[n] = '\0';
      printf("received: %s\n", buf);
      fflush(stdout);
      MachnetFlow_t reply = {flow.dst_ip, flow.src_ip, flow.dst_port, flow.src_port};
      if (machnet_send(channel, reply, buf, (size_t)n) != 0) {
        fprintf(stderr, "machnet_send: %s\n", machnet_last_error());
        return 1;
      }
      ++answered;
    }
    machnet_detach(channel);
    return 0;
  }

  if (machnet_connect(channel, local, remote, kPort, &flow) != 0) {
    fprintf(stderr, "machnet_connect: %s\n", machnet_last_error());
    return 1;
  }
  const char *msg = "Hello World!";
  if (machnet_send(channel, flow, msg, strlen(msg)) != 0) {
    fprintf(stderr, "machnet_send: %s\n", machnet_last_error());
    return 1;
  }
  ssize_t n = machnet_recv_timeout(channel, buf, sizeof(buf) - 1, &flow, 5000);
  if (n <= 0) {
    fprintf(stderr, "no answer from the server: %s\n", machnet_last_error());
    return 1;
  }
  buf[n] = '\0';
  printf("reply: %s\n", buf);
  machnet_detach(channel);
  return 0;
}
