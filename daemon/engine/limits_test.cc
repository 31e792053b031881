// The bookkeeping behind [limits]: the half-open list (oldest first, links that leave
// when their flow goes) and the per-user port counts.
#include <gtest/gtest.h>

#include <memory>

#include "engine/half_open.h"
#include "engine/user_ports.h"

namespace machnet::engine {
namespace {

TEST(HalfOpenList, OldestFirstAndLinksLeaveWhenDestroyed) {
  HalfOpenList list;
  EXPECT_EQ(list.oldest(), nullptr);
  int a = 1, b = 2, c = 3;
  auto la = std::make_unique<HalfOpenLink>();
  HalfOpenLink lb, lc;
  list.push_back(*la, &a, 100);
  list.push_back(lb, &b, 200);
  list.push_back(lc, &c, 300);
  EXPECT_EQ(list.oldest()->owner, &a);
  la.reset();  // a flow that went: its link leaves the list by itself
  EXPECT_EQ(list.oldest()->owner, &b);
  lb.unlink();  // the handshake completed
  EXPECT_FALSE(lb.linked());
  EXPECT_EQ(list.oldest()->owner, &c);
  EXPECT_EQ(list.oldest()->deadline_us, 300u);
  lc.unlink();
  EXPECT_EQ(list.oldest(), nullptr);
}

TEST(HalfOpenList, ListGoesFirst) {
  HalfOpenLink link;
  {
    HalfOpenList list;
    list.push_back(link, nullptr, 1);
  }
  EXPECT_FALSE(link.linked());  // and its destructor touches nothing freed
}

TEST(UserPorts, CapsEachUserAndKindAndCountsRefusals) {
  UserPorts ports;
  ports.configure(2, 3);
  EXPECT_TRUE(ports.try_charge(1000, UserPorts::kListen));
  EXPECT_TRUE(ports.try_charge(1000, UserPorts::kListen));
  EXPECT_FALSE(ports.try_charge(1000, UserPorts::kListen));
  EXPECT_TRUE(ports.try_charge(1001, UserPorts::kListen));  // another user has its own share
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(ports.try_charge(1000, UserPorts::kEphemeral));
  EXPECT_FALSE(ports.try_charge(1000, UserPorts::kEphemeral));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(ports.try_charge(0, UserPorts::kListen));  // root: no cap
  EXPECT_EQ(ports.refused(UserPorts::kListen), 1u);
  EXPECT_EQ(ports.refused(UserPorts::kEphemeral), 1u);
  ports.release(1000, UserPorts::kListen);
  EXPECT_EQ(ports.held(1000, UserPorts::kListen), 1u);
  EXPECT_TRUE(ports.try_charge(1000, UserPorts::kListen));
}

TEST(UserPorts, ZeroMeansNoCap) {
  UserPorts ports;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(ports.try_charge(1000, UserPorts::kEphemeral));
  EXPECT_EQ(ports.refused(UserPorts::kEphemeral), 0u);
}

}  // namespace
}  // namespace machnet::engine
