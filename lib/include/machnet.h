/*
 * machnet.h - the public C API of libmachnet.
 *
 * Source-compatible with upstream Machnet's machnet.h: the same types, fields, function
 * names and return conventions. The functions after "Additions" are new; existing
 * signatures never change.
 *
 * Model. machnet_init() connects the process to the local machnetd over its application
 * socket (default /run/machnet/machnet.sock, overridden by the MACHNET_SOCKET environment
 * variable). machnet_attach() creates a channel: shared memory between this process and
 * the daemon. A channel is used by one thread at a time (typically one channel per thread);
 * distinct channels may be used concurrently from distinct threads. On a channel an
 * application listens on a port, connects flows, sends and receives messages (up to
 * MACHNET_MSG_MAX_LEN bytes each, delivered whole, in order per flow).
 *
 * Flows. IPv4 addresses and ports are in host byte order. The flow machnet_connect()
 * fills has src_* = this side and dst_* = the remote. A received message's flow describes
 * the message as it travelled: src_* = the remote sender, dst_* = this side. To reply,
 * send on that flow with source and destination swapped; a listener may reply on a flow it
 * never connected.
 *
 * Errors. Functions return -1 (or NULL) and set errno; machnet_last_error() gives a
 * sentence with the details for the calling thread. No function aborts the process.
 *
 * Threads. machnet_init() may be called from any thread, any number of times. Control
 * calls (attach, detach, listen, connect, close) are serialised internally and may be made
 * from any thread. Data calls (send*, recv*) on one channel must not run concurrently.
 */
#ifndef MACHNET_H_
#define MACHNET_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest message the API accepts (a daemon may be configured lower; see
 * machnet_get_channel_stats()'s max_message_bytes). */
#define MACHNET_MSG_MAX_LEN (8u * 1024u * 1024u)

/* One flow: the 4-tuple of a connection, host byte order. */
typedef struct MachnetFlow {
  uint32_t src_ip;
  uint32_t dst_ip;
  uint16_t src_port;
  uint16_t dst_port;
} MachnetFlow_t;

/* One piece of a scatter-gather message. */
typedef struct MachnetIovec {
  void *base;
  size_t len;
} MachnetIovec_t;

/* A message for machnet_sendmsg()/machnet_recvmsg(). */
typedef struct MachnetMsgHdr {
  uint32_t msg_size;       /* total bytes (send: must equal the sum of the iovec lengths;
                              recv: set to the received length) */
  MachnetFlow_t flow_info; /* send: the flow to send on; recv: the flow as travelled */
  MachnetIovec_t *msg_iov; /* caller-owned array of msg_iovlen iovecs */
  size_t msg_iovlen;
  uint16_t flags;          /* between applications of one daemon carried to the receiver
                              (bit 0x8000, the daemon's own, cleared); across machines not
                              carried: the receiver sees 0 */
} MachnetMsgHdr_t;

/*
 * Connects this process to machnetd. Returns 0 on success (also when already connected),
 * -1 if the daemon cannot be reached: errno ENOENT (no socket at the path), ECONNREFUSED
 * (socket exists, no daemon behind it), EACCES (not in the daemon's group), or another
 * connect(2) error. Thread-safe.
 */
int machnet_init(void);

/*
 * Creates a new channel and maps it into this process. Returns an opaque handle owned by
 * the caller until machnet_detach(), or NULL with errno: ENOTCONN (machnet_init() was not
 * called or the daemon went away), ENOSPC (the daemon's channel limit is reached), EPROTO
 * (daemon and library disagree on the ABI), or a mmap/socket error. Thread-safe.
 */
void *machnet_attach(void);

/*
 * Listens on local_ip:port on this channel; messages of flows that connect to it arrive
 * on this channel. local_ip is dotted-quad text and must be the daemon's address. Returns
 * 0, or -1 with errno EINVAL (bad address text or null channel), EADDRNOTAVAIL (not the
 * daemon's address), EADDRINUSE (another channel listens there), ENOTCONN. Thread-safe.
 */
int machnet_listen(void *channel, const char *local_ip, uint16_t port);

/*
 * Connects a flow from local_ip to remote_ip:remote_port and fills *flow (src_* = this
 * side with a port the daemon chose, dst_* = the remote). Blocks until the daemon answers:
 * for a remote address, until the peer daemon accepted the flow, at most
 * [transport] connect_timeout_ms. Returns 0, or -1 with errno EINVAL, EADDRNOTAVAIL
 * (local_ip is not the daemon's), ECONNREFUSED (nobody listens there), EHOSTUNREACH (no
 * ARP answer from remote_ip), ETIMEDOUT (no answer to the handshake), ENETUNREACH (the
 * daemon has no NIC), EMFILE (no free port), ENOTCONN. machnet_last_error() says more.
 * Thread-safe.
 */
