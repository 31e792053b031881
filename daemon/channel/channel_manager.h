// The application side of the control thread: serves connections on the application socket
// (attach, detach, listen, connect, close-flow; see lib/channel/control_protocol.h), owns
// every channel's memory, and tears an application's channels down when its socket closes.
// Control thread only, except the counts, which any thread may read.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <nlohmann/json.hpp>

#include "channel/channel_memory.h"
#include "channel/control_protocol.h"
#include "config/config.h"
#include "engine/engine.h"

namespace machnet::channel {

class ChannelManager {
 public:
  using Socket = boost::asio::generic::seq_packet_protocol::socket;

  // Channels are spread over `engines` in turn; each is served by one engine for its life.
  ChannelManager(const ChannelsConfig& config, bool try_hugetlb, std::vector<engine::Engine*> engines);
  ~ChannelManager();  // removes every channel from the engine, then frees its memory

  void on_connection(Socket socket);

  // Table for `machnetctl channels`.
  nlohmann::json channels_json() const;
  // Adds "pid" and "command" of the owning application to each flow of a `flows` list.
  void add_owners(nlohmann::json& flows) const;
  uint32_t channel_count() const { return channel_count_.load(std::memory_order_relaxed); }
  uint32_t app_count() const { return app_count_.load(std::memory_order_relaxed); }

 private:
  struct Session;
  struct Record {
    uint32_t id = 0;
    uint64_t session = 0;
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string comm;
    ChannelMemory memory;
    std::unique_ptr<engine::EngineChannel> engine_channel;
    engine::Engine* engine = nullptr;  // the one that serves it
    std::vector<uint16_t> listening;  // ports
  };

  void read_next(const std::shared_ptr<Session>& s);
  void on_readable(const std::shared_ptr<Session>& s);
  void close_session(const std::shared_ptr<Session>& s, const char* why);
  CtlResponse handle(Session& s, const CtlRequest& req, int* fds_out);
  static CtlResponse empty_response(const CtlRequest& req);
  bool send_response(const std::shared_ptr<Session>& s, const CtlResponse& resp, const int* fds);
  void start_connect(const std::shared_ptr<Session>& s, const CtlRequest& req);
  void attach(Session& s, CtlResponse& resp, int* fds_out);
  void remove_channel(uint32_t id);
  Record* owned(Session& s, uint32_t id, CtlResponse& resp);

  const ChannelsConfig config_;
  const bool try_hugetlb_;
  const std::vector<engine::Engine*> engines_;
  uint32_t next_engine_ = 0;
  std::map<uint64_t, std::shared_ptr<Session>> sessions_;
  std::map<uint32_t, std::unique_ptr<Record>> channels_;
  uint64_t next_session_ = 1;
  uint32_t next_channel_ = 1;
  std::atomic<uint32_t> channel_count_{0};
  std::atomic<uint32_t> app_count_{0};
  bool logged_hugetlb_ = false;
};

}  // namespace machnet::channel
