// Runs `machnetctl detect` off the control thread. Detection asks the cloud's metadata
// service over HTTP, which a hostile or broken network can stall for seconds per request;
// the control thread must keep serving apps, admin clients and the watchdog meanwhile.
// One detection at a time: requests that arrive while one runs wait for its result, and a
// result is reused for kCacheFor, so any number of clients costs one metadata query per
// interval.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>

namespace machnet::control {

class DetectRunner {
 public:
  // How long a detection's result answers later requests. Short: detection reads the
  // NIC's driver and state, which the operator may be changing, but long enough that a
  // burst of clients (or one in a loop) costs one metadata query.
  static constexpr std::chrono::seconds kCacheFor{10};

  using Detect = std::function<nlohmann::json()>;  // runs on the worker thread; owns what it reads
  using Done = std::function<void(nlohmann::json report)>;

  DetectRunner(boost::asio::any_io_executor executor, Detect detect);
  // Waits at most kStopWait for a detection in progress (it may be stuck on the network),
  // then leaves its thread to finish on its own; its result is dropped either way.
  ~DetectRunner();
  static constexpr std::chrono::milliseconds kStopWait{1000};

  // Control thread: `done` runs on the control thread with the report.
  void request(Done done);

 private:
  struct Shared;  // what the worker thread and this object both reach
  void start_run();
  void finish_run(nlohmann::json report);

  boost::asio::any_io_executor executor_;
  Detect detect_;
  std::shared_ptr<Shared> shared_;
  // Control thread only.
  bool running_ = false;
  std::vector<Done> waiting_;
  std::optional<nlohmann::json> cached_;
  std::chrono::steady_clock::time_point cached_at_;
};

}  // namespace machnet::control
