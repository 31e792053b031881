// The application protocol's server: one session per connection on the application socket
// (AppServer accepts them), answering attach, detach, listen, connect and close-flow (see
// lib/channel/control_protocol.h); owns every channel's memory (shm/) and hands each
// channel to its engine; tears an application's channels down when its socket closes.
// Control thread only, except the counts, which any thread may read.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <nlohmann/json.hpp>

#include "shm/channel_memory.h"
#include "shm/doorbell.h"
#include "channel/control_protocol.h"
#include "config/config.h"
#include "engine/engine.h"

namespace machnet::control {

class AppSessions {
 public:
  using Socket = boost::asio::generic::seq_packet_protocol::socket;

  // Channels are spread over `engines` in turn; each is served by one engine for its life.
  // `max_channels_per_user`, `max_connections_per_user`: [limits] (0: no cap; root is
  // never capped).
  AppSessions(const ChannelsConfig& config, bool try_hugetlb, std::vector<engine::Engine*> engines,
              uint32_t max_channels_per_user = 0, uint32_t max_connections_per_user = 0);
  ~AppSessions();  // removes every channel from its engine, then frees its memory

  void on_connection(Socket socket);

  // Rows for `machnetctl channels` (and the totals of `stats`).
  admin::ChannelTable channels() const;
  // Fills in pid and command of the owning application of each flow.
  void add_owners(std::vector<admin::FlowRow>& flows) const;
  uint32_t channel_count() const { return channel_count_.load(std::memory_order_relaxed); }
  uint32_t app_count() const { return app_count_.load(std::memory_order_relaxed); }
  // Attaches refused at [limits] max_channels_per_user.
  uint64_t refused_per_user() const { return refused_per_user_.load(std::memory_order_relaxed); }
  // Connections closed at once at [limits] max_app_connections_per_user.
  uint64_t connections_refused_per_user() const { return connections_refused_.load(std::memory_order_relaxed); }

 private:
  struct Session;
  struct Record {
    uint32_t id = 0;
    uint64_t session = 0;
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string comm;
    shm::ChannelMemory memory;
    shm::Doorbell doorbell;
    std::unique_ptr<engine::EngineChannel> engine_channel;
    engine::Engine* engine = nullptr;  // the one that serves it
    std::vector<uint16_t> listening;  // ports
  };

  void read_next(const std::shared_ptr<Session>& s);
  void on_readable(const std::shared_ptr<Session>& s);
  void close_session(const std::shared_ptr<Session>& s, const char* why);
  channel::CtlResponse handle(Session& s, const channel::CtlRequest& req, int* fds_out);
  static channel::CtlResponse empty_response(const channel::CtlRequest& req);
  bool send_response(const std::shared_ptr<Session>& s, const channel::CtlResponse& resp, const int* fds);
  void start_connect(const std::shared_ptr<Session>& s, const channel::CtlRequest& req);
  void attach(Session& s, channel::CtlResponse& resp, int* fds_out);
  void remove_channel(uint32_t id);
  // Runs `cmd` on `rec`'s engine within engine::kCommandDeadline. On an error the engine
  // may still run it, and read the channel: `rec` must then outlive it (keep_until).
  Result<void> run_on_engine(Record& rec, std::shared_ptr<engine::Command> cmd);
  static std::shared_ptr<engine::Command> command(engine::Command::Kind kind, Record& rec);
  // Keeps a record whose channel an engine may still read until that engine has answered
  // `cmd` (the last command about it); `remove_after`: then take the channel off the
  // engine too (an attach it answered too late).
  void keep_until(std::unique_ptr<Record> rec, std::shared_ptr<engine::Command> cmd, bool remove_after);
  void sweep_kept();
  Record* owned(Session& s, uint32_t id, channel::CtlResponse& resp);

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
  const uint32_t max_channels_per_user_;
  std::atomic<uint64_t> refused_per_user_{0};
  const uint32_t max_connections_per_user_;
  std::unordered_map<uid_t, uint32_t> connections_of_;  // open sessions per user
  std::atomic<uint64_t> connections_refused_{0};
  bool logged_hugetlb_ = false;
  struct Kept {
    std::unique_ptr<Record> rec;
    std::shared_ptr<engine::Command> cmd;
    bool remove_after = false;
  };
  std::vector<Kept> kept_;  // records of channels an engine that did not answer in time may still read
};

}  // namespace machnet::control
