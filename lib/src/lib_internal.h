// libmachnet's private pieces: the per-thread last error, the connection to the daemon, and
// the channel handle behind the API's `void*`.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "channel/channel_layout.h"
#include "channel/channel_view.h"
#include "channel/control_protocol.h"
#include "channel/spsc_ring.h"

namespace machnet::lib {

// Sets errno and the thread's last error; returns -1 so callers can `return fail(...)`.
int fail(int err, std::string message);
void clear_error();
const char* last_error();

inline constexpr uint32_t kHandleMagic = 0x4d434831;  // "MCH1": guards against stray pointers

struct Channel {
  uint32_t handle_magic = kHandleMagic;
  uint32_t id = 0;
  uint8_t* base = nullptr;
  uint64_t mapped = 0;
  // Our end of the channel's doorbell socketpair (channel/doorbell_socket.h): the daemon
  // rings it when we sleep and it delivered; we ring it when its engine sleeps and we queued.
  int doorbell_fd = -1;
  channel::ChannelView view;
  channel::RingProducer to_daemon;
  channel::RingConsumer to_app;
  channel::RingConsumer app_free;
  channel::RingProducer daemon_free;
  std::vector<uint32_t> stash;  // app-pool buffers taken from app_free, not yet filled
  std::vector<uint32_t> chain;  // scratch for receiving: max_chain entries, sized once at attach
  uint32_t chain_len = 0;       // entries of `chain` the message being received uses
  // The pollable descriptor (machnet_channel_fd, doorbell.cc). Off until the application asks
  // for the descriptor, so busy-polling applications never make the daemon ring.
  bool fd_mode = false;
  bool armed = false;   // we set app_waiting and have not yet seen the daemon swap it to 0
  uint64_t owed = 0;    // rings the daemon owes us (it swapped the flag) that we have not read
};

// Doorbell handling for channels in fd mode (doorbell.cc). Both run on the receiving thread.
// on_empty_st: the receive found to_app empty; drains the doorbell if the daemon rang, arms
// app_waiting and re-checks. Returns true when a message arrived meanwhile (receive again).
bool doorbell_on_empty_st(Channel* c);
// Enters fd mode (idempotent) and arms the doorbell.
void doorbell_enable_st(Channel* c);

// The application socket. Requests are serialised by a mutex; each gets one response.
// `fds` receives up to two descriptors passed with the answer (-1 when absent).
struct Response {
  channel::CtlResponse msg{};
  int fds[2] = {-1, -1};
};
int connect_daemon();  // 0 or fail()
int request(const channel::CtlRequest& req, Response* out);  // 0, or fail(); checks msg.error

channel::CtlRequest make_request(channel::CtlType type, uint32_t channel_id);

}  // namespace machnet::lib