int machnet_connect(void *channel, const char *local_ip, const char *remote_ip,
                    uint16_t remote_port, MachnetFlow_t *flow);

/*
 * Queues one message of len bytes (0..MACHNET_MSG_MAX_LEN) on flow. The bytes are copied
 * before it returns; buf stays the caller's (it may be NULL when len is 0). A 0-byte message
 * is a message like any other: it uses one buffer, travels in order with the flow's other
 * messages (locally and to another machine) and is received as a message of 0 bytes
 * (machnet_recvmsg() returns 1 with msg_size 0). Returns 0, or -1 with errno EMSGSIZE (too
 * long), ENOBUFS (the channel's buffers or send ring are full right now: retry later),
 * ESHUTDOWN (the daemon is stopping and takes no new messages: what it accepted before is
 * still delivered, see machnet_recv), EINVAL. Delivery failures later (unknown flow, closed peer) are counted in the channel
 * stats, not reported here. Not thread-safe per channel.
 */
int machnet_send(const void *channel, MachnetFlow_t flow, const void *buf, size_t len);

/* As machnet_send(), gathering msghdr->msg_size bytes from msghdr->msg_iov. EINVAL when
 * msg_size differs from the iovec total. */
int machnet_sendmsg(const void *channel, const MachnetMsgHdr_t *msghdr);

/* Sends msghdrs[0..vlen) in order and stops at the first that cannot be queued. Returns
 * the number queued (0..vlen; errno says why it stopped), or -1 for a null argument. */
int machnet_sendmmsg(const void *channel, const MachnetMsgHdr_t *msghdrs, int vlen);

/*
 * Takes the next message into buf without blocking. Returns its length (> 0), 0 when
 * nothing is pending (a zero-length message is also reported as 0: use machnet_recvmsg()
 * to tell them apart), or -1 with errno EMSGSIZE when the message is longer than len
 * (the message stays queued, nothing is cut: call again with a larger buffer), EINVAL,
 * EPROTO (the daemon handed over a malformed message; it is discarded). When a flow of
 * this channel failed, -1 once with errno ECONNRESET (reset: by the peer, or by this daemon
 * because the peer broke the message framing or left a message half-sent while others
 * waited for this channel's room; `machnetctl flows` says which) or ETIMEDOUT (the peer
 * stopped answering), and *flow names the flow (a peer's orderly close is not an error and
 * is not reported); -1 with EPIPE once for each message sent on a flow that was
 * closed already (machnet_close_flow), so it was not sent. When the daemon stops (SIGTERM:
 * systemctl stop/restart), -1 once per flow with ENETDOWN (every message machnet_send
 * accepted on it was delivered) or ECONNABORTED (the daemon's [daemon] stop_drain_ms ran
 * out first: some were not; the peer got a reset). *flow (if not NULL) gets the flow as
 * travelled. Not thread-safe
 * per channel.
 */
ssize_t machnet_recv(const void *channel, void *buf, size_t len, MachnetFlow_t *flow);

/*
 * Takes the next message into msghdr's iovecs. Returns 1 with msg_size, flow_info and
 * flags set (msg_size 0 for a 0-byte message), 0 when nothing is pending, -1 with errno EMSGSIZE (does not fit the iovecs;
 * it stays queued), EINVAL, EPROTO.
 */
int machnet_recvmsg(const void *channel, MachnetMsgHdr_t *msghdr);

/* ---------------------------------------------------------------------------------- */
/* Additions (not in upstream Machnet).                                                 */

/* Statistics of one channel as the daemon counts them. */
typedef struct MachnetChannelStats {
  uint64_t msgs_sent;      /* messages the daemon took from this channel */
  uint64_t bytes_sent;
  uint64_t msgs_received;  /* messages the daemon delivered to this channel */
  uint64_t bytes_received;
  uint64_t drops_total;    /* messages/buffers the daemon refused, all reasons */
  uint64_t drops_bad_ring_index;
  uint64_t drops_bad_buffer_index;
  uint64_t drops_bad_chain;
  uint64_t drops_bad_length;
  uint64_t drops_unknown_flow;
  uint64_t drops_bad_free_index;
  uint64_t drops_peer_gone;
  uint64_t drops_receiver_full; /* the receiver stayed full past the daemon's hold limit */
  uint32_t max_message_bytes; /* the longest message this channel accepts */
  uint32_t channel_id;
} MachnetChannelStats_t;

