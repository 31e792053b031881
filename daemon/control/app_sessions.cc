#include "control/app_sessions.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "channel/spsc_ring.h"
#include "util/logging.h"

namespace machnet::control {

// The application protocol and the channel ABI (lib/channel/).
using namespace machnet::channel;
using shm::ChannelMemory;

namespace asio = boost::asio;

struct AppSessions::Session {
  explicit Session(Socket s) : socket(std::move(s)) {}
  uint64_t id = 0;
  Socket socket;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string comm;
  std::vector<uint32_t> channels;
  bool closed = false;
};

namespace {

std::string read_comm(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/comm", pid));
  std::string comm;
  std::getline(f, comm);
  return comm.empty() ? "?" : comm;
}

void set_message(CtlResponse& r, int error, std::string_view text) {
  r.error = error;
  const size_t n = std::min(text.size(), sizeof(r.message) - 1);
  std::memcpy(r.message, text.data(), n);
  r.message[n] = '\0';
}

}  // namespace

AppSessions::AppSessions(const ChannelsConfig& config, bool try_hugetlb, std::vector<engine::Engine*> engines,
                         uint32_t max_channels_per_user, uint32_t max_connections_per_user)
    : config_(config),
      try_hugetlb_(try_hugetlb),
      engines_(std::move(engines)),
      max_channels_per_user_(max_channels_per_user),
      max_connections_per_user_(max_connections_per_user) {}

AppSessions::~AppSessions() {
  for (auto& [id, s] : sessions_) s->closed = true;
  while (!channels_.empty()) remove_channel(channels_.begin()->first);
  sweep_kept();
  // An engine that never answered may still read these channels: their memory stays
  // mapped until the process exits rather than be freed under it.
  for (Kept& k : kept_) (void)k.rec.release();
}

void AppSessions::on_connection(Socket socket) {
  auto s = std::make_shared<Session>(std::move(socket));
  s->id = next_session_++;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(s->socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    s->pid = cred.pid;
    s->uid = cred.uid;
    s->gid = cred.gid;
  }
  s->comm = read_comm(s->pid);
  uint32_t& mine = connections_of_[s->uid];
  if (max_connections_per_user_ != 0 && s->uid != 0 && mine >= max_connections_per_user_) {
    connections_refused_.fetch_add(1, std::memory_order_relaxed);
    MACHNET_LOG_RATE_LIMITED(spdlog::level::warn,
                             "uid {} (pid {}, {}): application connection refused at [limits] "
                             "max_app_connections_per_user ({})",
                             s->uid, s->pid, s->comm, max_connections_per_user_);
    if (mine == 0) connections_of_.erase(s->uid);
    boost::system::error_code ignored;
    s->socket.close(ignored);
    return;
  }
  ++mine;
  boost::system::error_code ec;
  s->socket.non_blocking(true, ec);
  sessions_.emplace(s->id, s);
  app_count_.store(static_cast<uint32_t>(sessions_.size()), std::memory_order_relaxed);
  spdlog::debug("application connected: pid {} uid {} ({})", s->pid, s->uid, s->comm);
  read_next(s);
}

void AppSessions::read_next(const std::shared_ptr<Session>& s) {
  s->socket.async_wait(asio::socket_base::wait_read, [this, s](boost::system::error_code ec) {
    if (s->closed || ec == asio::error::operation_aborted) return;
    if (ec) return close_session(s, "socket error");
    on_readable(s);
  });
}

void AppSessions::on_readable(const std::shared_ptr<Session>& s) {
  const int fd = s->socket.native_handle();
  for (;;) {
    CtlRequest req{};
    const ssize_t n = ::recv(fd, &req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC);
    if (n == 0) return close_session(s, "closed its socket");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return read_next(s);
      if (errno == EINTR) continue;
      return close_session(s, "socket error");
    }
    if (n != static_cast<ssize_t>(sizeof(req)) || req.magic != kCtlMagic || req.version != kCtlVersion) {
      MACHNET_LOG_RATE_LIMITED(spdlog::level::warn,
                               "application pid {} ({}) sent a malformed control message ({} bytes): closing it",
                               s->pid, s->comm, n);
      return close_session(s, "protocol violation");
    }
    if (static_cast<CtlType>(req.type) == CtlType::kConnect) {
      // Across the network a connect takes a handshake: answer when it is done, and read
      // this application's next request only then (answers stay in order).
      return start_connect(s, req);
    }
    int fds[2] = {-1, -1};
    const CtlResponse resp = handle(*s, req, fds);
    const bool sent = send_response(s, resp, fds);
    // Sent or not, the application's end of a new doorbell is the application's alone now.
    if (fds[1] >= 0) {
      if (auto it = channels_.find(resp.channel_id); it != channels_.end()) it->second->doorbell.close_app_end();
    }
    if (!sent) return;
  }
}

