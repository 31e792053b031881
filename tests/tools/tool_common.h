/* What the test tools share: their exit codes, a monotonic clock, a sleep, errno names and
 * attaching a channel. Header-only (static functions): each tool is one C file linking
 * only libmachnet, as an application would. */
#ifndef MACHNET_TESTS_TOOL_COMMON_H
#define MACHNET_TESTS_TOOL_COMMON_H

#include <errno.h>
#include <machnet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 3: the daemon could not be reached or gave no channel (the tests tell this apart). */
enum { kExitOk = 0, kExitFail = 1, kExitUsage = 2, kExitConnect = 3 };

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps `s` seconds, resumed after signals. */
static inline void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* "ECONNRESET" for ECONNRESET; "" for 0 (no error). */
static inline const char *errno_name(int e) {
  if (e == 0) return "";
  const char *name = strerrorname_np(e);
  return name ? name : "unknown";
}

/* machnet_init and machnet_attach, or exit with kExitConnect saying which failed. */
static inline void *attach_or_die(const char *tool) {
  if (machnet_init() != 0) {
    fprintf(stderr, "%s: machnet_init: %s (%s)\n", tool, machnet_last_error(), errno_name(errno));
    exit(kExitConnect);
  }
  void *channel = machnet_attach();
  if (!channel) {
    fprintf(stderr, "%s: machnet_attach: %s (%s)\n", tool, machnet_last_error(), errno_name(errno));
    exit(kExitConnect);
  }
  return channel;
}

#endif
