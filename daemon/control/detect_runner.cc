#include "control/detect_runner.h"

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace machnet::control {

// Closed when the runner goes: a worker that finishes later posts nothing (the
// io_context may be gone by then).
struct DetectRunner::Shared {
  std::mutex mutex;
  std::condition_variable finished;
  bool closed = false;
  bool running = false;  // a worker thread exists
};

DetectRunner::DetectRunner(boost::asio::any_io_executor executor, Detect detect)
    : executor_(std::move(executor)), detect_(std::move(detect)), shared_(std::make_shared<Shared>()) {}

DetectRunner::~DetectRunner() {
  std::unique_lock lock(shared_->mutex);
  shared_->closed = true;
  // A worker that outlives the daemon could still be running when the process exits and
  // its globals go: give it a moment to end first (bounded: stopping must not hang on the
  // network either).
  if (!shared_->finished.wait_for(lock, kStopWait, [this] { return !shared_->running; }))
    spdlog::warn("a detection is still waiting on the metadata service; not waiting for it");
}

void DetectRunner::request(Done done) {
  const auto now = std::chrono::steady_clock::now();
  if (cached_ && now - cached_at_ < kCacheFor) return done(*cached_);
  waiting_.push_back(std::move(done));
  if (!running_) start_run();
}

void DetectRunner::start_run() {
  running_ = true;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->running = true;
  }
  // A thread per run (at most one at a time, at most one per kCacheFor under load): it
  // owns copies of everything it touches, so it can outlive the daemon's objects.
  std::thread([detect = detect_, shared = shared_, executor = executor_, this] {
    pthread_setname_np(pthread_self(), "machnet-detect");
    nlohmann::json report;
    try {
      report = detect();
    } catch (const std::exception& e) {
      report = {{"error", std::string("detection failed: ") + e.what()}};
    }
    std::lock_guard lock(shared->mutex);
    shared->running = false;
    shared->finished.notify_all();
    if (shared->closed) return;
    boost::asio::post(executor, [this, shared, report = std::move(report)]() mutable {
      {
        std::lock_guard relock(shared->mutex);
        if (shared->closed) return;  // the runner went while this waited in the queue
      }
      finish_run(std::move(report));
    });
  }).detach();
}

void DetectRunner::finish_run(nlohmann::json report) {
  running_ = false;
  cached_ = report;
  cached_at_ = std::chrono::steady_clock::now();
  std::vector<Done> waiting;
  waiting.swap(waiting_);
  for (auto& done : waiting) done(report);
}

}  // namespace machnet::control