bool AppSessions::send_response(const std::shared_ptr<Session>& s, const CtlResponse& resp, const int* fds) {
  iovec iov{const_cast<CtlResponse*>(&resp), sizeof(resp)};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  if (fds && fds[0] >= 0) {
    // The channel memfd and the application's end of its doorbell.
    const size_t n = 2;
    m.msg_control = control;
    m.msg_controllen = CMSG_SPACE(n * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, n * sizeof(int));
  }
  if (::sendmsg(s->socket.native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(resp))) {
    close_session(s, "did not take the answer");
    return false;
  }
  return true;
}

void AppSessions::start_connect(const std::shared_ptr<Session>& s, const CtlRequest& req) {
  CtlResponse resp = empty_response(req);
  Record* rec = owned(*s, req.channel_id, resp);
  if (!rec) {
    if (send_response(s, resp, nullptr)) read_next(s);
    return;
  }
  auto cmd = std::make_shared<engine::Command>();
  cmd->kind = engine::Command::Kind::kConnect;
  cmd->channel = rec->engine_channel.get();
  cmd->local_ip = req.local_ip;
  cmd->remote_ip = req.remote_ip;
  cmd->remote_port = req.remote_port;
  // Runs on the engine thread when the connect is decided; the answer goes out from here.
  cmd->on_done = [this, s, cmd, resp, executor = s->socket.get_executor()]() mutable {
    asio::post(executor, [this, s, cmd, resp]() mutable {
      if (s->closed) return;
      if (cmd->error) set_message(resp, cmd->error, cmd->reason);
      else resp.flow = cmd->flow;
      if (send_response(s, resp, nullptr)) read_next(s);
    });
  };
  rec->engine->submit(*cmd);
}

void AppSessions::add_owners(std::vector<admin::FlowRow>& flows) const {
  for (auto& f : flows) {
    auto it = channels_.find(f.channel);
    if (it == channels_.end()) continue;
    f.pid = it->second->pid;
    f.command = it->second->comm;
  }
}

void AppSessions::close_session(const std::shared_ptr<Session>& s, const char* why) {
  if (s->closed) return;
  s->closed = true;
  const size_t n = s->channels.size();
  for (uint32_t id : s->channels) remove_channel(id);
  s->channels.clear();
  boost::system::error_code ignored;
  s->socket.close(ignored);
  sessions_.erase(s->id);
  if (auto it = connections_of_.find(s->uid); it != connections_of_.end() && --it->second == 0) connections_of_.erase(it);
  app_count_.store(static_cast<uint32_t>(sessions_.size()), std::memory_order_relaxed);
  if (n) spdlog::info("application pid {} ({}) {}: freed its {} channel(s)", s->pid, s->comm, why, n);
}

void AppSessions::remove_channel(uint32_t id) {
  auto it = channels_.find(id);
  if (it == channels_.end()) return;
  std::unique_ptr<Record> rec = std::move(it->second);
  channels_.erase(it);
  channel_count_.store(static_cast<uint32_t>(channels_.size()), std::memory_order_relaxed);
  auto cmd = command(engine::Command::Kind::kRemoveChannel, *rec);
  if (auto r = run_on_engine(*rec, cmd); !r) {
    MACHNET_LOG_RATE_LIMITED(spdlog::level::err, "channel {}: {}; its memory is kept until the engine lets go", id,
                             r.error().message);
    keep_until(std::move(rec), std::move(cmd), false);
  }
  // (else rec goes here, after the engine let go: unmaps and closes the memfd)
}

std::shared_ptr<engine::Command> AppSessions::command(engine::Command::Kind kind, Record& rec) {
  auto cmd = std::make_shared<engine::Command>();
  cmd->kind = kind;
  cmd->channel = rec.engine_channel.get();
  return cmd;
}

