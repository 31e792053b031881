// Engine::execute_within: an engine that does not answer costs the control thread at most
// the deadline, and a command given up on stays valid until the engine has run it.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "engine/engine.h"

namespace machnet::engine {
namespace {

using namespace std::chrono_literals;

struct FlowsQuery {
  Command cmd;
  std::vector<admin::FlowRow> rows;
};

std::shared_ptr<Command> flows_query() {
  auto q = std::make_shared<FlowsQuery>();
  q->cmd.kind = Command::Kind::kFlows;
  q->cmd.flows_out = &q->rows;
  return std::shared_ptr<Command>(q, &q->cmd);
}

TEST(ExecuteWithin, AnswersFromALiveEngine) {
  EngineShared shared;
  Engine eng{0, -1, shared, EngineConfig{}, TransportConfig{}, 1u << 20, 0x7f000001};
  eng.start();
  EXPECT_TRUE(eng.execute_within(flows_query(), 1000ms));
  eng.stop();
}

TEST(ExecuteWithin, AStuckEngineIsAnErrorWithinTheDeadline) {
  EngineShared shared;
  Engine eng{0, -1, shared, EngineConfig{}, TransportConfig{}, 1u << 20, 0x7f000001};
  eng.start();
  // A command whose completion callback holds the engine thread for 1.5 s: a stuck engine.
  Command stall{.kind = Command::Kind::kFlows};
  std::vector<admin::FlowRow> sink;
  stall.flows_out = &sink;
  stall.on_done = [] { std::this_thread::sleep_for(1500ms); };
  eng.submit(stall);
  std::this_thread::sleep_for(50ms);  // the engine is inside the callback now

  auto query = flows_query();
  std::weak_ptr<Command> alive = query;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = eng.execute_within(std::move(query), 200ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("engine 0 did not answer within 200 ms"), std::string::npos) << r.error().message;
  EXPECT_LT(took, 500ms);
  EXPECT_FALSE(alive.expired());  // the engine still holds it: it may run it later

  // Once the engine is back it runs the abandoned command; the next call frees it.
  std::this_thread::sleep_for(1600ms);
  EXPECT_TRUE(eng.execute_within(flows_query(), 1000ms));
  EXPECT_TRUE(alive.expired());
  eng.stop();
}

}  // namespace
}  // namespace machnet::engine