/*
 * Copies the channel's statistics into *stats. stats_size must be sizeof(*stats) as the
 * caller knows it (older callers with a shorter struct get a prefix). Returns 0, or -1 with
 * errno EINVAL. Thread-safe (reads only).
 */
int machnet_get_channel_stats(const void *channel, MachnetChannelStats_t *stats,
                              size_t stats_size);

/*
 * As machnet_recv(), but waits up to timeout_ms milliseconds (negative: forever) for a
 * message, sleeping on the channel's doorbell (a socket the daemon rings) instead of
 * spinning. Returns the length, 0 on timeout (errno ETIMEDOUT), -1 on error (EINTR when a
 * signal interrupted the wait; ECONNRESET when the daemon stopped or dropped the channel). Works the same once machnet_channel_fd() was called.
 */
ssize_t machnet_recv_timeout(const void *channel, void *buf, size_t len, MachnetFlow_t *flow,
                             int timeout_ms);

/*
 * A descriptor to wait on with poll(2), select(2), epoll(7) -- and so with asyncio, tokio,
 * libuv or Boost.Asio -- that becomes readable when a message or a flow event (the -1
 * ECONNRESET/ETIMEDOUT of machnet_recv) may be waiting on the channel. Returns the
 * descriptor, or -1 with errno EINVAL (NULL or not a channel handle). The descriptor is the
 * channel's own end of a Unix socketpair shared with nobody else; when the daemon stops it
 * reports POLLHUP (and stays readable).
 *
 * Use it like a non-blocking socket: call machnet_recv()/machnet_recvmsg() until they return
 * 0 (nothing pending), then wait for readability, then receive again. Readiness means "may":
 * a wake-up can find nothing (receive returns 0; just wait again). A receive that returns 0
 * re-arms the descriptor; there is nothing else to re-arm. This holds for level-triggered
 * waits (poll, select, epoll without EPOLLET: the descriptor is not readable after a receive
 * returned 0 until the next delivery) and for edge-triggered epoll (EPOLLET: every delivery
 * after that receive produces a new edge). Messages already queued when you first call this
 * function do not make it readable: receive until 0 before the first wait. With zero-length
 * messages use machnet_recvmsg() for that loop (machnet_recv() returns 0 for them too).
 *
 * Ownership: the library owns the descriptor and closes it in machnet_detach(). Do not read,
 * write or close it; remove it from epoll/event loops before machnet_detach(). Repeated calls
 * return the same number.
 *
 * Costs: receiving stays free of syscalls while messages flow. Once this function has been
 * called, a receive that finds the channel empty costs one memory load while the descriptor
 * is armed, and a read(2) of the descriptor plus a re-arm only after the daemon rang it (at
 * most once per delivery batch that found the channel waiting). The daemon never blocks on
 * the descriptor: it writes it at most once per arming, non-blocking. Channels on which
 * this function was never called behave as before (the daemon never rings them).
 *
 * Threads: a data call (same rule as machnet_recv: not concurrently with data calls on this
 * channel). The returned descriptor may be waited on from any thread.
 */
int machnet_channel_fd(void *channel);

/*
 * Closes this side's direction of a flow this channel connected or accepted (either
 * direction of the tuple is accepted), in order: messages machnet_send accepted before
 * the call (queued or in flight) are still delivered, then the peer is told. Messages
 * from the peer keep arriving until the peer has delivered what it had accepted; the
 * peer's side closes its direction on its own when it hears of the close (its application
 * is not told: an orderly close is not an error). A message sent on the flow after this
 * call, or after the peer closed, is not sent: machnet_recv reports it with -1 and errno
 * EPIPE, once per message, naming the flow. The flow then lingers briefly (twice
 * [transport] rto_max_us) to re-acknowledge a lost final ACK, so both sides end without
 * ECONNRESET. Returns 0, or -1 with errno ENOENT (no such flow on this channel), ENOTCONN.
 */
int machnet_close_flow(void *channel, MachnetFlow_t flow);

/*
 * Gives the channel back: the daemon closes its listeners and flows and frees the memory;
 * the handle is invalid afterwards, even when -1 is returned (ENOTCONN: the daemon is
 * gone, the local mapping is released anyway). Thread-safe with respect to other channels.
 */
int machnet_detach(void *channel);

/*
 * A sentence describing the calling thread's last failure ("" if none). The string is
 * owned by the library and valid until the thread's next libmachnet call.
 */
const char *machnet_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MACHNET_H_ */
