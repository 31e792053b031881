// Messages on the application socket (SOCK_SEQPACKET): one fixed-size request, one
// fixed-size response, in order, per connection. Attach answers carry two descriptors
// (the channel memfd, then the application's end of its doorbell socketpair) with SCM_RIGHTS. Documented in
// docs/channel-abi.md ("Control messages").
#pragma once

#include <cstdint>

namespace machnet::channel {

inline constexpr uint32_t kCtlMagic = 0x4c54434du;  // "MCTL"
inline constexpr uint16_t kCtlVersion = 1;

enum class CtlType : uint16_t {
  kAttach = 1,     // -> channel_id, channel_size, fds {memfd, doorbell socket}
  kDetach = 2,     // channel_id
  kListen = 3,     // channel_id, local_ip, local_port
  kConnect = 4,    // channel_id, local_ip, remote_ip, remote_port -> flow
  kCloseFlow = 5,  // channel_id, flow
};

struct CtlFlow {
  uint32_t src_ip, dst_ip;
  uint16_t src_port, dst_port;
};

struct CtlRequest {
  uint32_t magic;
  uint16_t version;
  uint16_t type;        // CtlType
  uint32_t channel_id;
  uint32_t local_ip;    // host byte order
  uint32_t remote_ip;
  uint16_t local_port;
  uint16_t remote_port;
  CtlFlow flow;
};
static_assert(sizeof(CtlRequest) == 36);

struct CtlResponse {
  uint32_t magic;
  uint16_t version;
  uint16_t type;
  int32_t error;        // 0, or an errno value saying why the request failed
  uint32_t channel_id;
  uint64_t channel_size;
  CtlFlow flow;
  char message[96];     // a NUL-terminated reason for people when error != 0
};
static_assert(sizeof(CtlResponse) == 136);

}  // namespace machnet::channel