Result<void> AppSessions::run_on_engine(Record& rec, std::shared_ptr<engine::Command> cmd) {
  sweep_kept();
  return rec.engine->execute_within(std::move(cmd), engine::kCommandDeadline);
}

void AppSessions::keep_until(std::unique_ptr<Record> rec, std::shared_ptr<engine::Command> cmd, bool remove_after) {
  kept_.push_back(Kept{std::move(rec), std::move(cmd), remove_after});
}

// A kept record goes once its engine answered; one it answered an attach for too late is
// then taken off that engine (a command that may itself be kept waiting, the same way).
void AppSessions::sweep_kept() {
  for (size_t i = 0; i < kept_.size();) {
    if (kept_[i].cmd->done.load(std::memory_order_acquire) == 0) {
      ++i;
      continue;
    }
    Kept k = std::move(kept_[i]);
    kept_.erase(kept_.begin() + static_cast<ptrdiff_t>(i));
    if (!k.remove_after) continue;  // k.rec freed here
    auto cmd = command(engine::Command::Kind::kRemoveChannel, *k.rec);
    if (k.rec->engine->execute_within(cmd, engine::kCommandDeadline)) continue;
    kept_.push_back(Kept{std::move(k.rec), std::move(cmd), false});
  }
}

AppSessions::Record* AppSessions::owned(Session& s, uint32_t id, CtlResponse& resp) {
  auto it = channels_.find(id);
  if (it == channels_.end() || it->second->session != s.id) {
    set_message(resp, EBADF, fmt::format("channel {} is not one of this connection's channels", id));
    return nullptr;
  }
  return it->second.get();
}

CtlResponse AppSessions::empty_response(const CtlRequest& req) {
  CtlResponse resp{};
  resp.magic = kCtlMagic;
  resp.version = kCtlVersion;
  resp.type = req.type;
  resp.channel_id = req.channel_id;
  return resp;
}

CtlResponse AppSessions::handle(Session& s, const CtlRequest& req, int* fds_out) {
  CtlResponse resp = empty_response(req);
  engine::Command::Kind kind;
  switch (static_cast<CtlType>(req.type)) {
    case CtlType::kAttach:
      attach(s, resp, fds_out);
      return resp;
    case CtlType::kDetach:
      if (owned(s, req.channel_id, resp)) {
        std::erase(s.channels, req.channel_id);
        remove_channel(req.channel_id);
      }
      return resp;
    case CtlType::kListen:
      kind = engine::Command::Kind::kListen;
      break;
    case CtlType::kCloseFlow:
      kind = engine::Command::Kind::kCloseFlow;
      break;
    default:
      set_message(resp, EOPNOTSUPP, fmt::format("unknown request type {}", req.type));
      return resp;
  }
  Record* rec = owned(s, req.channel_id, resp);
  if (!rec) return resp;
  auto cmd = command(kind, *rec);
  cmd->local_ip = req.local_ip;
  cmd->remote_ip = req.remote_ip;
  cmd->local_port = req.local_port;
  cmd->remote_port = req.remote_port;
  cmd->flow = req.flow;
  if (auto r = run_on_engine(*rec, cmd); !r) {
    // The engine may still run it later (a listen then holds its port until the channel goes).
    set_message(resp, ETIMEDOUT, r.error().message);
    return resp;
  }
  if (cmd->error) {
    set_message(resp, cmd->error, cmd->reason);
    return resp;
  }
  if (kind == engine::Command::Kind::kListen) rec->listening.push_back(req.local_port);
  resp.flow = cmd->flow;
  return resp;
}

void AppSessions::attach(Session& s, CtlResponse& resp, int* fds_out) {
  if (channels_.size() >= config_.max_channels) {
    set_message(resp, ENOSPC, fmt::format("the daemon's limit of {} channels is reached ([channels] max_channels)",
                                          config_.max_channels));
    return;
  }
  // One user may not take every channel from the others (root is not capped).
  if (max_channels_per_user_ != 0 && s.uid != 0 &&
      std::count_if(channels_.begin(), channels_.end(), [&](const auto& c) { return c.second->uid == s.uid; }) >=
          max_channels_per_user_) {
    refused_per_user_.fetch_add(1, std::memory_order_relaxed);
    MACHNET_LOG_RATE_LIMITED(spdlog::level::warn, "uid {} (pid {}, {}): attach refused at [limits] "
                             "max_channels_per_user ({})", s.uid, s.pid, s.comm, max_channels_per_user_);
    set_message(resp, EDQUOT, fmt::format("this user holds {} channels already ([limits] max_channels_per_user)",
                                          max_channels_per_user_));
    return;
  }
  const uint32_t id = next_channel_++;
  ChannelParams params;
  params.ring_slots = config_.ring_slots;
  params.buffer_size = config_.buffer_size;
  params.buffers = config_.buffers_per_channel;
  params.max_message_bytes = config_.max_message_bytes;
  auto memory = ChannelMemory::create(id, params, try_hugetlb_);
  if (!memory) {
    MACHNET_LOG_RATE_LIMITED(spdlog::level::warn, "{}", memory.error().message);
    set_message(resp, ENOMEM, memory.error().message);
    return;
  }
  if (!logged_hugetlb_) {
    logged_hugetlb_ = true;
    spdlog::info("channels use {} ({} bytes each)", memory->hugetlb() ? "2 MiB huge pages" : "normal pages",
                 memory->geometry().total_size);
  }
  auto doorbell = shm::Doorbell::create(id);
  if (!doorbell) {
    MACHNET_LOG_RATE_LIMITED(spdlog::level::warn, "{}", doorbell.error().message);
    set_message(resp, ENOMEM, doorbell.error().message);
    return;
  }
  auto rec = std::make_unique<Record>();
  rec->id = id;
  rec->session = s.id;
  rec->pid = s.pid;
  rec->uid = s.uid;
  rec->gid = s.gid;
  rec->comm = s.comm;
  rec->memory = std::move(*memory);
  rec->doorbell = std::move(*doorbell);
  rec->engine_channel = std::make_unique<engine::EngineChannel>(id, rec->memory.base(), rec->memory.geometry(),
                                                               rec->doorbell.daemon_fd());
  rec->engine_channel->uid = s.uid;  // the engine charges its ports to this user
  rec->engine = engines_[next_engine_++ % engines_.size()];
  auto cmd = command(engine::Command::Kind::kAddChannel, *rec);
  if (auto r = run_on_engine(*rec, cmd); !r) {
    set_message(resp, ETIMEDOUT, r.error().message);
    keep_until(std::move(rec), std::move(cmd), true);
    return;
  }
  fds_out[0] = rec->memory.memfd();
  fds_out[1] = rec->doorbell.app_fd();
  resp.channel_id = id;
  resp.channel_size = rec->memory.geometry().total_size;
  s.channels.push_back(id);
  channels_.emplace(id, std::move(rec));
  channel_count_.store(static_cast<uint32_t>(channels_.size()), std::memory_order_relaxed);
}

admin::ChannelTable AppSessions::channels() const {
  admin::ChannelTable table;
  for (const auto& [id, rec] : channels_) {
    const auto& g = rec->memory.geometry();
    const auto& c = rec->engine_channel->counters;
    admin::ChannelRow& row = table.channels.emplace_back();
    for (uint32_t r = 0; r < kDropReasonCount; ++r) {
      const uint64_t v = c.drops[r].load(std::memory_order_relaxed);
      row.drops[drop_reason_name(r)] = v;
      row.drops_total += v;
    }
    uint8_t* base = rec->memory.base();
    row.id = id;
    row.engine = rec->engine->id();
    row.pid = rec->pid;
    row.uid = rec->uid;
    row.command = rec->comm;
    row.hugetlb = rec->memory.hugetlb();
    row.size_bytes = g.total_size;
    row.listening = rec->listening;
    row.to_daemon = {ring_occupancy(base + g.to_daemon.offset, g.to_daemon.slots), g.to_daemon.slots};
    row.to_app = {ring_occupancy(base + g.to_app.offset, g.to_app.slots), g.to_app.slots};
    row.msgs_in = c.msgs_in.load(std::memory_order_relaxed);
    row.bytes_in = c.bytes_in.load(std::memory_order_relaxed);
    row.msgs_out = c.msgs_out.load(std::memory_order_relaxed);
    row.bytes_out = c.bytes_out.load(std::memory_order_relaxed);
    row.held = c.held.load(std::memory_order_relaxed);
    row.memory_faults = rec->memory.memory_faults();
  }
  table.applications = static_cast<uint32_t>(sessions_.size());
  table.max_channels = config_.max_channels;
  return table;
}

}  // namespace machnet::control
